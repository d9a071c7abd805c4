"""Config keys that exist for RabbitMQ compatibility: cluster_name, the reported product, and the
keys RabbitMQ 3.10 has for consumers and tracing."""

from __future__ import annotations

import pytest

from amqpd.config import ConfigError, load_config
from amqpd.connection import server_properties


def load(tmp_path, text: str):
    path = tmp_path / "amqpd.conf"
    path.write_text(text)
    return load_config(path, env={})


def test_cluster_name(tmp_path):
    assert load(tmp_path, "").cluster_name == ""
    c = load(tmp_path, "cluster_name = prod-east\n")
    assert c.cluster_name == "prod-east"
    assert server_properties(c)["cluster_name"] == "prod-east"
    with pytest.raises(ConfigError, match="must not be empty"):
        load(tmp_path, "cluster_name =\n")


def test_default_cluster_name_names_the_host(tmp_path):
    import socket

    name = server_properties(load(tmp_path, ""))["cluster_name"]
    assert name == "amqpd@" + socket.gethostname().split(".")[0]


def test_server_product(tmp_path):
    honest = server_properties(load(tmp_path, ""))
    assert (honest["product"], honest["version"]) == ("amqpd", __import__("amqpd").__version__)
    c = load(tmp_path, "amqpd.server_properties.product = RabbitMQ\n")
    assert c.server_product == "rabbitmq"
    props = server_properties(c)
    assert (props["product"], props["version"]) == ("RabbitMQ", "3.10.8")
    assert "amqpd" in props["information"]
    with pytest.raises(ConfigError, match="one of amqpd, rabbitmq"):
        load(tmp_path, "amqpd.server_properties.product = qpid\n")


def test_trace_vhosts(tmp_path):
    assert load(tmp_path, "").trace_vhosts == frozenset()
    assert load(tmp_path, "amqpd.trace.vhosts = none\n").trace_vhosts == frozenset()
    assert load(tmp_path, "amqpd.trace.vhosts = /\n").trace_vhosts == {"/"}
    assert load(tmp_path, "amqpd.trace.vhosts = /, staging\n").trace_vhosts == {"/", "staging"}
    with pytest.raises(ConfigError, match="separated by commas"):
        load(tmp_path, "amqpd.trace.vhosts = /,,x\n")


def test_consumer_timeout(tmp_path):
    assert load(tmp_path, "").consumer_timeout == 1800000
    assert load(tmp_path, "consumer_timeout = 3600000\n").consumer_timeout == 3600000
    with pytest.raises(ConfigError, match="between 1"):
        load(tmp_path, "consumer_timeout = 0\n")
