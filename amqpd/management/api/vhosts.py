"""/api/vhosts and /api/vhost-limits."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...auth.users import parse_tags
from ...ops.errors import BadRequest
from ...stats import views
from . import listing
from .app import (
    BROKER,
    NotAuthorised,
    created,
    is_admin,
    json_response,
    no_content,
    node_name,
    object_body,
    ops,
    path,
    permissions_json,
    require_admin,
    require_keys,
    require_vhost,
    require_vhost_visible,
    topic_permissions_json,
    visible_vhosts,
)

routes_table = web.RouteTableDef()


def vhost_json(request: web.Request, vh: Any) -> dict[str, Any]:
    broker = request.app[BROKER]
    ready = sum(q.message_count for q in vh.queues.values())
    unacked = sum(q.unacked for q in vh.queues.values())
    conns = [c for c in broker.connections if c.vhost is vh]
    stats = broker.ops.stats
    depth_details, octet_details = views.vhost_details(stats, vh)
    doc: dict[str, Any] = {
        "name": vh.name, "description": vh.description, "tags": list(vh.tags),
        "default_queue_type": vh.default_queue_type or "undefined",
        "metadata": {"description": vh.description, "tags": list(vh.tags)},
        "tracing": vh.tracing,
        "cluster_state": {node_name(): "running"},
    }
    message_stats = views.vhost_stats(stats, vh, [ch for c in conns for ch in c.channels.values()])
    if message_stats:
        doc["message_stats"] = message_stats
    # as RabbitMQ: octets once the vhost had connections, queue totals once it has queues
    if conns or vh.counters.recv_oct:
        doc.update({"recv_oct": vh.counters.recv_oct + sum(c.recv_oct for c in conns),
                    "send_oct": vh.counters.send_oct + sum(c.send_oct for c in conns), **octet_details})
    if vh.queues:
        doc.update({"messages": ready + unacked, "messages_ready": ready, "messages_unacknowledged": unacked,
                    **depth_details})
    return doc


@routes_table.get("/api/vhosts")
async def list_vhosts(request: web.Request) -> web.Response:
    o = ops(request)
    return listing.respond(request, [vhost_json(request, o.vhosts[name]) for name in visible_vhosts(request)])


@routes_table.get("/api/vhosts/{vhost}")
async def get_vhost(request: web.Request) -> web.Response:
    name = path(request, "vhost")
    o = ops(request)
    user = request["user"]
    if name in o.vhosts and not is_admin(user) and not o.access.has_access(user.name, name):
        raise NotAuthorised("Not administrator user")  # rabbit_mgmt_wm_vhost's answer to other users
    require_vhost(request, name)
    return listing.respond_one(request, vhost_json(request, o.vhosts[name]))


@routes_table.put("/api/vhosts/{vhost}")
async def put_vhost(request: web.Request) -> web.Response:
    require_admin(request)
    name = path(request, "vhost")
    doc = await object_body(request)
    o = ops(request)
    existed = name in o.vhosts
    try:
        tags = parse_tags(doc.get("tags"))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise BadRequest("description must be a string")
    o.add_vhost(name, description, tags, doc.get("default_queue_type"))
    if not existed:
        # rabbit_mgmt_wm_vhost: whoever creates a vhost gets full permissions on it
        o.set_permissions(request["user"].name, name, ".*", ".*", ".*")
    if "tracing" in doc:
        o.set_vhost_tracing(name, doc["tracing"] is True or doc["tracing"] == "true")
    return created(existed)


@routes_table.delete("/api/vhosts/{vhost}")
async def delete_vhost(request: web.Request) -> web.Response:
    require_admin(request)
    ops(request).delete_vhost(path(request, "vhost"))
    return no_content()


@routes_table.get("/api/vhosts/{vhost}/permissions")
async def vhost_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    name = path(request, "vhost")
    o = ops(request)
    return json_response(permissions_json(o, vhost=o.vhost(name).name))


@routes_table.get("/api/vhosts/{vhost}/topic-permissions")
async def vhost_topic_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    name = path(request, "vhost")
    o = ops(request)
    return json_response(topic_permissions_json(o, vhost=o.vhost(name).name))


# -- limits -----------------------------------------------------------------------------------------
def _limits(request: web.Request, names: list[str]) -> list[dict[str, Any]]:
    o = ops(request)
    return [{"vhost": n, "value": dict(o.vhosts[n].limits)} for n in names if o.vhosts[n].limits]


@routes_table.get("/api/vhost-limits")
async def list_vhost_limits(request: web.Request) -> web.Response:
    return json_response(_limits(request, visible_vhosts(request)))


@routes_table.get("/api/vhost-limits/{vhost}")
async def get_vhost_limits(request: web.Request) -> web.Response:
    name = path(request, "vhost")
    require_vhost_visible(request, name)
    return json_response(_limits(request, [name]))


@routes_table.put("/api/vhost-limits/{vhost}/{name}")
async def put_vhost_limit(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await object_body(request)
    require_keys(doc, "value")
    o = ops(request)
    vh = o.existing_vhost(path(request, "vhost"))
    o.set_vhost_limits(vh.name, {**vh.limits, path(request, "name"): doc["value"]})
    return no_content()


@routes_table.delete("/api/vhost-limits/{vhost}/{name}")
async def delete_vhost_limit(request: web.Request) -> web.Response:
    require_admin(request)
    ops(request).clear_vhost_limit(path(request, "vhost"), path(request, "name"))
    return no_content()


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
