"""/api/exchanges: list, declare (PUT), delete (?if-unused), an exchange's bindings as source and as
destination, and publish (POST .../publish -> {"routed": bool}), with RabbitMQ 3.10's JSON and answers."""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from aiohttp import web
from pamqp import commands

from ...auth.permissions import WRITE
from ...errors import AMQPError, ChannelError, ReplyCode
from ...message import Message, parse_expiration
from ...ops.errors import NotFound, OpError
from ...protocol.properties import encode_header, parse_header
from ...router import route
from ...stats import views
from . import listing
from .app import json_response, object_body, ops, path
from .topology import (
    Refused,
    boolean,
    direct,
    exchange_name,
    require,
    table,
    vhost_bindings,
    vhost_for_change,
    vhost_of,
    vhost_or_none,
    vhosts_in_scope,
)

routes_table = web.RouteTableDef()

STRING_PROPS = ("content_type", "content_encoding", "correlation_id", "reply_to", "expiration", "message_id",
                "type", "user_id", "app_id", "cluster_id")
INT_PROPS = ("delivery_mode", "priority", "timestamp")


def exchange_json(vh: Any, ex: Any, details: bool = False) -> dict[str, Any]:
    from .connections import jsonable

    out: dict[str, Any] = {"arguments": jsonable(ex.arguments), "auto_delete": ex.auto_delete,
                           "durable": ex.durable}
    if details:
        out["incoming"] = []
    out["internal"] = ex.internal
    message_stats = views.exchange_stats(ex)
    if message_stats:
        out["message_stats"] = message_stats
    if getattr(ex, "delays_messages", False) and vh.delays is not None:
        out["messages_delayed"] = vh.delays.count(vh.name, ex.name)  # as the plugin's management extension
    out["name"] = ex.name
    if details:
        out["outgoing"] = []
    if ex.policy is not None:
        out["policy"] = ex.policy
    out["type"] = ex.type_name
    out["user_who_performed_action"] = ex.declared_by
    out["vhost"] = vh.name
    return out


def _exchange(request: web.Request) -> tuple[Any, Any]:
    vh = vhost_of(request)
    ex = vh.exchanges.get(exchange_name(path(request, "name")))
    if ex is None:
        raise NotFound(path(request, "name"))
    return vh, ex


@routes_table.get("/api/exchanges")
@routes_table.get("/api/exchanges/{vhost}")
async def list_exchanges(request: web.Request) -> web.Response:
    items = [exchange_json(vh, ex) for vh in vhosts_in_scope(request) for ex in list(vh.exchanges.values())]
    return listing.respond(request, items)


@routes_table.get("/api/exchanges/{vhost}/{name}")
async def get_exchange(request: web.Request) -> web.Response:
    vh, ex = _exchange(request)
    return listing.respond_one(request, exchange_json(vh, ex, details=True))


@routes_table.put("/api/exchanges/{vhost}/{name}")
async def put_exchange(request: web.Request) -> web.Response:
    vh, access = vhost_for_change(request)
    doc = await object_body(request)
    name = exchange_name(path(request, "name"))
    type_ = doc.get("type", "direct")
    if not isinstance(type_, str):
        raise OpError(["not_string", type_])
    durable = boolean(doc, "durable")
    auto_delete = boolean(doc, "auto_delete")
    internal = boolean(doc, "internal")
    arguments = table(doc)
    existed = name in vh.exchanges
    direct(ops(request).declare_exchange, vh, name, type_, durable=durable, auto_delete=auto_delete,
           internal=internal, arguments=arguments, access=access)
    return web.Response(status=204 if existed else 201)


@routes_table.delete("/api/exchanges/{vhost}/{name}")
async def delete_exchange(request: web.Request) -> web.Response:
    vh, ex = _exchange(request)
    access = ops(request).access.for_connection(request["user"].name, vh.name)
    direct(ops(request).delete_exchange, vh, ex.name, if_unused=request.query.get("if-unused") == "true",
           access=access)
    return web.Response(status=204)


@routes_table.get("/api/exchanges/{vhost}/{name}/bindings/source")
async def bindings_source(request: web.Request) -> web.Response:
    vh = vhost_or_none(request)
    name = exchange_name(path(request, "name"))
    items = vhost_bindings(vh, source=name) if vh is not None and name in vh.exchanges else []
    return listing.respond(request, items, paged=False)


@routes_table.get("/api/exchanges/{vhost}/{name}/bindings/destination")
async def bindings_destination(request: web.Request) -> web.Response:
    vh = vhost_or_none(request)
    name = exchange_name(path(request, "name"))
    found = vh is not None and name != "" and name in vh.exchanges
    items = vhost_bindings(vh, dest_type="exchange", dest_name=name) if found else []
    return listing.respond(request, items, paged=False)


# -- publish --------------------------------------------------------------------------------------------
def _no_nulls(value: Any) -> Any:
    if value is None:
        raise OpError("null_not_allowed")
    if isinstance(value, dict):
        return {str(k): _no_nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def basic_properties(doc: Any) -> commands.Basic.Properties:
    """rabbit_mgmt_format:to_basic_properties: the JSON properties of a publish."""
    if doc == []:
        doc = {}
    if not isinstance(doc, dict):
        raise OpError(["not_table", doc])
    kw: dict[str, Any] = {}
    for key, value in doc.items():
        if key in STRING_PROPS:
            if not isinstance(value, str):
                raise OpError(["not_string", key])
            kw["message_type" if key == "type" else key] = value
        elif key in INT_PROPS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise OpError(["not_int", key])
            kw[key] = datetime.datetime.fromtimestamp(value, datetime.UTC) if key == "timestamp" else value
        elif key == "headers":
            if not isinstance(value, dict):
                raise OpError(["not_table", value])
            kw["headers"] = _no_nulls(value)
    return commands.Basic.Properties(**kw)


def _payload(doc: dict[str, Any]) -> bytes:
    payload, encoding = doc["payload"], doc["payload_encoding"]
    if not isinstance(payload, str):
        raise OpError(["not_string", payload])
    if encoding == "string":
        return payload.encode("utf-8")
    if encoding == "base64":
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise OpError(["not_base64", payload]) from None
    raise OpError(["unsupported_encoding", encoding])


def publish(vh: Any, access: Any, user: str, exchange: str, routing_key: str, props: commands.Basic.Properties,
            body: bytes) -> bool:
    """basic.publish as rabbit_channel checks it (write permission, existence, internal, topic permission,
    user_id, expiration, delivery_mode), then routed like a client's message; True if it reached a queue."""
    access.check_publish(exchange)
    ex = vh.exchange(exchange)
    if ex.internal:
        raise ChannelError(ReplyCode.ACCESS_REFUSED,
                           f"cannot publish to internal exchange '{exchange}' in vhost '{vh.name}'")
    if ex.type_name == "topic":
        access.check_topic(WRITE, exchange, routing_key)
    if props.user_id is not None and props.user_id != user:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"user_id property set to '{props.user_id}' but authenticated user was '{user}'")
    header = encode_header(len(body), props)
    parsed = parse_header(header)[3]
    msg = Message(exchange, routing_key, header, body, parsed)
    if parsed.expiration is not None:
        try:
            msg.ttl = parse_expiration(parsed.expiration)
        except ValueError as exc:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"invalid expiration '{parsed.expiration}': {exc}") from None
    if parsed.delivery_mode > 2:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid message: {{delivery_mode_unknown,{parsed.delivery_mode}}}")
    queues = route(vh.exchanges, ex, routing_key, msg)
    for q in queues:
        q.enqueue(msg)  # a queue may refuse it (x-overflow reject-publish): still routed, as RabbitMQ says
    ex.n_in += 1
    ex.n_out += bool(queues)
    vh.counters.count("publish")
    vh.counters.count("drop_unroutable", not queues)
    return bool(queues)


@routes_table.post("/api/exchanges/{vhost}/{name}/publish")
async def publish_message(request: web.Request) -> web.Response:
    vh = vhost_of(request)
    doc = await object_body(request)
    require(doc, "routing_key", "properties", "payload", "payload_encoding")
    routing_key = doc["routing_key"]
    if not isinstance(routing_key, str):
        raise OpError(["not_string", routing_key])
    props = basic_properties(doc["properties"])
    body = _payload(doc)
    access = ops(request).access.for_connection(request["user"].name, vh.name)
    try:
        routed = publish(vh, access, request["user"].name, exchange_name(path(request, "name")), routing_key,
                         props, body)
    except AMQPError as exc:  # rabbit_mgmt_wm_exchange_publish: "<code> <TEXT> - <text>"
        raise Refused(400, "bad_request", f"{exc.reply_code} {exc.reply_text}") from None
    return json_response({"routed": routed})


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
