"""The rabbitmq_prometheus plugin's equivalent: RabbitMQ 3.10's Prometheus exposition on its own port
(prometheus.tcp.port, 15692 by default), served by aiohttp in the broker's event loop.

- /metrics: RabbitMQ's default registry: per-object families summed into one sample each, unless
  prometheus.return_per_object_metrics = true (then as /metrics/per-object);
- /metrics/per-object: one sample per queue, channel, connection;
- /metrics/detailed?family=F&vhost=V (both repeatable): the families asked for, per object; unknown
  families are ignored, as RabbitMQ does.

The text is rendered by prometheus_client from collectors that read the live objects at scrape time
(collector.py), each app with its own CollectorRegistry, never the process-global one.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder

from .collector import DetailedCollector, Monotonic, RabbitCollector

NOT_FOUND = '{"error":"Object Not Found","reason":"Not Found"}'  # RabbitMQ's body, byte for byte


def _registry(*collectors: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    # Python's process and runtime families stand where RabbitMQ has the Erlang VM's (erlang_vm_*)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class Exposition:
    def __init__(self, broker: Any) -> None:
        self.broker = broker
        monotonic = Monotonic()
        self.default = _registry(RabbitCollector(broker, bool(broker.config.prometheus_per_object), monotonic))
        self.per_object = _registry(RabbitCollector(broker, True, monotonic))

    def detailed(self, families: list[str], vhosts: list[str] | None) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(DetailedCollector(self.broker, families, vhosts))
        return registry

    def registry(self, name: str, query: Any) -> CollectorRegistry | None:
        if name in ("", "default"):
            return self.default
        if name == "per-object":
            return self.per_object
        if name == "detailed":
            return self.detailed(query.getall("family", []), query.getall("vhost", []) or None)
        return None


EXPOSITION = web.AppKey("exposition", Exposition)


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[EXPOSITION].registry(request.match_info.get("registry", ""), request.query)
    if registry is None:
        return web.Response(status=404, text="Unknown Registry")
    # text format 0.0.4 unless the scraper asks for OpenMetrics (or a newer text format)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = web.Response(body=encoder(registry), headers={"Content-Type": content_type})
    response.enable_compression()  # gzip or deflate when Accept-Encoding asks for it
    return response


@web.middleware
async def json_not_found(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.Response(status=404, text=NOT_FOUND, content_type="application/json")


def make_app(broker: Any) -> web.Application:
    app = web.Application(middlewares=[json_not_found])
    app[EXPOSITION] = Exposition(broker)
    for path in ("/metrics", "/metrics/", "/metrics/{registry}", "/metrics/{registry}/"):
        app.router.add_get(path, metrics)
    return app


class PrometheusServer:
    def __init__(self, broker: Any, host: str, port: int) -> None:
        self.broker, self.host, self.port = broker, host, port
        self.runner: web.AppRunner | None = None
        self.addresses: list[tuple[str, int]] = []

    async def start(self) -> None:
        self.runner = web.AppRunner(make_app(self.broker), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp keeps the asyncio server here; the bound port is on its sockets
        if server is not None:
            self.addresses += [s.getsockname()[:2] for s in server.sockets]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
