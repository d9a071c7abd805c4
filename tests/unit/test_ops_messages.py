"""amqpd.ops.messages on real queues, exchanges and a real RocksDB store, without a server: where popped
messages go back, an exchange that routes into the source, and that a move's writes share one batch."""

from __future__ import annotations

import asyncio

import pytest
from pamqp import commands

from amqpd.log import get_logger
from amqpd.message import Message
from amqpd.ops.errors import BadRequest, Missing, NotFound
from amqpd.ops.messages import MessageOps
from amqpd.protocol.properties import encode_header, parse_header
from amqpd.store import keys
from amqpd.store.rocks import RocksStore
from amqpd.vhost import VHost


class Ops(MessageOps):
    log = get_logger(component="test")


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def store(tmp_path, loop):
    s = RocksStore(tmp_path, get_logger(component="store"))
    s.attach(loop)
    yield s
    s.close()


def message(body: str, rk: str = "k", **props) -> Message:
    header = encode_header(len(body), commands.Basic.Properties(**props))
    return Message("", rk, header, body.encode(), parse_header(header)[3])


def declare(vh: VHost, name: str, durable: bool = False, **arguments):
    return vh.declare_queue(name, None, False, durable, False, False, arguments)


def payloads(q) -> list[bytes]:
    return [e.msg.content()[1] for e in q.ready]


def settle(loop) -> None:
    loop.run_until_complete(asyncio.sleep(0.05))


def test_quorum_returns_go_back_in_front(loop, store):
    vh = VHost("v", store)
    src = declare(vh, "src", True, **{"x-queue-type": "quorum"})
    declare(vh, "dst")
    for i in range(4):
        src.enqueue(message(f"m{i}", headers={"t": "x" if i % 2 else "y"}))
    taken = [src.take(), src.take()]  # m0, m1 delivered, then returned (consumer gone): served first
    for e in taken:
        src.delivered(e, False)
    src.requeue(taken, consumer_gone=True)
    assert payloads(src) == [b"m0", b"m1", b"m2", b"m3"]
    result = Ops().move_messages(vh, "src", "dst", "queue", count=1, match_headers={"t": "x"})
    assert result.moved == 1
    assert payloads(src) == [b"m0", b"m2", b"m3"]  # m0 is still a return, in front
    assert [e.returned > 0 for e in src.ready] == [True, False, False]
    assert payloads(vh.queues["dst"]) == [b"m1"]
    settle(loop)


def test_priority_queue_moves_in_delivery_order(loop, store):
    vh = VHost("v", store)
    src = declare(vh, "src", **{"x-max-priority": 3})
    declare(vh, "dst", **{"x-max-priority": 3})
    for i, p in enumerate([0, 3, 1, 3]):
        src.enqueue(message(f"{i}:{p}", priority=p))
    assert Ops().move_messages(vh, "src", "dst", count=3, match_routing_key="k").moved == 3
    assert payloads(vh.queues["dst"]) == [b"1:3", b"3:3", b"2:1"]
    assert payloads(src) == [b"0:0"] and src.ready.bytes == 3


def test_exchange_routing_back_into_the_source_ends(loop, store):
    vh = VHost("v", store)
    src, other = declare(vh, "src"), declare(vh, "other")
    fanout = vh.exchanges["amq.fanout"]
    vh.bind(fanout, src, "", {})
    vh.bind(fanout, other, "", {})
    for i in range(3):
        src.enqueue(message(f"m{i}"))
    result = Ops().move_messages(vh, "src", "amq.fanout", "exchange")
    # each message once: a copy in both queues, the original gone
    assert (result.moved, result.remaining) == (3, 3)
    assert payloads(src) == payloads(other) == [b"m0", b"m1", b"m2"]
    assert [e.msg.exchange for e in src.ready] == ["amq.fanout"] * 3


def test_a_move_is_one_store_batch(loop, store):
    vh = VHost("v", store)
    src, dst = declare(vh, "src", True), declare(vh, "dst", True)
    for i in range(3):
        src.enqueue(message(f"p{i}", delivery_mode=2))
    settle(loop)
    old_ids = [e.msg.id for e in src.ready]
    batch = store.batch_no
    assert Ops().move_messages(vh, "src", "dst", count=2).moved == 2
    assert store.batch_no == batch  # nothing committed in between: adds and removals are in the batch being filled
    settle(loop)
    index = dict(store.tables["index"].items())
    by_queue: dict[int, list[int]] = {}
    for key, value in index.items():
        qid, _ = keys.split_index_key(key)
        by_queue.setdefault(qid, []).append(keys.parse_index_value(value)[0])
    assert len(by_queue[src.store_id]) == 1 and len(by_queue[dst.store_id]) == 2
    messages = {keys.key_id(k) for k in store.tables["messages"].keys()}
    assert not messages & set(old_ids[:2])  # the source's records went in the same batch
    assert messages == set(by_queue[src.store_id] + by_queue[dst.store_id])


def test_errors(loop, store):
    vh = VHost("v", store)
    declare(vh, "src")
    ops = Ops()
    with pytest.raises(BadRequest, match="onto itself"):
        ops.move_messages(vh, "src", "src")
    with pytest.raises(NotFound):
        ops.move_messages(vh, "nope", "src")
    with pytest.raises(Missing):
        ops.move_messages(vh, "src", "nope")
    with pytest.raises(Missing):
        ops.move_messages(vh, "src", "nope", "exchange")
    with pytest.raises(BadRequest):
        ops.move_messages(vh, "src", "amq.rabbitmq.trace", "exchange")  # internal
    with pytest.raises(BadRequest):
        ops.peek_messages(vh, "src", 1001)
    with pytest.raises(BadRequest):
        ops.move_messages(vh, "src", "x", "stream")
