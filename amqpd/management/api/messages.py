"""Placeholder: amqpd's message browsing and moving endpoints (being written)."""

from __future__ import annotations

from aiohttp import web


def routes(router: web.UrlDispatcher) -> None:
    pass
