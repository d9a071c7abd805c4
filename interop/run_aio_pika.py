#!/usr/bin/env python3
"""aio-pika's own test suite (from its PyPI sdist) against amqpd, or against $AMQP_URL."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.runner import Suite, main  # noqa: E402

SUITE = Suite(
    name="aio-pika",
    version="10.2.1",
    project="aio-pika",
    sha256="e4f77afd9179a3cca5a904c3b0a1190256a36d9f90650db908b1b2245eb27487",
    must_contain=["tests/conftest.py", "tests/test_amqp.py", "tests/docker_client.py"],
    check_versions={"aiormq": "7.2.4", "aiomisc-pytest": "2.0.0"},
    fast=["tests/test_amqp.py::TestCaseAmqp", "tests/test_rpc.py", "tests/test_master.py",
          "tests/test_consumer_cancel_recovery.py", "tests/test_queue_iterator_close.py", "tests/test_message.py",
          "tests/test_connect.py", "tests/test_robust_recovery.py::test_restore_topology_and_consumers"],
    fast_k="not connect_robust and not tcp_reset and not heartbeat",
    timeout=90,
)

if __name__ == "__main__":
    sys.exit(main(SUITE, sys.argv[1:]))
