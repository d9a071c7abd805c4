"""A stream queue (x-queue-type: stream): an append-only log that consumers read from an offset of their
choice. Reading removes nothing; an ack only gives the consumer credit back. Each consumer is a reader
with its own position; the log (streams/log.py) owns the records.

It is a Queue to everything around it (router, channels, API, stats, policies), so only what differs is
here: enqueue appends, dispatch walks each reader forward, and the ready list stays empty.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from ..message import QEntry
from ..queue import DISPATCH_BATCH, Queue
from ..store import keys
from . import offsets
from .log import DEFAULT_SEGMENT_BYTES, READ_CHUNK, StreamLog

FILTER_HEADER = b"\x15x-stream-filter-value"


class Reader:
    __slots__ = ("consumer", "position", "buffer", "name", "filters", "unfiltered")

    def __init__(self, consumer: Any, position: int, name: str | None, filters: frozenset[str] | None,
                 unfiltered: bool) -> None:
        self.consumer = consumer
        self.position = position  # the next offset to deliver
        self.buffer: deque[Any] = deque()  # records read ahead from the store
        self.name = name  # x-stream-reader: the broker remembers what it acknowledged
        self.filters = filters  # x-stream-filter: only records published with one of these values
        self.unfiltered = unfiltered  # x-stream-match-unfiltered: and records published without one


class StreamEntry(QEntry):
    """A delivery from a stream: which reader it went to, so an ack can move that reader's mark."""

    __slots__ = ("reader",)


class StreamQueue(Queue):
    stream = True

    def __init__(self, vhost: Any, name: str, durable: bool = True, exclusive_owner: Any = None,
                 auto_delete: bool = False, arguments: dict[str, Any] | None = None) -> None:
        self.log_: StreamLog | None = None
        super().__init__(vhost, name, durable, exclusive_owner, auto_delete, arguments)
        self.store = None  # records go through the log, not the classic message store
        self.readers: dict[int, Reader] = {}
        self._turn = 0  # the reader a dispatch pass starts with goes round

    def __repr__(self) -> str:
        return f"<StreamQueue {self.name!r}>"

    @property
    def log(self) -> StreamLog:
        """Made on first use: the store id is known only once the queue record is written."""
        log = self.log_
        if log is None:
            size = self.arguments.get("x-stream-max-segment-size-bytes")
            log = self.log_ = StreamLog(self.vhost.store, self.store_id,
                                        size if isinstance(size, int) and size > 0 else DEFAULT_SEGMENT_BYTES)
            log.on_commit = self.schedule_dispatch
            self._retention_settings()
        return log

    # -- settings ---------------------------------------------------------------------------------
    def _use(self, settings: Any) -> None:
        super()._use(settings)
        if self.log_ is not None:
            self._retention_settings()

    def _retention_settings(self) -> None:
        """x-max-length-bytes / x-max-age, or the max-length-bytes / max-age of a policy; the smaller
        wins, as for the other queue types."""
        log = self.log_
        log.max_bytes = self.settings.max_length_bytes
        ages = [offsets.parse_age(v) for v in (self.arguments.get("x-max-age"),
                                                self.settings.effective_definition.get("max-age"))]
        ages = [a for a in ages if a is not None]
        log.max_age = min(ages) if ages else None

    def apply_settings(self, settings: Any) -> None:
        """A policy changed: only the retention keys apply to a stream (policy.UNSUPPORTED_POLICIES)."""
        self._use(settings)

    def _bind_enqueue(self) -> None:
        """A stream has one way in: enqueue below (no TTL, overflow or priorities)."""

    # -- publishing -------------------------------------------------------------------------------
    def enqueue(self, msg: Any) -> Any:
        fv = None
        if msg.headers_mention(FILTER_HEADER):  # a bytes search first: most messages carry no filter value
            value = (msg.headers or {}).get("x-stream-filter-value")
            fv = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            fv = fv if isinstance(fv, str) else None
        self.log.append(msg.exchange, msg.routing_key, msg.header_payload, msg.props, msg.body, msg.routing_keys,
                        fv)
        return True  # not None: accepted (there is no queue entry to hand back)

    @property
    def message_count(self) -> int:
        return self.log.count

    def page_out(self, budget: int) -> int:
        return 0  # records live in the store already; the tail in memory is bounded by the log

    # -- reading ----------------------------------------------------------------------------------
    def schedule_dispatch(self) -> None:
        if not self._scheduled and self.readers and not self.deleted:
            self._scheduled = True
            self._loop.call_soon(self.dispatch)

    def dispatch(self) -> None:
        """Each reader gets an equal share of the pass, and the pass starts with a different reader each
        time: readers that get credit back quickly cannot keep the others waiting."""
        self._scheduled = False
        log = self.log
        end = log.committed
        readers = list(self.readers.values())
        if not readers:
            return
        self._turn = turn = (self._turn + 1) % len(readers)
        share = max(DISPATCH_BATCH // len(readers), 64)
        more = False
        for reader in readers[turn:] + readers[:turn]:
            consumer = reader.consumer
            can_take, deliver, buffer = consumer.can_take, consumer.deliver, reader.buffer
            filters = reader.filters
            budget = share
            while budget and reader.position < end and can_take():
                if not buffer:
                    if reader.position < log.first_offset:  # behind retention: the first kept offset
                        reader.position = log.first_offset
                    buffer.extend(log.read(reader.position, READ_CHUNK))
                    if not buffer:
                        break
                rec = buffer.popleft()
                reader.position = rec.offset + 1
                budget -= 1
                if filters is not None and not (rec.filter in filters or (rec.filter is None and reader.unfiltered)):
                    continue
                entry = StreamEntry(rec, rec.offset, self)
                entry.reader = reader
                deliver(entry)
            if not budget:
                more = True
        if more:
            self.schedule_dispatch()

    def start_offset(self, spec: Any) -> int:
        log = self.log
        start = offsets.parse_start(spec, time.time())
        if start.kind == "first":
            return log.first_offset
        if start.kind == "last":
            return log.last_chunk if log.count else log.next_offset
        if start.kind == "next":
            return log.next_offset
        if start.kind == "offset":
            # past the end: the reader waits until the stream gets there, as RabbitMQ 3.10's does
            return max(int(start.value), log.first_offset)
        return log.offset_at(int(start.value * 1000))

    # -- settlement: an ack gives credit back, nothing is removed ----------------------------------
    def delivered(self, entry: QEntry, no_ack: bool) -> None:
        if not no_ack:
            self.unacked += 1

    def settle(self, entry: QEntry) -> None:
        self.unacked -= 1
        self.n_ack += 1
        self._processed(entry)

    def reject(self, entries: list[QEntry]) -> None:
        self.unacked -= len(entries)
        for entry in entries:
            self._processed(entry)

    def _processed(self, entry: Any) -> None:
        name = entry.reader.name
        if name is not None:
            self.log.reader_acked(name, entry.seq)

    def requeue(self, entries: list[QEntry], consumer_gone: bool = False) -> None:
        self.unacked -= len(entries)
        self.schedule_dispatch()

    def delivering(self, entry: QEntry) -> None:
        pass

    # -- consumers ----------------------------------------------------------------------------------
    def add_consumer(self, consumer: Any) -> None:
        args = consumer.arguments
        name = args.get("x-stream-reader")
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        acked = self.log.reader_offsets.get(name) if isinstance(name, str) else None
        # a named reader the broker knows resumes after what it acknowledged; x-stream-offset is where
        # it starts the first time
        start = acked + 1 if acked is not None else self.start_offset(args.get("x-stream-offset"))
        filters = args.get("x-stream-filter")
        if filters is not None:
            filters = frozenset(v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                                for v in (filters if isinstance(filters, list) else [filters]))
        self.readers[id(consumer)] = Reader(consumer, max(start, self.log.first_offset),
                                            name if isinstance(name, str) else None, filters,
                                            args.get("x-stream-match-unfiltered") is True)
        super().add_consumer(consumer)

    def remove_consumer(self, consumer: Any) -> bool:
        self.readers.pop(id(consumer), None)
        return super().remove_consumer(consumer)

    # -- admin --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What amqpd shows of a stream beyond RabbitMQ's queue fields: offsets, size, segments and
        each reader's position and lag (messages between it and the end)."""
        log = self.log
        end = log.committed
        readers = []
        for r in self.readers.values():
            c = r.consumer
            readers.append({"consumer_tag": c.tag, "reader": r.name, "offset": r.position,
                            "lag": max(0, end - max(r.position, log.first_offset)),
                            "filter": sorted(r.filters) if r.filters is not None else None})
        return {"first_offset": log.first_offset, "last_offset": log.last_offset, "next_offset": log.next_offset,
                "messages": log.count, "bytes": log.bytes, "segments": len(log.segments),
                "max_length_bytes": log.max_bytes, "max_age_seconds": log.max_age,
                "segment_size_bytes": log.segment_bytes, "readers": readers,
                "tracked_readers": dict(sorted(log.reader_offsets.items()))}

    def purge(self) -> int:
        """Called by deletion: the stream's records, segments and readers go with it."""
        count = self.log.count if self.log_ is not None or self.store_id else 0
        if self.deleted and self.store_id:
            self.log.closed = True
            self.vhost.store.drop_range("streams", *keys.stream_all(self.store_id))
        return count

    def recovered(self) -> None:
        self.log.recover()
