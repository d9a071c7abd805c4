"""Rates: every collect_statistics_interval ms, read the counters and divide the differences by time.

Each sampled object keeps its previous reading and its rates in two attributes (_st_prev, _st_rates),
so a deleted object takes them with it and the sampler holds no per-object table that could outgrow the
broker. Vhost and node readings live here, keyed by vhost name; the node also keeps a bounded history
(HISTORY samples) for the `msg_rates_age` / `lengths_age` queries and charts.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from .contents import Contents, scan_ready
from .counters import CHANNEL_FIELDS, CHURN_FIELDS, channel_counts, exchange_counts, queue_counts
from .history import Histories
from .node import GAUGES, gauges

HISTORY = 720  # node samples kept: an hour at the default 5 s interval


def update(obj: Any, counts: tuple[int, ...], now: float) -> None:
    """Record a reading on obj and derive per-second rates from the previous one."""
    prev = getattr(obj, "_st_prev", None)
    if prev is None or now <= prev[0]:
        rates: tuple[float, ...] = (0.0,) * len(counts)
    else:
        dt = now - prev[0]
        rates = tuple(round((c - p) / dt, 1) for c, p in zip(counts, prev[1], strict=True))
    obj._st_prev = (now, counts)
    obj._st_rates = rates


def track_idle(obj: Any, counts: tuple[int, ...]) -> None:
    """Before update(): an object whose counts did not move since the last reading is idle since then
    (RabbitMQ's idle_since; epoch seconds here, views.idle_text renders it)."""
    prev = getattr(obj, "_st_prev", None)
    if prev is None:
        return  # a new object: idle since it was made (its constructor says so), until it moves
    if prev[1] == counts:
        if obj.idle_since is None:
            obj.idle_since = time.time()
    else:
        obj.idle_since = None


def rates_of(obj: Any, n: int) -> tuple[float, ...]:
    rates = getattr(obj, "_st_rates", None)
    return rates if rates is not None and len(rates) == n else (0.0,) * n


def depth(q: Any) -> tuple[int, int, int]:
    ready = q.message_count
    return ready + q.unacked, ready, q.unacked


class Reading:
    """A vhost's or the node's previous reading and rates (they have no object of their own here)."""

    __slots__ = ("_st_prev", "_st_rates")

    def __init__(self) -> None:
        self._st_prev: Any = None
        self._st_rates: Any = None


class Sampler:
    def __init__(self, broker: Any, interval_ms: int) -> None:
        self.broker = broker
        self.interval = max(interval_ms, 100) / 1000
        self.vhosts: dict[str, Reading] = {}
        self.node = Reading()
        # (timestamp ms, channel totals + queue depth totals) per sample, oldest first
        self.history: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=HISTORY)
        self.queue_history = Histories(getattr(broker, "store", None))  # per queue, 24 h (history.py)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.sample()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.sample()
            except Exception:  # a sampling bug must not stop the broker; the next tick tries again
                self.broker.log.exception("statistics sampling failed")

    # -- one reading of everything ------------------------------------------------------------------
    def sample(self) -> None:
        now = time.monotonic()
        broker = self.broker
        stats = broker.ops.stats
        vhosts = broker.ops.vhosts
        by_vhost: dict[str, list[Any]] = {name: [] for name in vhosts}
        octets: dict[str, list[int]] = {name: [0, 0] for name in vhosts}
        channels: list[Any] = []
        held: dict[int, Contents] = {}  # queue id -> its unacknowledged messages, from the channels
        for conn in list(broker.connections):
            vh = conn.vhost
            update(conn, (conn.recv_oct, conn.send_oct), now)
            if vh is None or vh.name not in by_vhost:
                continue
            o = octets[vh.name]
            o[0] += conn.recv_oct
            o[1] += conn.send_oct
            for ch in conn.channels.values():
                for entry, _consumer in ch.unacked.values():
                    contents = held.get(id(entry.queue))
                    if contents is None:
                        contents = held[id(entry.queue)] = Contents()
                    contents.add_unacked(entry.msg)
                counts = channel_counts(ch)
                track_idle(ch, counts)
                update(ch, counts, now)
                by_vhost[vh.name].append(ch)
                channels.append(ch)
        node_depth = [0, 0, 0]
        wall = time.time()
        histories = self.queue_history
        for name, vh in vhosts.items():
            vh_depth = [0, 0, 0]
            for q in vh.queues.values():
                q._st_contents = scan_ready(q, held.get(id(q)) or Contents())
                d = depth(q)
                counts = queue_counts(q) + d
                track_idle(q, counts)
                update(q, counts, now)
                histories.record(q, name, wall, d, q._st_rates, broker.log)
                vh_depth = [a + b for a, b in zip(vh_depth, d, strict=True)]
            for ex in vh.exchanges.values():
                update(ex, exchange_counts(ex), now)
            totals = stats.vhost_channel_totals(vh, by_vhost[name])
            reading = self.vhosts.get(name)
            if reading is None:
                reading = self.vhosts[name] = Reading()
            c = vh.counters
            update(reading, (*totals, *vh_depth, c.recv_oct + octets[name][0], c.send_oct + octets[name][1]),
                   now)
            node_depth = [a + b for a, b in zip(node_depth, vh_depth, strict=True)]
        histories.sweep()
        for gone in set(self.vhosts) - set(vhosts):
            del self.vhosts[gone]
        node_totals = stats.node_channel_totals(list(vhosts.values()), channels)
        churn = stats.churn(list(vhosts.values()))
        reading_counts = (*node_totals, *node_depth, *churn.values(), *gauges(broker))
        update(self.node, reading_counts, now)
        self.history.append((int(time.time() * 1000), (*node_totals, *node_depth)))

    # -- what the views read ------------------------------------------------------------------------
    def vhost_rates(self, name: str) -> tuple[float, ...]:
        reading = self.vhosts.get(name)
        return rates_of(reading, len(CHANNEL_FIELDS) + 5) if reading is not None else \
            (0.0,) * (len(CHANNEL_FIELDS) + 5)

    def node_rates(self) -> tuple[float, ...]:
        return rates_of(self.node, len(CHANNEL_FIELDS) + 3 + len(CHURN_FIELDS) + len(GAUGES))
