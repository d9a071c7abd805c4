"""The web management UI: a single page served from the package (static/), built on the HTTP API.

Login goes through a form (username, password, as RabbitMQ's); the session is an HttpOnly cookie whose
token the API's auth middleware accepts in place of Basic credentials (sessions.py). Routes:

- ``GET /``: the page (static/index.html, its asset URLs versioned: assets.py);
- ``GET /ui/static/{version}/{path}``: scripts, styles, icons;
- ``POST /ui/login``, ``POST /ui/logout``, ``GET /ui/session``: login.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import assets, login
from .sessions import COOKIE, SESSIONS, SessionStore

__all__ = ["COOKIE", "SESSIONS", "SessionStore", "setup"]


async def _no_basic_prompt(request: web.Request, response: web.StreamResponse) -> None:
    # A 401 carrying WWW-Authenticate: Basic makes browsers open their own login dialog over the page.
    # Requests the UI makes carry the session cookie and no Authorization header; only those lose it.
    if (response.status == 401 and request.path.startswith("/api/") and COOKIE in request.cookies
            and "Authorization" not in request.headers):
        response.headers.pop("WWW-Authenticate", None)


def setup(app: web.Application, broker: Any) -> None:
    """Give the app its session store and the UI's routes."""
    from ..api.app import MANAGEMENT_TAGS  # app.py imports this package first: late import

    app[SESSIONS] = SessionStore()
    files = assets.Assets()
    index, static, favicon = assets.handlers(files)
    do_login, do_logout, session = login.handlers(broker, MANAGEMENT_TAGS)
    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/ui/static/{version}/{path:.+}", static)
    app.router.add_post("/ui/login", do_login)
    app.router.add_post("/ui/logout", do_logout)
    app.router.add_get("/ui/session", session)
    app.on_response_prepare.append(_no_basic_prompt)
