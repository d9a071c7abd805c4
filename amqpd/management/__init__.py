"""The management plugin's equivalent: RabbitMQ's HTTP API (api/), served by aiohttp in the broker's
event loop. Every change it makes goes through the operations layer (amqpd/ops)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .api.app import make_app


class ManagementServer:
    def __init__(self, broker: Any, host: str, port: int, ssl_context: Any = None) -> None:
        self.broker = broker
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.runner: web.AppRunner | None = None
        self.addresses: list[tuple[str, int]] = []

    async def start(self) -> None:
        self.runner = web.AppRunner(make_app(self.broker), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, ssl_context=self.ssl_context,
                           reuse_address=True, backlog=128)
        await site.start()
        server = site._server  # aiohttp keeps the asyncio server here; the bound port is on its sockets
        self.addresses = [s.getsockname()[:2] for s in server.sockets] if server is not None else []

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
