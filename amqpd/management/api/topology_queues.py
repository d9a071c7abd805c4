"""/api/queues: list, declare (PUT), delete (?if-empty, ?if-unused), purge (DELETE .../contents),
get messages (POST .../get) and a queue's bindings, with RabbitMQ 3.10's JSON and answers."""

from __future__ import annotations

import base64
import time
from typing import Any

from aiohttp import web

from ...auth.permissions import READ
from ...errors import AMQPError, ReplyCode
from ...ops.errors import NotFound, OpError
from ...protocol.properties import PropertyError, decode_properties
from ...stats import contents, history, views
from . import listing
from .app import NotAuthorised, json_response, node_name, object_body, ops, path
from .connections import conn_name, consumer_json, jsonable
from .topology import (
    API_CONN,
    Refused,
    boolean,
    direct,
    require,
    table,
    vhost_bindings,
    vhost_for_change,
    vhost_of,
    vhost_or_none,
    vhosts_in_scope,
)

routes_table = web.RouteTableDef()

# basic properties in the order RabbitMQ's management renders them (the reverse of the AMQP order)
PROPERTY_NAMES = ("cluster_id", "app_id", "user_id", ("message_type", "type"), "timestamp", "message_id",
                  "expiration", "reply_to", "correlation_id", "priority", "delivery_mode", "headers",
                  "content_encoding", "content_type")
ACKMODES = {  # ackmode -> (settle: ack/reject, requeue)
    "ack_requeue_true": ("ack", True), "ack_requeue_false": ("ack", False),
    "reject_requeue_true": ("reject", True), "reject_requeue_false": ("reject", False),
}


def queue_json(q: Any, details: bool = False) -> dict[str, Any]:
    settings = q.settings
    consumers = len(q.consumers)
    ready = q.message_count
    out: dict[str, Any] = {
        "arguments": jsonable(q.arguments),
        "auto_delete": q.auto_delete,
        "consumer_capacity": 0 if not consumers else 1.0,
        "consumer_utilisation": 0 if not consumers else 1.0,
        "consumers": consumers,
        "durable": q.durable,
        "effective_policy_definition": jsonable(settings.effective_definition),
        "exclusive": q.exclusive_owner is not None,
    }
    if q.stream:  # RabbitMQ 3.10 reports neither for a stream
        del out["consumer_capacity"], out["consumer_utilisation"]
    if not q.quorum and not q.stream:
        ex_consumer = q.exclusive_consumer
        out["exclusive_consumer_tag"] = ex_consumer.tag if ex_consumer is not None else None
    if not q.stream:
        out["message_bytes_ready"] = q.ready.bytes
    unacked = 0 if q.stream else q.unacked  # RabbitMQ counts a stream's messages, none of them unacked
    out.update({
        "messages": ready + unacked,
        "messages_ready": ready,
        "messages_unacknowledged": unacked,
        "name": q.name,
        "node": node_name(),
        "operator_policy": settings.operator_policy,
        "policy": settings.policy,
    })
    if q.exclusive_owner is not None and getattr(q.exclusive_owner, "transport", None) is not None:
        owner = q.exclusive_owner
        peer = owner.transport.get_extra_info("peername") or ("", 0)
        out["owner_pid_details"] = {"name": conn_name(owner), "peer_port": peer[1], "peer_host": peer[0]}
    holder = getattr(q, "_holder", None) if q.single_active else None
    tag = holder.tag if holder is not None else None
    if q.quorum:
        out.update({"leader": node_name(), "members": [node_name()], "online": [node_name()],
                    "single_active_consumer_ctag": tag})
    elif q.stream:
        out.update({"members": [node_name()], "online": [node_name()], "readers": {node_name(): len(q.readers)},
                    "amqpd_stream": q.status()})
    else:
        out["single_active_consumer_tag"] = tag
    if q.retries and q.vhost.delays is not None:  # amqpd: rejected messages waiting to come back
        out["amqpd_retrying"] = q.vhost.delays.retrying(q.vhost.name, q.name)
    out.update({"state": "running", "type": q.queue_type, "vhost": q.vhost.name})
    out.update(contents.queue_fields(q, getattr(q, "_st_contents", None)))
    out.update(views.queue_depth_details(q))
    if not q.quorum and not q.stream:  # a Ra member or a stream has no idle state to report
        out.update(views.idle_text(q.idle_since))
    message_stats = views.queue_stats(q)
    if message_stats:
        out["message_stats"] = message_stats
    if details:
        out.update({"consumer_details": [consumer_json(c) for c in q.consumers], "deliveries": [], "incoming": []})
    return out


def _queue(request: web.Request) -> tuple[Any, Any]:
    vh = vhost_of(request)
    q = vh.queues.get(path(request, "name"))
    if q is None:
        raise NotFound(path(request, "name"))
    return vh, q


@routes_table.get("/api/queues")
@routes_table.get("/api/queues/{vhost}")
async def list_queues(request: web.Request) -> web.Response:
    items = [queue_json(q) for vh in vhosts_in_scope(request) for q in list(vh.queues.values())]
    return listing.respond(request, items)


@routes_table.get("/api/queues/{vhost}/{name}")
async def get_queue(request: web.Request) -> web.Response:
    _, q = _queue(request)
    return listing.respond_one(request, queue_json(q, details=True))


def _check_node(node: Any) -> None:
    """rabbit_mgmt_wm_queue: a queue may be placed on a node of the cluster; this one is the only one (a
    name without '@' is on this host, as RabbitMQ completes it)."""
    if node is None:
        return
    if not isinstance(node, str):
        raise OpError(["not_string", node])  # RabbitMQ: 500
    here = node_name()
    if "@" not in node:
        node = f"{node}@{here.partition('@')[2]}"
    if node != here:
        raise OpError(f"Node {node} could not be contacted")


@routes_table.put("/api/queues/{vhost}/{name}")
async def put_queue(request: web.Request) -> web.Response:
    vh, access = vhost_for_change(request)
    doc = await object_body(request)
    name = path(request, "name")
    durable = boolean(doc, "durable")
    auto_delete = boolean(doc, "auto_delete")
    arguments = table(doc)
    _check_node(doc.get("node"))
    existed = name in vh.queues
    direct(ops(request).declare_queue, vh, name, durable=durable, auto_delete=auto_delete,
           arguments=arguments, conn=API_CONN, access=access)
    return web.Response(status=204 if existed else 201)


@routes_table.delete("/api/queues/{vhost}/{name}")
async def delete_queue(request: web.Request) -> web.Response:
    vh, q = _queue(request)
    access = ops(request).access.for_connection(request["user"].name, vh.name)
    direct(ops(request).delete_queue, vh, q.name, if_unused=request.query.get("if-unused") == "true",
           if_empty=request.query.get("if-empty") == "true", conn=API_CONN, access=access)
    return web.Response(status=204)


@routes_table.delete("/api/queues/{vhost}/{name}/contents")
async def purge_queue(request: web.Request) -> web.Response:
    vh, q = _queue(request)
    access = ops(request).access.for_connection(request["user"].name, vh.name)
    direct(ops(request).purge_queue, vh, q.name, conn=API_CONN, access=access)
    return web.Response(status=204)


@routes_table.get("/api/queues/{vhost}/{name}/bindings")
async def queue_bindings(request: web.Request) -> web.Response:
    # as RabbitMQ: not paged, [] in a missing vhost, and a missing queue still has its implicit binding
    vh = vhost_or_none(request)
    items = vhost_bindings(vh, dest_type="queue", dest_name=path(request, "name")) if vh is not None else []
    return listing.respond(request, items, paged=False)


# -- get messages ---------------------------------------------------------------------------------------
def properties_json(header: bytes) -> Any:
    try:
        props = decode_properties(header)
    except PropertyError as exc:  # accepted verbatim at publish, too deep to decode here: say so
        return {"headers": {"x-amqpd-undecodable": str(exc)}}
    out: dict[str, Any] = {}
    for spec in PROPERTY_NAMES:
        attr, key = spec if isinstance(spec, tuple) else (spec, spec)
        value = getattr(props, attr, None)
        if value is None or value == "" and attr == "cluster_id":
            continue
        out[key] = jsonable(value)
    return out or []  # an empty proplist, as RabbitMQ renders it


def _int(doc: dict[str, Any], key: str) -> int:
    value = doc[key]
    if isinstance(value, bool):
        raise OpError(["not_integer", value])
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise OpError(["not_integer", value])


def _message_json(q: Any, entry: Any, encoding: str, truncate: int | None) -> dict[str, Any]:
    msg = q.with_delivery_count(entry) if q.quorum else entry.msg
    header, body = msg.content()
    payload = body if truncate is None else body[:max(truncate, 0)]
    text = None
    if encoding == "auto":
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    out = {"payload_bytes": len(body), "redelivered": entry.redelivered, "exchange": msg.exchange,
           "routing_key": msg.routing_key, "message_count": q.message_count,
           "properties": properties_json(header),
           "payload": text if text is not None else base64.b64encode(payload).decode("ascii"),
           "payload_encoding": "string" if text is not None else "base64"}
    if q.stream:  # browsing a stream (amqpd): where each record is, and when the stream took it
        out.update({"stream_offset": msg.offset, "stream_timestamp": msg.ts})
    return out


@routes_table.get("/api/queues/{vhost}/{name}/history")
async def queue_history(request: web.Request) -> web.Response:
    """amqpd: the queue's sampled history (stats/history.py), `range` seconds back (default an hour, at
    most a day), oldest first: one array per point, in the order of `fields`."""
    _vh, q = _queue(request)
    raw = request.query.get("range", "3600")
    if not raw.isdigit() or not 0 < int(raw) <= 86400:
        raise OpError("range must be a number of seconds from 1 to 86400")
    hist = getattr(q, "_history", None)
    points = hist.series(int(raw), time.time()) if hist is not None else []
    return json_response({"fields": ["timestamp", *history.FIELDS], "points": [list(p[:-1]) for p in points],
                          "tracked": hist is not None})


@routes_table.post("/api/queues/{vhost}/{name}/get")
async def get_messages(request: web.Request) -> web.Response:
    vh = vhost_of(request)
    doc = await object_body(request)
    require(doc, "ackmode", "count", "encoding")
    count = _int(doc, "count")
    ackmode = doc["ackmode"]
    if ackmode not in ACKMODES:
        raise OpError(["unsupported_ackmode", ackmode])
    encoding = doc["encoding"]
    if encoding not in ("auto", "base64"):
        raise OpError("Unsupported encoding. Please use auto or base64.")
    truncate = _int(doc, "truncate") if doc.get("truncate") not in (None, "") else None
    access = ops(request).access.for_connection(request["user"].name, vh.name)
    try:
        q = ops(request).lookup_queue(vh, path(request, "name"), READ, conn=API_CONN, access=access)
    except AMQPError as exc:  # rabbit_mgmt_util:with_channel
        if exc.reply_code == ReplyCode.NOT_FOUND:
            raise Refused(404, "not_found", exc.reply_text) from None
        if exc.reply_code == ReplyCode.ACCESS_REFUSED:
            raise NotAuthorised(exc.reply_text) from None
        raise Refused(400, "bad_request", f"{exc.reply_code} {exc.reply_text}") from None
    settle, requeue = ACKMODES[ackmode]
    taken, out = [], []
    for _ in range(max(count, 0)):
        entry = q.take()
        if entry is None:
            q.n_get_empty += not out
            vh.counters.count("get_empty", not out)
            break
        if q.store is not None:
            q.delivering(entry)
        out.append(_message_json(q, entry, encoding, truncate))
        # counted as the management plugin's own channel would count its basic.get (and ack)
        q.n_get += 1
        q.n_redeliver += entry.redelivered
        vh.counters.count("get")
        vh.counters.count("redeliver", entry.redelivered)
        if settle == "ack" and not requeue:
            q.n_ack += 1
            vh.counters.count("ack")
            q.delivered(entry, True)  # basic.get and ack: gone
        else:
            q.delivered(entry, False)
            taken.append(entry)
    if taken:
        # settled together at the end, as the management plugin's channel does: acked-and-requeued
        # messages come back when its channel closes, rejected ones with basic.reject
        if requeue:
            q.requeue(taken, consumer_gone=settle == "ack")
        else:
            q.reject(taken)
    return json_response(out)


def routes(router: web.UrlDispatcher) -> None:
    from . import messages  # amqpd's own: browse without consuming, move (dead-letter replay)

    router.add_routes(routes_table)
    messages.routes(router)
