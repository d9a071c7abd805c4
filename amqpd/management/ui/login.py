"""POST /ui/login, POST /ui/logout and GET /ui/session: the UI's session cookie.

The API's middleware (api/app.py) accepts the cookie in place of Basic credentials and looks the user up
again on every request, so what a session may do follows the user's current tags and permissions.

Answers are made for the UI's own script (JSON: ``{"ok": ...}``); a plain form post without script gets
a redirect instead. A refused login is answered 200 ``{"ok": false}`` to the script, as a server-rendered
login page answers a wrong password with the form again: the UI then has nothing in the browser console
that is not an error of its own. /ui/session tells the page whether it is logged in for the same reason
(/api/whoami would answer 401 to a visitor)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .sessions import COOKIE, SESSIONS

MAX_FIELD = 4096  # longer user names or passwords are refused before hashing


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "") or request.content_type == "application/json"


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type == "application/json":
        try:
            doc = json.loads(await request.read() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        return {k: v for k, v in doc.items() if isinstance(v, str)} if isinstance(doc, dict) else {}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    # No Max-Age: the cookie ends with the browser session; the server ends idle sessions itself.
    response.set_cookie(COOKIE, token, path="/", httponly=True, samesite="Strict", secure=request.secure)


def _clear_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.set_cookie(COOKIE, "", path="/", httponly=True, samesite="Strict", secure=request.secure,
                        max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT")


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def user_json(user: Any) -> dict[str, Any]:
    return {"name": user.name, "tags": list(user.tags)}


def handlers(broker: Any, management_tags: frozenset[str]) -> tuple:
    def management_user(name: str | None) -> Any:
        user = broker.ops.users.get(name) if name is not None else None
        return user if user is not None and management_tags.intersection(user.tags) else None

    async def login(request: web.Request) -> web.StreamResponse:
        log = request.app["log"]
        form = await _form(request)
        name, password = form.get("username", ""), form.get("password", "")
        reason = None
        user = None
        if not name or not password:
            reason = "Enter a user name and a password."
        elif len(name) > MAX_FIELD or len(password) > MAX_FIELD:
            reason = "Login failed"
        else:
            user = broker.ops.authenticate(name, password)
            if user is None:
                reason = "Login failed"
            elif not management_tags.intersection(user.tags):
                # the API's own answer to such a user, so the UI says what RabbitMQ's would
                reason = "Not management user"
        if reason is not None:
            log.info("ui login refused", user=name[:100], peer=request.remote, reason=reason)
            if _wants_json(request):
                return web.json_response({"ok": False, "reason": reason})
            return _see_other("/?login=failed")
        token = request.app[SESSIONS].create(user.name)
        log.info("ui login", user=user.name, peer=request.remote)
        response: web.StreamResponse
        if _wants_json(request):
            response = web.json_response({"ok": True, "user": user_json(user)})
        else:
            response = _see_other("/")
        # a session opened while another was in the cookie replaces it: the old token is ended
        request.app[SESSIONS].end(request.cookies.get(COOKIE))
        _set_cookie(request, response, token)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def logout(request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(COOKIE)
        sessions = request.app[SESSIONS]
        name = sessions.user_for(token)
        sessions.end(token)
        if name is not None:
            request.app["log"].info("ui logout", user=name, peer=request.remote)
        response: web.StreamResponse = (web.json_response({"ok": True}) if _wants_json(request)
                                        else _see_other("/"))
        _clear_cookie(request, response)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def session(request: web.Request) -> web.Response:
        name = request.app[SESSIONS].user_for(request.cookies.get(COOKIE))
        user = management_user(name)
        doc = {"user": user_json(user) if user is not None else None}
        return web.json_response(doc, headers={"Cache-Control": "no-store"})

    return login, logout, session
