"""Retries with backoff (issue 17): x-retry-delays / x-retry-limit (and the policy keys) turn a reject or
nack without requeue into a redelivery after a growing delay, counted in x-retry-count; past the limit the
message is dead-lettered as before, with its x-death history. A retry waiting survives kill -9."""

from __future__ import annotations

import os
import signal
import time

import pika
import pytest
from conftest import start_amqpd
from helpers import close_quietly
from mgmt_helpers import Api

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")


@pytest.fixture(scope="module")
def amqpd(tmp_path_factory):
    b = start_amqpd(tmp_path_factory.mktemp("retries"), conf="heartbeat = 0\n")
    yield b
    b.stop()


@pytest.fixture
def ch(amqpd):
    c = pika.BlockingConnection(amqpd.pika_params())
    yield c.channel()
    close_quietly(c)


def reject_all(ch, queue: str, want: int, timeout: float = 5.0, nack: bool = False):
    """Consume and reject (or nack) every delivery without requeue; (monotonic time, x-retry-count)."""
    seen: list[tuple[float, object]] = []

    def on_message(c, m, p, b):
        seen.append((time.monotonic(), (p.headers or {}).get("x-retry-count")))
        if nack:
            c.basic_nack(m.delivery_tag, requeue=False)
        else:
            c.basic_reject(m.delivery_tag, requeue=False)

    tag = ch.basic_consume(queue, on_message)
    deadline = time.monotonic() + timeout
    while len(seen) < want and time.monotonic() < deadline:
        ch.connection.process_data_events(0.005)
    ch.basic_cancel(tag)
    return seen


def test_delays_are_followed_then_the_message_is_dead_lettered(ch):
    ch.queue_declare("dead", durable=True)
    ch.queue_declare("work", durable=True, arguments={"x-retry-delays": [100, 200, 400], "x-dead-letter-exchange": "",
                                                      "x-dead-letter-routing-key": "dead"})
    ch.basic_publish("", "work", b"job", pika.BasicProperties(delivery_mode=2))
    seen = reject_all(ch, "work", 4)
    assert [count for _, count in seen] == [None, 1, 2, 3]
    gaps = [round((b[0] - a[0]) * 1000) for a, b in zip(seen, seen[1:], strict=False)]
    for gap, want in zip(gaps, (100, 200, 400), strict=True):
        assert want - 5 <= gap < want + 150, gaps
    time.sleep(0.2)
    method, props, body = ch.basic_get("dead", auto_ack=True)
    assert body == b"job" and props.headers["x-retry-count"] == 3
    death = props.headers["x-death"][0]
    assert (death["queue"], death["reason"], death["count"]) == ("work", "rejected", 1)
    assert ch.queue_declare("work", passive=True).method.message_count == 0


def test_exponential_form_and_nack(ch):
    ch.queue_declare("expo", arguments={"x-retry-delays": {"base": 50, "factor": 2, "max": 150},
                                        "x-retry-limit": 4})
    ch.basic_publish("", "expo", b"e")
    seen = reject_all(ch, "expo", 5, nack=True)
    gaps = [round((b[0] - a[0]) * 1000) for a, b in zip(seen, seen[1:], strict=False)]
    assert len(gaps) == 4
    for gap, want in zip(gaps, (50, 100, 150, 150), strict=True):  # base × 2^n, at most max
        assert want - 5 <= gap < want + 150, gaps
    time.sleep(0.3)
    assert ch.queue_declare("expo", passive=True).method.message_count == 0  # no DLX: dropped at the limit


def test_policy_keys_apply(amqpd, ch):
    api = Api(amqpd.http_port)
    assert api.put("/policies/%2F/retrying", {"pattern": "^pol-", "apply-to": "queues",
                                               "definition": {"retry-delays": [50], "retry-limit": 2}}).status == 201
    ch.queue_declare("pol-q")
    ch.basic_publish("", "pol-q", b"p")
    assert [c for _, c in reject_all(ch, "pol-q", 3)] == [None, 1, 2]
    bad = api.put("/policies/%2F/bad", {"pattern": "x", "definition": {"retry-delays": "soon"}})
    assert bad.status == 400 and "retry" in bad.body["reason"]
    api.delete("/policies/%2F/retrying")


@pytest.mark.parametrize(("args", "text"), [
    ({"x-retry-delays": []}, "x-retry-delays"), ({"x-retry-delays": "1s"}, "x-retry-delays"),
    ({"x-retry-delays": {"base": 0}}, "x-retry-delays"), ({"x-retry-delays": [10], "x-retry-limit": -1},
                                                          "x-retry-limit")])
def test_invalid_arguments_are_refused(amqpd, args, text):
    c = pika.BlockingConnection(amqpd.pika_params())
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        c.channel().queue_declare("bad-retry", arguments=args)
    assert exc.value.reply_code == 406 and f"invalid arg '{text}'" in exc.value.reply_text
    close_quietly(c)


def test_a_waiting_retry_survives_kill_9(tmp_path):
    b = start_amqpd(tmp_path, conf="heartbeat = 0\n")
    try:
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        # long enough that a slow restart (a loaded CI machine) does not reach it
        ch.queue_declare("durable-work", durable=True, arguments={"x-retry-delays": [6000]})
        ch.confirm_delivery()
        ch.basic_publish("", "durable-work", b"again", pika.BasicProperties(delivery_mode=2))
        assert len(reject_all(ch, "durable-work", 1)) == 1
        assert Api(b.http_port).get("/queues/%2F/durable-work").body["amqpd_retrying"] == 1
        time.sleep(0.3)  # the retry's record is written with the store's next batch
        b.stop(signal.SIGKILL)
        b = start_amqpd(tmp_path, conf="heartbeat = 0\n", data_dir=b.data_dir)
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        assert ch.queue_declare("durable-work", passive=True).method.message_count == 0
        assert Api(b.http_port).get("/queues/%2F/durable-work").body["amqpd_retrying"] == 1
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            got = ch.basic_get("durable-work", auto_ack=True)[2]
            time.sleep(0.05)
        assert got == b"again"
        close_quietly(c)
    finally:
        b.stop()
