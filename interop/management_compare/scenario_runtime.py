"""Scenario, part 3: real AMQP connections (pika) seen through the API (connections, channels,
consumers, closing one with a reason), overview, nodes, health checks, aliveness, definitions export and
import, generic errors (404, 400, 405), and the final clean-up."""

from __future__ import annotations

from typing import Any

from .client import Context
from .scenario_access import VT, VU_SEG, V, rabbit_hash
from .scenario_topology import COUNTS, Q_VALUES
from .steps import DELETE, GET, POST, PUT, Act, both, equals, has

CONN_VALUES = ("name", "user", "vhost", "client_properties.connection_name", "user_provided_name", "protocol",
               "auth_mechanism", "channels", "state", "type", "ssl", "frame_max", "channel_max", "timeout",
               "peer_host", "host", "client_properties.product")
CHAN_VALUES = ("name", "number", "user", "vhost", "consumer_count", "prefetch_count", "global_prefetch_count",
               "confirm", "transactional", "messages_unacknowledged", "messages_unconfirmed", "state",
               "connection_details.name", "consumer_details[].consumer_tag")
CONSUMER_VALUES = ("[].consumer_tag", "[].queue.name", "[].queue.vhost", "[].ack_required", "[].prefetch_count",
                   "[].exclusive", "[].active", "[].activity_status", "[].arguments", "[].channel_details.number",
                   "[].channel_details.user")


def open_consumer(ctx: Context) -> None:
    conn = ctx.connect("c1", "cmp-amqp", V, name="cmp-conn")
    ch = ctx.channel("ch1", "c1")
    ch.basic_qos(prefetch_count=5)
    ch.confirm_delivery()
    for i in range(3):
        ch.basic_publish("", "cmp-consumed", f"m{i}".encode())
    # exchange statistics come from long-lived channels (the API's own publishes are too short-lived)
    ch.basic_publish("cmp-direct", "nomatch", b"unroutable")
    ch.basic_consume("cmp-consumed", lambda *a: None, consumer_tag="cmp-ctag")
    ctx.channel("ch2", "c1")
    conn.process_data_events(time_limit=0.3)


def after_close(ctx: Context) -> Any:
    """What pika sees once the API has closed its connection: the broker's close code and text."""
    conn = ctx.connections.pop("c1")
    conn.process_data_events(time_limit=2)
    return "still open" if conn.is_open else "closed"


def open_exclusive(ctx: Context) -> None:
    ctx.connect("c2", "cmp-amqp", V)
    ctx.channel("ch3", "c2").queue_declare("cmp-excl", exclusive=True)


def close_exclusive(ctx: Context) -> None:
    ctx.connections.pop("c2").close()


def one_connection(reply: Any) -> bool:
    items = [c for c in reply.body if c.get("vhost") == V]
    return len(items) == 1 and items[0].get("channels") == 2


def conn_name(reply: Any) -> str | None:
    items = [c for c in reply.body if isinstance(c, dict) and c.get("vhost") == V]
    return items[0]["name"] if items else None


CONNECTIONS = [
    PUT("amqp.queue", f"/queues/{V}/cmp-consumed"),
    Act("amqp.open-consumer", open_consumer, "pika: connect as cmp-amqp, 2 channels, publish 3, consume (prefetch 5)"),
    GET("conn.of-vhost", f"/vhosts/{V}/connections", values=tuple(f"[].{v}" for v in CONN_VALUES),
        settle=one_connection, save={"conn": conn_name}, skip=("[].client_properties",)),
    GET("settled.exchange", f"/exchanges/{V}/cmp-direct", values=("name",), settle=has("message_stats")),
    GET("settled.default-exchange", f"/exchanges/{V}/amq.default", values=("name",), settle=has("message_stats")),
    GET("conn.all", "/connections", own=True, values=("[].user", "[].vhost"), skip=("[].client_properties",)),
    GET("conn.one", "/connections/{conn}", values=CONN_VALUES, depth=3),
    GET("conn.channels", "/connections/{conn}/channels", values=("[].number", "[].consumer_count"),
        save={"chan": "[0].name"}, settle=lambda r: len(r.body) == 2 and "consumer_count" in r.body[0]),
    GET("chan.of-vhost", f"/vhosts/{V}/channels", values=("[].number",)),
    GET("chan.all", "/channels", own=True, values=("[].number", "[].user")),
    GET("chan.one", "/channels/{chan}", values=CHAN_VALUES,
        settle=lambda r: r.body.get("consumer_details") and r.body.get("messages_unacknowledged") == 3),
    GET("chan.missing", "/channels/cmp-missing%20(1)"),
    GET("consumer.all", "/consumers", own=True, values=CONSUMER_VALUES),
    GET("consumer.of-vhost", f"/consumers/{V}", values=CONSUMER_VALUES),
    GET("consumer.other-vhost", f"/consumers/{VU_SEG}", values=("#",)),
    GET("consumer.queue", f"/queues/{V}/cmp-consumed", values=(*COUNTS, "consumers", "consumer_details[].consumer_tag",
                                                               "consumer_details[].prefetch_count", "exclusive_consumer_tag"),
        settle=both(equals("messages_unacknowledged", 3), equals("consumers", 1))),
    GET("conn.mgmt-sees-none", "/connections", who="cmp-mgmt", own=True, values=("#",)),
    GET("conn.mgmt-other-users", "/connections/{conn}", who="cmp-mgmt"),
    GET("conn.mon-sees-all", "/connections", who="cmp-mon", own=True, values=("[].user",)),
    GET("consumer.mgmt", "/consumers", who="cmp-mgmt", own=True, values=("#",)),
    DELETE("conn.mgmt-delete-refused", "/connections/{conn}", who="cmp-mgmt"),
    DELETE("del.q-if-unused-refused", f"/queues/{V}/cmp-consumed?if-unused=true"),
    DELETE("conn.delete", "/connections/{conn}", headers={"X-Reason": "cmp closing"}),
    Act("amqp.closed-by-api", after_close, "pika: process events after DELETE /api/connections/{name}"),
    GET("conn.deleted", "/connections/{conn}", settle=lambda r: r.status == 404),
    GET("consumer.queue-after", f"/queues/{V}/cmp-consumed", values=(*COUNTS, "consumers"),
        settle=both(equals("messages_ready", 3), equals("consumers", 0))),
    GET("conn.missing", "/connections/cmp-missing"),
    DELETE("conn.delete-missing", "/connections/cmp-missing"),
    Act("amqp.open-exclusive", open_exclusive, "pika: declare the exclusive queue cmp-excl"),
    GET("excl.get", f"/queues/{V}/cmp-excl", values=(*Q_VALUES, "owner_pid_details.name"), settle=equals("messages", 0)),
    POST("excl.get-messages", f"/queues/{V}/cmp-excl/get", {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"}),
    DELETE("excl.purge", f"/queues/{V}/cmp-excl/contents"),
    PUT("excl.redeclare", f"/queues/{V}/cmp-excl"),
    POST("excl.bind", f"/bindings/{V}/e/amq.direct/q/cmp-excl", {"routing_key": "x"}),
    Act("amqp.close-exclusive", close_exclusive, "pika: close the exclusive queue's connection"),
    GET("excl.gone", f"/queues/{V}/cmp-excl", settle=lambda r: r.status == 404),
]

HEALTH = [
    GET("health.alarms", "/health/checks/alarms", values=("status", "reason")),
    GET("health.local-alarms", "/health/checks/local-alarms", values=("status", "reason")),
    GET("health.port-listener", "/health/checks/port-listener/{amqp_port}", values=("status",)),
    GET("health.port-listener-missing", "/health/checks/port-listener/1", values=("status", "reason", "missing")),
    GET("health.port-listener-bad", "/health/checks/port-listener/abc", values=("status", "reason")),
    GET("health.virtual-hosts", "/health/checks/virtual-hosts", values=("status", "reason")),
    GET("health.protocol-listener", "/health/checks/protocol-listener/amqp091", values=("status", "protocol")),
    GET("health.protocol-listener-alias", "/health/checks/protocol-listener/amqp0.9.1", values=("status",)),
    GET("health.protocol-listener-missing", "/health/checks/protocol-listener/stomp",
        values=("status", "reason", "missing")),
    GET("health.quorum-critical", "/health/checks/node-is-quorum-critical", values=("status", "reason")),
    GET("health.mirror-sync-critical", "/health/checks/node-is-mirror-sync-critical", values=("status", "reason")),
    GET("health.certificates", "/health/checks/certificate-expiration/1/weeks", values=("status",)),
    GET("health.certificates-bad-unit", "/health/checks/certificate-expiration/1/fortnights", values=("status",)),
    GET("health.as-mgmt", "/health/checks/alarms", who="cmp-mgmt", values=("status",)),
    GET("health.as-none", "/health/checks/alarms", who="cmp-none"),
    GET("alive.ok", f"/aliveness-test/{V}", values=("status",)),
    GET("alive.missing-vhost", "/aliveness-test/cmp-missing"),
    GET("alive.as-mgmt", f"/aliveness-test/{V}", who="cmp-mgmt", values=("status",)),
    GET("alive.as-mgmt-no-access", f"/aliveness-test/{VU_SEG}", who="cmp-mgmt"),
    GET("alive.queue-left", f"/queues/{V}/aliveness-test", values=("name", "durable", "auto_delete", "messages"),
        settle=equals("messages", 0)),
]

# Nodes and the overview carry Erlang VM detail: the top-level key sets of nodes and, for the overview,
# the nested objects users read (object_totals, queue_totals, listeners, contexts) are compared. Which
# listeners exist is not: RabbitMQ's include clustering and plugins' ports.
OVERVIEW = [
    GET("overview", "/overview", depth=2, skip=("listeners[].socket_opts",),
        values=("rates_mode", "exchange_types[].name", "disable_stats", "enable_queue_totals")),
    GET("overview.columns", "/overview?columns=object_totals,queue_totals", depth=2),
    GET("overview.monitoring", "/overview", who="cmp-mon", depth=1),
    GET("nodes", "/nodes", depth=0, save={"node": "[0].name"}, values=("[].running", "[].type", "#")),
    GET("nodes.one", "/nodes/{node}", depth=0, values=("running", "type", "mem_alarm", "disk_free_alarm")),
    GET("nodes.one-memory", "/nodes/{node}?memory=true", depth=0, keys=False, values=("running",)),
    GET("nodes.missing", "/nodes/cmp@nowhere"),
    GET("nodes.as-mon", "/nodes", who="cmp-mon", depth=0, values=("#",)),
    GET("extensions", "/extensions", values=("#",)),
    GET("cluster-name", "/cluster-name"),
    GET("whoami.admin", "/whoami", who="cmp-admin", values=("name", "tags")),
    GET("whoami.monitoring", "/whoami", who="cmp-mon", values=("name", "tags")),
    GET("whoami.policymaker", "/whoami", who="cmp-pol", values=("name", "tags")),
]

DEFS = ("vhosts[].name|sorted", "users[].name|sorted", "users[].tags|sorted", "permissions[].user|sorted",
        "topic_permissions[].user|sorted", "parameters[].name|sorted", "global_parameters[].name|sorted",
        "policies[].name|sorted", "queues[].name|sorted", "queues[].arguments|sorted", "exchanges[].name|sorted",
        "bindings[].routing_key|sorted", "bindings[].destination_type|sorted")
VHOST_DEFS = ("queues[].name|sorted", "exchanges[].name|sorted", "bindings[].destination|sorted",
              "policies[].name|sorted", "parameters[].name|sorted")
IMPORT = {
    "queues": [{"name": "cmp-def-q", "vhost": V, "durable": True, "auto_delete": False,
                "arguments": {"x-max-length": 7}}],
    "exchanges": [{"name": "cmp-def-x", "vhost": V, "type": "topic", "durable": True, "auto_delete": False,
                   "internal": False, "arguments": {}}],
    "bindings": [{"source": "cmp-def-x", "vhost": V, "destination": "cmp-def-q", "destination_type": "queue",
                  "routing_key": "def.#", "arguments": {}}],
}
IMPORT_ALL = {
    "vhosts": [{"name": "cmp-def"}],
    "users": [{"name": "cmp-def-user", "password_hash": rabbit_hash("cmp-def-pw"),
               "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "management"}],
    "permissions": [{"user": "cmp-def-user", "vhost": "cmp-def", "configure": ".*", "write": ".*", "read": ".*"}],
    "queues": [{"name": "cmp-def-q2", "vhost": "cmp-def", "durable": True, "auto_delete": False, "arguments": {}}],
}
DEFINITIONS = [
    GET("defs.all", "/definitions", own=True, values=DEFS, skip=("global_parameters[].value",)),
    GET("defs.vhost", f"/definitions/{V}", values=VHOST_DEFS),
    GET("defs.download", "/definitions?download=cmp.json", keys=False),
    GET("defs.missing-vhost", "/definitions/cmp-missing"),
    POST("defs.import-vhost", f"/definitions/{V}", IMPORT),
    GET("defs.imported-queue", f"/queues/{V}/cmp-def-q", values=Q_VALUES, settle=equals("messages", 0)),
    GET("defs.imported-binding", f"/bindings/{V}/e/cmp-def-x/q/cmp-def-q", values=("[].routing_key",)),
    POST("defs.import-all", "/definitions", IMPORT_ALL),
    GET("defs.imported-vhost", "/vhosts/cmp-def", values=("name",)),
    GET("defs.imported-user", "/users/cmp-def-user", values=("name", "tags", "hashing_algorithm", "password_hash")),
    GET("defs.imported-permission", "/permissions/cmp-def/cmp-def-user", values=("configure",)),
    POST("defs.bad-json", "/definitions", raw=b"{definitions"),
    POST("defs.as-mgmt", f"/definitions/{V}", IMPORT, who="cmp-mgmt"),
    POST("defs.unknown-keys", f"/definitions/{V}", {"cmp-nothing": []}),
    POST("defs.bad-queue", f"/definitions/{V}", {"queues": [{"name": "cmp-def-bad", "vhost": V, "durable": True,
                                                                "auto_delete": False,
                                                                "arguments": {"x-queue-type": "nope"}}]}),
]

ERRORS = [
    GET("err.unknown-path", "/nothing-here"),
    GET("err.unknown-nested-path", f"/queues/{V}/cmp-q1/nothing"),
    POST("err.overview-post", "/overview", {}),
    DELETE("err.whoami-delete", "/whoami"),
    PUT("err.nodes-put", "/nodes"),
    POST("err.queue-post", f"/queues/{V}/cmp-q1", {}),
    GET("err.get-on-get", f"/queues/{V}/cmp-q1/get"),
    PUT("err.publish-put", f"/exchanges/{V}/cmp-direct/publish", {}),
    DELETE("err.delete-vhost-list", "/vhosts"),
    PUT("err.queue-list-put", f"/queues/{V}"),
    PUT("err.body-is-list", f"/queues/{V}/cmp-list", [1, 2]),
    PUT("err.exchange-bad-json", f"/exchanges/{V}/cmp-badjson", raw=b"{"),
    PUT("err.user-bad-json", "/users/cmp-badjson", raw=b"nope"),
    PUT("err.policy-bad-json", f"/policies/{V}/cmp-badjson", raw=b"{'a': 1}"),
    GET("err.exchange-missing-vhost", "/exchanges/cmp-missing"),
    GET("err.queues-missing-vhost", "/queues/cmp-missing"),
    GET("err.bindings-missing-vhost", "/bindings/cmp-missing"),
    GET("err.connections-missing-vhost", "/vhosts/cmp-missing/connections"),
]

CLEANUP = [
    DELETE("cleanup.policy", f"/policies/{V}/cmp-ttl"),
    DELETE("cleanup.operator-policy", f"/operator-policies/{V}/cmp-op"),
    GET("cleanup.queue-without-policy", f"/queues/{V}/cmp-pq1", values=("policy", "operator_policy",
                                                                        "effective_policy_definition"),
        settle=equals("effective_policy_definition", {})),
    DELETE("cleanup.gparam", "/global-parameters/cmp-gp"),
    DELETE("cleanup.vhost-main", f"/vhosts/{V}"),
    DELETE("cleanup.vhost-tmp", f"/vhosts/{VT}"),
    DELETE("cleanup.vhost-unicode", f"/vhosts/{VU_SEG}"),
    DELETE("cleanup.vhost-def", "/vhosts/cmp-def"),
    POST("cleanup.users", "/users/bulk-delete", {"users": [
        "cmp-admin", "cmp-mgmt", "cmp-mon", "cmp-pol", "cmp-none", "cmp-amqp", "cmp-hash", "cmp-taglist",
        "cmp-emptyhash", "cmp-def-user"]}),
    GET("cleanup.vhosts-left", "/vhosts", own=True, values=("#",)),
    GET("cleanup.users-left", "/users", own=True, values=("[].name",)),
    GET("cleanup.permissions-left", "/permissions", own=True, values=("#",)),
    GET("cleanup.user-limits-left", "/user-limits", own=True, values=("#",)),
]

STEPS = [*CONNECTIONS, *HEALTH, *OVERVIEW, *DEFINITIONS, *ERRORS]
