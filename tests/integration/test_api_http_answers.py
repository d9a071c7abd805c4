"""The management API's answers down to the HTTP level, as RabbitMQ 3.10.8 gives them (each checked with
curl against it): 401 and 405 answers and their headers, the JSON encoding, relaxed JSON bodies, the
user, policy and binding answers the request-by-request comparison (interop/management_compare) found."""

from __future__ import annotations

import base64
import uuid

import pika
import pytest
from mgmt_helpers import Api, http, q

REALM = 'Basic realm="RabbitMQ Management"'


@pytest.fixture
def api(broker):
    if not broker.http_port:
        pytest.skip("needs amqpd's management API")
    return Api(broker.http_port)


@pytest.fixture
def vhost(api):
    name = f"http-{uuid.uuid4().hex[:6]}"
    api.ok("PUT", f"/vhosts/{name}")
    yield name
    api.delete(f"/vhosts/{name}")


def raw(broker, method: str, path: str, headers: dict[str, str] | None = None,
        data: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    return http(f"http://127.0.0.1:{broker.http_port}{path}", method, headers, data)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def user(api: Api, tags: str, vhost: str | None = None) -> Api:
    name = f"http-{uuid.uuid4().hex[:6]}"
    api.ok("PUT", f"/users/{name}", {"password": "pw", "tags": tags})
    if vhost is not None:
        api.ok("PUT", f"/permissions/{q(vhost)}/{name}", {"configure": ".*", "write": ".*", "read": ".*"})
    return api.as_user(name, "pw")


# -- 401 ------------------------------------------------------------------------------------------------
def test_no_credentials_is_a_bare_challenge(api, broker):
    status, headers, body = raw(broker, "GET", "/api/overview")
    assert (status, body, headers.get("WWW-Authenticate")) == (401, b"", REALM)


@pytest.mark.parametrize("authorization, status, challenged", [
    ("Basic " + base64.b64encode(b"guest:wrong").decode(), 401, True),  # Login failed
    ("Bearer some-token", 401, True),                                    # no OAuth 2: Login failed
    ("Digest realm=x", 401, True),                                       # as no credentials
    ("Basic Z3Vlc3Q=", 400, False),                                      # no ':' in the credentials
    ("Basic !!!", 400, False),
    ("Foo bar", 400, False),
])
def test_authorization_headers(broker, api, authorization, status, challenged):
    got, headers, _ = raw(broker, "GET", "/api/whoami", {"Authorization": authorization})
    assert got == status
    assert (headers.get("WWW-Authenticate") == REALM) is challenged


def test_login_failed_is_the_only_challenge(api, broker, vhost):
    status, headers, body = raw(broker, "GET", "/api/whoami", basic("guest", "wrong"))
    assert (status, headers["WWW-Authenticate"]) == (401, REALM)
    assert body == b'{"error":"not_authorized","reason":"Login failed"}'
    nobody = user(api, "")
    r = nobody.get("/whoami")
    assert (r.status, r.body["reason"]) == (401, "Not management user") and "WWW-Authenticate" not in r.headers
    mgmt = user(api, "management")
    for path, reason in (("/users", "Not administrator user"),
                         (f"/queues/{vhost}", "User not authorised to access virtual host")):
        r = mgmt.get(path)
        assert (r.status, r.body["reason"]) == (401, reason) and "WWW-Authenticate" not in r.headers
    r = api.put(f"/queues/{vhost}/amq.reserved")
    assert (r.status, r.body["reason"]) == (401, "Access refused.") and "WWW-Authenticate" not in r.headers


# -- 405, OPTIONS ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/api/overview", "HEAD, GET, OPTIONS"),
    ("DELETE", "/api/whoami", "HEAD, GET, OPTIONS"),
    ("POST", "/api/queues/%2F/q", "HEAD, GET, PUT, DELETE, OPTIONS"),
    ("GET", "/api/queues/%2F/q/get", "POST, OPTIONS"),
    ("PUT", "/api/queues/%2F/q/contents", "DELETE, OPTIONS"),
    ("PUT", "/api/definitions", "HEAD, GET, POST, OPTIONS"),
    ("PUT", "/api/bindings/%2F/e/x/q/y", "HEAD, GET, POST, OPTIONS"),
    ("GET", "/api/vhost-limits/%2F/max-queues", "PUT, DELETE, OPTIONS"),
])
def test_wrong_method_before_authentication(broker, method, path, allow):
    status, headers, body = raw(broker, method, path, data=b"" if method in ("POST", "PUT") else None)
    assert (status, body, headers["Allow"]) == (405, b"", allow)


def test_options(broker):
    status, headers, body = raw(broker, "OPTIONS", "/api/exchanges/%2F/amq.direct")
    assert (status, body, headers["Allow"]) == (200, b"", "HEAD, GET, PUT, DELETE, OPTIONS")


# -- JSON -----------------------------------------------------------------------------------------------
def test_compact_utf8_json(api, broker):
    name = "http-ü " + uuid.uuid4().hex[:4]
    api.ok("PUT", f"/vhosts/{q(name)}")
    try:
        status, headers, body = raw(broker, "GET", f"/api/vhosts/{q(name)}?columns=name,tracing",
                                    basic("guest", "guest"))
        assert status == 200 and body == ('{"name":"' + name + '","tracing":false}').encode()
        assert headers["Content-Type"] == "application/json" and headers["cache-control"] == "no-cache"
        status, headers, body = raw(broker, "GET", f"/api/queues/{q(name)}/nope", basic("guest", "guest"))
        assert body == b'{"error":"Object Not Found","reason":"Not Found"}' and "cache-control" not in headers
    finally:
        api.delete(f"/vhosts/{q(name)}")


def test_relaxed_json_bodies(api, vhost):
    # RabbitMQ's decoder takes single quotes, comments, a trailing comma and unknown escapes
    r = api.call("PUT", f"/vhosts/{vhost}", raw=b"{'description': 'a\\qb', /* c */ 'tags': 'x',}")
    assert r.status == 204
    assert api.get(f"/vhosts/{vhost}?columns=description,tags").body == {"description": "a\\qb", "tags": ["x"]}
    r = api.call("PUT", f"/policies/{vhost}/p", raw=b"{'a': 1}")
    assert r.body == {"error": "bad_request", "reason": "[{key_missing,pattern},{key_missing,definition}]"}
    for text in (b"{nope", b'{"a": NaN}', b'{"a": 1e400}', b"'unterminated"):
        assert api.call("PUT", f"/policies/{vhost}/p", raw=text).body == {"error": "bad_request",
                                                                         "reason": "not_json"}, text


# -- users ----------------------------------------------------------------------------------------------
def test_user_put_checks_in_rabbitmq_order(api):
    name = f"http-{uuid.uuid4().hex[:6]}"
    bad = lambda doc: api.put(f"/users/{name}", doc).body["reason"]  # noqa: E731
    assert bad({"password": "x"}) == "tags_not_present"
    assert bad({"password": "x", "password_hash": "abc"}) == "tags_not_present"
    assert bad({"password": "x", "password_hash": "abc", "tags": ""}) == "both_password_and_password_hash_are_provided"
    assert bad({"password_hash": "abc", "hashing_algorithm": "nope", "tags": ""}) == ["not_base64", "abc"]
    assert bad({"password_hash": 5, "tags": ""}) == ["not_base64", 5]
    assert api.get(f"/users/{name}").status == 404


def test_bulk_delete(api):
    a, b = (f"http-{uuid.uuid4().hex[:6]}" for _ in range(2))
    for n in (a, b):
        api.ok("PUT", f"/users/{n}", {"password": "x", "tags": ""})
    assert api.post("/users/bulk-delete", {"names": [a]}).body == {"error": "bad_request",
                                                                   "reason": "[{key_missing,users}]"}
    # one by one: the users before a missing one are gone
    r = api.post("/users/bulk-delete", {"users": [a, "http-nobody", b]})
    assert (r.status, r.body["reason"]) == (400, ["no_such_user", "http-nobody"])
    assert api.get(f"/users/{a}").status == 404 and api.get(f"/users/{b}").status == 200
    assert api.post("/users/bulk-delete", {"users": [b]}).status == 204


def test_topic_permissions_created_once_per_user_and_vhost(api, vhost):
    perm = lambda x: api.put(f"/topic-permissions/{vhost}/guest",  # noqa: E731
                             {"exchange": x, "write": ".*", "read": ".*"}).status
    assert [perm("amq.topic"), perm("other"), perm("other")] == [201, 204, 204]


# -- policies -------------------------------------------------------------------------------------------
def test_policy_resources_need_a_policymaker_with_access(api, vhost):
    api.ok("PUT", f"/policies/{vhost}/p", {"pattern": "^zz", "definition": {"max-length": 1}})
    refused = {"error": "not_authorised", "reason": "User not authorised to access object"}
    outsider = user(api, "policymaker")
    assert outsider.put(f"/policies/{vhost}/p2", {"pattern": "x", "definition": {"max-length": 1}}).body == refused
    assert outsider.get(f"/policies/{vhost}/p").body == refused
    assert outsider.get(f"/policies/{vhost}").body["reason"] == "User not authorised to access virtual host"
    insider = user(api, "policymaker", vhost)
    assert insider.get(f"/policies/{vhost}/p").body["name"] == "p"
    assert insider.get(f"/operator-policies/{vhost}/p").body["reason"] == "Not administrator user"
    watcher = user(api, "monitoring", vhost)
    assert watcher.get(f"/policies/{vhost}/p").body == refused
    assert watcher.get(f"/policies/{vhost}").status == 200


def test_monitoring_users_need_permissions_on_a_named_vhost(api, vhost):
    watcher = user(api, "monitoring")
    for path in (f"/queues/{vhost}", f"/exchanges/{vhost}", f"/bindings/{vhost}", f"/vhosts/{vhost}/channels"):
        r = watcher.get(path)
        assert (r.status, r.body["reason"]) == (401, "User not authorised to access virtual host"), path
    assert watcher.get(f"/vhost-limits/{vhost}").status == 200  # visible to monitoring users
    assert any(v["name"] == vhost for v in watcher.get("/vhosts").body)


# -- queues, bindings -----------------------------------------------------------------------------------
def test_json_integers_are_long(api, broker, vhost):
    api.ok("PUT", f"/permissions/{vhost}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    api.ok("PUT", f"/queues/{vhost}/q1", {"arguments": {"x-message-ttl": 5}})
    r = api.put(f"/queues/{vhost}/q1", {"arguments": {"x-message-ttl": 5, "x-max-length": 5}})
    assert r.body["reason"] == (f"inequivalent arg 'x-max-length' for queue 'q1' in vhost '{vhost}': "
                                "received the value '5' of type 'long' but current is none")
    r = api.put(f"/queues/{vhost}/q2", {"arguments": {"x-overflow": 5}})
    assert r.body["reason"].endswith("{unacceptable_type,long}")
    # an AMQP client's own integers keep their type (the current value above is the API's long)
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, vhost, pika.PlainCredentials("guest", "guest")))
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            conn.channel().queue_declare("q1", arguments={"x-message-ttl": 5, "x-max-length": 7})
        assert "received the value '7' of type 'signedint' but current is none" in exc.value.reply_text
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            conn.channel().queue_declare("q1")
        assert "received none but current is the value '5' of type 'long'" in exc.value.reply_text
    finally:
        conn.close()


def test_queue_node(api, vhost):
    api.ok("PUT", f"/permissions/{vhost}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    node = api.get("/nodes").body[0]["name"]
    assert api.put(f"/queues/{vhost}/here", {"node": node}).status == 201
    r = api.put(f"/queues/{vhost}/there", {"node": "rabbit@elsewhere"})
    assert r.body == {"error": "bad_request", "reason": "Node rabbit@elsewhere could not be contacted"}
    short = api.put(f"/queues/{vhost}/there", {"node": "other"}).body["reason"]
    assert short == f"Node other@{node.partition('@')[2]} could not be contacted"


def test_binding_location_is_relative_to_the_request(api, broker):
    v = "http-ü " + uuid.uuid4().hex[:4]
    api.ok("PUT", f"/vhosts/{q(v)}")
    try:
        api.ok("PUT", f"/queues/{q(v)}/{q('q ü/x')}")
        api.ok("PUT", f"/exchanges/{q(v)}/{q('x y')}", {"type": "direct"})
        # the path spells the names with %20, RabbitMQ's URL with '+': they part at the vhost
        r = api.post(f"/bindings/{q(v)}/e/{q('x y')}/q/{q('q ü/x')}", {"routing_key": "a b/ü"})
        assert r.headers["Location"] == ("../../../../" + v.replace(" ", "+").replace("ü", "%C3%BC")
                                         + "/e/x+y/q/q+%C3%BC%2Fx/a%2Bb%252F%25C3%25BC")
        api.ok("PUT", "/queues/%2F/http-loc")
        r = api.post("/bindings/%2F/e/amq.direct/q/http-loc", {"routing_key": "k"})
        assert r.headers["Location"] == "http-loc/k"
        api.delete("/queues/%2F/http-loc")
    finally:
        api.delete(f"/vhosts/{q(v)}")


# -- definitions, listeners -----------------------------------------------------------------------------
def test_definitions_download_and_missing_vhost(api, broker):
    status, headers, _ = raw(broker, "GET", "/api/definitions/%2F?download=my%20defs.json", basic("guest", "guest"))
    assert (status, headers["Content-Disposition"]) == (200, "attachment; filename=my defs.json")
    r = api.get("/definitions/http-nowhere")
    assert (r.status, r.body) == (400, {"error": "bad_request", "reason": "vhost_not_found"})


def test_prometheus_listener(api, broker):
    listeners = api.get("/overview").body["listeners"]
    assert {"protocol": "http/prometheus", "port": broker.metrics_port} in [
        {"protocol": entry["protocol"], "port": entry["port"]} for entry in listeners]
    assert api.get("/health/checks/protocol-listener/http%2Fprometheus").body == {
        "status": "ok", "protocol": "http/prometheus"}
    assert api.get(f"/health/checks/port-listener/{broker.metrics_port}").status == 200
