"""Placed by the interop harness at the root of the unpacked aiormq sdist (the parent of tests/).

The aiormq sdist's tests use the session fixtures `docker`, `rabbitmq_container` and `amqp_direct_url`,
which upstream defines in a root conftest.py that the sdist does not ship. These are the harness's own
definitions: the broker "container" comes from the fake Docker daemon in $DOCKER_HOST (the runner's),
which is a private amqpd or the external broker under test.
"""

from __future__ import annotations

import os
import socket
import time

import pytest
from tests.docker_client import ContainerInfo, DockerClient
from yarl import URL


@pytest.fixture(scope="session")
def docker():
    if not os.environ.get("DOCKER_HOST", "").startswith("unix://"):
        pytest.fail("DOCKER_HOST must name the interop harness's daemon; run interop/run_aiormq.py")
    client = DockerClient()
    started: list[str] = []

    def run(image: str, ports: list[str], environment: dict[str, str] | None = None) -> ContainerInfo:
        info = client.run(image, ports, environment=environment)
        started.append(info.id)
        return info

    yield run
    for cid in started:
        for op in (client.kill, client.remove):
            try:
                op(cid)
            except Exception:
                pass


@pytest.fixture(scope="session")
def rabbitmq_container(docker) -> ContainerInfo:
    info = docker("mosquito/aiormq-rabbitmq", ["5672/tcp", "5671/tcp"])
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection((info.host, info.ports["5672/tcp"]), timeout=2) as s:
                s.sendall(b"AMQP\x00\x00\x09\x01")
                if len(s.recv(4)) == 4:
                    return info
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"broker at {info.host}:{info.ports['5672/tcp']} is not ready")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def amqp_direct_url(rabbitmq_container: ContainerInfo) -> URL:
    return URL.build(scheme="amqp", user="guest", password="guest", path="//", host=rabbitmq_container.host,
                     port=rabbitmq_container.ports["5672/tcp"])
