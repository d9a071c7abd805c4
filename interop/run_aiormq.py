#!/usr/bin/env python3
"""aiormq's own test suite (from its PyPI sdist) against amqpd, or against $AMQP_URL."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness.runner import Suite, main  # noqa: E402

SUITE = Suite(
    name="aiormq",
    version="7.2.4",
    project="aiormq",
    sha256="5fd20bb9583d73de85572198496b65cf028f27527c1733c9840d458e0b40e8fa",
    must_contain=["tests/conftest.py", "tests/test_channel.py", "tests/docker_client.py", "tests/certs/ca.pem"],
    root_conftest=HERE / "suite_conftest" / "aiormq_root_conftest.py",
    tls_from_sdist=("tests/certs/server.pem", "tests/certs/server.key", "tests/certs/ca.pem"),
    check_versions={"pamqp": "4.0.1", "aiomisc-pytest": "2.0.0"},
    fast=["tests/test_channel.py", "tests/test_consumer_cancel.py", "tests/test_consumer_publish.py",
          "tests/test_nowait.py", "tests/test_publish_cancel.py", "tests/test_protocol_errors.py",
          "tests/test_delivery_error.py", "tests/test_connection.py::test_channel_closed_reuse",
          "tests/test_connection.py::test_bad_channel"],
    fast_k="not amqps",
    timeout=90,
)

if __name__ == "__main__":
    sys.exit(main(SUITE, sys.argv[1:]))
