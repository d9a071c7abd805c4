"""Helpers shared by the queue-feature integration tests (priority, TTL, DLX, limits, consumers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pika
import pytest


def connect(broker) -> pika.BlockingConnection:
    return pika.BlockingConnection(broker.pika_params())


@pytest.fixture(name="conn")
def conn_fixture(broker):
    c = connect(broker)
    yield c
    if c.is_open:
        c.close()


@pytest.fixture(name="ch")
def ch_fixture(conn):
    return conn.channel()


def publish(ch, queue: str, body: bytes | str, exchange: str = "", **props: Any) -> None:
    if isinstance(body, str):
        body = body.encode()
    ch.basic_publish(exchange, queue, body, pika.BasicProperties(**props))


def get_all(ch, queue: str, limit: int = 1000) -> list:
    """basic.get (no-ack) until empty: [(method, properties, body)]."""
    out = []
    for _ in range(limit):
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append((method, props, body))
    return out


def bodies(ch, queue: str) -> list[str]:
    return [b.decode() for _, _, b in get_all(ch, queue)]


def wait_until(cond: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def count(ch, queue: str) -> int:
    return ch.queue_declare(queue, passive=True).method.message_count


def wait_count(conn, ch, queue: str, n: int, timeout: float = 5.0) -> None:
    def check():
        conn.process_data_events(0)
        return count(ch, queue) == n
    wait_until(check, timeout)


def closed_with(conn, fn: Callable[[Any], Any]) -> tuple[int, str]:
    """Run fn on a fresh channel; return the (code, text) the broker closed it with."""
    channel = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        fn(channel)
    return info.value.reply_code, info.value.reply_text


def consume_n(conn, ch, queue: str, n: int, timeout: float = 5.0, auto_ack: bool = True, **kw: Any) -> list:
    got: list = []

    def on(channel, method, props, body):
        got.append((method, props, body))

    tag = ch.basic_consume(queue, on, auto_ack=auto_ack, **kw)
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        conn.process_data_events(0.02)
    ch.basic_cancel(tag)
    return got
