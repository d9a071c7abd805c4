"""The web management UI: a single page served from the package (static/), built on the HTTP API.

Login goes through a form (username, password, as RabbitMQ's); the session is an HttpOnly cookie whose
token the API's auth middleware accepts in place of Basic credentials (sessions.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .sessions import COOKIE, SESSIONS, SessionStore

__all__ = ["COOKIE", "SESSIONS", "SessionStore", "setup"]


def setup(app: web.Application, broker: Any) -> None:
    """Give the app its session store and the UI's routes."""
    app[SESSIONS] = SessionStore()
