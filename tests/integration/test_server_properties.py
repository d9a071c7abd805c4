"""connection.start's server properties: cluster_name and the configurable product identity, seen
through pika and aio-pika as client code that gates features on the broker's identity does."""

from __future__ import annotations

import asyncio
import socket

import aio_pika
import pika
import pytest

pytestmark = pytest.mark.timeout(60)


def uses_rabbitmq_features(server_properties: dict) -> bool:
    """What feature-gating client code does: RabbitMQ 3.8 or later (quorum queues, ...)."""
    product = server_properties.get("product")
    version = server_properties.get("version")
    if isinstance(product, bytes):
        product, version = product.decode(), version.decode()
    if product != "RabbitMQ":
        return False
    major, minor = (int(x) for x in str(version).split(".")[:2])
    return (major, minor) >= (3, 8)


def pika_props(broker) -> dict:
    conn = pika.BlockingConnection(broker.pika_params())
    try:
        return conn._impl.server_properties
    finally:
        conn.close()


def test_cluster_name_is_sent(broker):
    props = pika_props(broker)
    assert isinstance(props["cluster_name"], str) and props["cluster_name"]
    if not broker.external:
        assert props["cluster_name"] == "amqpd@" + socket.gethostname().split(".")[0]
        assert (props["product"], uses_rabbitmq_features(props)) == ("amqpd", False)
    else:  # RabbitMQ: rabbit@<host>
        assert props["cluster_name"].startswith("rabbit@")
        assert uses_rabbitmq_features(props)


def test_configured_identity(broker_factory):
    b = broker_factory("cluster_name = ci-cluster\namqpd.server_properties.product = rabbitmq\n")
    props = pika_props(b)
    assert props["cluster_name"] == "ci-cluster"
    assert (props["product"], props["version"]) == ("RabbitMQ", "3.10.8")
    assert props["information"].startswith("amqpd ")
    assert uses_rabbitmq_features(props)


def test_configured_identity_aio_pika(broker_factory):
    b = broker_factory("amqpd.server_properties.product = rabbitmq\n")

    async def main() -> dict:
        conn = await aio_pika.connect(b.url)
        try:
            return conn.transport.connection.server_properties
        finally:
            await conn.close()

    props = asyncio.run(main())
    assert uses_rabbitmq_features(props)
    assert props["capabilities"]["publisher_confirms"] is True
