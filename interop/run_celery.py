#!/usr/bin/env python3
"""A Celery application (worker subprocess with the prefork pool, RPC result backend) against amqpd, or against $AMQP_URL."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.runner import Suite, main  # noqa: E402

SUITE = Suite(
    name="celery",
    version="5.7.0",
    app_tests=["test_celery.py"],
    check_versions={"celery": "5.7.0", "kombu": "5.7.0"},
    # Celery's default configuration declares its pidbox and RPC result queues with x-expires and
    # x-message-ttl, so the [default] profile puts queue arguments into CI as well.
    fast=["test_celery.py::test_delay_get[default]", "test_celery.py::test_chain[default]",
          "test_celery.py::test_acks_late_redelivered_after_worker_lost[no-queue-args]"],
    timeout=120,
)

if __name__ == "__main__":
    sys.exit(main(SUITE, sys.argv[1:]))
