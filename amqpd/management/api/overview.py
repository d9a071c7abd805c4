"""/api/overview, nodes, connections, channels, consumers, health checks (being written)."""

from __future__ import annotations

from aiohttp import web


def routes(router: web.UrlDispatcher) -> None:
    return None
