"""Publisher confirms (confirm.*) and transactions (tx.*) as RabbitMQ 3.10 implements them.

Every expectation here was checked against a real RabbitMQ 3.10 (run with AMQPD_TEST_URL=...).
"""

from __future__ import annotations

import asyncio
import time

import pika
import pika.exceptions
import pytest
from helpers import (  # tests/integration is on sys.path (rootdir conftest, no packages)
    assert_closed,
    conn_fixture,  # noqa: F401 (fixture)
    connect_fixture,  # noqa: F401 (fixture)
    message_count,
    queue_fixture,  # noqa: F401 (fixture)
    raw_fixture,  # noqa: F401 (fixture)
    run_select_connection,
    wait_count,
)
from pamqp import commands as C
from rawclient import FRAME_METHOD, RawClient

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------------------------------------
# helpers


def collect_confirms(c: RawClient, ch: int, n: int, timeout: float = 10.0):
    """Read frames on `ch` until publishes 1..n are all confirmed. Returns (acks, nacks, other methods)."""
    covered: set[int] = set()
    acks, nacks, others = [], [], []
    deadline = time.monotonic() + timeout
    while len(covered) < n:
        f = c.read_frame(timeout=max(0.0, deadline - time.monotonic()))
        if f.channel != ch or f.type != FRAME_METHOD:
            continue
        m = f.method
        if isinstance(m, C.Basic.Ack | C.Basic.Nack):
            (acks if isinstance(m, C.Basic.Ack) else nacks).append((m.delivery_tag, m.multiple))
            new = set(range(1, m.delivery_tag + 1)) - covered if m.multiple else {m.delivery_tag}
            # every confirm covers at least one not yet confirmed publish, and only those
            assert new, f"confirm {m!r} covers nothing new"
            assert not (new & covered), f"{m!r} confirms twice"
            assert max(new) <= n
            covered |= new
        else:
            others.append(m)
    return acks, nacks, others


# ---------------------------------------------------------------------------------------------------------
# confirms


def test_confirm_acks_every_publish(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    ok = c.rpc(ch, C.Confirm.Select(), C.Confirm.SelectOk)
    assert isinstance(ok, C.Confirm.SelectOk)
    n = 200
    for i in range(n):
        c.publish(ch, f"m{i}".encode(), routing_key=q)
    acks, nacks, others = collect_confirms(c, ch, n)
    assert nacks == [] and others == []
    assert max(t for t, _ in acks) == n
    # nothing more than n confirms
    c.rpc(ch, C.Basic.Qos(prefetch_count=0), C.Basic.QosOk)
    ok = c.rpc(ch, C.Queue.Declare(queue=q, passive=True), C.Queue.DeclareOk)
    assert ok.message_count == n


def test_confirm_select_is_idempotent_and_nowait(raw, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, C.Confirm.Select(), C.Confirm.SelectOk)
    c.rpc(ch, C.Confirm.Select(), C.Confirm.SelectOk)  # again: fine, sequence numbers not reset
    c.publish(ch, b"a", routing_key=q)
    acks, _, _ = collect_confirms(c, ch, 1)
    assert acks == [(1, False)]
    ch2 = c.open_channel(2)
    c.send_method(ch2, C.Confirm.Select(nowait=True))  # no select-ok
    c.publish(ch2, b"b", routing_key=q)
    f = c.wait_method(ch2, C.Basic.Ack)
    assert (f.delivery_tag, f.multiple) == (1, False)


def test_confirm_unroutable_non_mandatory_is_acked(raw, uniq):
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, C.Confirm.Select(), C.Confirm.SelectOk)
    c.publish(ch, b"nowhere", exchange="amq.direct", routing_key=uniq("nobody"))
    acks, nacks, others = collect_confirms(c, ch, 1)
    assert acks == [(1, False)] and nacks == [] and others == []


def test_confirm_mandatory_unroutable_return_before_ack(raw, uniq, queue):
    q = queue()
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, C.Confirm.Select(), C.Confirm.SelectOk)
    missing = uniq("nobody")
    c.publish(ch, b"routed", routing_key=q, mandatory=True)  # seq 1
    c.publish(ch, b"unroutable", exchange="amq.direct", routing_key=missing, mandatory=True)  # seq 2
    c.publish(ch, b"routed-again", routing_key=q, mandatory=True)  # seq 3
    events = []
    covered: set[int] = set()
    deadline = time.monotonic() + 10
    while len(covered) < 3:
        f = c.read_frame(timeout=max(0.0, deadline - time.monotonic()))
        if f.channel != ch:
            continue
        if f.type == FRAME_METHOD and isinstance(f.method, C.Basic.Return):
            body_hdr = c.read_frame()
            body = c.read_frame().payload if body_hdr.body_size else b""
            events.append(("return", f.method.reply_code, f.method.reply_text, f.method.exchange,
                           f.method.routing_key, body))
        elif f.type == FRAME_METHOD and isinstance(f.method, C.Basic.Ack):
            m = f.method
            new = set(range(1, m.delivery_tag + 1)) - covered if m.multiple else {m.delivery_tag}
            covered |= new
            events.append(("ack", sorted(new)))
        else:
            raise AssertionError(f"unexpected {f}")
    returns = [i for i, e in enumerate(events) if e[0] == "return"]
    assert len(returns) == 1
    assert events[returns[0]][1:] == (312, "NO_ROUTE", "amq.direct", missing, b"unroutable")
    ack_of_2 = next(i for i, e in enumerate(events) if e[0] == "ack" and 2 in e[1])
    assert returns[0] < ack_of_2, events


def test_confirm_pika_blocking_unroutable_error(conn, uniq, queue):
    q = queue()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", q, b"ok", mandatory=True)  # confirmed, no exception
    with pytest.raises(pika.exceptions.UnroutableError) as ei:
        ch.basic_publish("amq.direct", uniq("nobody"), b"lost", mandatory=True)
    returned = ei.value.messages
    assert len(returned) == 1
    assert returned[0].method.reply_code == 312 and returned[0].method.reply_text == "NO_ROUTE"
    assert returned[0].body == b"lost"
    assert wait_count(ch, q, 1) == 1


def test_confirm_pika_select_connection_tags(broker, queue):
    q = queue()
    n = 50
    acks: list = []

    def on_channel(channel):
        def on_confirm(frame):
            m = frame.method
            acks.append((type(m).__name__, m.delivery_tag, m.multiple))
            if m.delivery_tag == n:
                channel.connection.close()

        channel.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda f: publish_all(channel))

    def publish_all(channel):
        for i in range(n):
            channel.basic_publish("", q, str(i).encode())

    error, _closed = run_select_connection(broker, on_channel)
    assert error is None
    covered: set[int] = set()
    for kind, tag, multiple in acks:
        assert kind == "Ack"
        new = set(range(1, tag + 1)) - covered if multiple else {tag}
        assert new and not (new & covered)
        covered |= new
    assert covered == set(range(1, n + 1))


def test_confirm_aio_pika_publish_returns_basic_ack(broker, queue):
    import aio_pika
    from pamqp.commands import Basic

    q = queue()

    async def main():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            results = []
            for i in range(5):
                results.append(await channel.default_exchange.publish(aio_pika.Message(str(i).encode()),
                                                                      routing_key=q))
            queue_obj = await channel.get_queue(q)
            declared = await queue_obj.declare()
            return results, declared.message_count

    results, count = asyncio.run(asyncio.wait_for(main(), 15))
    assert all(isinstance(r, Basic.Ack) for r in results)
    assert [r.delivery_tag for r in results] == [1, 2, 3, 4, 5]
    assert count == 5


# ---------------------------------------------------------------------------------------------------------
# mode switching errors


@pytest.mark.parametrize("select,select_ok,switch,text,method", [
    (C.Tx.Select, C.Tx.SelectOk, C.Confirm.Select, "cannot switch from tx to confirm mode", (85, 10)),
    (C.Confirm.Select, C.Confirm.SelectOk, C.Tx.Select, "cannot switch from confirm to tx mode", (90, 10)),
], ids=["confirm_select_on_tx_channel", "tx_select_on_confirm_channel"])
def test_mode_switch_406(raw, select, select_ok, switch, text, method):
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, select(), select_ok)
    c.send_method(ch, switch())
    assert_closed(c.wait_channel_close(ch), 406, f"PRECONDITION_FAILED - {text}", method)


def test_tx_commit_and_rollback_without_select_406(raw):
    c = raw()
    for ch, (tx_method, method) in enumerate([(C.Tx.Commit, (90, 20)), (C.Tx.Rollback, (90, 30))], start=1):
        c.open_channel(ch)
        c.send_method(ch, tx_method())
        assert_closed(c.wait_channel_close(ch), 406, "PRECONDITION_FAILED - channel is not transactional", method)
    # channel errors only: the connection is fine
    ch = c.open_channel(3)
    c.rpc(ch, C.Tx.Select(), C.Tx.SelectOk)


def test_tx_errors_with_pika(conn):
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.tx_commit()
    assert (ei.value.reply_code, ei.value.reply_text) == (406, "PRECONDITION_FAILED - channel is not transactional")
    ch = conn.channel()
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.tx_select()
    assert (ei.value.reply_code, ei.value.reply_text) == (
        406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode")
    assert conn.is_open


# ---------------------------------------------------------------------------------------------------------
# transactions


def test_tx_select_twice_is_fine(raw):
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, C.Tx.Select(), C.Tx.SelectOk)
    c.rpc(ch, C.Tx.Select(), C.Tx.SelectOk)
    c.rpc(ch, C.Tx.Commit(), C.Tx.CommitOk)  # empty commit
    c.rpc(ch, C.Tx.Rollback(), C.Tx.RollbackOk)  # empty rollback


def test_tx_publish_invisible_until_commit(conn, connect, queue):
    q = queue()
    ch = conn.channel()
    ch.tx_select()
    for i in range(3):
        ch.basic_publish("", q, str(i).encode())
    observer = connect().channel()
    time.sleep(0.3)
    assert message_count(observer, q) == 0
    assert observer.basic_get(q) == (None, None, None)
    ch.tx_commit()
    assert wait_count(observer, q, 3) == 3
    assert [observer.basic_get(q, auto_ack=True)[2] for _ in range(3)] == [b"0", b"1", b"2"]


def test_tx_publish_dropped_on_rollback(conn, connect, queue):
    q = queue()
    ch = conn.channel()
    ch.tx_select()
    ch.basic_publish("", q, b"gone-1")
    ch.basic_publish("", q, b"gone-2")
    ch.tx_rollback()
    ch.basic_publish("", q, b"kept")  # the channel stays transactional after rollback
    observer = connect().channel()
    time.sleep(0.3)
    assert message_count(observer, q) == 0
    ch.tx_commit()
    assert wait_count(observer, q, 1) == 1
    assert observer.basic_get(q, auto_ack=True)[2] == b"kept"
    time.sleep(0.1)
    assert message_count(observer, q) == 0


def test_tx_uncommitted_publishes_dropped_on_channel_close(conn, connect, queue):
    q = queue()
    ch = conn.channel()
    ch.tx_select()
    ch.basic_publish("", q, b"never")
    ch.close()
    observer = connect().channel()
    time.sleep(0.3)
    assert message_count(observer, q) == 0


def test_tx_acks_applied_on_commit(conn, connect, queue):
    q = queue()
    feeder = connect().channel()
    for i in range(3):
        feeder.basic_publish("", q, str(i).encode())
    wait_count(feeder, q, 3)
    ch = conn.channel()
    ch.tx_select()
    tags = [ch.basic_get(q)[0].delivery_tag for _ in range(3)]
    ch.basic_ack(tags[0])
    ch.basic_ack(tags[2])
    ch.tx_commit()
    ch.close()  # only the un-acked message 1 is requeued
    assert wait_count(feeder, q, 1) == 1
    m, _, b = feeder.basic_get(q, auto_ack=True)
    assert b == b"1" and m.redelivered is True


def test_tx_acks_undone_on_rollback(conn, connect, queue):
    q = queue()
    feeder = connect().channel()
    for i in range(3):
        feeder.basic_publish("", q, str(i).encode())
    wait_count(feeder, q, 3)
    ch = conn.channel()
    ch.tx_select()
    for _ in range(3):
        ch.basic_get(q)
    ch.basic_ack(0, multiple=True)
    ch.tx_rollback()
    # rolled back acks leave the messages unacked (not requeued yet) ...
    time.sleep(0.2)
    assert message_count(feeder, q) == 0
    # ... and they can be acked again in a new transaction; here: partly
    ch.basic_ack(1)
    ch.tx_commit()
    ch.close()
    # ... and the rest are redelivered when the channel closes
    assert wait_count(feeder, q, 2) == 2
    got = [feeder.basic_get(q, auto_ack=True) for _ in range(2)]
    assert [(b, m.redelivered) for m, _, b in got] == [(b"1", True), (b"2", True)]


def test_tx_reject_requeue_applied_on_commit(conn, connect, queue):
    q = queue()
    feeder = connect().channel()
    feeder.basic_publish("", q, b"r")
    wait_count(feeder, q, 1)
    ch = conn.channel()
    ch.tx_select()
    m, _, _ = ch.basic_get(q)
    ch.basic_reject(m.delivery_tag, requeue=True)
    time.sleep(0.2)
    assert message_count(feeder, q) == 0  # not yet
    ch.tx_commit()
    assert wait_count(feeder, q, 1) == 1


def test_tx_ack_unknown_tag_fails_immediately(raw):
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, C.Tx.Select(), C.Tx.SelectOk)
    c.send_method(ch, C.Basic.Ack(delivery_tag=5))
    assert_closed(c.wait_channel_close(ch), 406, "PRECONDITION_FAILED - unknown delivery tag 5", (60, 80))


def test_tx_mandatory_return_happens_at_commit(raw, uniq):
    c = raw()
    ch = c.open_channel(1)
    c.rpc(ch, C.Tx.Select(), C.Tx.SelectOk)
    missing = uniq("nobody")
    c.publish(ch, b"back", exchange="amq.direct", routing_key=missing, mandatory=True)
    try:
        f = c.read_frame(timeout=0.5)
        raise AssertionError(f"nothing expected before commit, got {f}")
    except TimeoutError:
        pass
    c.send_method(ch, C.Tx.Commit())
    m, _hdr, body, _ = c.read_message(ch)
    assert isinstance(m, C.Basic.Return)
    assert (m.reply_code, m.reply_text, m.exchange, m.routing_key, body) == (
        312, "NO_ROUTE", "amq.direct", missing, b"back")
    c.wait_method(ch, C.Tx.CommitOk)


def test_aio_pika_transaction(broker, queue):
    import aio_pika

    q = queue()

    async def main():
        connection = await aio_pika.connect(broker.url)
        async with connection:
            channel = await connection.channel(publisher_confirms=False)
            observer = await connection.channel()
            oq = await observer.get_queue(q)
            async with channel.transaction():
                await channel.default_exchange.publish(aio_pika.Message(b"in-tx"), routing_key=q)
                await asyncio.sleep(0.2)
                before = (await oq.declare()).message_count
            after = (await oq.declare()).message_count
            tx = channel.transaction()
            await tx.select()
            await channel.default_exchange.publish(aio_pika.Message(b"rolled-back"), routing_key=q)
            await tx.rollback()
            await asyncio.sleep(0.2)
            after_rollback = (await oq.declare()).message_count
            msg = await oq.get(no_ack=True)
            return before, after, after_rollback, msg.body

    before, after, after_rollback, body = asyncio.run(asyncio.wait_for(main(), 15))
    assert (before, after, after_rollback) == (0, 1, 1)
    assert body == b"in-tx"
