"""Fixtures for the harness's own application programs (celery, kombu, pika adapters).

The runner (interop/run_celery.py, run_kombu.py, run_pika.py) starts the broker and passes its URL in
INTEROP_BROKER_URL; without it these tests refuse to run rather than pass nothing.
"""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def amqp_url() -> str:
    url = os.environ.get("INTEROP_BROKER_URL")
    if not url:
        pytest.fail("INTEROP_BROKER_URL is not set: run these through interop/run_*.py", pytrace=False)
    return url


@pytest.fixture
def uniq():
    def make(prefix: str = "interop") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"
    return make
