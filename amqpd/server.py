"""The broker process: the operations layer (vhosts, users, ...), listeners, graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from typing import Any

from . import flow
from .config import Config
from .connection import Connection
from .ctl.endpoint import ControlEndpoint
from .disk import DiskMonitor
from .errors import ReplyCode
from .fdlimit import FdWatch, raise_nofile_limit
from .log import get_logger
from .memory import MemoryMonitor, memory_limit
from .ops import Operations, OpError
from .stats.sampler import Sampler
from .store import Store
from .store.rocks import RocksStore, StoreError, memtable_budget


class Broker:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.log = get_logger()
        self.store = store
        self.connections: set[Connection] = set()
        # vhosts, users, permissions, policies...: every change goes through the operations layer
        self.ops = Operations(config, store, self.connections)
        self.servers: list[asyncio.base_events.Server] = []
        self.memory_alarm = False
        self.disk_low = False  # free space under disk_free_limit (DiskMonitor)
        self.store_failed = False  # the store refused a write (full disk, read-only, I/O error)
        if hasattr(store, "on_failure"):
            store.on_failure = self.set_store_failed
        self.disk: Any = None  # the DiskMonitor, once started
        self.management: Any = None  # the HTTP API server (management/), when enabled
        self.prometheus: Any = None  # the Prometheus exposition (management/prometheus/), when enabled
        self.started = False  # every listener bound, definitions loaded (amqpctl await_startup, check_running)
        self.closed_connections = 0  # since the last full garbage collection (memory.py)


    def set_memory_alarm(self, on: bool) -> None:
        self.memory_alarm = on
        self._apply_alarms()

    def set_disk_alarm(self, on: bool) -> None:
        self.disk_low = on
        self._apply_alarms()

    def set_store_failed(self, on: bool) -> None:
        self.store_failed = on
        self._apply_alarms()

    @property
    def disk_alarm(self) -> bool:
        """RabbitMQ's disk alarm, which amqpd also raises while the store cannot write: either way what
        publishers send cannot be made durable, and monitoring that watches the disk alarm sees it."""
        return self.disk_low or self.store_failed

    @property
    def alarm_reason(self) -> str | None:
        """connection.blocked's reason while a resource alarm is on (RabbitMQ's texts), else None."""
        if self.memory_alarm:
            return "low on memory"
        return "low on disk" if self.disk_alarm else None

    def _apply_alarms(self) -> None:
        reason = self.alarm_reason
        for conn in list(self.connections):
            flow.set_alarm(conn, reason is not None, reason or "")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for host, port in self.config.listeners:
            server = await loop.create_server(lambda: Connection(self), host, port, reuse_address=True, backlog=1024)
            self.servers.append(server)
            for sock in server.sockets:
                self.log.info("listening", address=f"{sock.getsockname()[0]}:{sock.getsockname()[1]}",
                              protocol="amqp")
        if self.config.ssl_listeners:
            from . import tls

            try:
                context = tls.build_context(self.config.ssl_options)
            except tls.TLSConfigError as exc:  # validated at load; only a file changed since can get here
                raise OSError(f"{exc.key}: {exc}") from exc
            timeout = self.config.ssl_handshake_timeout / 1000
            for host, port in self.config.ssl_listeners:
                listener = await tls.start_listener(host, port, lambda: Connection(self), context, self.log,
                                                    timeout)
                self.servers.append(listener)  # type: ignore[arg-type]  # an asyncio.Server look-alike
                for sock in listener.sockets:
                    self.log.info("listening", address=f"{sock.getsockname()[0]}:{sock.getsockname()[1]}",
                                  protocol="amqp/ssl")

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [s.getsockname()[:2] for srv in self.servers for s in srv.sockets]

    @property
    def ports(self) -> list[int]:
        return [s.getsockname()[1] for srv in self.servers for s in srv.sockets]

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop listening, tell every client 320 CONNECTION_FORCED, wait for them to go (bounded)."""
        started = time.monotonic()
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            conn.close(ReplyCode.CONNECTION_FORCED, "broker forced connection closure with reason 'shutdown'")
        deadline = started + timeout
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        for server in self.servers:
            await server.wait_closed()
        self.log.info("stopped", seconds=round(time.monotonic() - started, 3))


async def start_management(broker: Broker, log: Any) -> Any:
    """The HTTP API on management.tcp.ip:port (and HTTPS on management.ssl.port); None when switched
    off, False when it cannot listen."""
    cfg = broker.config
    https = cfg.management_ssl_port and cfg.management_ssl is not None
    if not cfg.management_enabled or not (cfg.management_port or https):
        return None
    from .management import ManagementServer

    sites = [(cfg.management_ip, cfg.management_port, None)] if cfg.management_port else []
    if https:
        from .tls import build_context

        sites.append((cfg.management_ssl_ip, cfg.management_ssl_port, build_context(cfg.management_ssl)))
    server = ManagementServer(broker, sites)
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot listen", error=str(exc), protocol="http")
        await server.stop()
        return False
    for host, port, https in server.addresses:
        log.info("listening", address=f"{host}:{port}", protocol="https" if https else "http")
    broker.management = server
    return server


async def start_prometheus(broker: Broker, log: Any) -> Any:
    """The Prometheus exposition on prometheus.tcp.ip:port; None when switched off, False when it cannot
    listen."""
    cfg = broker.config
    if not cfg.prometheus_port:
        return None
    from .management.prometheus import PrometheusServer

    server = PrometheusServer(broker, cfg.prometheus_ip, cfg.prometheus_port)
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot listen", error=str(exc), protocol="prometheus")
        await server.stop()
        return False
    for host, port in server.addresses:
        log.info("listening", address=f"{host}:{port}", protocol="prometheus")
    broker.prometheus = server
    return server


def open_store(config: Config, log: Any) -> RocksStore:
    store = RocksStore(config.data_dir, log, memtable_budget(memory_limit(config)))
    store.page_threshold = config.queue_index_threshold
    return store


async def serve(config: Config) -> int:
    log = get_logger()
    loop = asyncio.get_running_loop()
    fd_limit = raise_nofile_limit(log)
    try:
        store = open_store(config, log)
    except StoreError as exc:
        log.error("cannot open the store", data_dir=str(config.data_dir), error=str(exc))
        return 1
    store.attach(loop)
    broker = Broker(config, store)
    try:
        stats = broker.ops.boot()
    except (OpError, ValueError) as exc:
        # a bad definitions file (load_definitions) or an unreadable record: nothing was half-applied
        log.error("cannot start", error=getattr(exc, "reason", str(exc)))
        store.close()
        return 1
    log.info("recovered", **stats)
    # What exists now (modules, recovered queues and messages) lives as long as the broker: keep the
    # cyclic GC from rescanning it, and let it run less often. Per-message objects do not form cycles,
    # so young collections every 700 allocations (several per message batch) only cost time.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    monitor = MemoryMonitor(broker)
    # The HTTP API first: once the AMQP port answers, everything does.
    management = await start_management(broker, log)
    if management is False:
        store.close()
        return 1
    prometheus = await start_prometheus(broker, log)
    if prometheus is False:
        if management is not None:
            await management.stop()
        store.close()
        return 1
    try:
        await broker.start()
    except OSError as exc:
        log.error("cannot listen", error=str(exc))
        for http in (management, prometheus):
            if http is not None:
                await http.stop()
        store.close()
        return 1
    monitor.start(loop)
    fd_watch = FdWatch(log, fd_limit)
    fd_watch.start(loop)
    broker.disk = DiskMonitor(broker)
    broker.disk.start(loop)
    sampler = Sampler(broker, config.collect_statistics_interval)
    broker.ops.stats.sampler = sampler
    sampler.start()
    control = ControlEndpoint(broker)
    await control.start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    broker.started = True
    # testcontainers and compose health checks wait for this fragment, as they do for RabbitMQ's
    # "Server startup complete; 0 plugins started.": every listener is bound and definitions are loaded.
    broker.log.info("Server startup complete", listeners=[f"{h}:{p}" for h, p in broker.addresses],
                    data_dir=str(config.data_dir), config_file=str(config.config_file) if config.config_file else None)
    await stop.wait()
    broker.log.info("shutting down")
    await control.stop()
    monitor.stop()
    fd_watch.stop()
    broker.disk.stop()
    sampler.stop()
    for http in (management, prometheus):
        if http is not None:
            await http.stop()
    await broker.shutdown()
    store.close()
    return 0
