"""rabbitmq-diagnostics' health checks and node facts: ping, check_running, check_port_connectivity,
check_local_alarms, check_virtual_hosts, listeners, alarms, memory_breakdown; and the consistent hash
exchange plugin's consistent_hash_exchange_ring_state."""

from __future__ import annotations

import socket
from typing import Any

from ..output import dumps
from ..registry import EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE, Context, CtlError, command
from .access import AccessError, _spec

PURPOSES = {"amqp": "AMQP 0-9-1", "amqp/ssl": "AMQP 0-9-1 over TLS", "http": "HTTP API",
            "https": "HTTP API over TLS (HTTPS)", "http/prometheus": "Prometheus exporter API over HTTP"}


def _json(ctx: dict[str, Any]) -> bool:
    return ctx["inv"].opts["formatter"] == "json"


def _message(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    """Commands that answer one sentence: as text, or {"message": ...} with --formatter json."""
    out = ctx["out"]
    out.write((dumps({"message": result}) if _json(ctx) else result) + "\n")
    return 0


def _node(ctx: Context) -> str:
    from ...connection import default_cluster_name

    return default_cluster_name()


# -- ping, check_running -------------------------------------------------------------------------------
@command("ping", tool="rabbitmq-diagnostics", group="Monitoring, observability and health checks",
         summary="Checks that the node is running and the CLI can reach it", render=_message,
         extra={"banner_first": True},
         banner=lambda a, c: (f"Will ping {c['node']}. This only checks if the OS process is running and "
                              f"answers on its control socket. Timeout: {int(c['inv'].timeout * 1000)} ms."))
def ping(ctx: Context, args: dict[str, Any]) -> str:
    return "Ping succeeded"


@command("check_running", tool="rabbitmq-diagnostics", group="Monitoring, observability and health checks",
         summary="Health check that exits with a non-zero code if the broker is not running (booted)",
         render=_message, banner=lambda a, c: f"Checking if amqpd is running on node {c['node']} ...")
def check_running(ctx: Context, args: dict[str, Any]) -> str:
    node = _node(ctx)
    if not ctx.broker.started:
        raise CtlError(EX_UNAVAILABLE, f"Error:\namqpd on node {node} is not running or has not fully booted yet "
                       "(check with is_booting)")
    return f"amqpd on node {node} is fully booted and running"


# -- listeners ------------------------------------------------------------------------------------------
def _listeners(ctx: Context) -> list[dict[str, Any]]:
    from ...management.api.health import listeners

    out = []
    for item in listeners(ctx.broker):
        host = item["ip_address"]
        out.append({"interface": "[::]" if host == "::" else host, "node": item["node"], "port": item["port"],
                    "protocol": item["protocol"], "purpose": PURPOSES.get(item["protocol"], item["protocol"])})
    return sorted(out, key=lambda x: (x["interface"], x["port"]))


def _render_listeners(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if _json(ctx):
        ctx["out"].write(dumps({"listeners": result, "node": ctx["node"], "result": "ok"}) + "\n")
        return 0
    for item in result:
        ctx["out"].write(f"Interface: {item['interface']}, port: {item['port']}, protocol: {item['protocol']}, "
                         f"purpose: {item['purpose']}\n")
    return 0


@command("listeners", tool="rabbitmq-diagnostics", group="Monitoring, observability and health checks",
         summary="Lists active connection listeners (bound interface, port, protocol) on the target node",
         render=_render_listeners,
         banner=lambda a, c: f"Asking node {c['node']} to report its protocol listeners ...")
def listeners_cmd(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return _listeners(ctx)


def _connect_all(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    """The CLI connects to every listener itself, as rabbitmq-diagnostics does from where it runs."""
    failed, ports = [], []
    for item in result:
        host = item["interface"].strip("[]")
        host = {"::": "::1", "0.0.0.0": "127.0.0.1"}.get(host, host)
        try:
            with socket.create_connection((host, item["port"]), timeout=ctx["inv"].timeout):
                ports.append(item["port"])
        except OSError:
            failed.append(item)
    node = ctx["node"]
    if failed:
        lines = "\n".join(f"Interface: {f['interface']}, port: {f['port']}, protocol: {f['protocol']}, "
                          f"purpose: {f['purpose']}" for f in failed)
        ctx["err"].write(f"Error:\nConnection to ports of the following listeners on node {node} failed: \n"
                         f"{lines}\n")
        return EX_UNAVAILABLE
    text = f"Successfully connected to ports {', '.join(str(p) for p in sorted(ports))} on node {node}."
    ctx["out"].write((dumps({"result": "ok", "node": node, "listeners": result}) if _json(ctx) else text) + "\n")
    return 0


@command("check_port_connectivity", tool="rabbitmq-diagnostics",
         group="Monitoring, observability and health checks",
         summary="Basic TCP connectivity health check for each listener's port on the target node",
         render=_connect_all,
         banner=lambda a, c: f"Testing TCP connections to all active listeners on node {c['node']} ...")
def check_port_connectivity(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return _listeners(ctx)


# -- alarms ---------------------------------------------------------------------------------------------
def _alarm_lines(ctx: Context) -> list[str]:
    from ...management.api.health import alarms

    names = {"memory": "Memory", "disk": "Free disk space"}  # RabbitMQ's CLI names
    return [f"{names[a['resource']]} alarm on node {a['node']}" for a in alarms(ctx.broker)]


@command("check_local_alarms", tool="rabbitmq-diagnostics", group="Monitoring, observability and health checks",
         summary="Health check that exits with a non-zero code if the target node reports any local alarms",
         render=_message,
         banner=lambda a, c: f"Asking node {c['node']} to report any local resource alarms ...")
def check_local_alarms(ctx: Context, args: dict[str, Any]) -> str:
    lines = _alarm_lines(ctx)
    if lines:
        raise CtlError(EX_UNAVAILABLE, "Error:\n" + "\n".join(lines))
    return f"Node {_node(ctx)} reported no local alarms"


@command("alarms", tool="rabbitmq-diagnostics", group="Monitoring, observability and health checks",
         summary="Lists resource alarms (local or cluster-wide) in effect on the target node", render=_message,
         banner=lambda a, c: f"Asking node {c['node']} to report any known resource alarms ...")
def alarms_cmd(ctx: Context, args: dict[str, Any]) -> str:
    lines = _alarm_lines(ctx)
    return "\n".join(lines) if lines else f"Node {_node(ctx)} reported no alarms, local or clusterwide"


@command("check_virtual_hosts", tool="rabbitmq-diagnostics", group="Monitoring, observability and health checks",
         summary="Health check that checks if all vhosts are running in the target node", render=_message,
         banner=lambda a, c: f"Checking if all vhosts are running on node {c['node']} ...")
def check_virtual_hosts(ctx: Context, args: dict[str, Any]) -> str:
    # a vhost of amqpd cannot be down on its own: it lives in the broker's process and loop
    return f"Node {_node(ctx)} reported all vhosts as running"


# -- memory_breakdown -----------------------------------------------------------------------------------
def _memory(ctx: Context) -> dict[str, int]:
    """What can be measured of the process: message bodies held in memory, the code mapped (text pages),
    the rest of the resident set. Larger first, as rabbitmq-diagnostics sorts them."""
    import os

    from ...memory import rss_bytes

    rss = rss_bytes()
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        with open("/proc/self/statm") as f:
            fields = f.read().split()
        code = int(fields[3]) * page
    except (OSError, IndexError, ValueError):
        code = 0
    from ...stats.contents import queue_fields

    # as of the last statistics sample: walking every queue's messages per call would cost what sampling does
    bodies = sum(queue_fields(q, getattr(q, "_st_contents", None))["message_bytes_ram"]
                 for vh in ctx.ops.vhosts.values() for q in vh.queues.values())
    parts = {"binary": min(bodies, rss), "code": min(code, rss)}
    parts["other_proc"] = max(0, rss - parts["binary"] - parts["code"])
    return dict(sorted(parts.items(), key=lambda kv: -kv[1]))


def _render_memory(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    total = sum(result.values()) or 1
    unit = args.get("unit") or "gb"
    scale = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}
    if _json(ctx):
        ctx["out"].write(dumps({k: {"bytes": v, "percentage": round(100 * v / total, 2)}
                                for k, v in result.items()}) + "\n")
        return 0
    for k, v in result.items():
        ctx["out"].write(f"{k}: {round(v / scale[unit], 4)} {unit} ({round(100 * v / total, 2)}%)\n")
    ctx["out"].write("\n")
    return 0


@command("memory_breakdown", tool="rabbitmq-diagnostics", group="Monitoring, observability and health checks",
         summary="Provides a memory usage breakdown on the target node", render=_render_memory,
         usage="[--unit <unit>]",
         arguments=lambda p: p.add_argument("--unit", choices=("b", "kb", "kib", "mb", "mib", "gb", "gib"),
                                            type=str.lower, default="gb"),
         banner=lambda a, c: f"Reporting memory breakdown on node {c['node']}...")
def memory_breakdown(ctx: Context, args: dict[str, Any]) -> dict[str, int]:
    return _memory(ctx)


# -- consistent_hash_exchange_ring_state -----------------------------------------------------------------
RING_NOT_FOUND = "Exchange does not exist or is of a different type"
RING_LISTED_MAX = 1_000_000  # buckets: a weight is only a number to amqpd, but the listing has a line each


def _render_ring(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    buckets = [(i, kind, name) for start, end, kind, name in result for i in range(start, end)]
    if _json(ctx):
        ctx["out"].write(dumps({
            # keys in text order, as the plugin's JSON has them
            "buckets": dict(sorted((str(i), name) for i, _kind, name in buckets)), "exchange": args["exchange"],
            "message": f"Consistent hashing ring state for exchange '{args['exchange']}' in vhost '{ctx['vhost']}'",
            "node": ctx["node"], "result": "ok"}) + "\n")
        return 0
    # sorted as text, as the plugin sorts its lines: "Ring index: 10" comes before "Ring index: 2"
    lines = sorted(f"Ring index: {i}, {kind}: '{name}'\n" for i, kind, name in buckets)
    ctx["out"].write("".join(lines) + "\n")
    return 0


@command("consistent_hash_exchange_ring_state", tool="rabbitmq-diagnostics",
         group="Consistent Hash Exchange plugin", summary="Displays consistent hashing exchange ring state",
         usage="[--vhost <vhost>] <exchange>", vhost_scoped=True, render=_render_ring, **_spec(("exchange",)),
         banner=lambda a, c: (f"Inspecting consistent hashing ring state for exchange {a['exchange']} in virtual "
                              f"host '{c['vhost']}'..."))
def ring_state(ctx: Context, args: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    """Each destination's buckets as (first, last + 1, queue or exchange, name)."""
    from ...exchanges.consistent_hash import ConsistentHashExchange

    vh = ctx.ops.vhosts.get(ctx.vhost)
    ex = vh.exchanges.get(args["exchange"]) if vh is not None else None
    if not isinstance(ex, ConsistentHashExchange):
        raise AccessError(EX_DATAERR, f"Error:\n{RING_NOT_FOUND}", RING_NOT_FOUND)
    ends, owners = ex.ring()
    if ends and ends[-1] > RING_LISTED_MAX:
        raise CtlError(EX_SOFTWARE, f"Error:\nthe ring has {ends[-1]} buckets; amqpctl lists at most {RING_LISTED_MAX}")
    starts = [0, *ends[:-1]]
    return [(start, end, "exchange" if d.is_exchange else "queue", d.name)
            for start, end, d in zip(starts, ends, owners, strict=True)]


# -- set_disk_free_limit ---------------------------------------------------------------------------------
def _disk_limit_args(p: Any) -> None:
    p.add_argument("limit")
    p.add_argument("fraction", nargs="?")


def _prepare_disk_limit(args: dict[str, Any]) -> None:
    """rabbitmqctl's two forms: a size (50000000, 50MB, 1GiB) or `mem_relative <fraction>`."""
    from ...config import ConfigError, _byte_size, _Invalid

    bad = CtlError(65, "Error (argument validation): Bad argument.")
    if args["limit"] == "mem_relative":
        try:
            fraction = float(args["fraction"] or "")
        except ValueError:
            raise bad from None
        if not fraction >= 0:
            raise bad
        args["relative"] = fraction
        return
    if args["fraction"] is not None:
        raise bad
    try:
        args["bytes"] = _byte_size(args["limit"])
    except (_Invalid, ConfigError):
        raise bad from None


def _disk_limit_banner(a: dict[str, Any], c: dict[str, Any]) -> str:
    if a["limit"] == "mem_relative":
        return f"Setting disk free limit on {c['node']} to {a['fraction']} times the total RAM ..."
    return f"Setting disk free limit on {c['node']} to {a['limit']} bytes ..."


def _done(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if _json(ctx):
        ctx["out"].write(dumps({"node": ctx["node"], "result": "ok"}) + "\n")
    return 0


@command("set_disk_free_limit", tool="rabbitmqctl", group="Configuration and Environment",
         summary="Sets the disk_free_limit setting (until the broker restarts)", arguments=_disk_limit_args,
         usage="<disk_limit> | mem_relative <fraction>", prepare=_prepare_disk_limit, render=_done,
         banner=_disk_limit_banner, extra={"changes": True})
def set_disk_free_limit(ctx: Context, args: dict[str, Any]) -> None:
    from ...memory import total_memory

    limit = int(args["relative"] * total_memory()) if "relative" in args else args["bytes"]
    ctx.broker.disk.set_limit(limit)
