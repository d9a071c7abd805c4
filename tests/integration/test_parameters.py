"""Runtime and global parameters through the management API."""

from __future__ import annotations

import pika
import pytest
from helpers import close_quietly
from mgmt_helpers import Api


@pytest.fixture(scope="module")
def api(broker):
    if broker.external:
        pytest.skip("uses amqpd's own management API")
    return Api(broker.http_port)


def server_properties(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    try:
        return conn._impl.server_properties
    finally:
        close_quietly(conn)


def test_cluster_name_global_parameter_is_announced(api, broker):
    assert api.put("/global-parameters/cluster_name", {"value": "shop-cluster"}).status == 201
    assert server_properties(broker)["cluster_name"] == "shop-cluster"
    assert {"name": "cluster_name", "value": "shop-cluster"} in api.get("/global-parameters").body
    assert api.delete("/global-parameters/cluster_name").status == 204
    assert server_properties(broker)["cluster_name"] != "shop-cluster"
    assert api.get("/global-parameters/cluster_name").status == 404


def test_vhost_limits_as_a_runtime_parameter(api):
    api.ok("PUT", "/vhosts/params")
    assert api.put("/parameters/vhost-limits/params/limits", {"value": {"max-queues": 4}}).status == 201
    assert api.get("/vhost-limits/params").body == [{"vhost": "params", "value": {"max-queues": 4}}]
    assert api.get("/parameters/vhost-limits/params/limits").body == {
        "value": {"max-queues": 4}, "vhost": "params", "component": "vhost-limits", "name": "limits"}
    assert api.delete("/parameters/vhost-limits/params/limits").status == 204
    assert api.get("/vhost-limits/params").body == []


def test_unknown_component_is_refused(api):
    r = api.put("/parameters/federation-upstream/%2F/up", {"value": {"uri": "amqp://x"}})
    assert (r.status, r.body) == (400, {"error": "bad_request",
                                        "reason": "Validation failed\n\ncomponent federation-upstream not found\n"})


def test_names_are_percent_decoded_once(api):
    # "%2541" is the encoding of "%41": the vhost is called "50%41", not "50A"
    assert api.put("/vhosts/50%2541").status == 201
    assert api.get("/vhosts/50%2541").body["name"] == "50%41"
    assert api.get("/vhosts/50A").status == 404
    assert api.put("/vhosts/caf%C3%A9%20bar").status == 201
    assert api.get("/vhosts/caf%C3%A9%20bar").body["name"] == "café bar"
