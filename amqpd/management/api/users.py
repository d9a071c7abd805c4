"""/api/whoami, /api/users, /api/permissions, /api/topic-permissions, /api/user-limits."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from ...ops.errors import BadRequest, NotFound
from ..ui import SESSIONS
from . import listing
from .app import (
    created,
    no_content,
    object_body,
    ops,
    path,
    permissions_json,
    require_admin,
    require_keys,
    sees_all,
    topic_permissions_json,
)

routes_table = web.RouteTableDef()


def _list(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
    """rabbit_mgmt_util:reply_list: columns and sort apply; RabbitMQ does not page these lists."""
    return listing.respond(request, items, paged=False)


@routes_table.get("/api/whoami")
async def whoami(request: web.Request) -> web.Response:
    user = request["user"]
    return listing.respond_one(request, {"name": user.name, "tags": list(user.tags)})


# -- users ------------------------------------------------------------------------------------------
@routes_table.get("/api/users")
async def list_users(request: web.Request) -> web.Response:
    require_admin(request)
    return _list(request, [u.to_json() for _, u in sorted(ops(request).users.items())])


@routes_table.get("/api/users/without-permissions")
async def users_without_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    o = ops(request)
    with_perms = {u for u, _ in o.access.permissions}
    return _list(request, [u.to_json() for n, u in sorted(o.users.items()) if n not in with_perms])


@routes_table.post("/api/users/bulk-delete")
async def bulk_delete(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await object_body(request)
    require_keys(doc, "users")
    names = doc["users"]
    if not isinstance(names, list):
        raise BadRequest("users must be a list of user names")  # RabbitMQ: 500
    o = ops(request)
    for name in names:
        # one by one, as rabbit_mgmt_wm_users_bulk_delete: the users before a missing one are gone
        if not isinstance(name, str) or name not in o.users:
            raise BadRequest(["no_such_user", name])
        o.delete_user(name)
    return no_content()


@routes_table.get("/api/users/{user}")
async def get_user(request: web.Request) -> web.Response:
    require_admin(request)
    return listing.respond_one(request, ops(request).user(path(request, "user")).to_json())


def _check_user_body(doc: dict[str, Any]) -> None:
    """rabbit_mgmt_wm_user's checks, in its order: tags present, not both password and password_hash,
    a password_hash that is base64 (before its hashing algorithm is looked at)."""
    if "tags" not in doc:
        raise BadRequest("tags_not_present")
    if "password" in doc and "password_hash" in doc:
        raise BadRequest("both_password_and_password_hash_are_provided")
    if "password_hash" in doc:
        value = doc["password_hash"]
        if not isinstance(value, str):
            raise BadRequest(["not_base64", value])
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(["not_base64", value]) from None


@routes_table.put("/api/users/{user}")
async def put_user(request: web.Request) -> web.Response:
    require_admin(request)
    name = path(request, "user")
    doc = await object_body(request)
    _check_user_body(doc)
    o = ops(request)
    existed = name in o.users
    o.put_user(name, password=doc.get("password"), password_hash=doc.get("password_hash"),
               hashing_algorithm=doc.get("hashing_algorithm"), tags=doc.get("tags"),
               limits=o.users[name].limits if existed else None)
    if existed and ("password" in doc or "password_hash" in doc):
        request.app[SESSIONS].end_user(name)  # new credentials: UI sessions opened with the old ones end
    return created(existed)


@routes_table.delete("/api/users/{user}")
async def delete_user(request: web.Request) -> web.Response:
    require_admin(request)
    ops(request).delete_user(path(request, "user"))
    request.app[SESSIONS].end_user(path(request, "user"))
    return no_content()


@routes_table.get("/api/users/{user}/permissions")
async def user_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    o = ops(request)
    return _list(request, permissions_json(o, user=o.user(path(request, "user")).name))


@routes_table.get("/api/users/{user}/topic-permissions")
async def user_topic_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    o = ops(request)
    return _list(request, topic_permissions_json(o, user=o.user(path(request, "user")).name))


# -- permissions ------------------------------------------------------------------------------------
@routes_table.get("/api/permissions")
async def list_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    return _list(request, permissions_json(ops(request)))


def _user_and_vhost(request: web.Request) -> tuple[str, str]:
    o = ops(request)
    user, vhost = path(request, "user"), path(request, "vhost")
    if user not in o.users or vhost not in o.vhosts:
        raise BadRequest("vhost_or_user_not_found")
    return user, vhost


@routes_table.get("/api/permissions/{vhost}/{user}")
async def get_permission(request: web.Request) -> web.Response:
    require_admin(request)
    p = ops(request).access.permissions.get((path(request, "user"), path(request, "vhost")))
    if p is None:
        raise NotFound("permission")
    return listing.respond_one(request, p.to_json())


@routes_table.put("/api/permissions/{vhost}/{user}")
async def put_permission(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await object_body(request)
    user, vhost = _user_and_vhost(request)
    o = ops(request)
    existed = (user, vhost) in o.access.permissions
    require_keys(doc, "configure", "write", "read")
    o.set_permissions(user, vhost, doc["configure"], doc["write"], doc["read"])
    return created(existed)


@routes_table.delete("/api/permissions/{vhost}/{user}")
async def delete_permission(request: web.Request) -> web.Response:
    require_admin(request)
    user, vhost = path(request, "user"), path(request, "vhost")
    o = ops(request)
    if (user, vhost) not in o.access.permissions:
        raise NotFound("permission")
    o.clear_permissions(user, vhost)
    return no_content()


# -- topic permissions ------------------------------------------------------------------------------
@routes_table.get("/api/topic-permissions")
async def list_topic_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    return _list(request, topic_permissions_json(ops(request)))


@routes_table.get("/api/topic-permissions/{vhost}/{user}")
async def get_topic_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    items = topic_permissions_json(ops(request), user=path(request, "user"), vhost=path(request, "vhost"))
    if not items:
        raise NotFound("topic permission")
    return _list(request, items)


@routes_table.put("/api/topic-permissions/{vhost}/{user}")
async def put_topic_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await object_body(request)
    user, vhost = _user_and_vhost(request)
    require_keys(doc, "exchange", "write", "read")
    o = ops(request)
    existed = bool(o.access.topic.get((user, vhost)))  # 204 once the user has any on the vhost
    o.set_topic_permissions(user, vhost, doc["exchange"], doc["write"], doc["read"])
    return created(existed)


@routes_table.delete("/api/topic-permissions/{vhost}/{user}")
async def delete_topic_permissions(request: web.Request) -> web.Response:
    require_admin(request)
    user, vhost = path(request, "user"), path(request, "vhost")
    o = ops(request)
    if not o.access.topic.get((user, vhost)):
        raise NotFound("topic permission")
    o.clear_topic_permissions(user, vhost)
    return no_content()


# -- user limits ------------------------------------------------------------------------------------
def _limits_json(users: Any) -> list[dict[str, Any]]:
    return [{"user": u.name, "value": dict(u.limits)} for u in users if u.limits]


@routes_table.get("/api/user-limits")
async def list_user_limits(request: web.Request) -> web.Response:
    user = request["user"]
    o = ops(request)
    users = [u for _, u in sorted(o.users.items())] if sees_all(user) else [user]
    return _list(request, _limits_json(users))


@routes_table.get("/api/user-limits/{user}")
async def get_user_limits(request: web.Request) -> web.Response:
    name = path(request, "user")
    if name != request["user"].name:
        require_admin(request)
    return _list(request, _limits_json([ops(request).user(name)]))


@routes_table.put("/api/user-limits/{user}/{name}")
async def put_user_limit(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await object_body(request)
    require_keys(doc, "value")
    ops(request).set_user_limits(path(request, "user"), {path(request, "name"): doc["value"]})
    return no_content()


@routes_table.delete("/api/user-limits/{user}/{name}")
async def delete_user_limit(request: web.Request) -> web.Response:
    require_admin(request)
    ops(request).clear_user_limit(path(request, "user"), path(request, "name"))
    return no_content()


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)

