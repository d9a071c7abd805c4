"""/api/connections, /api/channels, /api/consumers (RabbitMQ 3.10's JSON, read from the live objects).

Visibility as rabbit_mgmt_util:filter_user / is_authorized_user: `administrator` and `monitoring` users
see every connection, channel and consumer; other management users only their own (a connection
whose AMQP user is theirs). DELETE of a connection: its owner or an administrator.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any

from aiohttp import web

from ...channel import CLOSING as CH_CLOSING
from ...channel import OPEN as CH_OPEN
from ...errors import ReplyCode
from ...ops.errors import NotFound
from ...stats import views
from . import listing
from .app import (
    BROKER,
    NotAuthorised,
    error,
    is_admin,
    no_content,
    node_name,
    ops,
    path,
    require_vhost,
    sees_all,
)

routes_table = web.RouteTableDef()
DEFAULT_CLOSE_REASON = "Closed via management plugin"


def jsonable(value: Any) -> Any:
    """AMQP field values as RabbitMQ's management renders them in JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return int(value.replace(tzinfo=value.tzinfo or datetime.UTC).timestamp())
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# -- the live objects ---------------------------------------------------------------------------------
def live_connections(request: web.Request) -> list[Any]:
    """Connections past connection.open-ok (RabbitMQ lists them once they have a vhost)."""
    from ...protocol.handshake import State

    return [c for c in list(request.app[BROKER].connections)
            if getattr(c, "vhost", None) is not None and c.state == State.RUNNING]


def _addr(transport: Any, key: str) -> tuple[str, int]:
    info = transport.get_extra_info(key) if transport is not None else None
    if not info:
        return "", 0
    return str(info[0]), int(info[1])


def conn_name(conn: Any) -> str:
    peer_host, peer_port = _addr(conn.transport, "peername")
    host, port = _addr(conn.transport, "sockname")
    return f"{peer_host}:{peer_port} -> {host}:{port}"


def channel_name(ch: Any) -> str:
    return f"{conn_name(ch.conn)} ({ch.id})"


def connected_at(conn: Any) -> int:
    return conn.connected_at


def connection_json(conn: Any, stats: bool = True) -> dict[str, Any]:
    peer_host, peer_port = _addr(conn.transport, "peername")
    host, port = _addr(conn.transport, "sockname")
    sslobj = conn.transport.get_extra_info("ssl_object") if conn.transport is not None else None
    doc: dict[str, Any] = {
        "name": f"{peer_host}:{peer_port} -> {host}:{port}",
        "node": node_name(),
        "type": "network",
        "vhost": conn.vhost.name,
        "user": conn.user,
        "user_who_performed_action": conn.user,
        "protocol": "AMQP 0-9-1",
        "auth_mechanism": conn.auth_mechanism,
        "peer_host": peer_host, "peer_port": peer_port, "host": host, "port": port,
        "ssl": sslobj is not None,
        "ssl_protocol": sslobj.version() if sslobj is not None else None,
        "ssl_cipher": sslobj.cipher()[0] if sslobj is not None and sslobj.cipher() else None,
        "ssl_hash": None, "ssl_key_exchange": None,
        "peer_cert_issuer": None, "peer_cert_subject": None, "peer_cert_validity": None,
        "frame_max": conn.frame_max,
        "channel_max": conn.channel_max,
        "timeout": conn.heartbeat,
        "client_properties": jsonable(conn.client_properties),
        **({"user_provided_name": str(jsonable(conn.client_properties["connection_name"]))}
           if "connection_name" in conn.client_properties else {}),
        "connected_at": connected_at(conn),
    }
    if stats:
        doc["state"] = conn.gate.state
        doc["channels"] = len(conn.channels)
        doc["send_pend"] = 0
        # octets are counted per socket read and per flushed write; frame counts are not kept
        doc["recv_oct"] = conn.recv_oct
        doc["send_oct"] = conn.send_oct
        doc["recv_cnt"] = conn.recv_cnt  # socket reads and writes (RabbitMQ: packets)
        doc["send_cnt"] = conn.send_cnt
        doc.update(views.octet_details(conn))
    return doc


def connection_details(conn: Any) -> dict[str, Any]:
    peer_host, peer_port = _addr(conn.transport, "peername")
    return {"name": conn_name(conn), "peer_host": peer_host, "peer_port": peer_port}


def channel_json(ch: Any) -> dict[str, Any]:
    conn = ch.conn
    if ch.state == CH_OPEN:
        state = "running" if conn.gate.state == "running" else conn.gate.state
    else:
        state = "closing" if ch.state == CH_CLOSING else "closed"
    return {
        "name": channel_name(ch),
        "node": node_name(),
        "number": ch.id,
        "user": conn.user,
        "user_who_performed_action": conn.user,
        "vhost": conn.vhost.name,
        "connection_details": connection_details(conn),
        "consumer_count": len(ch.consumers),
        "messages_unacknowledged": ch.unacked_count,
        "messages_unconfirmed": max(0, ch.publish_seq - ch._confirmed_upto) if ch.confirm else 0,
        "messages_uncommitted": len(ch.tx_publishes),
        "acks_uncommitted": len(ch.tx_acks),
        "prefetch_count": ch.prefetch_default,
        "global_prefetch_count": ch.prefetch_global,
        "confirm": ch.confirm,
        "transactional": ch.tx,
        "pending_raft_commands": 0,
        "state": state,
    } | ({"message_stats": message_stats} if (message_stats := views.channel_stats(ch)) else {}) | (
        views.idle_text(ch.idle_since))


def consumer_json(c: Any) -> dict[str, Any]:
    ch = c.channel
    conn = ch.conn
    peer_host, peer_port = _addr(conn.transport, "peername")
    q = c.queue
    single = getattr(q, "single_active", False)
    active = not single or getattr(q, "_holder", None) is c
    return {
        "consumer_tag": c.tag,
        "channel_details": {"connection_name": conn_name(conn), "name": channel_name(ch), "node": node_name(),
                            "number": ch.id, "peer_host": peer_host, "peer_port": peer_port, "user": conn.user},
        "queue": {"name": q.name, "vhost": q.vhost.name},
        "ack_required": not c.no_ack,
        "exclusive": c.exclusive,
        "prefetch_count": c.prefetch,
        "arguments": jsonable(c.arguments),
        "active": active,
        "activity_status": ("single_active" if active else "waiting") if single else "up",
    }


# -- visibility ---------------------------------------------------------------------------------------
def _visible(request: web.Request, conns: list[Any]) -> list[Any]:
    user = request["user"]
    if sees_all(user):
        return conns
    return [c for c in conns if c.user == user.name]


def _authorised_for(request: web.Request, conn: Any) -> None:
    """rabbit_mgmt_util:is_authorized_user: GET for monitors or the owner, DELETE for admins or the owner."""
    user = request["user"]
    allowed = is_admin(user) if request.method == "DELETE" else sees_all(user)
    if not (allowed or conn.user == user.name):
        raise NotAuthorised("User not authorised to access object")


def find_connection(request: web.Request, name: str) -> Any:
    for c in live_connections(request):
        if conn_name(c) == name:
            return c
    raise NotFound(name)


def find_channel(request: web.Request, name: str) -> Any:
    for c in live_connections(request):
        prefix = conn_name(c) + " ("
        if name.startswith(prefix) and name.endswith(")"):
            try:
                number = int(name[len(prefix):-1])
            except ValueError:
                continue
            ch = c.channels.get(number)
            if ch is not None:
                return ch
    raise NotFound(name)


def _vhost_filter(request: web.Request) -> str | None:
    if "vhost" not in request.match_info:
        return None
    vhost = path(request, "vhost")
    require_vhost(request, vhost)
    return vhost


def _channels(conns: list[Any]) -> list[Any]:
    return [ch for c in conns for _, ch in sorted(c.channels.items())]


# -- connections --------------------------------------------------------------------------------------
@routes_table.get("/api/connections")
@routes_table.get("/api/vhosts/{vhost}/connections")
async def list_connections(request: web.Request) -> web.Response:
    vhost = _vhost_filter(request)
    stats = not listing.disable_stats(request)
    conns = [c for c in _visible(request, live_connections(request)) if vhost in (None, c.vhost.name)]
    # RabbitMQ pages /api/connections, not a vhost's connections
    return listing.respond(request, [connection_json(c, stats) for c in conns], paged=vhost is None)


@routes_table.get("/api/connections/{name}")
async def get_connection(request: web.Request) -> web.Response:
    conn = find_connection(request, path(request, "name"))
    _authorised_for(request, conn)
    if listing.disable_stats(request):
        return listing.respond_one(request, {"name": conn_name(conn)})
    return listing.respond_one(request, connection_json(conn))


@routes_table.delete("/api/connections/{name}")
async def delete_connection(request: web.Request) -> web.Response:
    conn = find_connection(request, path(request, "name"))  # unknown: 404, as RabbitMQ
    _authorised_for(request, conn)
    reason = request.headers.get("X-Reason", DEFAULT_CLOSE_REASON)
    request.app["log"].info("closing connection via the HTTP API", connection=conn_name(conn),
                            user=request["user"].name, reason=reason)
    conn.close(ReplyCode.CONNECTION_FORCED, reason)  # on the wire: "CONNECTION_FORCED - <reason>"
    return no_content()


@routes_table.get("/api/connections/{name}/channels")
async def connection_channels(request: web.Request) -> web.Response:
    conn = find_connection(request, path(request, "name"))
    _authorised_for(request, conn)
    return listing.respond(request, [channel_json(ch) for ch in _channels([conn])], paged=False)


# -- channels -----------------------------------------------------------------------------------------
def _stats_disabled() -> web.Response:
    return error(400, "bad_request", "Stats in management UI are disabled on this node")


@routes_table.get("/api/channels")
@routes_table.get("/api/vhosts/{vhost}/channels")
async def list_channels(request: web.Request) -> web.Response:
    vhost = _vhost_filter(request)
    if listing.disable_stats(request):
        return _stats_disabled()
    conns = [c for c in _visible(request, live_connections(request)) if vhost in (None, c.vhost.name)]
    return listing.respond(request, [channel_json(ch) for ch in _channels(conns)], paged=vhost is None)


@routes_table.get("/api/channels/{name}")
async def get_channel(request: web.Request) -> web.Response:
    if listing.disable_stats(request):
        return _stats_disabled()
    ch = find_channel(request, path(request, "name"))
    _authorised_for(request, ch.conn)
    # one channel's detail adds its consumers (RabbitMQ also breaks its stats down per queue and
    # exchange in publishes/deliveries, which amqpd does not count)
    doc = channel_json(ch) | {"consumer_details": [consumer_json(c) for c in ch.consumers.values()]}
    return listing.respond_one(request, doc)


# -- consumers ----------------------------------------------------------------------------------------
@routes_table.get("/api/consumers")
@routes_table.get("/api/consumers/{vhost}")
async def list_consumers(request: web.Request) -> web.Response:
    vhost = None
    if "vhost" in request.match_info:
        vhost = path(request, "vhost")
        if vhost not in ops(request).vhosts:
            raise NotFound(vhost)
    if listing.disable_stats(request):
        return _stats_disabled()
    conns = [c for c in _visible(request, live_connections(request)) if vhost in (None, c.vhost.name)]
    items = [consumer_json(cons) for ch in _channels(conns) for cons in list(ch.consumers.values())]
    return listing.respond(request, items, default_sort=(), paged=False)


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
