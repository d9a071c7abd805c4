#!/usr/bin/env python3
"""pika programs in BlockingConnection, SelectConnection and AsyncioConnection against amqpd, or against $AMQP_URL."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.runner import Suite, main  # noqa: E402

SUITE = Suite(
    name="pika",
    version="1.4.4",
    app_tests=["test_pika_adapters.py"],
    check_versions={"pika": "1.4.4"},
    fast=["test_pika_adapters.py"],
    timeout=120,
)

if __name__ == "__main__":
    sys.exit(main(SUITE, sys.argv[1:]))
