"""Queues: declare/bind/unbind/purge/delete and their errors, exclusive and auto-delete queues, the
"last declared queue" shortcut, plus aio-pika variants. Every expectation was checked against RabbitMQ 3.10."""

from __future__ import annotations

import asyncio
import re
import time

import aio_pika
import aiormq.exceptions
import pika
import pika.exceptions
import pytest
from helpers import (  # tests/integration is on sys.path (rootdir conftest, no packages)
    channel_error,
    confirm_ch_fixture,  # noqa: F401 (fixture)
    conn_fixture,  # noqa: F401 (fixture)
    connect_fixture,  # noqa: F401 (fixture)
    delete_quietly,
)
from pika.exceptions import ChannelClosedByBroker

pytestmark = pytest.mark.timeout(60)

SERVER_NAMED = re.compile(r"amq\.gen-[A-Za-z0-9_-]{22}")
NO_PREVIOUS = "NOT_FOUND - no previously declared queue"


def locked(q: str) -> str:
    return (f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '{q}' in vhost '/'. It could be "
            "originally declared on another connection or the exclusive property value does not match that of "
            "the original declaration.")


def no_queue(q: str) -> str:
    return f"NOT_FOUND - no queue '{q}' in vhost '/'"


def inequivalent(what: str, q: str, received: str, current: str) -> str:
    return (f"PRECONDITION_FAILED - inequivalent arg '{what}' for queue '{q}' in vhost '/': "
            f"received {received} but current is {current}")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def cleanup(broker):
    queues: list[str] = []
    yield queues
    delete_quietly(broker, queues)


def queue_exists(conn, q: str) -> bool:
    chan = conn.channel()
    try:
        chan.queue_declare(q, passive=True)
    except ChannelClosedByBroker as e:
        assert e.reply_code in (404, 405), e
        return e.reply_code == 405  # 405: someone else's exclusive queue, which exists
    chan.close()
    return True


def wait_gone(conn, q: str, timeout: float = 5.0) -> bool:
    """Deletions triggered by a closed connection/channel are asynchronous: poll for a while."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not queue_exists(conn, q):
            return True
        conn.process_data_events(time_limit=0.05)
    return False


def publish(chan, q: str, n: int = 1) -> None:
    for i in range(n):
        chan.basic_publish("", q, f"m{i}".encode())


def counts(chan, q: str) -> tuple[int, int]:
    m = chan.queue_declare(q, passive=True).method
    return m.message_count, m.consumer_count


# --------------------------------------------------------------------------------------------------
# declare
# --------------------------------------------------------------------------------------------------

def test_server_named_queue(ch):
    names = set()
    for _ in range(5):
        ok = ch.queue_declare("", exclusive=True).method
        assert SERVER_NAMED.fullmatch(ok.queue), ok.queue
        assert (ok.message_count, ok.consumer_count) == (0, 0)
        names.add(ok.queue)
    assert len(names) == 5


def test_passive_declare_missing(conn, uniq):
    q = uniq("q")
    channel_error(conn, lambda c: c.queue_declare(q, passive=True), 404, no_queue(q))


def test_passive_declare_ignores_flags(ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    ok = ch.queue_declare(q, passive=True, durable=True, auto_delete=True, arguments={"x-max-length": 1}).method
    assert ok.queue == q


@pytest.mark.parametrize("name", ["amq.foo", "amq.gen-abc"])
def test_reserved_amq_prefix(conn, name):
    channel_error(conn, lambda c: c.queue_declare(name), 403,
                  f"ACCESS_REFUSED - queue name '{name}' contains reserved prefix 'amq.*'")
    channel_error(conn, lambda c: c.queue_declare(name, passive=True), 404, no_queue(name))


def test_declare_ok_counts(conn, ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ok = ch.queue_declare(q).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == (q, 0, 0)
    publish(ch, q, 3)
    ok = ch.queue_declare(q).method
    assert (ok.message_count, ok.consumer_count) == (3, 0)
    other = conn.channel()
    tag = other.basic_consume(q, lambda *a: None)  # unacked deliveries are not counted
    deadline = time.monotonic() + 5
    while counts(ch, q)[0] and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert counts(ch, q) == (0, 1)
    ok = ch.queue_declare(q, passive=True).method
    assert (ok.message_count, ok.consumer_count) == (0, 1)
    other.basic_cancel(tag)
    other.close()  # unacked messages go back to the queue
    deadline = time.monotonic() + 5
    while counts(ch, q) != (3, 0) and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert counts(ch, q) == (3, 0)


@pytest.mark.parametrize("flag", ["durable", "auto_delete"])
def test_redeclare_with_different_flag(conn, ch, uniq, cleanup, flag):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    channel_error(conn, lambda c: c.queue_declare(q, **{flag: True}), 406,
                  inequivalent(flag, q, "'true'", "'false'"))
    q2 = uniq("q")
    cleanup.append(q2)
    ch.queue_declare(q2, **{flag: True})
    channel_error(conn, lambda c: c.queue_declare(q2), 406, inequivalent(flag, q2, "'false'", "'true'"))


def test_redeclare_with_different_exclusive(conn, ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    # not 406: an exclusivity mismatch is reported as a lock
    channel_error(conn, lambda c: c.queue_declare(q, exclusive=True), 405, locked(q))
    qx = uniq("qx")
    ch.queue_declare(qx, exclusive=True)
    channel_error(conn, lambda c: c.queue_declare(qx), 405, locked(qx))
    conn.channel().queue_declare(qx, exclusive=True)  # same connection, same flags: fine


def test_redeclare_with_different_arguments(conn, ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    ch.queue_declare(q, arguments={"x-whatever": "ignored"})  # unknown arguments are not compared
    channel_error(conn, lambda c: c.queue_declare(q, arguments={"x-max-length": 10}), 406,
                  inequivalent("x-max-length", q, "the value '10' of type 'signedint'", "none"))
    q2 = uniq("q")
    cleanup.append(q2)
    ch.queue_declare(q2, arguments={"x-max-length": 10})
    ch.queue_declare(q2, arguments={"x-max-length": 10})
    channel_error(conn, lambda c: c.queue_declare(q2, arguments={"x-max-length": 11}), 406,
                  inequivalent("x-max-length", q2, "'11'", "'10'"))
    channel_error(conn, lambda c: c.queue_declare(q2), 406,
                  inequivalent("x-max-length", q2, "none", "the value '10' of type 'signedint'"))


@pytest.mark.parametrize("args,reason", [
    ({"x-max-length": "abc"}, '"expected integer, got longstr"'),
    ({"x-max-length": -1}, "{value_negative,-1}"),
    ({"x-expires": 0}, "{value_zero,0}"),
    ({"x-queue-type": "foo"}, "\"unsupported queue type 'foo'\""),
], ids=["max-length-string", "max-length-negative", "expires-zero", "queue-type-foo"])
def test_invalid_argument(conn, uniq, cleanup, args, reason):
    q = uniq("q")
    cleanup.append(q)
    (arg,) = args
    channel_error(conn, lambda c: c.queue_declare(q, arguments=args), 406,
                  f"PRECONDITION_FAILED - invalid arg '{arg}' for queue '{q}' in vhost '/': {reason}")
    assert not queue_exists(conn, q)


# --------------------------------------------------------------------------------------------------
# exclusive queues
# --------------------------------------------------------------------------------------------------

def test_exclusive_queue_locked_for_other_connections(connect, uniq):
    owner, other = connect(), connect()
    och = owner.channel()
    och.confirm_delivery()
    q = uniq("qx")
    och.queue_declare(q, exclusive=True)
    och.queue_bind(q, "amq.direct", q)
    ops = {
        "declare": lambda c: c.queue_declare(q, exclusive=True),
        "declare-non-exclusive": lambda c: c.queue_declare(q),
        "passive": lambda c: c.queue_declare(q, passive=True),
        "consume": lambda c: c.basic_consume(q, lambda *a: None),
        "bind": lambda c: c.queue_bind(q, "amq.fanout"),
        "unbind": lambda c: c.queue_unbind(q, "amq.direct", q),
        "purge": lambda c: c.queue_purge(q),
        "get": lambda c: c.basic_get(q),
        "delete": lambda c: c.queue_delete(q),
    }
    for name, fn in ops.items():
        try:
            channel_error(other, fn, 405, locked(q))
        except (AssertionError, pytest.fail.Exception) as e:
            raise AssertionError(f"{name}: {e}") from e
    # unbinding a binding that does not exist is fine, though (nothing to lock)
    other.channel().queue_unbind(q, "amq.direct", "no-such-key")
    # publishing to it is allowed
    pch = other.channel()
    pch.confirm_delivery()
    pch.basic_publish("", q, b"from-other")
    pch.basic_publish("amq.direct", q, b"via-binding")
    assert counts(och, q) == (2, 0)
    # the owner can use it from any of its channels
    owner.channel().queue_declare(q, passive=True)
    owner.channel().queue_purge(q)


def test_exclusive_queue_deleted_with_its_connection(connect, uniq):
    owner, observer = connect(), connect()
    och = owner.channel()
    q = uniq("qx")
    och.queue_declare(q, exclusive=True)
    och.basic_publish("", q, b"m")
    server_named = och.queue_declare("", exclusive=True).method.queue
    och.close()  # closing the channel is not enough
    assert queue_exists(observer, q)
    owner.close()
    assert wait_gone(observer, q)
    assert wait_gone(observer, server_named)
    # and the name is free again
    c = observer.channel()
    c.queue_declare(q, exclusive=True)
    c.queue_delete(q)


# --------------------------------------------------------------------------------------------------
# auto-delete queues
# --------------------------------------------------------------------------------------------------

def test_auto_delete_queue_lives_until_last_consumer_cancels(connect, uniq, cleanup):
    conn, observer = connect(), connect()
    q = uniq("qa")
    cleanup.append(q)
    chan = conn.channel()
    chan.queue_declare(q, auto_delete=True)
    publish(chan, q, 1)
    # no consumer yet: it stays
    observer.process_data_events(time_limit=0.3)
    assert queue_exists(observer, q)
    assert counts(chan, q) == (1, 0)
    t1 = chan.basic_consume(q, lambda *a: None, auto_ack=True)
    t2 = chan.basic_consume(q, lambda *a: None)
    assert counts(observer.channel(), q)[1] == 2
    chan.basic_cancel(t1)
    assert queue_exists(observer, q)
    assert counts(observer.channel(), q)[1] == 1
    chan.basic_cancel(t2)
    assert wait_gone(observer, q)


def test_auto_delete_queue_deleted_when_consumer_channel_closes(connect, uniq, cleanup):
    conn, observer = connect(), connect()
    q = uniq("qa")
    cleanup.append(q)
    chan = conn.channel()
    chan.queue_declare(q, auto_delete=True)
    chan.basic_consume(q, lambda *a: None)
    chan.close()
    assert wait_gone(observer, q)


# --------------------------------------------------------------------------------------------------
# bind / unbind
# --------------------------------------------------------------------------------------------------

def test_bind_missing_exchange_or_queue(conn, ch, uniq, cleanup):
    q, x = uniq("q"), uniq("x")
    channel_error(conn, lambda c: c.queue_bind(q, x, "k"), 404,
                  f"NOT_FOUND - no exchange '{x}' in vhost '/'")  # both missing: the exchange is reported
    channel_error(conn, lambda c: c.queue_bind(q, "amq.direct", "k"), 404, no_queue(q))
    cleanup.append(q)
    ch.queue_declare(q)
    channel_error(conn, lambda c: c.queue_bind(q, x, "k"), 404, f"NOT_FOUND - no exchange '{x}' in vhost '/'")


def test_unbind_missing_is_ok(ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    assert isinstance(ch.queue_unbind(q, "amq.direct", "no-such-key").method, pika.spec.Queue.UnbindOk)
    ch.queue_unbind(q, uniq("x"), "k")  # missing exchange
    ch.queue_unbind(uniq("q"), "amq.direct", "k")  # missing queue


def test_bind_unbind_routing(ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    ch.queue_bind(q, "amq.direct", q + ".k")
    ch.queue_bind(q, "amq.direct", q + ".k")  # binding twice is idempotent
    ch.basic_publish("amq.direct", q + ".k", b"one")
    assert counts(ch, q) == (1, 0)
    ch.queue_unbind(q, "amq.direct", q + ".k")
    ch.basic_publish("amq.direct", q + ".k", b"two")
    assert counts(ch, q) == (1, 0)


# --------------------------------------------------------------------------------------------------
# purge / delete
# --------------------------------------------------------------------------------------------------

def test_purge_returns_message_count(conn, ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    assert ch.queue_purge(q).method.message_count == 0
    publish(ch, q, 5)
    assert ch.queue_purge(q).method.message_count == 5
    assert counts(ch, q) == (0, 0)
    channel_error(conn, lambda c: c.queue_purge(uniq("q")), 404, None)


def test_purge_and_delete_count_only_ready_messages(conn, ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    publish(ch, q, 3)
    consumer = conn.channel()
    consumer.basic_qos(prefetch_count=1)
    got = []
    consumer.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag))
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert got
    assert ch.queue_purge(q).method.message_count == 2  # the unacked one stays
    publish(ch, q, 4)
    consumer.close()  # requeues the unacked message
    deadline = time.monotonic() + 5
    while counts(ch, q)[0] != 5 and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert ch.queue_delete(q).method.message_count == 5


def test_delete_returns_message_count_and_missing_is_ok(ch, uniq):
    q = uniq("q")
    ch.queue_declare(q)
    publish(ch, q, 4)
    ok = ch.queue_delete(q).method
    assert isinstance(ok, pika.spec.Queue.DeleteOk) and ok.message_count == 4
    ok = ch.queue_delete(q).method  # already gone: fine in 3.10
    assert ok.message_count == 0
    assert ch.queue_delete(uniq("q"), if_unused=True, if_empty=True).method.message_count == 0


def test_delete_if_unused_and_if_empty(conn, ch, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)
    ch.queue_declare(q)
    publish(ch, q, 2)
    consumer = conn.channel()
    consumer.basic_qos(prefetch_count=1)
    tag = consumer.basic_consume(q, lambda *a: None)
    deadline = time.monotonic() + 5
    while counts(ch, q) != (1, 1) and time.monotonic() < deadline:  # one ready, one unacked
        conn.process_data_events(time_limit=0.05)
    assert counts(ch, q) == (1, 1)
    in_use = f"PRECONDITION_FAILED - queue '{q}' in vhost '/' in use"
    not_empty = f"PRECONDITION_FAILED - queue '{q}' in vhost '/' not empty"
    channel_error(conn, lambda c: c.queue_delete(q, if_unused=True), 406, in_use)
    # if-empty is checked first
    channel_error(conn, lambda c: c.queue_delete(q, if_unused=True, if_empty=True), 406, not_empty)
    assert ch.queue_purge(q).method.message_count == 1
    # an unacked message does not make the queue non-empty
    channel_error(conn, lambda c: c.queue_delete(q, if_unused=True, if_empty=True), 406, in_use)
    consumer.basic_cancel(tag)
    consumer.close()  # requeues the unacked message
    deadline = time.monotonic() + 5
    while counts(ch, q) != (1, 0) and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert counts(ch, q) == (1, 0)
    channel_error(conn, lambda c: c.queue_delete(q, if_empty=True), 406, not_empty)
    assert queue_exists(conn, q)
    ch.queue_delete(q, if_unused=True)  # no consumer any more
    assert not queue_exists(conn, q)
    ch.queue_declare(q)
    assert ch.queue_delete(q, if_unused=True, if_empty=True).method.message_count == 0
    assert not queue_exists(conn, q)


# --------------------------------------------------------------------------------------------------
# the empty queue name: "the last queue declared on this channel"
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["bind", "unbind", "consume", "purge", "get", "delete"])
def test_empty_name_without_declared_queue(conn, op):
    fns = {
        "bind": lambda c: c.queue_bind("", "amq.direct", "k"),
        "unbind": lambda c: c.queue_unbind("", "amq.direct", "k"),
        "consume": lambda c: c.basic_consume("", lambda *a: None),
        "purge": lambda c: c.queue_purge(""),
        "get": lambda c: c.basic_get(""),
        "delete": lambda c: c.queue_delete(""),
    }
    channel_error(conn, fns[op], 404, NO_PREVIOUS)


def test_passive_declare_of_empty_name_is_not_a_shortcut(conn, ch, uniq, cleanup):
    channel_error(conn, lambda c: c.queue_declare("", passive=True), 404, no_queue(""))

    def declared_first(c):
        c.queue_declare("", exclusive=True)
        c.queue_declare("", passive=True)

    channel_error(conn, declared_first, 404, no_queue(""))


def test_empty_name_means_last_declared_queue(conn, uniq, cleanup):
    chan = conn.channel()
    chan.confirm_delivery()
    q = uniq("q")
    cleanup.append(q)
    chan.queue_declare(q)
    chan.queue_bind("", "amq.direct", q)
    chan.basic_publish("amq.direct", q, b"a")
    publish(chan, q, 2)
    _, _, body = chan.basic_get("", auto_ack=True)
    assert body == b"a"
    assert chan.queue_purge("").method.message_count == 2
    chan.basic_publish("amq.direct", q, b"b")
    got = []
    tag = chan.basic_consume("", lambda c, m, p, b: got.append(b), auto_ack=True)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
    assert got == [b"b"]
    chan.basic_cancel(tag)
    chan.queue_unbind("", "amq.direct", q)
    publish(chan, q, 3)
    assert chan.queue_delete("").method.message_count == 3
    assert not queue_exists(conn, q)
    # the name sticks after the queue is gone
    with pytest.raises(ChannelClosedByBroker) as ei:
        chan.basic_get("")
    assert (ei.value.reply_code, ei.value.reply_text) == (404, no_queue(q))


def test_empty_name_follows_the_latest_declare(conn, uniq, cleanup):
    chan = conn.channel()
    chan.confirm_delivery()
    q1, q2 = uniq("q"), uniq("q")
    cleanup.extend([q1, q2])
    chan.queue_declare(q1)
    chan.queue_declare(q2)
    publish(chan, q1, 1)
    publish(chan, q2, 2)
    assert chan.queue_purge("").method.message_count == 2  # q2
    chan.queue_declare(q1, passive=True)  # a passive declare counts too
    assert chan.queue_purge("").method.message_count == 1
    sn = chan.queue_declare("", exclusive=True).method.queue  # and a server-named queue
    publish(chan, sn, 4)
    assert chan.queue_purge("").method.message_count == 4
    # it is per channel
    other = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as ei:
        other.queue_purge("")
    assert (ei.value.reply_code, ei.value.reply_text) == (404, NO_PREVIOUS)


# --------------------------------------------------------------------------------------------------
# aio-pika
# --------------------------------------------------------------------------------------------------

def run(coro, timeout: float = 30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_aio_pika_declare(broker, uniq, cleanup):
    q = uniq("q")
    cleanup.append(q)

    async def main():
        conn = await aio_pika.connect(broker.url)
        async with conn:
            chan = await conn.channel()
            sn = await chan.declare_queue("", exclusive=True)
            assert SERVER_NAMED.fullmatch(sn.name), sn.name
            queue = await chan.declare_queue(q, durable=False)
            res = queue.declaration_result
            assert (res.message_count, res.consumer_count) == (0, 0)
            await chan.default_exchange.publish(aio_pika.Message(b"x"), routing_key=q)
            await chan.default_exchange.publish(aio_pika.Message(b"y"), routing_key=q)
            await asyncio.sleep(0)  # publishing is fire-and-forget here
            again = await chan.declare_queue(q, passive=True)
            for _ in range(50):
                if again.declaration_result.message_count == 2:
                    break
                await asyncio.sleep(0.05)
                again = await chan.declare_queue(q, passive=True)
            assert again.declaration_result.message_count == 2
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as ei:
                await chan.declare_queue(q, durable=True)
            assert ei.value.args[0] == inequivalent("durable", q, "'true'", "'false'")
            assert chan.is_closed
            chan = await conn.channel()
            await chan.queue_delete(q)

    run(main())


def test_aio_pika_bind(broker, uniq):
    x = uniq("x")

    async def main():
        conn = await aio_pika.connect(broker.url)
        async with conn:
            chan = await conn.channel(publisher_confirms=True)
            exchange = await chan.declare_exchange(x, aio_pika.ExchangeType.TOPIC, auto_delete=True)
            queue = await chan.declare_queue("", exclusive=True)
            await queue.bind(exchange, "a.*")
            await exchange.publish(aio_pika.Message(b"hit"), routing_key="a.b")
            await exchange.publish(aio_pika.Message(b"miss"), routing_key="b.a")
            msg = await queue.get(timeout=5)
            assert msg.body == b"hit"
            await msg.ack()
            assert await queue.get(fail=False) is None
            await queue.unbind(exchange, "a.*")  # last binding: the auto-delete exchange goes
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as ei:
                await chan.get_exchange(x, ensure=True)
            assert ei.value.args[0] == f"NOT_FOUND - no exchange '{x}' in vhost '/'"
            chan = await conn.channel()
            q2 = await chan.declare_queue("", exclusive=True)
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as ei:
                await q2.bind(uniq("missing"), "k")
            assert ei.value.args[0].startswith("NOT_FOUND - no exchange 'missing-")

    run(main())


def test_aio_pika_passive_missing(broker, uniq):
    q = uniq("q")

    async def main():
        conn = await aio_pika.connect(broker.url)
        async with conn:
            chan = await conn.channel()
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as ei:
                await chan.declare_queue(q, passive=True)
            assert ei.value.args[0] == no_queue(q)
            assert chan.is_closed
            assert not conn.is_closed
            chan = await conn.channel()
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
                await chan.get_queue(q, ensure=True)
            chan = await conn.channel()
            await chan.declare_queue("", exclusive=True)  # the connection is still fine

    run(main())


def test_aio_pika_exclusive_locked(broker, uniq):
    q = uniq("qx")

    async def main():
        owner = await aio_pika.connect(broker.url)
        other = await aio_pika.connect(broker.url)
        async with owner, other:
            och = await owner.channel()
            await och.declare_queue(q, exclusive=True)
            chan = await other.channel()
            with pytest.raises(aiormq.exceptions.ChannelLockedResource) as ei:
                await chan.declare_queue(q, passive=True)
            assert ei.value.args[0] == locked(q)

    run(main())
