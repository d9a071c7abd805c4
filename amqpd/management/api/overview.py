"""/api/overview, /api/nodes, /api/extensions, /api/cluster-name; registers connections.py (connections,
channels, consumers) and health.py (health checks, aliveness-test)."""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import sys
import time
from typing import Any

from aiohttp import web

from ... import __version__
from ...connection import RABBITMQ_VERSION, default_cluster_name
from ...memory import memory_limit, rss_bytes
from ...ops.errors import NotFound
from ...stats import views
from . import connections, health, listing
from .app import (
    BROKER,
    NotAuthorised,
    json_response,
    object_body,
    ops,
    path,
    require_admin,
    require_keys,
    sees_all,
    visible_vhosts,
)

routes_table = web.RouteTableDef()

EXCHANGE_TYPE_DESCRIPTIONS = {
    "direct": "AMQP direct exchange, as per the AMQP specification",
    "fanout": "AMQP fanout exchange, as per the AMQP specification",
    "headers": "AMQP headers exchange, as per the AMQP specification",
    "topic": "AMQP topic exchange, as per the AMQP specification",
    "x-delayed-message": "Delayed Message Exchange.",  # the plugin's description
    "x-message-deduplication": "Message Deduplication Exchange.",
    "x-consistent-hash": "Consistent Hashing Exchange",
}
SAMPLE_RETENTION = {"global": [600, 3600, 28800, 86400], "basic": [600, 3600], "detailed": [600]}
def disk_free_limit(broker: Any) -> int:
    """The limit in effect (disk_free_limit.*, or set by amqpctl set_disk_free_limit)."""
    return broker.disk.limit if broker.disk is not None else broker.config.disk_free_limit
_IMPORTED_AT = time.time()


def process_started_at() -> float:
    """The broker process's start (epoch seconds), from /proc; the API module's import time otherwise."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22: starttime, in clock ticks since boot
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED_AT


def cluster_name(broker: Any) -> str:
    """As amqpd.connection.server_properties: the cluster_name global parameter, the config, the node."""
    value = broker.ops.global_parameters.get("cluster_name")
    if isinstance(value, str) and value:
        return value
    return broker.config.cluster_name or default_cluster_name()


def exchange_types() -> list[dict[str, Any]]:
    from ...exchanges import REGISTRY

    return [{"name": name, "description": EXCHANGE_TYPE_DESCRIPTIONS.get(name, f"{name} exchange"), "enabled": True}
            for name in sorted(REGISTRY) if name]


def contexts(broker: Any) -> list[dict[str, Any]]:
    out = []
    for host, port, https in getattr(broker.management, "addresses", None) or []:
        out.append({"ssl_opts": [], "node": default_cluster_name(), "description": "RabbitMQ Management",
                    "path": "/", "ip": host, "port": str(port), **({"ssl": "true"} if https else {})})
    for _host, port in getattr(broker.prometheus, "addresses", None) or []:
        out.append({"ssl_opts": [], "node": default_cluster_name(), "description": "RabbitMQ Prometheus",
                    "path": "/", "port": str(port), "protocol": "'http/prometheus'"})
    return out


# -- /api/overview ------------------------------------------------------------------------------------
def overview_json(request: web.Request) -> dict[str, Any]:
    broker = request.app[BROKER]
    o = ops(request)
    user = request["user"]
    names = visible_vhosts(request)
    vhosts = [o.vhosts[n] for n in names]
    conns = connections.live_connections(request)
    channels = [ch for c in conns if c.vhost.name in names for ch in c.channels.values()]
    if not sees_all(user):
        conns = [c for c in conns if c.user == user.name]
    queues = [q for vh in vhosts for q in vh.queues.values()]
    ready = sum(q.message_count for q in queues)
    unacked = sum(q.unacked for q in queues)
    stats = o.stats
    rabbit_product = broker.config.server_product == "rabbitmq"
    doc = {
        "management_version": RABBITMQ_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": SAMPLE_RETENTION,
        "exchange_types": exchange_types(),
        # product_*: amqpd's own name and version unless the broker presents itself as RabbitMQ
        # (amqpd.server_properties.product = rabbitmq); rabbitmq_version: the release it follows.
        "product_version": RABBITMQ_VERSION if rabbit_product else __version__,
        "product_name": "RabbitMQ" if rabbit_product else "amqpd",
        "rabbitmq_version": RABBITMQ_VERSION,
        "cluster_name": cluster_name(broker),
        "erlang_version": f"Python {sys.version.split()[0]}",
        "erlang_full_version": f"Python {sys.version.split()[0]} (amqpd {__version__})",
        "release_series_support_status": "supported",
        "disable_stats": False,
        "enable_queue_totals": False,
        "message_stats": views.overview_stats(stats, vhosts, channels, broker.store),
        "churn_rates": views.churn_rates(stats, list(o.vhosts.values())),
        "queue_totals": {"messages": ready + unacked, "messages_ready": ready, "messages_unacknowledged": unacked,
                         **views.queue_totals_details(stats)},
        "object_totals": {
            "channels": sum(len(c.channels) for c in conns),
            "connections": len(conns),
            "consumers": sum(len(ch.consumers) for c in conns for ch in c.channels.values()),
            "exchanges": sum(len(vh.exchanges) for vh in vhosts),
            "queues": len(queues),
        },
        "statistics_db_event_queue": 0,
        "node": default_cluster_name(),
        "listeners": health.listeners(broker),
        "contexts": contexts(broker),
    }
    if not sees_all(user):
        # rabbit_mgmt_wm_overview: node facts and consumer totals are for monitoring users only
        for key in ("node", "listeners", "contexts"):
            del doc[key]
        del doc["object_totals"]["consumers"]
    return doc


def _age(request: web.Request, age: str, incr: str) -> tuple[int, int] | None:
    """RabbitMQ's ?msg_rates_age=&msg_rates_incr= (seconds): both positive integers, or no history."""
    try:
        a, i = int(request.query[age]), int(request.query[incr])
    except (KeyError, ValueError):
        return None
    return (a, i) if a > 0 and i > 0 else None


@routes_table.get("/api/overview")
async def overview(request: web.Request) -> web.Response:
    doc = overview_json(request)
    sampler = ops(request).stats.sampler
    if sampler is not None:
        now_ms = int(time.time() * 1000)
        for key, age, incr in (("message_stats", "msg_rates_age", "msg_rates_incr"),
                               ("queue_totals", "lengths_age", "lengths_incr")):
            window = _age(request, age, incr)
            if window is not None:
                views.add_history(doc[key], sampler.history, *window, now_ms)
    # the overview's nested objects are maps in RabbitMQ: columns keep them whole
    return listing.respond_one(request, doc, descend=False)


# -- /api/nodes ---------------------------------------------------------------------------------------
def _fd_used() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def node_json(request: web.Request) -> dict[str, Any]:
    broker = request.app[BROKER]
    cfg = broker.config
    try:
        disk_free = shutil.disk_usage(cfg.data_dir).free
    except OSError:
        disk_free = 0
    fd_total = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    started = process_started_at()
    mgmt = getattr(broker.management, "addresses", None) or []
    return {
        "name": default_cluster_name(),
        "type": "disc",
        "running": True,
        "os_pid": str(os.getpid()),
        "mem_used": rss_bytes(),
        "mem_limit": memory_limit(cfg),
        "mem_alarm": bool(broker.memory_alarm),
        "mem_calculation_strategy": "rss",
        "disk_free": disk_free,
        "disk_free_limit": disk_free_limit(broker),
        "disk_free_alarm": bool(broker.disk_alarm),
        # amqpd: why the disk alarm is on although space is free (the store refused a write), else null
        "amqpd_store_error": getattr(broker.store, "error", None),
        "fd_used": _fd_used(),
        "fd_total": fd_total if fd_total != resource.RLIM_INFINITY else 1048576,
        "sockets_used": len(broker.connections),
        "sockets_total": fd_total if fd_total != resource.RLIM_INFINITY else 1048576,
        "proc_used": len(asyncio.all_tasks()),
        "proc_total": 1048576,
        "run_queue": 0,
        "processors": os.cpu_count() or 1,
        "uptime": max(0, int((time.time() - started) * 1000)),
        "rates_mode": "basic",
        "net_ticktime": 60,
        "db_dir": str(cfg.data_dir),
        "config_files": [str(cfg.config_file)] if cfg.config_file else [],
        "log_files": [],
        "enabled_plugins": ["rabbitmq_management"] if mgmt else [],
        "auth_mechanisms": [{"name": m, "description": "", "enabled": True} for m in cfg.auth_mechanisms],
        "exchange_types": exchange_types(),
        "applications": [{"name": "amqpd", "description": "amqpd, an AMQP 0-9-1 broker", "version": __version__}],
        "contexts": contexts(broker),
        "partitions": [],
        "cluster_links": [],
        **views.churn_rates(broker.ops.stats, list(broker.ops.vhosts.values())),
        **views.gauge_details(broker.ops.stats),
    }


def _require_monitor(request: web.Request) -> None:
    if not sees_all(request["user"]):
        raise NotAuthorised("Not monitor user")


@routes_table.get("/api/nodes")
async def list_nodes(request: web.Request) -> web.Response:
    _require_monitor(request)
    return listing.respond(request, [node_json(request)], paged=False)


@routes_table.get("/api/nodes/{name}")
async def get_node(request: web.Request) -> web.Response:
    _require_monitor(request)
    if path(request, "name") != default_cluster_name():
        raise NotFound(path(request, "name"))
    return listing.respond_one(request, node_json(request))


# -- extensions, cluster name -------------------------------------------------------------------------
@routes_table.get("/api/extensions")
async def extensions(request: web.Request) -> web.Response:
    return json_response([])  # no web UI plugins


@routes_table.get("/api/cluster-name")
async def get_cluster_name(request: web.Request) -> web.Response:
    return json_response({"name": cluster_name(request.app[BROKER])})


@routes_table.put("/api/cluster-name")
async def put_cluster_name(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await object_body(request)
    require_keys(doc, "name")
    name = doc["name"]
    # rabbit_nodes:set_cluster_name stores the cluster_name global parameter
    ops(request).set_global_parameter("cluster_name", name if isinstance(name, str) else str(name))
    return web.Response(status=204)


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
    connections.routes(router)
    health.routes(router)
