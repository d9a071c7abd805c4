"""Scenario, part 2: exchanges, queues, bindings, publishing and getting messages through the API,
dead-lettering (x-death), purge and conditional deletes, list paging/sorting/filtering and names that
need percent-encoding."""

from __future__ import annotations

from .client import Reply
from .scenario_access import VU_SEG, V
from .steps import DELETE, GET, POST, PUT, both, equals, has

X_VALUES = ("name", "vhost", "type", "durable", "auto_delete", "internal", "arguments")
Q_VALUES = ("name", "vhost", "durable", "auto_delete", "exclusive", "arguments", "type")
COUNTS = ("messages", "messages_ready", "messages_unacknowledged")
B_VALUES = ("source", "vhost", "destination", "destination_type", "routing_key", "arguments", "properties_key")
MSG_VALUES = ("[].payload", "[].payload_bytes", "[].payload_encoding", "[].redelivered", "[].exchange",
              "[].routing_key", "[].message_count", "[].properties")
DEATH = ("[0].properties.headers.x-death[].reason", "[0].properties.headers.x-death[].count",
         "[0].properties.headers.x-death[].queue", "[0].properties.headers.x-death[].exchange",
         "[0].properties.headers.x-death[].routing-keys", "[0].properties.headers.x-first-death-reason",
         "[0].properties.headers.x-first-death-queue", "[0].properties.headers.x-first-death-exchange",
         "[0].exchange", "[0].routing_key", "[0].payload")


def pub(routing_key: str, payload: str = "hello", encoding: str = "string", **props: object) -> dict:
    return {"routing_key": routing_key, "payload": payload, "payload_encoding": encoding, "properties": props}


def get(count: int, ackmode: str, encoding: str = "auto", **kw: object) -> dict:
    return {"count": count, "ackmode": ackmode, "encoding": encoding, **kw}


def messages(n: int):
    """settle: RabbitMQ's queue counts come from statistics events, seconds behind, and the counts
    (queue_coarse_metrics) may arrive before the rest of the queue's details (queue_metrics)."""
    return both(equals("messages", n), has("state", "consumers"))


def key_of(routing_key: str):
    """save: the properties_key of the binding with this routing key, from a binding list."""
    def find(reply: Reply) -> str | None:
        for b in reply.body if isinstance(reply.body, list) else []:
            if isinstance(b, dict) and b.get("routing_key") == routing_key:
                return b.get("properties_key")
        return None
    return find


EXCHANGES = [
    PUT("x.create", f"/exchanges/{V}/cmp-direct", {"type": "direct", "durable": True}),
    PUT("x.update", f"/exchanges/{V}/cmp-direct", {"type": "direct", "durable": True}),
    PUT("x.inequivalent", f"/exchanges/{V}/cmp-direct", {"type": "fanout", "durable": True}),
    PUT("x.fanout", f"/exchanges/{V}/cmp-fanout", {"type": "fanout", "durable": False}),
    PUT("x.topic", f"/exchanges/{V}/cmp-topic", {"type": "topic", "durable": True}),
    PUT("x.headers", f"/exchanges/{V}/cmp-headers", {"type": "headers", "durable": True}),
    PUT("x.internal", f"/exchanges/{V}/cmp-internal", {"type": "direct", "internal": True}),
    PUT("x.auto-delete", f"/exchanges/{V}/cmp-autodel", {"type": "direct", "auto_delete": True}),
    PUT("x.alternate", f"/exchanges/{V}/cmp-ae-src", {"type": "direct", "arguments": {"alternate-exchange": "cmp-fanout"}}),
    PUT("x.dlx", f"/exchanges/{V}/cmp-dlx", {"type": "fanout", "durable": True}),
    PUT("x.policy-match", f"/exchanges/{V}/cmp-pe1", {"type": "direct"}),
    PUT("x.no-type", f"/exchanges/{V}/cmp-notype", {"durable": True}),
    PUT("x.bad-type", f"/exchanges/{V}/cmp-badtype", {"type": "nope"}),
    PUT("x.reserved-name", f"/exchanges/{V}/amq.cmp", {"type": "direct"}),
    PUT("x.missing-vhost", "/exchanges/cmp-missing/cmp-x", {"type": "direct"}),
    GET("x.get", f"/exchanges/{V}/cmp-direct", values=X_VALUES),
    GET("x.get-internal", f"/exchanges/{V}/cmp-internal", values=X_VALUES),
    GET("x.get-alternate", f"/exchanges/{V}/cmp-ae-src", values=X_VALUES),
    GET("x.get-policy", f"/exchanges/{V}/cmp-pe1", values=("policy",)),
    GET("x.get-no-type", f"/exchanges/{V}/cmp-notype", values=("type",)),
    GET("x.get-default", f"/exchanges/{V}/amq.default", values=X_VALUES),
    GET("x.get-amq-topic", f"/exchanges/{V}/amq.topic", values=X_VALUES),
    GET("x.missing", f"/exchanges/{V}/cmp-missing"),
    GET("x.of-vhost", f"/exchanges/{V}", values=("[].name", "[].type")),
    GET("x.all", "/exchanges", own=True, values=("[].name",)),
]

QUEUES = [
    PUT("q.create", f"/queues/{V}/cmp-q1", {"durable": True}),
    PUT("q.update", f"/queues/{V}/cmp-q1", {"durable": True}),
    PUT("q.inequivalent", f"/queues/{V}/cmp-q1", {"durable": True, "arguments": {"x-max-length": 5}}),
    PUT("q.inequivalent-durable", f"/queues/{V}/cmp-q1", {"durable": False}),
    PUT("q.arguments", f"/queues/{V}/cmp-args", {"durable": True, "arguments": {
        "x-max-length": 10, "x-message-ttl": 60000, "x-max-priority": 5, "x-queue-mode": "lazy"}}),
    PUT("q.work", f"/queues/{V}/cmp-work", {"durable": False, "arguments": {"x-dead-letter-exchange": "cmp-dlx"}}),
    PUT("q.dlq", f"/queues/{V}/cmp-dlq", {"durable": True}),
    PUT("q.ttl", f"/queues/{V}/cmp-ttl-q", {"arguments": {"x-message-ttl": 1, "x-dead-letter-exchange": "",
                                                         "x-dead-letter-routing-key": "cmp-dlq2"}}),
    PUT("q.dlq2", f"/queues/{V}/cmp-dlq2"),
    PUT("q.maxlen", f"/queues/{V}/cmp-maxlen", {"arguments": {"x-max-length": 1, "x-dead-letter-exchange": "",
                                                             "x-dead-letter-routing-key": "cmp-dlq3"}}),
    PUT("q.dlq3", f"/queues/{V}/cmp-dlq3"),
    PUT("q.quorum", f"/queues/{V}/cmp-quorum", {"durable": True, "arguments": {"x-queue-type": "quorum"}}),
    PUT("q.quorum-not-durable", f"/queues/{V}/cmp-quorum2", {"durable": False, "arguments": {"x-queue-type": "quorum"}}),
    PUT("q.auto-delete", f"/queues/{V}/cmp-autodel", {"auto_delete": True}),
    PUT("q.policy-match", f"/queues/{V}/cmp-pq1", {"durable": True}),
    PUT("q.empty-body", f"/queues/{V}/cmp-empty"),
    PUT("q.bad-argument", f"/queues/{V}/cmp-badarg", {"arguments": {"x-max-length": "ten"}}),
    PUT("q.bad-queue-type", f"/queues/{V}/cmp-badtype", {"arguments": {"x-queue-type": "nope"}}),
    PUT("q.bad-json", f"/queues/{V}/cmp-badjson", raw=b'{"durable": tru'),
    PUT("q.reserved-name", f"/queues/{V}/amq.cmp"),
    PUT("q.missing-vhost", "/queues/cmp-missing/cmp-q"),
    GET("q.get", f"/queues/{V}/cmp-q1", values=(*Q_VALUES, *COUNTS, "consumers", "state", "policy"),
        settle=messages(0)),
    GET("q.get-arguments", f"/queues/{V}/cmp-args", values=Q_VALUES, settle=messages(0)),
    GET("q.get-quorum", f"/queues/{V}/cmp-quorum", values=Q_VALUES, settle=messages(0), skip=("leader", "members", "online")),
    GET("q.get-auto-delete", f"/queues/{V}/cmp-autodel", values=Q_VALUES, settle=messages(0)),
    GET("q.get-policy", f"/queues/{V}/cmp-pq1", values=("policy", "operator_policy", "effective_policy_definition"),
        settle=equals("effective_policy_definition", {"max-length": 50, "message-ttl": 60000})),
    GET("q.missing", f"/queues/{V}/cmp-missing"),
    GET("q.of-vhost", f"/queues/{V}", values=("[].name", "[].durable"), settle=has("messages", "state")),
    GET("q.all", "/queues", own=True, values=("[].name",)),
]

BINDINGS = [
    POST("b.create", f"/bindings/{V}/e/cmp-direct/q/cmp-q1", {"routing_key": "rk1"}),
    POST("b.create-again", f"/bindings/{V}/e/cmp-direct/q/cmp-q1", {"routing_key": "rk1"}),
    POST("b.with-arguments", f"/bindings/{V}/e/cmp-direct/q/cmp-q1", {"routing_key": "rk args", "arguments": {"x-cmp": "1"}}),
    POST("b.empty-key", f"/bindings/{V}/e/cmp-direct/q/cmp-q1", {"routing_key": ""}),
    POST("b.no-key", f"/bindings/{V}/e/cmp-direct/q/cmp-dlq", {}),
    POST("b.topic", f"/bindings/{V}/e/cmp-topic/q/cmp-q1", {"routing_key": "cmp.#"}),
    POST("b.headers", f"/bindings/{V}/e/cmp-headers/q/cmp-q1", {"routing_key": "", "arguments": {"x-match": "all", "h": "v"}}),
    POST("b.dlx", f"/bindings/{V}/e/cmp-dlx/q/cmp-dlq", {"routing_key": ""}),
    POST("b.e2e", f"/bindings/{V}/e/cmp-fanout/e/cmp-direct", {"routing_key": "e2e"}),
    POST("b.alternate-target", f"/bindings/{V}/e/cmp-fanout/q/cmp-args", {"routing_key": ""}),
    POST("b.missing-queue", f"/bindings/{V}/e/cmp-direct/q/cmp-missing", {"routing_key": "x"}),
    POST("b.missing-exchange", f"/bindings/{V}/e/cmp-missing/q/cmp-q1", {"routing_key": "x"}),
    POST("b.default-exchange", f"/bindings/{V}/e/amq.default/q/cmp-q1", {"routing_key": "x"}),
    POST("b.bad-json", f"/bindings/{V}/e/cmp-direct/q/cmp-q1", raw=b"[nope"),
    GET("b.between", f"/bindings/{V}/e/cmp-direct/q/cmp-q1", values=("[].routing_key|sorted", "[].properties_key|sorted"),
        save={"bkey_args": key_of("rk args"), "bkey_empty": key_of("")}),
    GET("b.one", f"/bindings/{V}/e/cmp-direct/q/cmp-q1/rk1", values=B_VALUES),
    GET("b.one-empty-key", f"/bindings/{V}/e/cmp-direct/q/cmp-q1/{{bkey_empty}}", values=B_VALUES),
    GET("b.one-with-arguments", f"/bindings/{V}/e/cmp-direct/q/cmp-q1/{{bkey_args}}", values=B_VALUES),
    GET("b.one-missing", f"/bindings/{V}/e/cmp-direct/q/cmp-q1/nope"),
    GET("b.e2e-list", f"/bindings/{V}/e/cmp-fanout/e/cmp-direct", values=("[].routing_key", "[].destination_type")),
    GET("b.e2e-one", f"/bindings/{V}/e/cmp-fanout/e/cmp-direct/e2e", values=B_VALUES),
    GET("b.of-vhost", f"/bindings/{V}", values=("[].source|sorted", "[].destination|sorted", "[].routing_key|sorted")),
    GET("b.all", "/bindings", own=True, values=("[].destination|sorted",)),
    GET("b.source", f"/exchanges/{V}/cmp-direct/bindings/source", values=("[].destination|sorted", "[].routing_key|sorted")),
    GET("b.destination", f"/exchanges/{V}/cmp-direct/bindings/destination", values=("[].source", "[].routing_key")),
    GET("b.of-queue", f"/queues/{V}/cmp-q1/bindings", values=("[].source|sorted", "[].routing_key|sorted")),
    GET("b.of-missing-queue", f"/queues/{V}/cmp-missing/bindings"),
    DELETE("b.delete", f"/bindings/{V}/e/cmp-direct/q/cmp-q1/{{bkey_args}}"),
    DELETE("b.delete-again", f"/bindings/{V}/e/cmp-direct/q/cmp-q1/{{bkey_args}}"),
    DELETE("b.delete-e2e", f"/bindings/{V}/e/cmp-fanout/e/cmp-direct/e2e"),
    GET("b.after-delete", f"/bindings/{V}/e/cmp-direct/q/cmp-q1", values=("[].routing_key|sorted",)),
]

PROPS = {"delivery_mode": 2, "headers": {"h1": "v1", "n": 5, "f": True}, "content_type": "text/plain",
         "priority": 3, "message_id": "m1", "correlation_id": "c1", "reply_to": "r", "expiration": "60000",
         "type": "t", "app_id": "a", "content_encoding": "utf-8"}
MESSAGES = [
    POST("pub.routed", f"/exchanges/{V}/cmp-direct/publish", pub("rk1", "first"), values=("routed",)),
    POST("pub.unroutable", f"/exchanges/{V}/cmp-direct/publish", pub("nomatch"), values=("routed",)),
    POST("pub.properties", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "second", **PROPS), values=("routed",)),
    POST("pub.base64", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "AAEC/w==", "base64"), values=("routed",)),
    POST("pub.unicode", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "grüße ✓"), values=("routed",)),
    POST("pub.topic", f"/exchanges/{V}/cmp-topic/publish", pub("cmp.a.b", "topical"), values=("routed",)),
    POST("pub.headers", f"/exchanges/{V}/cmp-headers/publish", pub("", "hdr", headers={"h": "v"}), values=("routed",)),
    POST("pub.headers-nomatch", f"/exchanges/{V}/cmp-headers/publish", pub("", "hdr", headers={"h": "w"}), values=("routed",)),
    POST("pub.e2e", f"/exchanges/{V}/cmp-fanout/publish", pub("any", "to-args"), values=("routed",)),
    POST("pub.alternate", f"/exchanges/{V}/cmp-ae-src/publish", pub("unbound", "via-ae"), values=("routed",)),
    POST("pub.missing-exchange", f"/exchanges/{V}/cmp-missing/publish", pub("x")),
    POST("pub.internal", f"/exchanges/{V}/cmp-internal/publish", pub("x")),
    POST("pub.bad-encoding", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "x", "rot13")),
    POST("pub.bad-base64", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "!!!", "base64")),
    POST("pub.missing-payload", f"/exchanges/{V}/amq.default/publish", {"routing_key": "cmp-q1", "properties": {}}),
    POST("pub.missing-properties", f"/exchanges/{V}/amq.default/publish",
         {"routing_key": "cmp-q1", "payload": "x", "payload_encoding": "string"}),
    POST("pub.bad-delivery-mode", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "x", delivery_mode="often")),
    GET("get.count-queue", f"/queues/{V}/cmp-q1", values=COUNTS, settle=both(messages(6), has("message_stats"))),
    GET("get.count-args", f"/queues/{V}/cmp-args", values=COUNTS, settle=both(messages(2), has("message_stats"))),
    POST("get.requeue", f"/queues/{V}/cmp-q1/get", get(2, "ack_requeue_true"), values=MSG_VALUES),
    POST("get.redelivered", f"/queues/{V}/cmp-q1/get", get(1, "ack_requeue_true"), values=MSG_VALUES),
    POST("get.truncate", f"/queues/{V}/cmp-q1/get", get(1, "reject_requeue_true", truncate=3), values=MSG_VALUES),
    POST("get.base64", f"/queues/{V}/cmp-q1/get", get(2, "ack_requeue_true", "base64"), values=MSG_VALUES),
    POST("get.all-drain", f"/queues/{V}/cmp-q1/get", get(10, "ack_requeue_false"), values=MSG_VALUES),
    POST("get.empty", f"/queues/{V}/cmp-q1/get", get(1, "ack_requeue_false"), values=("#",)),
    GET("get.count-after", f"/queues/{V}/cmp-q1", values=COUNTS, settle=messages(0)),
    POST("get.args-queue", f"/queues/{V}/cmp-args/get", get(5, "ack_requeue_false"), values=MSG_VALUES),
    POST("get.missing-queue", f"/queues/{V}/cmp-missing/get", get(1, "ack_requeue_false")),
    POST("get.bad-ackmode", f"/queues/{V}/cmp-q1/get", get(1, "sometimes")),
    POST("get.missing-ackmode", f"/queues/{V}/cmp-q1/get", {"count": 1, "encoding": "auto"}),
    POST("get.bad-encoding", f"/queues/{V}/cmp-q1/get", get(1, "ack_requeue_false", "rot13")),
]

DEAD_LETTERS = [
    POST("dlx.publish", f"/exchanges/{V}/amq.default/publish", pub("cmp-work", "dead", headers={"keep": "me"}),
         values=("routed",)),
    GET("dlx.work-count", f"/queues/{V}/cmp-work", values=COUNTS, settle=messages(1)),
    POST("dlx.reject", f"/queues/{V}/cmp-work/get", get(1, "reject_requeue_false"), values=MSG_VALUES),
    GET("dlx.dlq-count", f"/queues/{V}/cmp-dlq", values=COUNTS, settle=messages(1)),
    POST("dlx.get-dead", f"/queues/{V}/cmp-dlq/get", get(1, "ack_requeue_false"),
         values=(*DEATH, "[0].properties.headers.keep")),
    POST("dlx.ttl-publish", f"/exchanges/{V}/amq.default/publish", pub("cmp-ttl-q", "expiring"), values=("routed",)),
    GET("dlx.ttl-count", f"/queues/{V}/cmp-dlq2", values=COUNTS, settle=messages(1)),
    POST("dlx.get-expired", f"/queues/{V}/cmp-dlq2/get", get(1, "ack_requeue_false"), values=DEATH),
    POST("dlx.maxlen-1", f"/exchanges/{V}/amq.default/publish", pub("cmp-maxlen", "one"), values=("routed",)),
    POST("dlx.maxlen-2", f"/exchanges/{V}/amq.default/publish", pub("cmp-maxlen", "two"), values=("routed",)),
    GET("dlx.maxlen-count", f"/queues/{V}/cmp-dlq3", values=COUNTS, settle=messages(1)),
    POST("dlx.get-maxlen", f"/queues/{V}/cmp-dlq3/get", get(1, "ack_requeue_false"), values=DEATH),
    POST("dlx.get-survivor", f"/queues/{V}/cmp-maxlen/get", get(5, "ack_requeue_true"), values=("[].payload",)),
]

PURGE_AND_DELETE = [
    POST("purge.fill-1", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "p1"), values=("routed",)),
    POST("purge.fill-2", f"/exchanges/{V}/amq.default/publish", pub("cmp-q1", "p2"), values=("routed",)),
    GET("purge.count-before", f"/queues/{V}/cmp-q1", values=COUNTS, settle=messages(2)),
    DELETE("purge.if-empty-refused", f"/queues/{V}/cmp-q1?if-empty=true"),
    DELETE("purge.contents", f"/queues/{V}/cmp-q1/contents"),
    GET("purge.count-after", f"/queues/{V}/cmp-q1", values=COUNTS, settle=messages(0)),
    DELETE("purge.missing-queue", f"/queues/{V}/cmp-missing/contents"),
    DELETE("del.q-if-empty", f"/queues/{V}/cmp-empty?if-empty=true"),
    DELETE("del.q", f"/queues/{V}/cmp-args"),
    DELETE("del.q-again", f"/queues/{V}/cmp-args"),
    DELETE("del.q-quorum", f"/queues/{V}/cmp-quorum"),
    DELETE("del.x-if-unused-refused", f"/exchanges/{V}/cmp-direct?if-unused=true"),
    DELETE("del.x-if-unused", f"/exchanges/{V}/cmp-internal?if-unused=true"),
    DELETE("del.x", f"/exchanges/{V}/cmp-autodel"),
    DELETE("del.x-again", f"/exchanges/{V}/cmp-autodel"),
    DELETE("del.x-default", f"/exchanges/{V}/amq.default"),
    DELETE("del.x-amq", f"/exchanges/{V}/amq.direct"),
    GET("del.x-amq-still-there", f"/exchanges/{V}/amq.direct", values=("name",)),
    GET("del.b-after-exchange", f"/bindings/{V}/e/cmp-fanout/q/cmp-args", values=("#",)),
]

# Objects once RabbitMQ's statistics have caught up with the traffic above: the shapes users see.
SETTLED = [
    GET("settled.vhost", f"/vhosts/{V}", values=("name", "messages"), settle=has("message_stats", "messages")),
    GET("settled.queue", f"/queues/{V}/cmp-q1", values=COUNTS, settle=has("message_stats")),
    GET("settled.vhosts", "/vhosts", own=True, values=("[].name",), settle=lambda r: any(
        v.get("name") == V and "message_stats" in v for v in r.body)),
]

PAGE = ("page", "page_count", "page_size", "filtered_count", "item_count", "total_count", "items[].name")
LISTS = [
    GET("page.first", f"/queues/{V}?page=1&page_size=3", values=PAGE),
    GET("page.second", f"/queues/{V}?page=2&page_size=3", values=PAGE),
    GET("page.last", f"/queues/{V}?page=3&page_size=3", values=PAGE),
    GET("page.default-size", f"/queues/{V}?page=1", values=PAGE),
    GET("page.name-substring", f"/queues/{V}?page=1&name=dlq", values=PAGE),
    GET("page.name-case", f"/queues/{V}?page=1&name=CMP-Q", values=PAGE),
    GET("page.regex", f"/queues/{V}?page=1&name=%5Ecmp-dlq%5Cd%24&use_regex=true", values=PAGE),
    GET("page.regex-false", f"/queues/{V}?page=1&name=%5Ecmp-dlq%5Cd%24&use_regex=false", values=PAGE),
    GET("page.bad-regex", f"/queues/{V}?page=1&name=(&use_regex=true"),
    GET("page.sorted", f"/queues/{V}?page=1&sort=name&sort_reverse=true", values=PAGE),
    GET("page.zero", f"/queues/{V}?page=0"),
    GET("page.out-of-range", f"/queues/{V}?page=9&page_size=3"),
    GET("page.size-too-big", f"/queues/{V}?page=1&page_size=1000"),
    GET("page.not-a-number", f"/queues/{V}?page=x"),
    GET("list.sort-reverse", f"/queues/{V}?sort=name&sort_reverse=true", values=("[].name",)),
    GET("list.sort-durable", f"/queues/{V}?sort=durable", values=("[].name",)),
    GET("list.sort-nested", f"/queues/{V}?sort=arguments.x-max-length", values=("[].name",)),
    GET("list.columns", f"/queues/{V}?columns=name,durable", values=("[].name", "[].durable")),
    GET("list.columns-nested", f"/queues/{V}?columns=name,arguments.x-dead-letter-exchange", values=("[].arguments",)),
    GET("list.columns-unknown", f"/queues/{V}?columns=nope", values=("#",)),
    GET("list.columns-sort", f"/queues/{V}?columns=name&sort=name&sort_reverse=true", values=("[].name",)),
    GET("list.exchanges-page", f"/exchanges/{V}?page=1&page_size=4&name=amq.", values=PAGE),
    GET("list.exchanges-columns", f"/exchanges/{V}?columns=name,type", values=("[].name", "[].type")),
    GET("list.vhosts-page", "/vhosts?page=1&name=cmp-&use_regex=false", own=True,
        values=("items[].name", "filtered_count", "item_count")),
    GET("list.users-regex", "/users?page=1&name=%5Ecmp-(admin|mgmt)%24&use_regex=true", own=True,
        values=("items[].name", "filtered_count", "item_count", "[].name")),
]

ENCODED = [
    PUT("enc.default-vhost-queue", "/queues/%2F/cmp-default-q", {"durable": False}),
    GET("enc.default-vhost-get", "/queues/%2F/cmp-default-q", values=(*Q_VALUES, "messages"), settle=messages(0)),
    POST("enc.default-vhost-publish", "/exchanges/%2F/amq.default/publish", pub("cmp-default-q", "slash"),
         values=("routed",)),
    POST("enc.default-vhost-get-message", "/queues/%2F/cmp-default-q/get", get(1, "ack_requeue_false"),
         values=MSG_VALUES),
    GET("enc.default-vhost-bindings", "/queues/%2F/cmp-default-q/bindings", values=("[].source", "[].routing_key")),
    DELETE("enc.default-vhost-delete", "/queues/%2F/cmp-default-q"),
    PUT("enc.unicode-queue", f"/queues/{VU_SEG}/cmp%20q%20%C3%BC%2Fslash"),
    GET("enc.unicode-queue-get", f"/queues/{VU_SEG}/cmp%20q%20%C3%BC%2Fslash", values=("name", "vhost"),
        settle=messages(0)),
    GET("enc.unicode-queue-list", f"/queues/{VU_SEG}", values=("[].name",), settle=has("messages", "state")),
    PUT("enc.unicode-exchange", f"/exchanges/{VU_SEG}/cmp-x%20%C3%BC", {"type": "topic"}),
    GET("enc.unicode-exchange-get", f"/exchanges/{VU_SEG}/cmp-x%20%C3%BC", values=("name", "vhost", "type")),
    POST("enc.unicode-binding", f"/bindings/{VU_SEG}/e/cmp-x%20%C3%BC/q/cmp%20q%20%C3%BC%2Fslash",
         {"routing_key": "a b/ü"}),
    GET("enc.unicode-binding-list", f"/bindings/{VU_SEG}/e/cmp-x%20%C3%BC/q/cmp%20q%20%C3%BC%2Fslash",
        values=("[].routing_key", "[].properties_key"), save={"bkey_unicode": key_of("a b/ü")}),
    GET("enc.unicode-binding-one", f"/bindings/{VU_SEG}/e/cmp-x%20%C3%BC/q/cmp%20q%20%C3%BC%2Fslash/{{bkey_unicode}}",
        values=B_VALUES),
    POST("enc.unicode-publish", f"/exchanges/{VU_SEG}/cmp-x%20%C3%BC/publish", pub("a b/ü", "ü"), values=("routed",)),
    POST("enc.unicode-get", f"/queues/{VU_SEG}/cmp%20q%20%C3%BC%2Fslash/get", get(1, "ack_requeue_false"),
         values=MSG_VALUES),
    DELETE("enc.unicode-binding-delete", f"/bindings/{VU_SEG}/e/cmp-x%20%C3%BC/q/cmp%20q%20%C3%BC%2Fslash/{{bkey_unicode}}"),
    DELETE("enc.unicode-queue-delete", f"/queues/{VU_SEG}/cmp%20q%20%C3%BC%2Fslash"),
    GET("enc.plus-is-not-space", f"/queues/{VU_SEG}/cmp+q", values=("name",)),
    GET("enc.vhost-slash-raw", "/queues///cmp-default-q"),
]

STEPS = [*EXCHANGES, *QUEUES, *BINDINGS, *MESSAGES, *DEAD_LETTERS, *PURGE_AND_DELETE, *SETTLED, *LISTS, *ENCODED]
