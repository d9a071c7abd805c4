"""amqpd's own message endpoints (not in RabbitMQ's API; see docs/messages.md):

- ``GET /api/queues/{vhost}/{name}/messages?count=N&encoding=auto|base64&truncate=N``: browse the first
  ready messages without consuming them, each rendered exactly as RabbitMQ's ``POST .../get`` renders a
  message;
- ``POST /api/queues/{vhost}/{name}/move``: move ready messages to another queue or through an exchange
  (dead-letter replay) -> ``{"moved", "remaining", "unroutable", "refused"}``.

Both go through the operations layer (ops/messages.py) as the caller; its errors become RabbitMQ-style
answers in app.py's middleware.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...ops.errors import OpError
from ...ops.messages import PEEK_MAX
from .app import json_response, object_body, ops, path
from .topology import API_CONN, access_of, boolean, exchange_name, require, vhost_of
from .topology_queues import _message_json

routes_table = web.RouteTableDef()
PEEK_DEFAULT = 10


def _query_int(request: web.Request, key: str, default: int | None) -> int | None:
    raw = request.query.get(key, "")
    if raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise OpError(["not_integer", raw])
    return int(raw)


@routes_table.get("/api/queues/{vhost}/{name}/messages")
async def peek_messages(request: web.Request) -> web.Response:
    vh = vhost_of(request)
    count = _query_int(request, "count", PEEK_DEFAULT)
    if count is None or not 0 <= count <= PEEK_MAX:
        raise OpError(f"count must be between 0 and {PEEK_MAX}")
    encoding = request.query.get("encoding", "auto")
    if encoding not in ("auto", "base64"):
        raise OpError("Unsupported encoding. Please use auto or base64.")
    truncate = _query_int(request, "truncate", None)
    offset = _query_int(request, "offset", None)  # streams: browse from this offset
    peeked = ops(request).peek_messages(vh, path(request, "name"), count, access_of(request, vh), conn=API_CONN,
                                        offset=offset)
    return json_response([_message_json(peeked.queue, entry, encoding, truncate) for entry in peeked.entries])


def _optional(doc: dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = doc.get(key)
    if value is None:
        return None
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise OpError([f"not_{what}", value])
    return value


@routes_table.post("/api/queues/{vhost}/{name}/move")
async def move_messages(request: web.Request) -> web.Response:
    vh = vhost_of(request)
    doc = await object_body(request)
    require(doc, "destination")
    destination = doc["destination"]
    if not isinstance(destination, str):
        raise OpError(["not_string", destination])
    kind = doc.get("destination_type", "queue")
    if kind not in ("queue", "exchange"):
        raise OpError(["unsupported_destination_type", kind])
    if kind == "queue" and destination == "":
        raise OpError("a queue destination needs a queue name")
    if kind == "exchange":
        destination = exchange_name(destination)
    count = _optional(doc, "count", int, "integer")
    routing_key = _optional(doc, "routing_key", str, "string")
    keep = boolean(doc, "keep_x_death", True)
    match = doc.get("match") or {}
    if not isinstance(match, dict):
        raise OpError(["not_table", match])
    match_rk = _optional(match, "routing_key", str, "string")
    match_headers = _optional(match, "headers", dict, "table")
    result = ops(request).move_messages(
        vh, path(request, "name"), destination, kind, count=count, routing_key=routing_key, keep_x_death=keep,
        match_routing_key=match_rk, match_headers=match_headers, access=access_of(request, vh), conn=API_CONN)
    return json_response(result.to_json())


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
