"""/api/bindings, and what /api/queues (topology_queues.py) and /api/exchanges (topology_exchanges.py)
share: how RabbitMQ 3.10's management plugin answers a change made "as the user" (rabbit_mgmt_util's
direct_request / with_channel) and the JSON of a binding with its ``properties_key``.

Changes go through the operations layer with the caller's VhostAccess, so configure/write/read
permissions apply as over AMQP. The API acts as a connection of its own (``API_CONN``): another
connection's exclusive queue is locked for it, as for RabbitMQ's management connection.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.parse
from typing import Any

from aiohttp import web

from ...args import Long
from ...errors import AMQPError, ReplyCode
from ...exchanges.base import freeze
from ...ops.errors import Missing, NotFound, OpError
from . import listing
from .app import NotAuthorised, object_body, ops, path, require_vhost, visible_vhosts
from .connections import jsonable

routes_table = web.RouteTableDef()

# The API's own "connection": exclusive queues of client connections are locked for it.
API_CONN = object()


# -- errors as rabbit_mgmt_util answers them ------------------------------------------------------------
class Refused(OpError):
    def __init__(self, status: int, err: str, reason: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.error = err


def direct(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A change made over the management plugin's direct connection (direct_request): 404 not_found
    with the text, ACCESS_REFUSED as 401 "Access refused.", anything else 400 with the text."""
    try:
        return fn(*args, **kwargs)
    except AMQPError as exc:
        if exc.reply_code == ReplyCode.NOT_FOUND:
            raise Refused(404, "not_found", exc.text) from None
        if exc.reply_code == ReplyCode.ACCESS_REFUSED:
            raise NotAuthorised("Access refused.") from None
        raise Refused(400, "bad_request", exc.text) from None


def require(doc: dict[str, Any], *keys: str) -> None:
    """400 "[{key_missing,k},...]", wrapped as Erlang's ~p wraps a long list."""
    missing = [k for k in keys if k not in doc]
    if missing:
        parts = [f"{{key_missing,{k}}}" for k in missing]
        one_line = "[" + ",".join(parts) + "]"
        raise OpError(one_line if len(one_line) <= 80 else "[" + ",\n ".join(parts) + "]")


def boolean(doc: dict[str, Any], key: str, default: bool = False) -> bool:
    value = doc.get(key, default)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise OpError(["not_boolean", value])


def json_field_values(value: Any) -> Any:
    """JSON values as AMQP field values the way the management plugin converts them: integers become
    ``long`` (args.Long), through nested objects and lists."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Long(value)
    if isinstance(value, dict):
        return {k: json_field_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_field_values(v) for v in value]
    return value


def table(doc: dict[str, Any], key: str = "arguments") -> dict[str, Any]:
    """The arguments of a declaration or binding: a JSON object, its integers typed as RabbitMQ types
    JSON integers (``long``, which its inequivalent-arg texts name)."""
    value = doc.get(key)
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise OpError(["not_table", value])
    return json_field_values(value)


def exchange_name(raw: str) -> str:
    """rabbit_mgmt_util:id: "amq.default" in a path is the default exchange."""
    return "" if raw == "amq.default" else raw


def vhost_of(request: web.Request, name: str | None = None) -> Any:
    """The VHost of the path (404 Object Not Found), visible to the user (401)."""
    name = path(request, "vhost") if name is None else name
    require_vhost(request, name)
    return ops(request).vhosts[name]


def vhost_for_change(request: web.Request) -> tuple[Any, Any]:
    """(VHost, the user's VhostAccess) for a PUT/POST: a missing vhost is 404 vhost_not_found."""
    name = path(request, "vhost")
    o = ops(request)
    if name not in o.vhosts:
        raise Missing("vhost_not_found")
    require_vhost(request, name)
    return o.vhosts[name], o.access.for_connection(request["user"].name, name)


def access_of(request: web.Request, vh: Any) -> Any:
    return ops(request).access.for_connection(request["user"].name, vh.name)


def vhosts_in_scope(request: web.Request) -> list[Any]:
    """The vhost of the path, or every vhost the user sees."""
    if "vhost" in request.match_info:
        return [vhost_of(request)]
    o = ops(request)
    return [o.vhosts[n] for n in visible_vhosts(request) if n in o.vhosts]


# -- bindings -------------------------------------------------------------------------------------------
def quote_binding(text: str) -> str:
    """rabbit_mgmt_format:quote_binding: quote_plus, then "~" as %7E."""
    return urllib.parse.quote_plus(text, safe="").replace("~", "%7E")


def args_hash(arguments: dict[str, Any]) -> str:
    """Six url-safe base64 characters naming a binding's arguments (RabbitMQ: erlang:phash2; amqpd:
    blake2b of the arguments' canonical form, so the same arguments always give the same key)."""
    digest = hashlib.blake2b(repr(freeze(arguments)).encode("utf-8"), digest_size=4).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def properties_key(routing_key: str, arguments: dict[str, Any]) -> str:
    """rabbit_mgmt_format:pack_binding_props."""
    if not arguments:
        return "~" if routing_key == "" else quote_binding(routing_key)
    return quote_binding(routing_key) + "~" + quote_binding(args_hash(arguments))


def binding_json(vhost: str, source: str, destination: str, dest_type: str, routing_key: str,
                 arguments: dict[str, Any]) -> dict[str, Any]:
    return {"source": source, "vhost": vhost, "destination": destination, "destination_type": dest_type,
            "routing_key": routing_key, "arguments": jsonable(arguments),
            "properties_key": properties_key(routing_key, arguments)}


def _sort_key(b: dict[str, Any]) -> tuple[Any, ...]:
    # the order of RabbitMQ's route table: source, key, destination (exchange < queue), arguments
    return (b["source"], b["routing_key"], b["destination_type"], b["destination"], b["properties_key"])


def vhost_bindings(vh: Any, source: str | None = None, dest_type: str | None = None,
                   dest_name: str | None = None) -> list[dict[str, Any]]:
    """Bindings of a vhost, the default exchange's implicit ones included, optionally only those from
    ``source`` (an exchange name) and/or to the ``dest_type`` ("queue"/"exchange") named ``dest_name``.
    As RabbitMQ, the implicit binding to a named queue is listed whether the queue exists or not."""
    out = []
    if source in (None, "") and dest_type in (None, "queue"):
        names = [q.name for q in vh.queues.values()] if dest_name is None else [dest_name]
        out.extend(binding_json(vh.name, "", name, "queue", name, {}) for name in names)
    for ex in vh.exchanges.values():
        if ex.name == "" or (source is not None and ex.name != source):
            continue
        for b in ex.bindings.values():
            d = b.destination
            kind = "exchange" if d.is_exchange else "queue"
            if (dest_type is not None and kind != dest_type) or (dest_name is not None and d.name != dest_name):
                continue
            out.append(binding_json(vh.name, ex.name, d.name, kind, b.routing_key, b.arguments))
    out.sort(key=_sort_key)
    return out


def vhost_or_none(request: web.Request) -> Any:
    """The path's vhost for a list of bindings (401 if the user may not use it), or None when it does not
    exist: RabbitMQ answers such lists with [] rather than a 404."""
    name = path(request, "vhost")
    if name not in ops(request).vhosts:
        return None
    return vhost_of(request, name)


def _ends(request: web.Request, vh: Any) -> tuple[Any, str, Any]:
    """(source Exchange, destination kind, destination) of a /e/{source}/{q|e}/{dest} path; 404 if either
    end is missing."""
    src = vh.exchanges.get(exchange_name(path(request, "source")))
    kind = "queue" if request.match_info["dtype"] == "q" else "exchange"
    dname = path(request, "dest")
    dest = vh.queues.get(dname) if kind == "queue" else vh.exchanges.get(exchange_name(dname))
    if src is None or dest is None:
        raise NotFound(dname)
    return src, kind, dest


@routes_table.get("/api/bindings")
@routes_table.get("/api/bindings/{vhost}")
async def list_bindings(request: web.Request) -> web.Response:
    items = [b for vh in vhosts_in_scope(request) for b in vhost_bindings(vh)]
    return listing.respond(request, items, paged=False)


@routes_table.get("/api/bindings/{vhost}/e/{source}/{dtype:[qe]}/{dest}")
async def list_between(request: web.Request) -> web.Response:
    # missing ends (or vhost) make an empty list, as in RabbitMQ; the default exchange's implicit
    # binding to a queue is there whether the queue exists or not
    vh = vhost_or_none(request)
    source = exchange_name(path(request, "source"))
    kind = "queue" if request.match_info["dtype"] == "q" else "exchange"
    dest = path(request, "dest")
    if kind == "exchange":
        dest = exchange_name(dest)
    if vh is None or (source != "" and source not in vh.exchanges):
        items = []
    else:
        items = vhost_bindings(vh, source, kind, dest)
    return listing.respond(request, items, paged=False)


@routes_table.post("/api/bindings/{vhost}/e/{source}/{dtype:[qe]}/{dest}")
async def create_binding(request: web.Request) -> web.Response:
    vh, access = vhost_for_change(request)
    doc = await object_body(request)
    source = exchange_name(path(request, "source"))
    kind = "queue" if request.match_info["dtype"] == "q" else "exchange"
    dest = path(request, "dest")
    if kind == "exchange":
        dest = exchange_name(dest)
    routing_key = doc.get("routing_key", "")
    if routing_key is None:
        routing_key = ""
    if not isinstance(routing_key, str):
        raise OpError(["not_string", routing_key])
    arguments = table(doc)
    o = ops(request)
    direct(o.bind, vh, source, kind, dest, routing_key, arguments,
           conn=API_CONN if kind == "queue" else None, access=access)
    # rabbit_mgmt_wm_bindings: the new binding's URL, relative to the request's
    v, s, d, p = (urllib.parse.quote_plus(x, safe="") for x in (vh.name, source, dest,
                                                                properties_key(routing_key, arguments)))
    to = f"/api/bindings/{v}/e/{s}/{request.match_info['dtype']}/{d}/{p}"
    return web.Response(status=201, headers={"Location": relativise(request.raw_path.split("?", 1)[0], to)})


def relativise(here: str, there: str) -> str:
    """rabbit_web_dispatch_util:relativise: ``there`` relative to ``here``, compared segment by segment
    as written (RabbitMQ quotes names with quote_plus, so a path that spells them otherwise, with %20
    for a space, shares a shorter prefix and the answer climbs up with "..")."""
    frm, to = [p for p in here.split("/") if p], [p for p in there.split("/") if p]
    while frm and to and frm[0] == to[0]:
        if len(frm) == 1:
            return "/".join(to)
        frm, to = frm[1:], to[1:]
    return "/".join([".."] * (len(frm) - 1) + to)


def _find(request: web.Request, vh: Any) -> tuple[Any, str, Any, Any]:
    """The binding a /{props} path names (404 Object Not Found if there is none)."""
    src, kind, dest = _ends(request, vh)
    props = request.match_info["props"]  # aiohttp decoded it once already, as cowboy does
    parts = props.split("~")
    if props == "~":
        key, wanted = "", None
    elif len(parts) == 1:
        key, wanted = urllib.parse.unquote_plus(parts[0]), None
    elif len(parts) == 2:
        key, wanted = urllib.parse.unquote_plus(parts[0]), parts[1]
    else:
        raise NotFound(props)
    if src.name == "":
        if kind == "queue" and key == dest.name and wanted is None:
            return src, kind, dest, None  # the implicit binding
        raise NotFound(props)
    for b in src.bindings.values():
        if b.destination is not dest or b.routing_key != key:
            continue
        if (wanted is None and not b.arguments) or (wanted is not None and b.arguments
                                                     and args_hash(b.arguments) == wanted):
            return src, kind, dest, b
    raise NotFound(props)


@routes_table.get("/api/bindings/{vhost}/e/{source}/{dtype:[qe]}/{dest}/{props}")
async def get_binding(request: web.Request) -> web.Response:
    vh = vhost_of(request)
    src, kind, dest, b = _find(request, vh)
    if b is None:
        return listing.respond_one(request, binding_json(vh.name, "", dest.name, kind, dest.name, {}))
    return listing.respond_one(request, binding_json(vh.name, src.name, dest.name, kind, b.routing_key,
                                                     b.arguments))


@routes_table.delete("/api/bindings/{vhost}/e/{source}/{dtype:[qe]}/{dest}/{props}")
async def delete_binding(request: web.Request) -> web.Response:
    vh = vhost_of(request)
    src, kind, dest, b = _find(request, vh)
    access = access_of(request, vh)
    if b is None:
        raise NotAuthorised("Access refused.")  # the default exchange's bindings cannot be removed
    direct(ops(request).unbind, vh, src.name, kind, dest.name, b.routing_key, b.arguments,
           conn=API_CONN if kind == "queue" else None, access=access)
    return web.Response(status=204)


def routes(router: web.UrlDispatcher) -> None:
    from . import topology_exchanges, topology_queues

    topology_exchanges.routes(router)
    topology_queues.routes(router)
    router.add_routes(routes_table)
