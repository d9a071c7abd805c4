#!/usr/bin/env python3
"""kombu producers and consumers (py-amqp transport) against amqpd, or against $AMQP_URL."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.runner import Suite, main  # noqa: E402

SUITE = Suite(
    name="kombu",
    version="5.7.0",
    app_tests=["test_kombu.py"],
    check_versions={"kombu": "5.7.0", "amqp": "5.4.2"},
    fast=["test_kombu.py"],
    timeout=120,
)

if __name__ == "__main__":
    sys.exit(main(SUITE, sys.argv[1:]))
