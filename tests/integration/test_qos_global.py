"""basic.qos global + per-consumer on one channel, as RabbitMQ 3.10 does it (rabbit_channel): a
per-consumer qos (global=false) sets the prefetch of consumers created afterwards *and* lifts the
channel's global limit; a global qos set afterwards applies on top. Every row was measured against
RabbitMQ 3.10.8 with this very test (AMQPD_TEST_URL)."""

from __future__ import annotations

import time

import pytest
from pamqp import commands as C
from rawclient import RawClient  # tests/integration is on sys.path

pytestmark = pytest.mark.timeout(60)


def deliveries(c: RawClient, seconds: float) -> dict[str, int]:
    n: dict[str, int] = {}
    deadline = time.monotonic() + seconds
    try:
        while True:
            f = c.read_frame(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(f.method, C.Basic.Deliver):
                n[f.method.consumer_tag] = n.get(f.method.consumer_tag, 0) + 1
            elif isinstance(f.method, C.Connection.Close | C.Channel.Close):
                raise AssertionError(f.method)
    except TimeoutError:
        return n


# steps: ("qos", global, count) or ("consume", queue index); two queues of 10 messages each
@pytest.mark.parametrize("steps,expected", [
    ([("qos", False, 2), ("qos", True, 3), ("consume", 0), ("consume", 1)], {"c0": 2, "c1": 1}),
    ([("qos", True, 3), ("qos", False, 2), ("consume", 0), ("consume", 1)], {"c0": 2, "c1": 2}),
    ([("qos", True, 3), ("consume", 0), ("qos", False, 2), ("consume", 1)], {"c0": 10, "c1": 2}),
    ([("qos", False, 2), ("consume", 0), ("qos", True, 3), ("consume", 1)], {"c0": 2, "c1": 1}),
    ([("qos", True, 3), ("consume", 0), ("consume", 1)], {"c0": 3}),
    ([("qos", False, 2), ("qos", True, 3), ("qos", True, 0), ("consume", 0), ("consume", 1)], {"c0": 2, "c1": 2}),
    ([("qos", True, 3), ("qos", False, 0), ("consume", 0), ("consume", 1)], {"c0": 10, "c1": 10}),
], ids=["per-consumer-then-global", "global-then-per-consumer", "per-consumer-after-first-consume",
        "global-after-first-consume", "global-only", "global-reset-to-0", "per-consumer-0-lifts-global"])
def test_global_and_per_consumer_prefetch(broker, steps, expected):
    c = RawClient(broker.host, broker.port).connect()
    try:
        c.open_channel(1)
        c.open_channel(2)
        queues = []
        for _ in range(2):
            q = c.declare_queue(2, "", exclusive=True).queue
            for _ in range(10):
                c.publish(2, b"x", "", q)
            queues.append(q)
        c.rpc(2, C.Queue.Declare(queue=queues[1], passive=True), C.Queue.DeclareOk)
        got: dict[str, int] = {}
        for step in steps:
            if step[0] == "qos":
                c.send_method(1, C.Basic.Qos(prefetch_count=step[2], global_=step[1]))
            else:
                c.send_method(1, C.Basic.Consume(queue=queues[step[1]], consumer_tag=f"c{step[1]}"))
            for tag, n in deliveries(c, 0.3).items():
                got[tag] = got.get(tag, 0) + n
        assert got == expected
    finally:
        c.close()


def test_quorum_queue_refuses_global_qos(broker, uniq):
    q = uniq("qq-global")
    c = RawClient(broker.host, broker.port).connect()
    try:
        c.open_channel(1)
        c.open_channel(2)
        c.declare_queue(2, q, durable=True, arguments={"x-queue-type": "quorum"})
        c.rpc(1, C.Basic.Qos(prefetch_count=2, global_=True), C.Basic.QosOk)
        c.send_method(1, C.Basic.Consume(queue=q, consumer_tag="c"))
        m = c.wait_method(0, C.Connection.Close)
        assert (m.reply_code, m.reply_text, m.class_id, m.method_id) == (
            540, f"NOT_IMPLEMENTED - queue '{q}' in vhost '/' does not support global qos", 60, 20)
    finally:
        c.close()
    c = RawClient(broker.host, broker.port).connect()
    try:
        c.open_channel(1)
        c.delete_queue(1, q)
    finally:
        c.close()
