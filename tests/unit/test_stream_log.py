"""amqpd.streams.log on a real RocksDB store with a controllable clock: offsets, commit before reading,
segments, retention by bytes and by age (whole segments, oldest first, never the open one), readers
behind retention, recovery after a reopen, and the x-stream-offset header in every record."""

from __future__ import annotations

import asyncio

import pytest
from pamqp import commands

from amqpd.log import get_logger
from amqpd.protocol.properties import decode_properties, encode_header, parse_header
from amqpd.store.rocks import RocksStore
from amqpd.streams import offsets
from amqpd.streams.log import StreamLog


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def header(body: bytes, **props) -> tuple[bytes, object]:
    payload = encode_header(len(body), commands.Basic.Properties(**props))
    return payload, parse_header(payload)[3]


def append(log: StreamLog, body: bytes, **props) -> int:
    payload, parsed = header(body, **props)
    return log.append("ex", "rk", payload, parsed, body, None)


def synced(store: RocksStore) -> None:
    """Run the loop until the store has written everything it was given."""
    async def wait() -> None:
        while store._ops or store._in_flight or store._scheduled:
            await asyncio.sleep(0.001)
    store.loop.run_until_complete(wait())


def record_size(store: RocksStore, body: bytes) -> int:
    """What one record with this body counts for (sizes include properties and routing, as RabbitMQ's)."""
    scratch = StreamLog(store, 999, clock=Clock())
    append(scratch, body)
    return scratch.bytes


@pytest.fixture
def store(tmp_path):
    loop = asyncio.new_event_loop()
    s = RocksStore(tmp_path / "data", get_logger(component="store"))
    s.attach(loop)
    yield s
    s.close()
    loop.close()


def test_offsets_are_readable_once_committed_and_carry_the_header(store):
    log = StreamLog(store, 7, clock=Clock())
    assert [append(log, b"m%d" % i, headers={"k": "v"}, delivery_mode=2) for i in range(3)] == [0, 1, 2]
    assert log.read(0, 10) == []  # nothing is on disk yet: a reader must not see it
    synced(store)
    recs = log.read(0, 10)
    assert [r.offset for r in recs] == [0, 1, 2] and [r.body for r in recs] == [b"m0", b"m1", b"m2"]
    props = decode_properties(recs[2].header_payload)
    assert props.headers == {"k": "v", "x-stream-offset": 2} and props.delivery_mode == 2
    assert (log.first_offset, log.last_offset, log.count) == (0, 2, 3)
    assert log.last_chunk == 0  # the three went to disk in one batch: RabbitMQ's last chunk starts at 0


def test_reads_come_from_the_store_when_the_tail_no_longer_holds_them(store, monkeypatch):
    monkeypatch.setattr("amqpd.streams.log.TAIL_BYTES", 1000)
    log = StreamLog(store, 1, clock=Clock())
    for i in range(100):
        append(log, b"x" * 50 + b"%d" % i)
    synced(store)
    assert log.tail[0].offset > 0  # trimmed
    recs = log.read(0, 1000)
    assert len(recs) == 100 and recs[0].body.endswith(b"0") and recs[99].offset == 99


def test_retention_by_bytes_drops_whole_oldest_segments(store):
    size = record_size(store, b"y" * 100)
    log = StreamLog(store, 2, segment_bytes=10 * size, clock=Clock())
    log.max_bytes = 25 * size
    for _ in range(60):  # a new segment every 10 messages
        append(log, b"y" * 100)
    synced(store)
    assert log.bytes <= (25 + 10) * size  # the open segment may go past until the next roll
    first = log.first_offset
    assert first > 0 and first % 10 == 0
    assert [r.offset for r in log.read(0, 3)] == [first, first + 1, first + 2]  # dropped ones are gone
    assert log.next_offset == 60  # offsets are never reused
    assert log.count == 60 - log.first_offset


def test_retention_by_age_with_a_controlled_clock(store):
    clock = Clock()
    size = record_size(store, b"z" * 100)
    log = StreamLog(store, 3, segment_bytes=3 * size, clock=clock)
    log.max_age = offsets.parse_age("1h")
    for _ in range(6):
        append(log, b"z" * 100)  # two segments of three
    clock.now += 2 * 3600
    assert log.enforce_retention() == 1  # the closed old segment goes; the open one stays however old
    append(log, b"z" * 100)  # rolls a new segment: the now old open one goes too
    synced(store)
    assert log.first_offset == 6 and log.count == 1


def test_recover_after_reopen(tmp_path):
    loop = asyncio.new_event_loop()
    s = RocksStore(tmp_path / "data", get_logger())
    s.attach(loop)
    size = record_size(s, b"." * 100)
    log = StreamLog(s, 9, segment_bytes=2 * size, clock=Clock())
    for i in range(10):
        append(log, b"%03d" % i + b"." * 97)
    synced(s)
    s.close()
    s = RocksStore(tmp_path / "data", get_logger())
    s.attach(loop)
    again = StreamLog(s, 9, segment_bytes=2 * size, clock=Clock())
    again.recover()
    assert (again.first_offset, again.next_offset, again.count, again.bytes) == (0, 10, 10, 10 * size)
    assert len(again.segments) == 5
    assert [r.offset for r in again.read(3, 3)] == [3, 4, 5]
    assert append(again, b"next") == 10
    s.close()
    loop.close()


def test_offset_at_a_time(store):
    clock = Clock()
    log = StreamLog(store, 4, clock=clock)
    for _ in range(5):
        append(log, b"a")
        clock.now += 10
    synced(store)
    t0 = 1_700_000_000.0
    assert log.offset_at(int((t0 + 25) * 1000)) == 3
    assert log.offset_at(int((t0 - 1) * 1000)) == 0
    assert log.offset_at(int((t0 + 1000) * 1000)) == 5


@pytest.mark.parametrize(("text", "seconds"), [("7D", 7 * 86400), ("12h", 43200), ("30m", 1800), ("90s", 90),
                                               ("1Y", 365 * 86400), ("2M", 60 * 86400)])
def test_parse_age(text, seconds):
    assert offsets.parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1", "1d", "1H", " 1h", "1h ", "-1h", "1.5h", 12])
def test_parse_age_refuses(text):
    assert offsets.parse_age(text) is None


def test_parse_start():
    assert offsets.parse_start(None, 0).kind == "next"
    assert offsets.parse_start("first", 0).kind == "first"
    assert offsets.parse_start(5, 0) == offsets.Start("offset", 5)
    assert offsets.parse_start(-3, 0) == offsets.Start("offset", 0)
    assert offsets.parse_start("1h", 10_000) == offsets.Start("timestamp", 10_000 - 3600)
    for bad in ("bogus", True, 1.5, {"a": 1}):
        with pytest.raises(ValueError):
            offsets.parse_start(bad, 0)
