"""Helpers and fixtures shared by the protocol-class integration tests (basic, confirms/tx, content,
exchanges, queues).

tests/integration has no __init__.py: test files import this as `from helpers import ...`. Fixtures are
defined as `<name>_fixture` with `name=`, so a test file brings them in by importing them
(`# noqa: F401`), like qf_helpers.
"""

from __future__ import annotations

import re
import time

import pika
import pika.exceptions
import pytest
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker
from rawclient import RawClient

# ---------------------------------------------------------------------------------------------------------
# pika I/O


def drain(conn: pika.BlockingConnection, until=lambda: False, timeout: float = 5.0) -> bool:
    """Process I/O until `until()` is true or `timeout` passes; returns the final value of `until()`."""
    deadline = time.monotonic() + timeout
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            return until()
        conn.process_data_events(time_limit=min(0.05, left))
    return True


def settle(conn: pika.BlockingConnection, seconds: float = 0.3) -> None:
    """Process I/O for a fixed time (to show that nothing more arrives)."""
    drain(conn, lambda: False, timeout=seconds)


def message_count(ch, queue: str) -> int:
    return ch.queue_declare(queue, passive=True).method.message_count


def wait_count(ch, queue: str, n: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        c = message_count(ch, queue)
        if c == n or time.monotonic() > deadline:
            return c
        time.sleep(0.05)


def close_quietly(c) -> None:
    try:
        if c.is_open:
            c.close()
    except Exception:
        pass


def run_select_connection(broker, on_channel, timeout: float = 10.0):
    """Open a pika SelectConnection, open a channel on it and hand it to on_channel(channel); run the
    ioloop until the connection closes (the test's callbacks close it, channel.connection.close(), once
    they are done) or `timeout` passes. Returns (error, close reason): error is None, the error that kept
    the connection from opening, or "timeout"."""
    result: dict = {"error": None, "closed": None}

    def on_open(connection):
        connection.channel(on_open_callback=on_channel)

    def on_open_error(connection, err):
        result["error"] = err
        connection.ioloop.stop()

    def on_closed(connection, reason):
        result["closed"] = reason
        connection.ioloop.stop()

    def on_timeout():
        result["error"] = "timeout"
        if conn.is_open:
            conn.close()
        else:
            conn.ioloop.stop()

    conn = pika.SelectConnection(broker.pika_params(), on_open_callback=on_open, on_open_error_callback=on_open_error,
                                 on_close_callback=on_closed)
    conn.ioloop.call_later(timeout, on_timeout)
    conn.ioloop.start()
    return result["error"], result["closed"]


# ---------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(name="connect")
def connect_fixture(broker):
    """Factory of pika connections (keyword arguments go to broker.pika_params), all closed at the end."""
    opened: list[pika.BlockingConnection] = []

    def make(**kw) -> pika.BlockingConnection:
        c = pika.BlockingConnection(broker.pika_params(**kw))
        opened.append(c)
        return c

    yield make
    for c in opened:
        close_quietly(c)


@pytest.fixture(name="conn")
def conn_fixture(connect):
    return connect()


@pytest.fixture(name="ch")
def confirm_ch_fixture(conn):
    """A channel in confirm mode: basic_publish returns once the message is routed (and raises
    UnroutableError when a mandatory message comes back)."""
    c = conn.channel()
    c.confirm_delivery()
    return c


def delete_quietly(broker, queues=(), exchanges=()) -> None:
    """Delete queues, then exchanges, each on a fresh channel of a new connection, ignoring errors
    (whatever happened to the test's own connection)."""
    c = pika.BlockingConnection(broker.pika_params())
    try:
        for names, delete in ((queues, "queue_delete"), (exchanges, "exchange_delete")):
            for name in names:
                chan = c.channel()
                try:
                    getattr(chan, delete)(name)
                    chan.close()
                except pika.exceptions.AMQPError:
                    pass
    finally:
        c.close()


@pytest.fixture(name="queue")
def queue_fixture(broker, uniq):
    """Factory for durable-less, non-exclusive queues that are deleted when the test ends."""
    names: list[str] = []

    def make(prefix: str = "q", **kw) -> str:
        name = uniq(prefix)
        with pika.BlockingConnection(broker.pika_params()) as c:
            c.channel().queue_declare(name, **kw)
        names.append(name)
        return name

    yield make
    try:
        with pika.BlockingConnection(broker.pika_params()) as c:
            ch = c.channel()
            for n in names:
                ch.queue_delete(n)
    except Exception:
        pass


@pytest.fixture(name="raw")
def raw_fixture(broker):
    """Factory of connected RawClients, all closed at the end of the test."""
    clients: list[RawClient] = []

    def make(**kw) -> RawClient:
        c = RawClient(broker.host, broker.port, vhost=broker.vhost, **kw).connect()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


# ---------------------------------------------------------------------------------------------------------
# errors


def assert_reply(err, code: int, text: str | None = None, pattern: str | None = None) -> None:
    """A close by the broker carries `code`, and `text` exactly / a reply text matching `pattern`."""
    assert err.reply_code == code, err
    if text is not None:
        assert err.reply_text == text
    if pattern is not None:
        assert re.fullmatch(pattern, err.reply_text), err.reply_text


def assert_closed(close, code: int, text: str, method: tuple[int, int]) -> None:
    """A channel.close / connection.close the broker sent (RawClient.wait_close, wait_channel_close): its
    reply code and text, and the (class id, method id) of the method that caused it."""
    assert (close.reply_code, close.reply_text) == (code, text)
    assert (close.class_id, close.method_id) == method


def _closed_by_broker(conn, fn, exc_type, code: int, text: str | None, pattern: str | None):
    chan = conn.channel()
    with pytest.raises(exc_type) as ei:
        fn(chan)
    assert_reply(ei.value, code, text, pattern)
    return chan, ei.value


def channel_error(conn, fn, code: int, text: str | None = None, pattern: str | None = None):
    """Run fn(channel) on a fresh channel; it must be closed by the broker with code (and text), and the
    connection must stay usable."""
    chan, err = _closed_by_broker(conn, fn, ChannelClosedByBroker, code, text, pattern)
    assert chan.is_closed
    assert conn.is_open
    probe = conn.channel()  # the connection is alive and well
    probe.exchange_declare("amq.direct", passive=True)
    probe.close()
    return err


def connection_error(conn, fn, code: int, text: str | None = None, pattern: str | None = None):
    """Run fn(channel) on a fresh channel; the broker must close the whole connection with code (and text)."""
    _chan, err = _closed_by_broker(conn, fn, ConnectionClosedByBroker, code, text, pattern)
    assert conn.is_closed
    return err
