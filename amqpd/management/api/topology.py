"""/api/exchanges, /api/queues, /api/bindings (being written)."""

from __future__ import annotations

from aiohttp import web


def routes(router: web.UrlDispatcher) -> None:
    return None
