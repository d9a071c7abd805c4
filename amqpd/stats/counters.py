"""What the hot path counts, read into tuples; node and vhost totals that outlive channels.

Counts are plain int attributes of the objects the hot path already has in hand:
- Channel: n_publish, n_return, n_drop (unroutable returned / dropped), n_deliver (every consumer
  delivery), n_deliver_no_ack (those without acks), n_get, n_get_no_ack, n_get_empty, n_redeliver, n_ack;
  confirms are the channel's own confirm sequence (_confirmed_upto);
- Queue: n_deliver, n_deliver_no_ack, n_get, n_get_no_ack, n_get_empty, n_redeliver, n_ack; messages
  published into it are its sequence numbers (next_seq), less those it did not receive (seq_skip);
- Exchange: n_in, n_out (published to it; routed somewhere);
- Connection: recv_oct, send_oct, recv_cnt, send_cnt (per socket read / per write, not per frame).

A closed channel's counts move into its vhost's VhostCounters, a deleted vhost's into NodeStats, so the
totals RabbitMQ shows (and Prometheus' *_total counters) only ever grow.
"""

from __future__ import annotations

from typing import Any

CHANNEL_FIELDS = ("publish", "confirm", "return_unroutable", "drop_unroutable", "deliver", "deliver_no_ack",
                  "get", "get_no_ack", "get_empty", "redeliver", "ack")
QUEUE_FIELDS = ("publish", "deliver", "deliver_no_ack", "get", "get_no_ack", "get_empty", "redeliver", "ack")
EXCHANGE_FIELDS = ("publish_in", "publish_out")
CONNECTION_FIELDS = ("recv_oct", "send_oct")
DEAD_LETTER_REASONS = ("expired", "maxlen", "rejected", "delivery_limit")
CHURN_FIELDS = ("connection_created", "connection_closed", "channel_created", "channel_closed",
                "queue_declared", "queue_created", "queue_deleted")
_ZERO_CHANNEL = (0,) * len(CHANNEL_FIELDS)


def channel_counts(ch: Any) -> tuple[int, ...]:
    deliver = ch.n_deliver
    no_ack = ch.n_deliver_no_ack
    return (ch.n_publish, ch._confirmed_upto, ch.n_return, ch.n_drop, deliver - no_ack, no_ack, ch.n_get,
            ch.n_get_no_ack, ch.n_get_empty, ch.n_redeliver, ch.n_ack)


def queue_counts(q: Any) -> tuple[int, ...]:
    deliver = q.n_deliver
    no_ack = q.n_deliver_no_ack
    return (q.next_seq - 1 - q.seq_skip, deliver - no_ack, no_ack, q.n_get, q.n_get_no_ack, q.n_get_empty,
            q.n_redeliver, q.n_ack)


def exchange_counts(ex: Any) -> tuple[int, int]:
    return ex.n_in, ex.n_out


def add(a: tuple[int, ...] | list[int], b: tuple[int, ...]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


class VhostCounters:
    """A vhost's counts that no live object holds any more, and its churn."""

    __slots__ = ("closed_channels", "dead_lettered", "queue_declared", "queue_created", "queue_deleted",
                 "recv_oct", "send_oct")

    def __init__(self) -> None:
        self.closed_channels = list(_ZERO_CHANNEL)
        self.dead_lettered = dict.fromkeys(DEAD_LETTER_REASONS, 0)
        self.queue_declared = 0
        self.queue_created = 0
        self.queue_deleted = 0
        self.recv_oct = 0  # of closed connections
        self.send_oct = 0

    def count(self, field: str, n: int = 1) -> None:
        """What the management API did as a channel would have counted it (publish, get, ack...)."""
        if n:
            self.closed_channels[CHANNEL_FIELDS.index(field)] += n

    def channel_closed(self, ch: Any) -> None:
        self.closed_channels = add(self.closed_channels, channel_counts(ch))


class NodeStats:
    """Node-wide counters: churn, authentication attempts, and what deleted vhosts had counted."""

    def __init__(self) -> None:
        self.connection_created = 0
        self.connection_closed = 0
        self.channel_created = 0
        self.channel_closed = 0
        self.auth_attempts = 0
        self.auth_failed = 0
        self.gone = VhostCounters()  # folded in from deleted vhosts
        self.sampler: Any = None  # sampler.Sampler, once the broker runs

    def vhost_gone(self, vh: Any, live_channels: list[Any]) -> None:
        """vh is being deleted (its connections are already closed): keep what it counted."""
        c, g = vh.counters, self.gone
        g.closed_channels = add(g.closed_channels, self.vhost_channel_totals(vh, live_channels))
        for reason, n in c.dead_lettered.items():
            g.dead_lettered[reason] = g.dead_lettered.get(reason, 0) + n
        for key in ("queue_declared", "queue_created", "queue_deleted", "recv_oct", "send_oct"):
            setattr(g, key, getattr(g, key) + getattr(c, key))

    # -- totals -------------------------------------------------------------------------------------
    @staticmethod
    def vhost_channel_totals(vh: Any, channels: list[Any]) -> list[int]:
        """Channel counters of one vhost: its closed channels plus the live ones given."""
        total = list(vh.counters.closed_channels)
        for ch in channels:
            total = add(total, channel_counts(ch))
        return total

    def node_channel_totals(self, vhosts: list[Any], channels: list[Any]) -> list[int]:
        total = list(self.gone.closed_channels)
        for vh in vhosts:
            total = add(total, vh.counters.closed_channels)
        for ch in channels:
            total = add(total, channel_counts(ch))
        return total

    def churn(self, vhosts: list[Any]) -> dict[str, int]:
        out = {"connection_created": self.connection_created, "connection_closed": self.connection_closed,
               "channel_created": self.channel_created, "channel_closed": self.channel_closed}
        for key in ("queue_declared", "queue_created", "queue_deleted"):
            out[key] = getattr(self.gone, key) + sum(getattr(vh.counters, key) for vh in vhosts)
        return out

    def dead_lettered(self, vhosts: list[Any]) -> dict[str, int]:
        out = dict(self.gone.dead_lettered)
        for vh in vhosts:
            for reason, n in vh.counters.dead_lettered.items():
                out[reason] = out.get(reason, 0) + n
        return out
