"""Delayed messages (x-delayed-message exchanges): kept in the store until due, then routed.

One schedule for the whole broker. Keys of the store's "delayed" family are the due time (ms) and a
sequence number, so the next message due is the first key and a million waiting messages cost the store,
not the Python heap: memory holds a count per exchange and the next due time. A delayed message is
written with the store's group-committed batch, so its publisher's confirm waits for the disk as for any
persistent message; it is routed, when due, from what is on disk (a batch not yet synced is picked up
when it is), and the routing and the removal of its record go into the same batch as the enqueue, so a
crash between them neither loses nor duplicates a persistent message. Messages that were transient, or
whose exchange was not durable, are dropped at the next start, as the plugin drops them.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from .message import Message
from .protocol.properties import decode_properties, encode_header, parse_header
from .router import route
from .store.records import decode_message, encode_message

_KEY = struct.Struct(">QQ")  # due (ms since the epoch), sequence
_HEAD = struct.Struct(">BIB")  # flags, delay (ms), vhost name length
PERSISTENT, DURABLE, QUEUE = 1, 2, 4  # flags: a persistent message, a durable target, a queue (a retry)
ROUTE_BATCH = 512  # messages routed per loop turn at most
_MAX_WAIT = 4294967295  # ms: the longest delay
END = b"\xff" * 16


class Delays:
    def __init__(self, store: Any, vhosts: dict[str, Any], log: Any) -> None:
        self.store = store
        self.vhosts = vhosts
        self.log = log
        self.seq = 0
        self.counts: dict[tuple[str, str], int] = {}  # (vhost, exchange) -> messages waiting
        self.queue_counts: dict[tuple[str, str], int] = {}  # (vhost, queue) -> retries waiting
        self.last: Any = None  # the message the last publish delayed: its confirm waits for the batch
        self.next_due: int | None = None  # ms
        self._timer: Any = None
        self._timer_due = 0
        # targets deleted while messages waited for them: (kind, vhost, name) -> when (ms). What was
        # delayed before is dropped when due, even if something of that name was declared since.
        self.gone: dict[tuple[int, str, str], int] = {}
        self._routed: set[bytes] = set()  # routed, their removal not yet on disk: not to route twice
        self._routed_in: list[tuple[int, bytes]] = []

    # -- delaying -----------------------------------------------------------------------------------
    def delay(self, ex: Any, msg: Any, delay: int) -> None:
        """An x-delayed-message exchange routes msg when due."""
        if self.last is msg:  # CC/BCC: the router asks once per routing key; one delayed copy routes them all
            return
        self.last = msg
        self._put(0, ex.vhost_name, ex.name, ex.durable, msg, delay)

    def delay_to_queue(self, queue: Any, msg: Any, delay: int) -> None:
        """A retry (amqpd/retry.py): msg goes back into queue when due."""
        self._put(QUEUE, queue.vhost.name, queue.name, queue.durable and queue.exclusive_owner is None, msg, delay)

    def _put(self, kind: int, vhost_name: str, name: str, durable: bool, msg: Any, delay: int) -> None:
        due = int(time.time() * 1000) + delay
        self.seq += 1
        vhost = vhost_name.encode()
        flags = (PERSISTENT if msg.persistent else 0) | (DURABLE if durable else 0) | kind
        target = name.encode()
        header, body = msg.content()
        value = b"".join((_HEAD.pack(flags, delay, len(vhost)), vhost, bytes((len(target),)), target,
                          encode_message(msg.exchange, msg.routing_key, header, body, msg.routing_keys)))
        self.store.put("delayed", _KEY.pack(due, self.seq), value)
        self.store.sync_waiters.add(self)
        counts = self._counts(kind)
        counts[(vhost_name, name)] = counts.get((vhost_name, name), 0) + 1
        if self.next_due is None or due < self.next_due:
            self.next_due = due

    def forget(self, kind: int, vhost: str, name: str) -> None:
        """A delayed exchange (kind 0) or a queue (QUEUE) was deleted: what waits for it goes with it."""
        counts = self._counts(kind)
        if counts.pop((vhost, name), None):
            now = int(time.time() * 1000)
            self.gone[(kind, vhost, name)] = now
            if len(self.gone) > 1000:  # nothing waits longer than the longest delay
                self.gone = {k: t for k, t in self.gone.items() if t > now - _MAX_WAIT}

    def _counts(self, flags: int) -> dict[tuple[str, str], int]:
        """Messages waiting per target: per queue for retries (QUEUE in flags), else per delayed exchange."""
        return self.queue_counts if flags & QUEUE else self.counts

    def count(self, vhost: str, exchange: str) -> int:
        return self.counts.get((vhost, exchange), 0)

    def retrying(self, vhost: str, queue: str) -> int:
        return self.queue_counts.get((vhost, queue), 0)

    # -- the schedule -------------------------------------------------------------------------------
    def synced(self, number: int, ok: bool) -> None:
        """A batch reached the disk: what it held can be routed when due, and what it removed is gone."""
        if self._routed_in:
            keep = [(b, k) for b, k in self._routed_in if b > number]
            for b, k in self._routed_in:
                if b <= number:
                    self._routed.discard(k)
            self._routed_in = keep
        self._arm()

    def _arm(self) -> None:
        due = self.next_due
        if due is None:
            return
        if self._timer is not None:
            if self._timer_due <= due:
                return
            self._timer.cancel()  # something is due earlier than what the timer waits for
        loop = self.store.loop
        delay = max(0.0, due / 1000 - time.time())
        self._timer_due = due
        self._timer = loop.call_at(loop.time() + delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = int(time.time() * 1000)
        rows = self.store.scan("delayed", b"", _KEY.pack(now + 1, 0), ROUTE_BATCH + len(self._routed))
        routed = 0
        for key, value in rows:
            if key in self._routed:
                continue
            self._route(key, value)
            routed += 1
            if routed >= ROUTE_BATCH:
                break
        if routed >= ROUTE_BATCH:
            self.next_due = now  # more are due: go on next loop turn
        else:
            self.next_due = self._first_due()
        self._arm()

    def _first_due(self) -> int | None:
        for key, _ in self.store.scan("delayed", b"", END, len(self._routed) + 1):
            if key not in self._routed:
                return _KEY.unpack(key)[0]
        return None

    def _route(self, key: bytes, value: bytes) -> None:
        flags, delay, n = _HEAD.unpack_from(value)
        pos = _HEAD.size
        vhost = value[pos:pos + n].decode()
        pos += n
        m = value[pos]
        name = value[pos + 1:pos + 1 + m].decode()
        exchange, rk, header, body, keys = decode_message(value[pos + 1 + m:])
        batch = self.store.delete("delayed", key)
        self._routed.add(key)
        self._routed_in.append((batch, key))
        deleted = self.gone.get((flags & QUEUE, vhost, name)) if self.gone else None
        if deleted is not None and _KEY.unpack(key)[0] - delay <= deleted:
            return  # delayed for a target that has been deleted since (and maybe declared again)
        counts = self._counts(flags)
        left = counts.get((vhost, name), 1) - 1
        if left > 0:
            counts[(vhost, name)] = left
        else:
            counts.pop((vhost, name), None)
        vh = self.vhosts.get(vhost)
        if flags & QUEUE:
            q = vh.queues.get(name) if vh is not None else None
            if q is not None and not q.deleted:
                msg = Message(exchange, rk, header, body, parse_header(header)[3])
                msg.routing_keys = keys
                q.enqueue(msg)
            return
        ex = vh.exchanges.get(name) if vh is not None else None
        if ex is None or not getattr(ex, "delays_messages", False):
            return  # the exchange went while the message waited: dropped, as the plugin drops it
        msg = _due_message(exchange, rk, header, body, delay)
        msg.routing_keys = keys
        queues = route(vh.exchanges, ex, keys if keys else rk, msg)
        for q in queues:
            q.enqueue(msg)
        if queues:
            ex.n_out += 1

    # -- start --------------------------------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """At start: keep what a durable exchange delayed for a persistent message, drop the rest."""
        kept = dropped = 0
        start = b""
        while True:
            rows = self.store.scan("delayed", start, END, 10_000)
            for key, value in rows:
                flags, _delay, n = _HEAD.unpack_from(value)
                pos = _HEAD.size
                vhost = value[pos:pos + n].decode()
                m = value[pos + n]
                name = value[pos + n + 1:pos + n + 1 + m].decode()
                vh = self.vhosts.get(vhost)
                targets = (vh.queues if flags & QUEUE else vh.exchanges) if vh is not None else {}
                if flags & (PERSISTENT | DURABLE) != PERSISTENT | DURABLE or name not in targets:
                    self.store.delete("delayed", key)
                    dropped += 1
                    continue
                kept += 1
                counts = self._counts(flags)
                counts[(vhost, name)] = counts.get((vhost, name), 0) + 1
                self.seq = max(self.seq, _KEY.unpack(key)[1])
            if len(rows) < 10_000:
                break
            start = rows[-1][0] + b"\0"
        self.next_due = self._first_due()
        self._arm()
        return {"delayed": kept, "delayed_dropped": dropped}


def _due_message(exchange: str, rk: str, header: bytes, body: bytes, delay: int) -> Message:
    """The message as it is routed when due: x-delay is minus the delay (the plugin's way of marking it
    delayed, which also keeps it from being delayed again)."""
    props = decode_properties(header)
    headers = dict(props.headers or {})
    headers["x-delay"] = -delay
    props.headers = headers
    header = encode_header(len(body), props)
    msg = Message(exchange, rk, header, body, parse_header(header)[3])
    return msg
