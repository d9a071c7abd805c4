"""The management plugin's equivalent: RabbitMQ's HTTP API (api/), served by aiohttp in the broker's
event loop. Every change it makes goes through the operations layer (amqpd/ops)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .api.app import make_app


class ManagementServer:
    """One aiohttp application on one or more sites: (host, port, ssl context or None)."""

    def __init__(self, broker: Any, sites: list[tuple[str, int, Any]]) -> None:
        self.broker = broker
        self.sites = sites
        self.runner: web.AppRunner | None = None
        self.addresses: list[tuple[str, int, bool]] = []  # (host, port, https)

    async def start(self) -> None:
        self.runner = web.AppRunner(make_app(self.broker), access_log=None, handle_signals=False)
        await self.runner.setup()
        for host, port, ctx in self.sites:
            site = web.TCPSite(self.runner, host, port, ssl_context=ctx, reuse_address=True, backlog=128)
            await site.start()
            server = site._server  # aiohttp keeps the asyncio server here; the bound port is on its sockets
            if server is not None:
                self.addresses += [(*s.getsockname()[:2], ctx is not None) for s in server.sockets]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
