"""Counters and rates in the management API's shapes (RabbitMQ 3.10, rates_mode basic).

RabbitMQ shows an object's message_stats only once something happened to it, and then by group: a
channel or vhost that published has publish/confirm/return_unroutable/drop_unroutable, one that
delivered has the deliver/get/ack group; a queue has `publish` once it received a message and the
deliver group once it gave one out; an exchange has publish_in/publish_out once published to. Every
count comes with `<key>_details: {"rate": per second}`. The overview shows every key, always.
"""

from __future__ import annotations

import time
from typing import Any

from . import counters
from .counters import CHANNEL_FIELDS, CHURN_FIELDS, EXCHANGE_FIELDS, QUEUE_FIELDS
from .node import GAUGES
from .sampler import rates_of

PUBLISH_GROUP = ("publish", "confirm", "return_unroutable", "drop_unroutable")
DELIVER_GROUP = ("deliver", "deliver_no_ack", "get", "get_no_ack", "get_empty", "redeliver", "ack")
DELIVER_GET = ("deliver", "deliver_no_ack", "get", "get_no_ack")
DEPTH_FIELDS = ("messages", "messages_ready", "messages_unacknowledged")


def idle_text(since: float | None) -> dict[str, str]:
    """{"idle_since": "2026-12-04T11:51:48.901+00:00"} (RabbitMQ's format), or {} when active."""
    if since is None:
        return {}
    whole = int(since)
    millis = int((since - whole) * 1000)
    return {"idle_since": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}+00:00"}


def _details(rate: float) -> dict[str, float]:
    return {"rate": rate}


def render(fields: tuple[str, ...], counts: Any, rates: Any, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """{key: count, key_details: {rate}} for the keys given (all fields by default), plus deliver_get."""
    values = dict(zip(fields, counts, strict=False))
    per_second = dict(zip(fields, rates, strict=False))
    out: dict[str, Any] = {}
    for key in sorted(keys if keys is not None else fields):
        out[key] = values[key]
        out[key + "_details"] = _details(per_second[key])
    if "deliver" in out:
        out["deliver_get"] = sum(values[k] for k in DELIVER_GET)
        out["deliver_get_details"] = _details(round(sum(per_second[k] for k in DELIVER_GET), 1))
    return dict(sorted(out.items()))


def _grouped(fields: tuple[str, ...], counts: Any, rates: Any) -> dict[str, Any]:
    values = dict(zip(fields, counts, strict=False))
    keys: tuple[str, ...] = ()
    if values.get("publish"):
        keys += tuple(k for k in PUBLISH_GROUP if k in values)
    if any(values.get(k) for k in DELIVER_GROUP):
        keys += tuple(k for k in DELIVER_GROUP if k in values)
    return render(fields, counts, rates, keys) if keys else {}


def channel_stats(ch: Any) -> dict[str, Any]:
    return _grouped(CHANNEL_FIELDS, counters.channel_counts(ch), rates_of(ch, len(CHANNEL_FIELDS)))


def queue_stats(q: Any) -> dict[str, Any]:
    """message_stats of a queue, and its depth rates (messages_details, ...)."""
    rates = rates_of(q, len(QUEUE_FIELDS) + 3)
    return _grouped(QUEUE_FIELDS, counters.queue_counts(q), rates[:len(QUEUE_FIELDS)])


def queue_depth_details(q: Any) -> dict[str, Any]:
    rates = rates_of(q, len(QUEUE_FIELDS) + 3)[len(QUEUE_FIELDS):]
    return {f + "_details": _details(r) for f, r in zip(DEPTH_FIELDS, rates, strict=True)}


def exchange_stats(ex: Any) -> dict[str, Any]:
    counts = counters.exchange_counts(ex)
    if not counts[0]:
        return {}
    return render(EXCHANGE_FIELDS, counts, rates_of(ex, len(EXCHANGE_FIELDS)))


def octet_details(conn: Any) -> dict[str, Any]:
    recv, send = rates_of(conn, 2)
    return {"recv_oct_details": _details(recv), "send_oct_details": _details(send)}


def vhost_stats(stats: Any, vh: Any, channels: list[Any]) -> dict[str, Any]:
    counts = stats.vhost_channel_totals(vh, channels)
    sampler = stats.sampler
    rates = sampler.vhost_rates(vh.name) if sampler is not None else (0.0,) * (len(CHANNEL_FIELDS) + 5)
    return _grouped(CHANNEL_FIELDS, counts, rates[:len(CHANNEL_FIELDS)])


def vhost_details(stats: Any, vh: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(depth rates, octet rates) of a vhost, as *_details."""
    sampler = stats.sampler
    rates = sampler.vhost_rates(vh.name) if sampler is not None else (0.0,) * (len(CHANNEL_FIELDS) + 5)
    tail = rates[len(CHANNEL_FIELDS):]
    depth = {f + "_details": _details(r) for f, r in zip(DEPTH_FIELDS, tail[:3], strict=True)}
    return depth, {"recv_oct_details": _details(tail[3]), "send_oct_details": _details(tail[4])}


def overview_stats(stats: Any, vhosts: list[Any], channels: list[Any], store: Any) -> dict[str, Any]:
    """Every key, always (as the overview shows them), with the node's rates; disk reads and writes of
    persistent message bodies from the store."""
    counts = stats.node_channel_totals(vhosts, channels)
    rates = node_rates(stats)
    out = render(CHANNEL_FIELDS, counts, rates[:len(CHANNEL_FIELDS)])
    out["disk_reads"] = getattr(store, "disk_reads", 0)
    out["disk_reads_details"] = _details(0.0)
    out["disk_writes"] = getattr(store, "disk_writes", 0)
    out["disk_writes_details"] = _details(0.0)
    return dict(sorted(out.items()))


def node_rates(stats: Any) -> tuple[float, ...]:
    sampler = stats.sampler
    n = len(CHANNEL_FIELDS) + 3 + len(CHURN_FIELDS) + len(GAUGES)
    return sampler.node_rates() if sampler is not None else (0.0,) * n


def queue_totals_details(stats: Any) -> dict[str, Any]:
    rates = node_rates(stats)[len(CHANNEL_FIELDS):len(CHANNEL_FIELDS) + 3]
    return {f + "_details": _details(r) for f, r in zip(DEPTH_FIELDS, rates, strict=True)}


def churn_rates(stats: Any, vhosts: list[Any]) -> dict[str, Any]:
    counts = stats.churn(vhosts)
    rates = node_rates(stats)[len(CHANNEL_FIELDS) + 3:len(CHANNEL_FIELDS) + 3 + len(CHURN_FIELDS)]
    out: dict[str, Any] = {}
    for key, rate in zip(CHURN_FIELDS, rates, strict=True):
        out[key] = counts[key]
        out[key + "_details"] = _details(rate)
    return dict(sorted(out.items()))


# -- history: ?msg_rates_age=&msg_rates_incr= and ?lengths_age=&lengths_incr= (the overview) ------------
NODE_HISTORY_FIELDS = (*CHANNEL_FIELDS, *DEPTH_FIELDS)


def readings(history: Any, age_s: int, incr_s: int, now_ms: int) -> list[tuple[int, tuple[int, ...]]]:
    """One reading per incr boundary over age, newest first: the last one taken at or before it (one
    backward walk over the history, whose timestamps only grow)."""
    incr_ms = incr_s * 1000
    at = now_ms // incr_ms * incr_ms
    out: list[tuple[int, tuple[int, ...]]] = []
    wanted = age_s // incr_s + 1
    for ts, values in reversed(history):
        while ts <= at and len(out) < wanted:
            out.append((at, values))
            at -= incr_ms
        if len(out) >= wanted:
            break
    return out


def _value(values: tuple[int, ...], index: int) -> int:
    if index >= 0:
        return values[index]
    return sum(values[CHANNEL_FIELDS.index(k)] for k in DELIVER_GET)


def add_history(doc: dict[str, Any], history: Any, age_s: int, incr_s: int, now_ms: int) -> None:
    """Extend every `<key>_details` of doc whose key the node history keeps with RabbitMQ's samples
    (newest first), avg_rate and avg."""
    points = readings(history, age_s, incr_s, now_ms)
    for key in list(doc):
        if not key.endswith("_details"):
            continue
        name = key[:-8]
        if name == "deliver_get":
            index = -1
        elif name in NODE_HISTORY_FIELDS:
            index = NODE_HISTORY_FIELDS.index(name)
        else:
            continue
        series = [{"sample": _value(values, index), "timestamp": at} for at, values in points]
        details = doc[key]
        details["samples"] = series
        if len(series) > 1:
            span = (series[0]["timestamp"] - series[-1]["timestamp"]) / 1000
            details["avg_rate"] = round((series[0]["sample"] - series[-1]["sample"]) / span, 1)
        else:
            details["avg_rate"] = 0.0
        details["avg"] = sum(p["sample"] for p in series) / len(series) if series else 0.0


def gauge_details(stats: Any) -> dict[str, Any]:
    """mem_used_details, fd_used_details, ... of the node: change per second."""
    rates = node_rates(stats)[-len(GAUGES):]
    return {g + "_details": _details(r) for g, r in zip(GAUGES, rates, strict=True)}
