"""One stream's log: offsets handed out in order, records in the store, segments, retention.

Every record goes to RocksDB in the store's group-committed batches and becomes readable once its batch
is on disk (`committed`), so a reader never sees an offset a crash could take back, and offsets are never
reused. A record is stored with its content header already carrying x-stream-offset, so serving a reader
is a key-range read and nothing is re-encoded per delivery. The newest records also stay in memory
(`tail`, bounded in bytes) for readers that keep up; older ones are read from the store a chunk at a
time, so memory does not grow with the stream's length.

Segments are ranges of offsets, summarised in the store (first, last, bytes, count, first and last
timestamp): retention (x-max-length-bytes, x-max-age) drops whole segments, oldest first, when a new
segment starts, as RabbitMQ's osiris does.
"""

from __future__ import annotations

import bisect
import struct
import time
from collections.abc import Callable
from typing import Any

from ..protocol.methods import exchange_rk_tail
from ..protocol.properties import add_long_header, decode_properties, encode_header, parse_header
from ..store import keys
from ..store.records import decode_message, encode_message

TAIL_BYTES = 16 * 1024 * 1024  # newest records kept in memory for readers that keep up
READ_CHUNK = 512  # records per store read for a reader behind the tail
DEFAULT_SEGMENT_BYTES = 500_000_000  # RabbitMQ's x-stream-max-segment-size-bytes default
_TS = struct.Struct(">Q")
_SEGMENT = struct.Struct(">QQQQQ")  # last offset, bytes, count, first and last timestamp (ms)
OFFSET_FIELD = b"\x0fx-stream-offset"
RECORD_OVERHEAD = 17  # the record's key


class Record:
    """A stored message as readers get it: quacks like message.Message for Consumer.deliver."""

    __slots__ = ("offset", "ts", "exchange", "routing_key", "header_payload", "body", "body_size", "_tail",
                 "persistent", "ttl", "id", "routing_keys", "filter")

    def __init__(self, offset: int, ts: int, exchange: str, routing_key: str, header: bytes, body: bytes,
                 filter_value: str | None = None) -> None:
        self.offset = offset
        self.filter = filter_value  # the x-stream-filter-value header it was published with
        self.ts = ts  # ms since the epoch, when the stream took it
        self.exchange = exchange
        self.routing_key = routing_key
        self.header_payload = header
        self.body = body
        self.body_size = len(body)
        self._tail: bytes | None = None
        self.persistent = True
        self.ttl = None
        self.id = 0
        self.routing_keys = None

    @property
    def tail(self) -> bytes:
        tail = self._tail
        if tail is None:
            tail = self._tail = exchange_rk_tail(self.exchange, self.routing_key)
        return tail

    def content(self) -> tuple[bytes, bytes]:
        return self.header_payload, self.body

    @property
    def priority(self) -> int:
        return 0


def _without_offset_header(header: bytes, body_size: int) -> tuple[bytes, Any]:
    decoded = decode_properties(header)
    headers = dict(decoded.headers or {})
    headers.pop("x-stream-offset", None)
    decoded.headers = headers or None
    header = encode_header(body_size, decoded)
    return header, parse_header(header)[3]


class Segment:
    __slots__ = ("first", "last", "bytes", "count", "first_ts", "last_ts")

    def __init__(self, first: int, ts: int) -> None:
        self.first, self.last, self.bytes, self.count = first, first - 1, 0, 0
        self.first_ts = self.last_ts = ts

    def encode(self) -> bytes:
        return _SEGMENT.pack(self.last, self.bytes, self.count, self.first_ts, self.last_ts)

    @classmethod
    def decode(cls, first: int, raw: bytes) -> Segment:
        s = cls(first, 0)
        s.last, s.bytes, s.count, s.first_ts, s.last_ts = _SEGMENT.unpack(raw)
        return s


class StreamLog:
    def __init__(self, store: Any, stream_id: int, segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.sid = stream_id
        self.segment_bytes = segment_bytes
        self.clock = clock
        self.segments: list[Segment] = []
        self.next_offset = 0
        self.committed = 0  # offsets below are on disk and readable
        self.last_chunk = 0  # first offset of the last batch written together (RabbitMQ's "last" chunk)
        self._pending: list[list[int]] = []  # [batch number, first offset, end offset] not yet synced
        self.tail: list[Record] = []
        self._tail_bytes = 0
        self.bytes = 0
        self.count = 0
        self.max_bytes: int | None = None
        self.max_age: int | None = None  # seconds
        self.on_commit: Callable[[], None] | None = None
        self._summary_due = False
        # named readers (x-stream-reader): the last offset each acknowledged, kept in the store
        self.reader_offsets: dict[str, int] = {}
        self._readers_due: set[str] = set()
        self.closed = False  # the stream was deleted: nothing more may be written for it

    # -- recovery ---------------------------------------------------------------------------------
    def recover(self) -> None:
        start, end = keys.stream_range(self.sid, keys.STREAM_SEGMENT)
        while True:
            rows = self.store.scan("streams", start, end, 1024)
            for key, raw in rows:
                self.segments.append(Segment.decode(keys.stream_key_number(key), raw))
            if len(rows) < 1024:
                break
            start = rows[-1][0] + b"\0"
        lo, hi = keys.stream_range(self.sid, keys.STREAM_READER)
        for key, raw in self.store.scan("streams", lo, hi, 1 << 20):
            self.reader_offsets[key[9:].decode()] = _TS.unpack(raw)[0]
        self.bytes = sum(s.bytes for s in self.segments)
        self.count = sum(s.count for s in self.segments)
        if self.segments:
            last = self.segments[-1]
            self.next_offset = self.committed = last.last + 1
            self.last_chunk = max(last.first, last.last)

    # -- appending --------------------------------------------------------------------------------
    def append(self, exchange: str, routing_key: str, header: bytes, props: Any, body: bytes,
               routing_keys: list[str] | None, filter_value: str | None = None) -> int:
        offset = self.next_offset
        self.next_offset = offset + 1
        ts = int(self.clock() * 1000)
        span = props.headers_span
        if span is not None and OFFSET_FIELD in header[span[0]:span[1]]:
            header, props = _without_offset_header(header, len(body))  # the real offset replaces the client's
        header = add_long_header(header, props, OFFSET_FIELD, offset)
        seg = self.segments[-1] if self.segments else None
        if seg is None or (seg.count and seg.bytes >= self.segment_bytes):
            if seg is not None:  # its final summary (before_commit writes only the open segment's)
                self.store.put("streams", keys.stream_key(self.sid, keys.STREAM_SEGMENT, seg.first), seg.encode())
            seg = Segment(offset, ts)
            self.segments.append(seg)
            self.enforce_retention()
        fv = filter_value.encode()[:255] if filter_value is not None else b""
        value = b"".join((_TS.pack(ts), bytes((len(fv) + 1 if filter_value is not None else 0,)), fv,
                          encode_message(exchange, routing_key, header, body, routing_keys)))
        # sizes count what is stored (properties and routing too), as RabbitMQ's segment files do
        size = len(value) + RECORD_OVERHEAD
        seg.last, seg.last_ts = offset, ts
        seg.bytes += size
        seg.count += 1
        self.bytes += size
        self.count += 1
        batch = self.store.put("streams", keys.stream_key(self.sid, keys.STREAM_RECORD, offset), value)
        pending = self._pending
        if pending and pending[-1][0] == batch:
            pending[-1][2] = offset + 1
        else:
            pending.append([batch, offset, offset + 1])
            self.store.sync_waiters.add(self)
        if not self._summary_due:
            self._summary_due = True
            self.store.precommit.add(self)
        rec = Record(offset, ts, exchange, routing_key, header, body, filter_value)
        self.tail.append(rec)
        self._tail_bytes += len(body) + 64
        if self._tail_bytes > TAIL_BYTES:
            self._trim_tail()
        return offset

    def before_commit(self) -> None:
        """The store is about to write its batch: the open segment's summary goes with the records."""
        self._summary_due = False
        if self.closed:
            return
        if self.segments:
            seg = self.segments[-1]
            self.store.put("streams", keys.stream_key(self.sid, keys.STREAM_SEGMENT, seg.first), seg.encode())
        for name in self._readers_due:
            self.store.put("streams", keys.stream_reader_key(self.sid, name), _TS.pack(self.reader_offsets[name]))
        self._readers_due.clear()

    def reader_acked(self, name: str, offset: int) -> None:
        """A named reader acknowledged an offset: remembered, written with the next batch (one write per
        batch however many acks)."""
        if offset > self.reader_offsets.get(name, -1) and not self.closed:
            self.reader_offsets[name] = offset
            self._readers_due.add(name)
            if not self._summary_due:
                self._summary_due = True
                self.store.precommit.add(self)
            self.store.touch()

    def synced(self, number: int, ok: bool) -> None:
        pending = self._pending
        done = 0
        for batch, first, end in pending:
            if batch > number:
                break
            done += 1
            if ok:
                self.committed = end
                self.last_chunk = first
            else:
                self._lost(first, end)
        del pending[:done]
        if pending:
            self.store.sync_waiters.add(self)
        if self.on_commit is not None:
            self.on_commit()

    def _lost(self, first: int, end: int) -> None:
        """A batch failed: its offsets are skipped (never reused), and readers will not see them."""
        self.tail = [r for r in self.tail if not first <= r.offset < end]
        self._tail_bytes = sum(r.body_size + 64 for r in self.tail)
        self.committed = end
        for seg in self.segments:
            if seg.first <= first <= seg.last or seg.first <= end - 1 <= seg.last:
                lost = min(end - 1, seg.last) - max(first, seg.first) + 1
                seg.count = max(0, seg.count - lost)
                self.count = max(0, self.count - lost)

    def _trim_tail(self) -> None:
        tail = self.tail
        drop = 0
        while self._tail_bytes > TAIL_BYTES // 2 and drop < len(tail):
            self._tail_bytes -= tail[drop].body_size + 64
            drop += 1
        del tail[:drop]

    # -- reading ----------------------------------------------------------------------------------
    @property
    def first_offset(self) -> int:
        return self.segments[0].first if self.segments else self.next_offset

    @property
    def last_offset(self) -> int:
        return self.committed - 1 if self.count else 0

    def read(self, start: int, limit: int) -> list[Record]:
        """Committed records from offset `start` on (skipping dropped ones), at most `limit`."""
        end = self.committed
        if start >= end:
            return []
        tail = self.tail
        if tail and start >= tail[0].offset:
            i = bisect.bisect_left(tail, start, key=lambda r: r.offset)
            out = tail[i:i + limit]
            return [r for r in out if r.offset < end]
        lo = keys.stream_key(self.sid, keys.STREAM_RECORD, start)
        hi = keys.stream_key(self.sid, keys.STREAM_RECORD, end)
        out = []
        for key, value in self.store.scan("streams", lo, hi, min(limit, READ_CHUNK)):
            n = value[8]
            fv = value[9 : 8 + n].decode() if n else None
            exchange, rk, header, body, _ = decode_message(value[9 + max(n - 1, 0):])
            out.append(Record(keys.stream_key_number(key), _TS.unpack_from(value)[0], exchange, rk, header, body, fv))
        return out

    def offset_at(self, ts_ms: int) -> int:
        """The first offset stored at or after a time (ms); the next offset when none is."""
        for seg in self.segments:
            if seg.last_ts < ts_ms or not seg.count:
                continue
            pos = seg.first
            while pos <= seg.last:
                rows = self.read(pos, READ_CHUNK)
                if not rows:
                    break
                for r in rows:
                    if r.ts >= ts_ms:
                        return r.offset
                pos = rows[-1].offset + 1
        return self.next_offset

    # -- retention --------------------------------------------------------------------------------
    def enforce_retention(self, now: float | None = None) -> int:
        """Drop whole segments, oldest first, while over max_bytes or older than max_age; the open
        segment is never dropped. Returns how many were."""
        segs = self.segments
        now_ms = int((self.clock() if now is None else now) * 1000)
        dropped = 0
        while len(segs) > 1:
            oldest = segs[0]
            too_big = self.max_bytes is not None and self.bytes > self.max_bytes
            too_old = self.max_age is not None and oldest.last_ts < now_ms - self.max_age * 1000
            if not (too_big or too_old):
                break
            segs.pop(0)
            self.bytes -= oldest.bytes
            self.count -= oldest.count
            self.store.delete_range("streams", keys.stream_key(self.sid, keys.STREAM_RECORD, oldest.first),
                                           keys.stream_key(self.sid, keys.STREAM_RECORD, oldest.last + 1))
            self.store.delete_range("streams", keys.stream_key(self.sid, keys.STREAM_SEGMENT, oldest.first),
                                           keys.stream_key(self.sid, keys.STREAM_SEGMENT, oldest.first + 1))
            dropped += 1
        if dropped and self.tail and self.tail[0].offset < self.first_offset:
            first = self.first_offset
            self.tail = [r for r in self.tail if r.offset >= first]
            self._tail_bytes = sum(r.body_size + 64 for r in self.tail)
        return dropped
