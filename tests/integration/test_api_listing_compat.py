"""Management API answers that rabbitmqadmin and AMQPStorm rely on, as RabbitMQ 3.10.8 gives them:
list order (ties broken by the whole item), which lists page and which sort before cutting columns,
columns and sort on users / permissions / policies / parameters, the legacy /api/healthchecks/node,
RabbitMQ's JSON 404 for unknown paths, and definitions import errors and permissions.

With AMQPD_TEST_URL (and AMQPD_TEST_HTTP_PORT) they run against RabbitMQ; objects are named radmin-*.
"""

from __future__ import annotations

import pytest
from mgmt_helpers import Api
from radmin_helpers import http_port, name


@pytest.fixture(scope="module")
def api(broker) -> Api:
    return Api(http_port(broker), host=broker.host)


@pytest.fixture
def vhost(api):
    v = name()
    api.ok("PUT", f"/vhosts/{v}")
    api.ok("PUT", f"/permissions/{v}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    yield v
    api.delete(f"/vhosts/{v}")


@pytest.fixture
def users(api):
    made: list[str] = []
    yield made
    for u in made:
        api.delete(f"/users/{u}")


def test_ties_are_broken_by_the_whole_item(api, vhost):
    api.ok("PUT", f"/exchanges/{vhost}/x", {"type": "topic"})
    for q in ("q1", "q2"):
        api.ok("PUT", f"/queues/{vhost}/{q}", {})
    api.ok("POST", f"/bindings/{vhost}/e/x/q/q2", {"routing_key": "a.*"})
    api.ok("POST", f"/bindings/{vhost}/e/x/q/q1", {"routing_key": "a.b"})
    got = [(b["source"], b["destination"], b["routing_key"]) for b in api.ok("GET", f"/bindings/{vhost}")]
    assert got == [("", "q1", "q1"), ("", "q2", "q2"), ("x", "q1", "a.b"), ("x", "q2", "a.*")]
    # the columns go first, so the source no longer orders them
    rev = api.ok("GET", f"/bindings/{vhost}?sort_reverse=true&columns=destination,routing_key")
    assert rev == [{"destination": "q2", "routing_key": "q2"}, {"destination": "q2", "routing_key": "a.*"},
                   {"destination": "q1", "routing_key": "q1"}, {"destination": "q1", "routing_key": "a.b"}]


def test_only_queues_exchanges_vhosts_connections_channels_page(api, vhost):
    api.ok("PUT", f"/queues/{vhost}/q", {})
    assert api.ok("GET", f"/queues/{vhost}?page=1&page_size=1")["item_count"] == 1
    assert api.ok("GET", f"/exchanges/{vhost}?page=1&page_size=1")["item_count"] == 1
    for path in (f"/bindings/{vhost}", "/users", "/permissions", "/policies", "/parameters", "/global-parameters"):
        assert isinstance(api.ok("GET", f"{path}?page=1&page_size=1"), list), path


def test_queues_and_exchanges_sort_whole_then_cut_columns(api, vhost):
    for q, length in (("b", 3), ("a", 9), ("c", 1)):
        api.ok("PUT", f"/queues/{vhost}/{q}", {"arguments": {"x-max-length": length}})
    assert api.ok("GET", f"/queues/{vhost}?columns=name&sort=arguments.x-max-length") == [
        {"name": "c"}, {"name": "b"}, {"name": "a"}]
    api.ok("PUT", f"/exchanges/{vhost}/aaa", {"type": "topic"})
    api.ok("PUT", f"/exchanges/{vhost}/zzz", {"type": "direct"})
    names = [e["name"] for e in api.ok("GET", f"/exchanges/{vhost}?columns=name&sort=type")]
    assert names.index("zzz") < names.index("amq.fanout") < names.index("aaa")
    # other lists cut the columns first: a sort key outside them sorts as missing
    api.ok("PUT", f"/policies/{vhost}/zz-first", {"pattern": "^a", "definition": {"max-length": 1}})
    api.ok("PUT", f"/policies/{vhost}/aa-second", {"pattern": "^b", "definition": {"max-length": 1}})
    mine = [p for p in api.ok("GET", "/policies?columns=name,vhost&sort=pattern") if p["vhost"] == vhost]
    assert mine == [{"vhost": vhost, "name": "aa-second"}, {"vhost": vhost, "name": "zz-first"}]


def test_users_permissions_policies_parameters_take_columns_and_sort(api, vhost, users):
    for tags in ("monitoring", "administrator"):
        u = name()
        users.append(u)
        api.ok("PUT", f"/users/{u}", {"password": "pw", "tags": tags})
        api.ok("PUT", f"/permissions/{vhost}/{u}", {"configure": "", "write": ".*", "read": ".*"})
    listed = [i for i in api.ok("GET", "/users?columns=name,tags&sort=tags") if i["name"] in users]
    assert listed == [{"name": users[1], "tags": ["administrator"]}, {"name": users[0], "tags": ["monitoring"]}]
    assert api.ok("GET", f"/users/{users[0]}?columns=name") == {"name": users[0]}
    assert api.ok("GET", "/whoami?columns=name") == {"name": "guest"}
    perms = [p for p in api.ok("GET", "/permissions?columns=user,vhost&sort_reverse=true") if p["vhost"] == vhost]
    assert perms == sorted(({"user": u, "vhost": vhost} for u in ["guest", *users]), key=lambda p: p["user"],
                           reverse=True)
    # the vhost's own permission list names the vhost first
    assert list(api.ok("GET", f"/vhosts/{vhost}/permissions")[0]) == ["vhost", "user", "configure", "write", "read"]
    assert list(api.ok("GET", f"/permissions/{vhost}/guest")) == ["user", "vhost", "configure", "write", "read"]

    for pname, prio in (("p-high", 9), ("p-low", 1), ("p-mid", 5)):
        api.ok("PUT", f"/policies/{vhost}/{pname}", {"pattern": "^x", "definition": {"max-length": 1},
                                                     "priority": prio})
    assert api.ok("GET", f"/policies/{vhost}?columns=name,priority") == [
        {"name": "p-low", "priority": 1}, {"name": "p-mid", "priority": 5}, {"name": "p-high", "priority": 9}]
    assert api.ok("GET", f"/policies/{vhost}/p-low?columns=name") == {"name": "p-low"}
    api.ok("PUT", f"/vhost-limits/{vhost}/max-queues", {"value": 10})
    assert api.ok("GET", f"/parameters/vhost-limits/{vhost}?columns=name,component") == [
        {"component": "vhost-limits", "name": "limits"}]
    assert api.delete(f"/parameters/vhost-limits/{vhost}/limits").status == 204
    assert api.delete(f"/parameters/vhost-limits/{vhost}/limits").body == {"error": "Object Not Found",
                                                                            "reason": "Not Found"}


def test_legacy_node_health_check_and_unknown_paths(api):
    assert api.ok("GET", "/healthchecks/node") == {"status": "ok"}
    assert api.ok("GET", "/healthchecks/node/") == {"status": "ok"}
    node = api.ok("GET", "/overview")["node"]
    assert api.ok("GET", f"/healthchecks/node/{node}") == {"status": "ok"}
    assert api.get("/healthchecks/node/nosuch@nowhere").status == 404
    not_found = {"error": "Object Not Found", "reason": "Not Found"}
    for who in (api, api.as_user("nobody", "nothing")):  # before authentication, as RabbitMQ
        r = who.get("/no/such/thing")
        assert (r.status, r.body) == (404, not_found)


def test_definitions_import_errors_and_the_importers_permissions(api, users):
    bad = {"error": "bad_request", "reason": "failed_to_parse_json"}
    for raw in (b'{"vhosts": [', b"[1]", b'"x"'):
        r = api.call("POST", "/definitions", raw=raw)
        assert (r.status, r.body) == (400, bad), raw
    assert api.call("POST", "/definitions", raw=b"").status == 204
    nowhere = name()
    r = api.call("POST", f"/definitions/{nowhere}", raw=b"{}")
    assert (r.status, r.body) == (404, {"error": "not_found", "reason": "vhost_not_found"})

    granted, explicit, admin = name(), name(), name()
    users.append(admin)
    api.ok("PUT", f"/users/{admin}", {"password": "pw", "tags": "administrator"})
    as_admin = api.as_user(admin, "pw")
    try:
        as_admin.ok("POST", "/definitions", {
            "vhosts": [{"name": granted}, {"name": explicit}],
            "permissions": [{"user": admin, "vhost": explicit, "configure": "", "write": "w", "read": "r"}]})
        assert api.ok("GET", f"/vhosts/{granted}/permissions") == [
            {"vhost": granted, "user": admin, "configure": ".*", "write": ".*", "read": ".*"}]
        assert api.ok("GET", f"/vhosts/{explicit}/permissions") == [
            {"vhost": explicit, "user": admin, "configure": "", "write": "w", "read": "r"}]
        # an import that finds the vhost there already grants nothing
        as_admin.ok("DELETE", f"/permissions/{granted}/{admin}")
        as_admin.ok("POST", "/definitions", {"vhosts": [{"name": granted}]})
        assert api.ok("GET", f"/vhosts/{granted}/permissions") == []
    finally:
        api.delete(f"/vhosts/{granted}")
        api.delete(f"/vhosts/{explicit}")
