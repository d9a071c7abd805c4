"""prometheus_client collectors that read the broker's live objects at scrape time.

Nothing here runs per message: the hot path only bumps the plain int counters amqpd/stats describes,
and a scrape reads them with one pass over connections, channels, queues and exchanges (no walk over
messages). Aggregated counters that RabbitMQ sums over live channels are read from the node totals
here (closed channels and connections included), so they never go backwards and rate() stays right
when a client disconnects.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import os
import resource
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, UnknownMetricFamily

from ...connection import RABBITMQ_VERSION
from ...memory import memory_limit, rss_bytes
from ...stats import contents
from ...stats.counters import CHANNEL_FIELDS, channel_counts, queue_counts
from ...stats.node import disk_free, fd_used
from ..api.app import node_name
from ..api.connections import conn_name
from ..api.overview import cluster_name, disk_free_limit, process_started_at
from . import families as F
from .families import Family

Row = tuple[tuple[str, ...], tuple[Any, ...]]  # (label values, one value per metric; None: no sample)
_KINDS = {F.G: GaugeMetricFamily, F.C: CounterMetricFamily, F.U: UnknownMetricFamily}
_FIELD = {name: i for i, name in enumerate(CHANNEL_FIELDS)}
# channel_queue_metrics' order: get_ack, get (auto), delivered_ack, delivered (auto), redelivered, acked, get_empty
_CHANNEL_QUEUE = tuple(_FIELD[k] for k in ("get", "get_no_ack", "deliver", "deliver_no_ack", "redeliver", "ack",
                                            "get_empty"))
_CHANNEL_EXCHANGE = tuple(_FIELD[k] for k in ("publish", "confirm", "return_unroutable", "drop_unroutable"))
PROCESSES_LIMIT = 1048576  # what /api/nodes reports as proc_total
NET_TICKTIME = 60


def _client_version() -> str:
    try:
        return metadata.version("prometheus-client")
    except metadata.PackageNotFoundError:
        return "unknown"


PROMETHEUS_CLIENT_VERSION = _client_version()


def fd_limit() -> int:
    """As /api/nodes' fd_total and sockets_total."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return limit if limit != resource.RLIM_INFINITY else 1048576


def permanent_id(broker: Any) -> str:
    """RabbitMQ's internal_cluster_id global parameter when there is one (an imported RabbitMQ export
    brings it); otherwise one in its format derived from the node and its data dir, so it stays the same
    across restarts without amqpd writing anything."""
    value = broker.ops.global_parameters.get("internal_cluster_id")
    if isinstance(value, str) and value:
        return value
    seed = f"{node_name()}:{os.path.abspath(broker.config.data_dir)}".encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(seed).digest()[:16]).decode().rstrip("=")
    return "rabbitmq-cluster-id-" + digest


class Monotonic:
    """Highest value reported per key: a count that can drop back (a channel closing with messages still
    unconfirmed) must not look like a counter reset to Prometheus."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}

    def __call__(self, key: str, value: float) -> float:
        value = max(self.seen.get(key, 0), value)
        self.seen[key] = value
        return value


class Scrape:
    """One scrape's view of the broker: the live objects, read once, and each family's rows on demand."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.stats = broker.ops.stats
        self.vhosts = dict(broker.ops.vhosts)
        self.conns = [(c, conn_name(c)) for c in list(broker.connections) if getattr(c, "vhost", None) is not None]
        self.channels = [(ch, f"{name} ({ch.id})") for c, name in self.conns for ch in list(c.channels.values())]
        self._counts: list[tuple[int, ...]] | None = None
        self._node_totals: list[int] | None = None

    # -- shared readings ----------------------------------------------------------------------------
    def counts(self) -> list[tuple[int, ...]]:
        """channel_counts of each live channel, in self.channels' order."""
        if self._counts is None:
            self._counts = [channel_counts(ch) for ch, _ in self.channels]
        return self._counts

    def node_totals(self) -> list[int]:
        """Channel counters of the node, closed channels and deleted vhosts included."""
        if self._node_totals is None:
            self._node_totals = self.stats.node_channel_totals(list(self.vhosts.values()),
                                                               [ch for ch, _ in self.channels])
        return self._node_totals

    def selected(self, vhosts: Iterable[str] | None) -> list[Any]:
        if vhosts is None:
            return list(self.vhosts.values())
        return [self.vhosts[n] for n in dict.fromkeys(vhosts) if n in self.vhosts]  # ?vhost=a&vhost=a: once

    def rows(self, family: Family, vhosts: Iterable[str] | None = None) -> list[Row]:
        return getattr(self, "_" + family.id)(vhosts if family.vhost_filtered else None)

    def summed(self, family: Family, rows: list[Row]) -> Sequence[Any]:
        """The one sample per metric of the aggregated /metrics."""
        if family is F.CHANNEL_EXCHANGE:
            totals = self.node_totals()
            return [totals[i] for i in _CHANNEL_EXCHANGE]
        if family is F.CHANNEL_QUEUE:
            totals = self.node_totals()
            return [totals[i] for i in _CHANNEL_QUEUE]
        if family is F.CONNECTION_COARSE:
            gone = self.stats.gone
            recv = gone.recv_oct + sum(vh.counters.recv_oct for vh in self.vhosts.values())
            send = gone.send_oct + sum(vh.counters.send_oct for vh in self.vhosts.values())
            return [recv + sum(c.recv_oct for c, _ in self.conns), send + sum(c.send_oct for c, _ in self.conns)]
        return [sum(values[i] or 0 for _, values in rows) for i in range(len(family.metrics))]

    # -- node ---------------------------------------------------------------------------------------
    def _connection_churn_metrics(self, _: Any) -> list[Row]:
        churn = self.stats.churn(list(self.vhosts.values()))
        return [((), (churn["connection_created"], churn["connection_closed"], churn["channel_created"],
                      churn["channel_closed"], churn["queue_declared"], churn["queue_created"],
                      churn["queue_deleted"]))]

    def _node_coarse_metrics(self, _: Any) -> list[Row]:
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # no running loop
            tasks = 0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        gc_runs = sum(generation["collections"] for generation in gc.get_stats())
        return [((), (fd_used(), len(self.broker.connections), rss_bytes(), disk_free(self.broker.config.data_dir),
                      tasks, gc_runs, usage.ru_nvcsw + usage.ru_nivcsw))]

    def _node_metrics(self, _: Any) -> list[Row]:
        limit = fd_limit()
        uptime = max(0.0, time.time() - process_started_at())
        return [((), (limit, limit, memory_limit(self.broker.config), disk_free_limit(self.broker), PROCESSES_LIMIT, 0,
                      NET_TICKTIME, round(uptime, 3)))]

    def _node_persister_metrics(self, _: Any) -> list[Row]:
        store = self.broker.store
        return [((), (getattr(store, "disk_reads", 0), getattr(store, "disk_writes", 0)))]

    def _auth_attempt_metrics(self, _: Any) -> list[Row]:
        attempts, failed = self.stats.auth_attempts, self.stats.auth_failed
        return [((F.PROTOCOL,), (attempts, attempts - failed, failed))]

    def _auth_attempt_detailed_metrics(self, _: Any) -> list[Row]:
        return []

    # -- queues -------------------------------------------------------------------------------------
    def _queue_coarse_metrics(self, vhosts: Any) -> list[Row]:
        out = []
        for vh in self.selected(vhosts):
            for q in list(vh.queues.values()):
                ready, unacked = q.message_count, q.unacked
                out.append(((vh.name, q.name), (ready, unacked, ready + unacked)))
        return out

    def _queue_metrics(self, vhosts: Any) -> list[Row]:
        out = []
        for vh in self.selected(vhosts):
            for q in list(vh.queues.values()):
                consumers = len(q.consumers)
                # as /api/queues reports them: amqpd does not measure consumer utilisation over time
                capacity = 1.0 if consumers else 0
                if q.stream:  # records are in the store, none counted as in memory
                    size = q.log.bytes
                    f = {"messages_ram": 0, "message_bytes_ram": 0, "messages_persistent": q.message_count,
                         "message_bytes_persistent": size, "message_bytes": size, "message_bytes_unacknowledged": 0,
                         "messages_ready_ram": 0}
                else:
                    f = contents.queue_fields(q, getattr(q, "_st_contents", None))
                ready_ram = f.get("messages_ready_ram", q.message_count)
                out.append(((vh.name, q.name), (
                    consumers, capacity, capacity, q.ready.bytes, f["messages_ram"], f["message_bytes_ram"],
                    ready_ram, f["messages_ram"] - ready_ram, f["messages_persistent"],
                    f["message_bytes_persistent"], f["message_bytes"], f["message_bytes_unacknowledged"],
                    f.get("messages_paged_out", 0), f.get("message_bytes_paged_out", 0),
                    f.get("head_message_timestamp"))))
        return out

    def _queue_consumer_count(self, vhosts: Any) -> list[Row]:
        return [((vh.name, q.name), (len(q.consumers),))
                for vh in self.selected(vhosts) for q in list(vh.queues.values())]

    def _channel_queue_exchange_metrics(self, _: Any) -> list[Row]:
        out = []
        for vh in self.vhosts.values():
            for q in list(vh.queues.values()):
                published = queue_counts(q)[0]
                if published:  # RabbitMQ has a row once something was published to the queue
                    out.append(((vh.name, q.name), (published,)))
        return out

    # -- channels and connections -------------------------------------------------------------------
    def _channel_metrics(self, _: Any) -> list[Row]:
        out = []
        for ch, name in self.channels:
            unconfirmed = max(0, ch.publish_seq - ch._confirmed_upto) if ch.confirm else 0
            out.append(((name,), (len(ch.consumers), ch.unacked_count, unconfirmed, len(ch.tx_publishes),
                                  len(ch.tx_acks), ch.prefetch_default, ch.prefetch_global)))
        return out

    def _by_channel(self, fields: tuple[int, ...]) -> list[Row]:
        out = []
        for (ch, name), counts in zip(self.channels, self.counts(), strict=True):
            values = tuple(counts[i] for i in fields)
            if any(values):  # RabbitMQ has a row once the channel published (or consumed, got)
                out.append(((name, ch.conn.vhost.name), values))
        return out

    def _channel_exchange_metrics(self, _: Any) -> list[Row]:
        return self._by_channel(_CHANNEL_EXCHANGE)

    def _channel_queue_metrics(self, _: Any) -> list[Row]:
        return self._by_channel(_CHANNEL_QUEUE)

    def _connection_coarse_metrics(self, _: Any) -> list[Row]:
        return [((name,), (c.recv_oct, c.send_oct)) for c, name in self.conns]

    def _connection_metrics(self, _: Any) -> list[Row]:
        # recv_cnt/send_cnt count socket reads and flushed writes, RabbitMQ's packets; nothing is
        # reported pending (as /api/connections' send_pend)
        return [((name,), (c.recv_cnt, c.send_cnt, 0, len(c.channels))) for c, name in self.conns]

    # -- cluster-wide -------------------------------------------------------------------------------
    def _vhost_status(self, _: Any) -> list[Row]:
        return [((name,), (1,)) for name in self.vhosts]

    def _exchanges(self, vhosts: Any) -> Iterator[tuple[Any, Any]]:
        for vh in self.selected(vhosts):
            for ex in list(vh.exchanges.values()):
                if ex.name and not ex.internal:  # as RabbitMQ: neither the default exchange nor internal ones
                    yield vh, ex

    def _exchange_bindings(self, vhosts: Any) -> list[Row]:
        return [((vh.name, ex.name, ex.type_name), (len(ex.bindings),)) for vh, ex in self._exchanges(vhosts)]

    def _exchange_names(self, vhosts: Any) -> list[Row]:
        return [((vh.name, ex.name, ex.type_name), (1,)) for vh, ex in self._exchanges(vhosts)]

    # -- node-wide figures without a family ---------------------------------------------------------
    def global_counts(self, monotonic: Monotonic) -> dict[str, float]:
        t = dict(zip(CHANNEL_FIELDS, self.node_totals(), strict=True))
        out: dict[str, float] = {k: t[k] for k in ("ack", "confirm", "deliver", "deliver_no_ack", "get", "get_no_ack",
                                                   "get_empty", "redeliver", "return_unroutable",
                                                   "drop_unroutable", "publish")}
        out["delivered"] = t["deliver"] + t["deliver_no_ack"] + t["get"] + t["get_no_ack"]
        out["routed"] = t["publish"] - t["return_unroutable"] - t["drop_unroutable"]
        unconfirmed = sum(max(0, ch.publish_seq - ch._confirmed_upto) for ch, _ in self.channels if ch.confirm)
        out["received_confirm"] = t["confirm"] + unconfirmed
        out.update(self.stats.dead_lettered(list(self.vhosts.values())))
        out = {k: monotonic(k, v) for k, v in out.items()}
        out["consumers"] = sum(len(ch.consumers) for ch, _ in self.channels)
        out["publishers"] = sum(1 for ch, _ in self.channels if ch.n_publish)
        return out

    def object_totals(self) -> tuple[int, int, int, int]:
        return (len(self.conns), len(self.channels), sum(len(ch.consumers) for ch, _ in self.channels),
                sum(len(vh.queues) for vh in self.vhosts.values()))

    def alarms(self) -> tuple[int, int, int]:
        # no file descriptor alarm: running out is logged (amqpd/fdlimit.py), accepting resumes on its own
        return 0, int(bool(self.broker.disk_alarm)), int(bool(self.broker.memory_alarm))


def age_metric(broker: Any) -> Metric:
    from ...stats.history import oldest_ready_age

    name, kind, help_text = F.QUEUE_AGE
    metric = new_metric("amqpd_" + name, kind, help_text, ("vhost", "queue"))
    now = time.time()
    for vh in list(broker.ops.vhosts.values()):
        for q in list(vh.queues.values()):
            hist = getattr(q, "_history", None)
            if hist is not None:
                metric.add_metric([vh.name, q.name], oldest_ready_age(q, hist, now))
    return metric


def stream_metrics(broker: Any) -> Iterator[Metric]:
    rows = []
    for vh in list(broker.ops.vhosts.values()):
        for q in list(vh.queues.values()):
            if q.stream:
                st = q.status()
                lag = max((r["lag"] for r in st["readers"]), default=0)
                rows.append(([vh.name, q.name], (st["messages"], st["bytes"], st["first_offset"], st["last_offset"],
                                                  st["segments"], len(st["readers"]), lag)))
    for i, (name, kind, help_text) in enumerate(F.STREAMS):
        metric = new_metric("amqpd_" + name, kind, help_text, ("vhost", "queue"))
        for labels, values in rows:
            metric.add_metric(labels, values[i])
        yield metric


# -- rendering ----------------------------------------------------------------------------------------
def new_metric(name: str, kind: str, help_text: str, labels: Sequence[str] = ()) -> Metric:
    return _KINDS[kind](name, help_text, labels=list(labels))


def render(family: Family, prefix: str, rows: list[Row], summed: Sequence[Any] | None = None) -> Iterator[Metric]:
    """The family's metrics: one sample per row, or (summed given) one unlabelled sample each."""
    labels: Sequence[str] = family.labels
    if summed is not None:
        labels, rows = (), [((), tuple(summed))]
    for i, (name, kind, help_text) in enumerate(family.metrics):
        metric = new_metric(prefix + name, kind, help_text, labels)
        if summed is None or name not in family.not_summed:
            for label_values, values in rows:
                if values[i] is not None:
                    metric.add_metric(list(label_values), values[i])
        yield metric


def info_metrics(broker: Any, prefix: str = "rabbitmq_") -> Iterator[Metric]:
    build = new_metric(prefix + F.BUILD_INFO[0], F.BUILD_INFO[1], F.BUILD_INFO[2], F.BUILD_INFO_LABELS)
    # the versions /api/overview reports: the RabbitMQ release amqpd follows, and Python for Erlang
    build.add_metric([RABBITMQ_VERSION, RABBITMQ_VERSION, PROMETHEUS_CLIENT_VERSION,
                      f"Python {sys.version.split()[0]}"], 1)
    yield build
    identity = new_metric(prefix + F.IDENTITY_INFO[0], F.IDENTITY_INFO[1], F.IDENTITY_INFO[2],
                          F.IDENTITY_INFO_LABELS)
    identity.add_metric([node_name(), cluster_name(broker), permanent_id(broker)], 1)
    yield identity


class RabbitCollector:
    """/metrics (sums, or per object with prometheus.return_per_object_metrics) and /metrics/per-object."""

    def __init__(self, broker: Any, per_object: bool, monotonic: Monotonic) -> None:
        self.broker = broker
        self.per_object = per_object
        self.monotonic = monotonic

    def collect(self) -> Iterator[Metric]:
        scrape = Scrape(self.broker)
        # RabbitMQ 3.10 answers the alarms in its default registry only, not in the per-object one
        for (name, kind, help_text), value in zip(F.ALARMS, scrape.alarms() if not self.per_object else (), strict=False):
            metric = new_metric("rabbitmq_" + name, kind, help_text)
            metric.add_metric([], value)
            yield metric
        for family in F.CORE:
            rows = scrape.rows(family)
            summed = scrape.summed(family, rows) if family.per_object and not self.per_object else None
            yield from render(family, "rabbitmq_", rows, summed)
        for (name, kind, help_text), value in zip(F.OBJECT_TOTALS, scrape.object_totals(), strict=True):
            metric = new_metric("rabbitmq_" + name, kind, help_text)
            metric.add_metric([], value)
            yield metric
        yield from info_metrics(self.broker)
        counts = scrape.global_counts(self.monotonic)
        for (name, kind, help_text), labels, rows in F.GLOBAL:
            metric = new_metric("rabbitmq_" + name, kind, help_text, labels)
            for label_values, key in rows:
                metric.add_metric(list(label_values), counts[key] if key is not None else 0)
            yield metric
        if not self.per_object:
            (name, kind, help_text), = F.AMQPD
            metric = new_metric("amqpd_" + name, kind, help_text)
            metric.add_metric([], getattr(self.broker.store, "write_errors", 0))
            yield metric
            yield from stream_metrics(self.broker)
            yield age_metric(self.broker)


class DetailedCollector:
    """/metrics/detailed?family=...&vhost=...: the families asked for (unknown ones ignored), per object,
    queue and exchange families limited to the vhosts given."""

    def __init__(self, broker: Any, families: Iterable[str], vhosts: Iterable[str] | None) -> None:
        self.broker = broker
        wanted = set(families)
        self.families = [f for fid, f in F.DETAILED.items() if fid in wanted]
        self.vhosts = list(vhosts) if vhosts is not None else None

    def collect(self) -> Iterator[Metric]:
        scrape = Scrape(self.broker)
        for family in self.families:
            prefix = "rabbitmq_" if family.cluster else "rabbitmq_detailed_"
            yield from render(family, prefix, scrape.rows(family, self.vhosts))
        yield from info_metrics(self.broker)
