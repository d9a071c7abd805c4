"""The aiohttp application: HTTP Basic authentication against the broker's users, the tag rules of
RabbitMQ's management plugin, and errors turned into RabbitMQ's status codes and JSON bodies."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ...errors import AMQPError, ReplyCode
from ...log import get_logger
from ...ops.errors import NotFound, OpError
from ..ui import COOKIE, SESSIONS
from ..ui import setup as setup_ui

MANAGEMENT_TAGS = frozenset(("administrator", "monitoring", "policymaker", "management"))
REALM = 'Basic realm="RabbitMQ Management"'
BROKER = web.AppKey("broker", object)


class NotAuthorised(Exception):
    """401 not_authorised with RabbitMQ's reason ("Not administrator user", ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def error(status: int, err: str, reason: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": err, "reason": reason}, status=status, headers=headers)


def not_found() -> web.Response:
    return error(404, "Object Not Found", "Not Found")


def _credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


@web.middleware
async def handle(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> web.StreamResponse:
    if isinstance(request.match_info.http_exception, web.HTTPNotFound):
        return not_found()  # RabbitMQ answers an unknown path with its JSON 404, before authenticating
    if not request.path.startswith("/api/"):
        return await handler(request)  # the UI's pages and assets (management/ui/) are not the API
    broker = request.app[BROKER]
    log = request.app["log"]
    creds = _credentials(request)
    if creds is not None:
        user = broker.ops.authenticate(*creds)
    else:
        # the UI's session cookie stands for the credentials it was opened with
        name = request.app[SESSIONS].user_for(request.cookies.get(COOKIE))
        user = broker.ops.users.get(name) if name is not None else None
        creds = (name, "") if name is not None else None
    if user is None:
        log.info("http authentication failed", path=request.path, user=creds[0] if creds else None)
        return error(401, "not_authorized", "Login failed", {"WWW-Authenticate": REALM})
    if not MANAGEMENT_TAGS.intersection(user.tags):
        return error(401, "not_authorised", "Not management user", {"WWW-Authenticate": REALM})
    request["user"] = user
    try:
        return await handler(request)
    except NotAuthorised as exc:
        return error(401, "not_authorised", exc.reason, {"WWW-Authenticate": REALM})
    except NotFound:
        return not_found()
    except OpError as exc:
        log.info("http request refused", path=request.path, method=request.method, user=user.name,
                 status=exc.status, reason=exc.reason)
        return error(exc.status, exc.error, exc.reason)
    except AMQPError as exc:
        # An AMQP refusal from the operations layer (e.g. a queue declared with other arguments).
        log.info("http request refused", path=request.path, method=request.method, user=user.name,
                 reply_code=exc.reply_code, reason=exc.reply_text)
        if exc.reply_code == ReplyCode.NOT_FOUND:
            return not_found()
        if exc.reply_code == ReplyCode.ACCESS_REFUSED:
            return error(401, "not_authorised", exc.reply_text)
        return error(400, "bad_request", exc.reply_text)


def make_app(broker: Any) -> web.Application:
    from . import definitions, overview, policies, topology, users, vhosts

    app = web.Application(middlewares=[handle], client_max_size=64 * 1024 * 1024)
    app[BROKER] = broker
    app["log"] = get_logger(component="management")
    for module in (overview, users, vhosts, policies, definitions, topology):
        module.routes(app.router)
    setup_ui(app, broker)
    return app


# -- helpers for the resource modules ---------------------------------------------------------------
def node_name() -> str:
    """This node's name in the API's answers (RabbitMQ's rabbit@host): amqpd@<short host name>."""
    from ...connection import default_cluster_name

    return default_cluster_name()


def ops(request: web.Request) -> Any:
    return request.app[BROKER].ops


def path(request: web.Request, name: str) -> str:
    """A path segment; aiohttp has percent-decoded it already (%2F is the default vhost), so a name
    containing "%41" stays "%41"."""
    return request.match_info[name]


async def body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise OpError("not_json") from None


async def object_body(request: web.Request) -> dict[str, Any]:
    doc = await body(request)
    if not isinstance(doc, dict):
        raise OpError("not_json")
    return doc


def is_admin(user: Any) -> bool:
    return "administrator" in user.tags


def require_admin(request: web.Request) -> Any:
    user = request["user"]
    if not is_admin(user):
        raise NotAuthorised("Not administrator user")
    return user


def sees_all(user: Any) -> bool:
    return is_admin(user) or "monitoring" in user.tags


def visible_vhosts(request: web.Request) -> list[str]:
    user = request["user"]
    o = ops(request)
    if sees_all(user):
        return sorted(o.vhosts)
    return sorted(v for v in o.vhosts if o.access.has_access(user.name, v))


def require_vhost(request: web.Request, vhost: str) -> None:
    """The vhost exists (404) and the user may see it (401, as RabbitMQ)."""
    o = ops(request)
    if vhost not in o.vhosts:
        raise NotFound(vhost)
    user = request["user"]
    if not sees_all(user) and not o.access.has_access(user.name, vhost):
        raise NotAuthorised("User not authorised to access virtual host")


def require_policymaker(request: web.Request, vhost: str | None = None) -> None:
    user = request["user"]
    if not (is_admin(user) or "policymaker" in user.tags):
        raise NotAuthorised("User not authorised to access object")
    if vhost is not None:
        require_vhost(request, vhost)


def no_content(status: int = 204) -> web.Response:
    return web.Response(status=status)


def created(existed: bool) -> web.Response:
    return web.Response(status=204 if existed else 201)


def require_keys(doc: dict[str, Any], *keys: str) -> None:
    """RabbitMQ's answer to a body without a required key: 400 "[{key_missing,pattern}]"."""
    missing = [k for k in keys if k not in doc]
    if missing:
        raise OpError("[" + ",".join(f"{{key_missing,{k}}}" for k in missing) + "]")


def _vhost_first(items: list[dict[str, Any]], user: str | None, vhost: str | None) -> list[dict[str, Any]]:
    # RabbitMQ's /api/vhosts/{vhost}/(topic-)permissions put the vhost before the user; the other
    # permission resources the user first. The order is visible in raw JSON and breaks sort ties.
    if vhost is None or user is not None:
        return items
    return [{"vhost": i["vhost"], **i} for i in items]


def permissions_json(o: Any, user: str | None = None, vhost: str | None = None) -> list[dict[str, Any]]:
    return _vhost_first([p.to_json() for (u, v), p in sorted(o.access.permissions.items())
                         if user in (None, u) and vhost in (None, v)], user, vhost)


def topic_permissions_json(o: Any, user: str | None = None, vhost: str | None = None) -> list[dict[str, Any]]:
    return _vhost_first([tp.to_json() for (u, v), by_x in sorted(o.access.topic.items())
                         if user in (None, u) and vhost in (None, v) for _, tp in sorted(by_x.items())], user, vhost)
