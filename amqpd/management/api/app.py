"""The aiohttp application: HTTP Basic authentication against the broker's users, the tag rules of
RabbitMQ's management plugin, and errors turned into RabbitMQ's status codes and JSON bodies.

Answers are RabbitMQ's to the header: compact UTF-8 JSON (``json_response``), a wrong method ``405``
with an empty body and cowboy's ``Allow`` (before authentication, as are ``OPTIONS`` answers),
``WWW-Authenticate`` only with "Login failed" and with the empty 401 to a request without credentials."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ...errors import AMQPError, ReplyCode
from ...log import get_logger
from ...ops.errors import NotFound, OpError
from ...store import StoreWriteError
from ..ui import COOKIE, SESSIONS
from ..ui import setup as setup_ui

MANAGEMENT_TAGS = frozenset(("administrator", "monitoring", "policymaker", "management"))
REALM = 'Basic realm="RabbitMQ Management"'
BROKER = web.AppKey("broker", object)
# cowboy_rest's order of the methods in an Allow header (every resource also answers OPTIONS)
METHOD_ORDER = ("HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS")


class NotAuthorised(Exception):
    """401 not_authorised with RabbitMQ's reason ("Not administrator user", ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dumps(doc: Any) -> bytes:
    """JSON as RabbitMQ's management plugin sends it: compact, UTF-8 (``ü``, not ``\\u00fc``)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Every JSON answer of the API: RabbitMQ's encoding, ``application/json`` without a charset and
    ``cache-control: no-cache`` (rabbit_mgmt_util:reply; its error answers go through ``error``)."""
    return web.Response(body=dumps(doc), status=status, content_type="application/json",
                        headers={"cache-control": "no-cache", **(headers or {})})


def error(status: int, err: str, reason: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps({"error": err, "reason": reason}), status=status, content_type="application/json",
                        headers=headers)


def not_found() -> web.Response:
    return error(404, "Object Not Found", "Not Found")


class BadAuthorization(Exception):
    """An Authorization header cowboy cannot parse: RabbitMQ answers 400 with an empty body."""


def _credentials(request: web.Request) -> tuple[str, str] | None:
    """(user, password) of a Basic Authorization header, as cowboy parses it: None without the header
    (or with Digest, which RabbitMQ treats as no credentials); a Bearer token is ("", ""), credentials
    that cannot log in here (no OAuth 2 backend); anything else cowboy cannot parse (no ':', bad base64,
    another scheme) raises BadAuthorization."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadAuthorization from None
        if sep:
            return user, password
    elif scheme == "bearer" and value:
        return "", ""
    elif scheme == "digest" and value:
        return None
    raise BadAuthorization


def allowed_methods(exc: web.HTTPMethodNotAllowed) -> str:
    """The Allow header of a resource, in cowboy's order, with OPTIONS (and HEAD with GET)."""
    methods = {m.upper() for m in exc.allowed_methods} | {"OPTIONS"}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(m for m in METHOD_ORDER if m in methods)


def _unauthorised(reason: str) -> web.Response:
    return error(401, "not_authorised", reason)


@web.middleware
async def handle(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> web.StreamResponse:
    routing_error = request.match_info.http_exception
    if isinstance(routing_error, web.HTTPNotFound):
        return not_found()  # RabbitMQ answers an unknown path with its JSON 404, before authenticating
    if not request.path.startswith("/api/"):
        return await handler(request)  # the UI's pages and assets (management/ui/) are not the API
    if isinstance(routing_error, web.HTTPMethodNotAllowed):
        # cowboy_rest: allowed_methods comes before is_authorized; OPTIONS is answered by it
        allow = allowed_methods(routing_error)
        return web.Response(status=200 if request.method == "OPTIONS" else 405, headers={"Allow": allow})
    broker = request.app[BROKER]
    log = request.app["log"]
    try:
        creds = _credentials(request)
    except BadAuthorization:
        return web.Response(status=400)
    if creds is not None:
        user = broker.ops.authenticate(*creds) if creds[0] else None
    elif COOKIE in request.cookies:
        # the UI's session cookie stands for the credentials it was opened with; an ended session is a
        # failed login (the UI watches for "not_authorized")
        name = request.app[SESSIONS].user_for(request.cookies.get(COOKIE))
        user = broker.ops.users.get(name) if name is not None else None
        creds = (name or "", "")
    else:
        # no credentials at all: cowboy's bare 401 challenge
        return web.Response(status=401, headers={"WWW-Authenticate": REALM})
    if user is None:
        log.info("http authentication failed", path=request.path, user=creds[0] or None)
        return error(401, "not_authorized", "Login failed", {"WWW-Authenticate": REALM})
    if not MANAGEMENT_TAGS.intersection(user.tags):
        return _unauthorised("Not management user")
    request["user"] = user
    try:
        return await handler(request)
    except NotAuthorised as exc:
        return _unauthorised(exc.reason)
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
            return _unauthorised(exc.reply_text)
        return error(400, "bad_request", exc.reply_text)
    except StoreWriteError as exc:  # the store logged it and raised the disk alarm
        log.warning("http request failed", path=request.path, method=request.method, user=user.name,
                    status=500, reason=str(exc))
        return error(500, "internal_server_error", str(exc))


def make_app(broker: Any) -> web.Application:
    from . import definitions, overview, policies, topology, users, vhosts

    app = web.Application(middlewares=[handle], client_max_size=64 * 1024 * 1024)
    app[BROKER] = broker
    app["log"] = get_logger(component="management")
    for module in (overview, users, vhosts, policies, definitions, topology):
        module.routes(app.router)
    from ...ctl.endpoint import management_routes

    management_routes(app.router)  # amqpctl -n HOST:PORT
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


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(text)  # NaN, Infinity: not JSON to RabbitMQ


def _relaxed(text: str) -> str:
    """jsx's relaxed JSON, which RabbitMQ's management decodes, as strict JSON: strings in single quotes,
    ``/* */`` and ``//`` comments, a comma before a closing bracket, unknown escapes kept as written."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j, chars = i + 1, []
            while True:
                if j >= n:
                    raise ValueError("unterminated string")
                d = text[j]
                if d == c:
                    break
                if d == "\\" and j + 1 < n:
                    e = text[j + 1]
                    if e == "u" and _HEX4.fullmatch(text, j + 2, j + 6):
                        chars.append(chr(int(text[j + 2:j + 6], 16)))
                        j += 6
                    else:
                        chars.append(_ESCAPES.get(e, "\\" + e))
                        j += 2
                    continue
                chars.append(d)
                j += 1
            out.append(json.dumps("".join(chars)))
            i = j + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated comment")
            out.append(" ")
            i = end + 2
        elif text.startswith("//", i):
            end = text.find("\n", i)
            out.append(" ")
            i = n if end < 0 else end
        else:
            if c in "]}":
                k = len(out) - 1
                while k >= 0 and out[k].isspace():
                    k -= 1
                if k >= 0 and out[k] == ",":
                    del out[k]
            out.append(c)
            i += 1
    return "".join(out)


def parse_json(raw: bytes) -> Any:
    """A request body as RabbitMQ's decoder reads it (strict JSON, or jsx's relaxed forms); ValueError if
    it is not JSON to RabbitMQ either (NaN, Infinity and out-of-range numbers included)."""
    text = raw.decode("utf-8")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except ValueError:
        return json.loads(_relaxed(text), parse_constant=_no_constant, parse_float=_finite)


async def body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return parse_json(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
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


def _vhost_exists(request: web.Request, vhost: str) -> Any:
    o = ops(request)
    if vhost not in o.vhosts:
        raise NotFound(vhost)
    return o


def require_vhost(request: web.Request, vhost: str) -> None:
    """The vhost exists (404) and the user may use it (401): rabbit_mgmt_util:is_authorized_vhost, which
    lets administrators in and other users (monitoring ones too) only into vhosts they have permissions on."""
    o = _vhost_exists(request, vhost)
    user = request["user"]
    if not is_admin(user) and not o.access.has_access(user.name, vhost):
        raise NotAuthorised("User not authorised to access virtual host")


def require_vhost_visible(request: web.Request, vhost: str) -> None:
    """As require_vhost, but monitoring users see every vhost (is_authorized_vhost_visible)."""
    o = _vhost_exists(request, vhost)
    user = request["user"]
    if not sees_all(user) and not o.access.has_access(user.name, vhost):
        raise NotAuthorised("User not authorised to access virtual host")


def require_policymaker(request: web.Request, vhost: str | None = None) -> None:
    """rabbit_mgmt_util:is_authorized_policies: an administrator, or a policymaker with permissions on
    the vhost; anyone else is "User not authorised to access object". A missing vhost is a 404."""
    user = request["user"]
    if is_admin(user):
        if vhost is not None:
            _vhost_exists(request, vhost)
        return
    if "policymaker" not in user.tags:
        raise NotAuthorised("User not authorised to access object")
    if vhost is not None:
        o = _vhost_exists(request, vhost)
        if not o.access.has_access(user.name, vhost):
            raise NotAuthorised("User not authorised to access object")


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
