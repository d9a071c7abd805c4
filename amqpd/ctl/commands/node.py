"""status, environment, await_startup: the node as a whole."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import resource
import shutil
import ssl
import sys
import time
from typing import Any

from ..output import dumps
from ..registry import EX_UNAVAILABLE, Context, CtlError, command
from .diagnostics import _listeners, _memory

GROUP = "Monitoring, observability and health checks"
BOLD, PLAIN = "\x1b[1m", "\x1b[0m"  # rabbitmqctl emboldens section titles, terminal or not


def _status(ctx: Context) -> dict[str, Any]:
    from ... import __version__
    from ...management.api.overview import disk_free_limit, process_started_at
    from ...memory import memory_limit, rss_bytes

    broker, cfg = ctx.broker, ctx.broker.config
    try:
        disk_free = shutil.disk_usage(cfg.data_dir).free
    except OSError:
        disk_free = 0
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    try:
        fd_used = len(os.listdir("/proc/self/fd"))
    except OSError:
        fd_used = 0
    memory = _memory(ctx)
    setting = ({"absolute": cfg.memory_high_watermark_absolute} if cfg.memory_high_watermark_absolute
               else {"relative": cfg.memory_high_watermark})
    return {
        "pid": os.getpid(), "os": platform.system(), "uptime": int(time.time() - process_started_at()),
        "is_under_maintenance": False, "product_name": "amqpd", "product_version": __version__,
        "rabbitmq_version": __version__, "release_series_support_status": "supported",
        "erlang_version": f"Python {platform.python_version()} ({sys.implementation.name})",
        "crypto_lib_version": ssl.OPENSSL_VERSION,
        "processes": {"used": len(asyncio.all_tasks()), "limit": 1048576}, "run_queue": 0, "net_ticktime": 60,
        "active_plugins": ["rabbitmq_management"] if broker.management else [],
        "enabled_plugin_file": "", "data_directory": str(cfg.data_dir), "raft_data_directory": str(cfg.data_dir),
        "config_files": [str(cfg.config_file.resolve())] if cfg.config_file else [], "log_files": ["<stdout>"],
        "alarms": [{"type": "resource_limit", "resource": r, "node": _node()}
                   for r, on in (("memory", broker.memory_alarm), ("disk", broker.disk_alarm)) if on],
        "memory": memory, "vm_memory_calculation_strategy": "rss",
        "vm_memory_high_watermark_setting": setting, "vm_memory_high_watermark_limit": memory_limit(cfg),
        "total_memory_used": rss_bytes(),
        "file_descriptors": {"total_used": fd_used, "total_limit": fd_limit, "sockets_used": len(broker.connections),
                             "sockets_limit": fd_limit},
        "disk_free_limit": disk_free_limit(broker), "disk_free": disk_free,
        "totals": {"virtual_host_count": len(ctx.ops.vhosts),
                   "connection_count": len(broker.connections),
                   "queue_count": sum(len(vh.queues) for vh in ctx.ops.vhosts.values())},
        "listeners": _listeners(ctx),
    }


def _node() -> str:
    from ...connection import default_cluster_name

    return default_cluster_name()


def _gb(n: int) -> str:
    return f"{round(n / 1e9, 4)} gb"


def _render_status(s: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    out = ctx["out"]
    if ctx["inv"].opts["formatter"] == "json":
        out.write(dumps(s) + "\n")
        return 0

    def section(title: str, lines: list[str]) -> None:
        out.write(f"{BOLD}{title}{PLAIN}\n\n" + "".join(f"{ln}\n" for ln in lines) + "\n")

    mem_total = sum(s["memory"].values()) or 1
    setting = s["vm_memory_high_watermark_setting"]
    wm = (f"{setting['relative']} of available memory" if "relative" in setting
          else f"{setting['absolute']} bytes")
    section("Runtime", [f"OS PID: {s['pid']}", f"OS: {s['os']}", f"Uptime (seconds): {s['uptime']}",
                        f"Is under maintenance?: {str(s['is_under_maintenance']).lower()}",
                        f"amqpd version: {s['product_version']}",
                        f"amqpd release series support status: {s['release_series_support_status']}",
                        f"Node name: {ctx['node']}", f"Python runtime: {s['erlang_version']}",
                        f"Crypto library: {s['crypto_lib_version']}",
                        f"Tasks: {s['processes']['used']} used, {s['processes']['limit']} limit",
                        f"Scheduler run queue: {s['run_queue']}",
                        f"Cluster heartbeat timeout (net_ticktime): {s['net_ticktime']}"])
    section("Plugins", ["Enabled plugins:", ""] + [f" * {p}" for p in s["active_plugins"]])
    section("Data directory", [f"Node data directory: {s['data_directory']}"])
    section("Config files", [f" * {f}" for f in s["config_files"]] or ["(none)"])
    section("Log file(s)", [f" * {f}" for f in s["log_files"]])
    section("Alarms", [f"{a['resource'].capitalize()} alarm" for a in s["alarms"]] or ["(none)"])
    section("Memory", [f"Total memory used: {_gb(s['total_memory_used'])}",
                       f"Calculation strategy: {s['vm_memory_calculation_strategy']}",
                       f"Memory high watermark setting: {wm}, computed to: {_gb(s['vm_memory_high_watermark_limit'])}",
                       ""] + [f"{k}: {_gb(v)} ({round(100 * v / mem_total, 2)} %)" for k, v in s["memory"].items()])
    fds = s["file_descriptors"]
    section("File Descriptors", [f"Total: {fds['total_used']}, limit: {fds['total_limit']}",
                                 f"Sockets: {fds['sockets_used']}, limit: {fds['sockets_limit']}"])
    section("Free Disk Space", [f"Low free disk space watermark: {_gb(s['disk_free_limit'])}",
                                f"Free disk space: {_gb(s['disk_free'])}"])
    t = s["totals"]
    section("Totals", [f"Connection count: {t['connection_count']}", f"Queue count: {t['queue_count']}",
                       f"Virtual host count: {t['virtual_host_count']}"])
    out.write(f"{BOLD}Listeners{PLAIN}\n\n" + "".join(
        f"Interface: {x['interface']}, port: {x['port']}, protocol: {x['protocol']}, purpose: {x['purpose']}\n"
        for x in s["listeners"]))
    return 0


@command("status", tool="rabbitmqctl", group=GROUP, summary="Displays status of a node",
         render=_render_status, banner=lambda a, c: f"Status of node {c['node']} ...")
def status(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return _status(ctx)


def _term(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "undefined"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple, frozenset, set)):
        items = sorted(v, key=str) if isinstance(v, (set, frozenset)) else v
        return "[" + ",".join(_term(x) for x in items) + "]"
    if dataclasses.is_dataclass(v):
        return "[" + ",".join(f"{{{f.name},{'[redacted]' if f.name == 'password' else _term(getattr(v, f.name))}}}"
                              for f in dataclasses.fields(v)) + "]"
    if isinstance(v, dict):
        return "[" + ",".join(f"{{{_term(k)},{_term(x)}}}" for k, x in v.items()) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_environment(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if ctx["inv"].opts["formatter"] == "json":
        ctx["out"].write(dumps(result) + "\n")
        return 0
    lines = [f"     {{{k},{v}}}" for k, v in result["amqpd"]]
    ctx["out"].write("[{amqpd,\n    [" + ",\n".join(lines).lstrip() + "]}]\n")
    return 0


@command("environment", tool="rabbitmqctl", group=GROUP, render=_render_environment,
         summary="Displays the name and value of each variable in the application environment (the effective "
                 "configuration)", banner=lambda a, c: f"Application environment of node {c['node']} ...")
def environment(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    cfg = ctx.broker.config
    hidden = {"default_pass"}  # never print a password; RabbitMQ keeps default_pass encrypted in its env
    items = [(f.name, "[redacted]" if f.name in hidden else _term(getattr(cfg, f.name)))
             for f in dataclasses.fields(cfg)]
    return {"amqpd": sorted(items)}


def _await_args(p: Any) -> None:
    p.add_argument("--timeout", "-t", dest="wait", type=float, default=None)


@command("await_startup", tool="rabbitmqctl", group="Node",
         summary="Waits for the broker to finish starting up (listeners bound, definitions loaded)",
         arguments=_await_args, render=lambda r, a, c: 0)
async def await_startup(ctx: Context, args: dict[str, Any]) -> str:
    deadline = time.monotonic() + (args.get("wait") or 300)
    while not ctx.broker.started:
        if time.monotonic() > deadline:
            raise CtlError(EX_UNAVAILABLE, "Error:\nthe broker did not finish starting in time")
        await asyncio.sleep(0.05)
    return ""
