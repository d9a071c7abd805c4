"""Queues own their ready messages and their consumers; channels own the unacked ones.

Dispatch is coalesced: anything that may let a message move (publish, ack, qos, consume, a consumer's
socket draining) only schedules one dispatch pass per queue per loop iteration, and that pass moves as
many messages as the consumers can take, so a burst of publishes read in one socket read becomes one
burst of deliveries in one socket write.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from .message import Message, PagedMessage, QEntry

if TYPE_CHECKING:
    from .channel import Channel

# Deliveries per dispatch pass before yielding to the loop, so a no-ack consumer cannot make one pass
# buffer an unbounded amount of output before the transport gets to push back.
DISPATCH_BATCH = 1024


class Consumer:
    __slots__ = ("tag", "channel", "queue", "no_ack", "exclusive", "prefetch", "unacked", "arguments",
                 "prefix")

    def __init__(self, tag: str, channel: Channel, queue: Queue, no_ack: bool, exclusive: bool,
                 prefetch: int, arguments: dict[str, Any], prefix: bytes) -> None:
        self.tag = tag
        self.channel = channel
        self.queue = queue
        self.no_ack = no_ack
        self.exclusive = exclusive
        self.prefetch = prefetch
        self.unacked = 0
        self.arguments = arguments
        self.prefix = prefix  # encoded basic.deliver start for this consumer tag

    def can_take(self) -> bool:
        ch = self.channel
        if not ch.conn.writable:
            return False
        if self.no_ack:
            return True
        if self.prefetch and self.unacked >= self.prefetch:
            return False
        return not (ch.prefetch_global and ch.unacked_count >= ch.prefetch_global)


class Queue:
    is_exchange = False

    def __init__(self, vhost: Any, name: str, durable: bool = False, exclusive_owner: Any = None,
                 auto_delete: bool = False, arguments: dict[str, Any] | None = None) -> None:
        self.vhost = vhost
        self.name = name
        self.durable = durable
        self.exclusive_owner = exclusive_owner  # the Connection for exclusive queues
        self.auto_delete = auto_delete
        self.arguments: dict[str, Any] = dict(arguments or {})
        self.ready: deque[QEntry] = deque()
        self.consumers: deque[Consumer] = deque()
        self.exclusive_consumer: Consumer | None = None
        self.unacked = 0
        self.next_seq = 1
        self.had_consumer = False
        self.deleted = False
        self._scheduled = False
        self._loop = asyncio.get_event_loop()
        # Only durable, non-exclusive queues write through to the store.
        self.store = vhost.store if durable and exclusive_owner is None else None
        self.store_id = 0
        self.page_threshold = getattr(vhost, "page_threshold", 0)

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    # -- publishing -------------------------------------------------------------------------------
    def enqueue(self, msg: Message) -> QEntry:
        entry = QEntry(msg, self.next_seq, self)
        self.next_seq += 1
        self.ready.append(entry)
        if self.store is not None and msg.persistent:
            self.store.add_message(self, entry)
            if self.page_threshold and len(self.ready) > self.page_threshold:
                entry.msg = PagedMessage.from_message(self.store, msg)
        if self.consumers and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.dispatch)
        return entry

    @property
    def message_count(self) -> int:
        return len(self.ready)

    # -- dispatch ---------------------------------------------------------------------------------
    def schedule_dispatch(self) -> None:
        if not self._scheduled and self.consumers and self.ready and not self.deleted:
            self._scheduled = True
            self._loop.call_soon(self.dispatch)

    def dispatch(self) -> None:
        self._scheduled = False
        ready = self.ready
        consumers = self.consumers
        budget = DISPATCH_BATCH
        while ready and consumers:
            if self.exclusive_consumer is not None:
                chosen = self.exclusive_consumer if self.exclusive_consumer.can_take() else None
            else:
                chosen = None
                for _ in range(len(consumers)):
                    c = consumers[0]
                    consumers.rotate(-1)
                    if c.can_take():
                        chosen = c
                        break
            if chosen is None:
                return
            entry = ready.popleft()
            chosen.channel.deliver(chosen, entry)
            budget -= 1
            if not budget:
                self.schedule_dispatch()
                return

    def take(self) -> QEntry | None:
        """basic.get: the next ready message."""
        return self.ready.popleft() if self.ready else None

    # -- settlement ---------------------------------------------------------------------------------
    def delivered(self, entry: QEntry, no_ack: bool) -> None:
        if no_ack:
            self._drop(entry)
        else:
            self.unacked += 1

    def settle(self, entry: QEntry) -> None:
        """An unacked delivery was acked (or rejected without requeue)."""
        self.unacked -= 1
        self._drop(entry)

    def _drop(self, entry: QEntry) -> None:
        if self.store is not None and entry.msg.persistent:
            self.store.remove_message(self, entry)

    def delivering(self, entry: QEntry) -> None:
        """First delivery of a stored message: record it so a restart marks it redelivered."""
        if self.store is not None and entry.msg.persistent and not entry.redelivered:
            self.store.mark_delivered(self, entry)

    def requeue(self, entries: list[QEntry]) -> None:
        """Return unacked entries to their original place in the queue, marked redelivered."""
        if self.deleted:
            for entry in entries:
                self._drop(entry)
            return
        ready = self.ready
        self.unacked -= len(entries)
        for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
            entry.redelivered = True
            if not ready or entry.seq < ready[0].seq:
                ready.appendleft(entry)
            else:
                ready.insert(_position(ready, entry.seq), entry)
        if self.store is not None:
            self.store.mark_redelivered(self, entries)
        self.schedule_dispatch()

    # -- consumers ----------------------------------------------------------------------------------
    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        if consumer.exclusive:
            self.exclusive_consumer = consumer
        self.had_consumer = True
        self.schedule_dispatch()

    def remove_consumer(self, consumer: Consumer) -> bool:
        """Remove; True when this was the last consumer of an auto-delete queue (caller deletes it)."""
        try:
            self.consumers.remove(consumer)
        except ValueError:
            return False
        if self.exclusive_consumer is consumer:
            self.exclusive_consumer = None
        return self.auto_delete and not self.consumers and self.had_consumer

    # -- admin --------------------------------------------------------------------------------------
    def purge(self) -> int:
        count = len(self.ready)
        if self.store is not None:
            for entry in self.ready:
                if entry.msg.persistent:
                    self.store.remove_message(self, entry)
        self.ready.clear()
        return count

    def is_unused(self) -> bool:
        return not self.consumers


def _position(ready: deque[QEntry], seq: int) -> int:
    lo, hi = 0, len(ready)
    while lo < hi:
        mid = (lo + hi) // 2
        if ready[mid].seq < seq:
            lo = mid + 1
        else:
            hi = mid
    return lo
