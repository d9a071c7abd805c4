"""kombu producers and consumers (py-amqp transport), as applications use them."""

from __future__ import annotations

import threading
import time

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.mixins import ConsumerMixin


@pytest.fixture
def conn(amqp_url):
    with Connection(amqp_url, heartbeat=10, transport_options={"confirm_publish": True}) as c:
        c.ensure_connection(max_retries=3)
        yield c


def test_direct_exchange_roundtrip(conn, uniq):
    ex = Exchange(uniq("ex"), type="direct", durable=False, auto_delete=True)
    q = Queue(uniq("q"), ex, routing_key="rk", durable=False, auto_delete=True)
    received = []

    def on_message(body, message):
        received.append((body, message.properties.get("content_type"), message.delivery_info["routing_key"]))
        message.ack()

    with conn.channel() as ch:
        with Consumer(ch, [q], callbacks=[on_message], accept=["json"]):
            Producer(conn.channel()).publish({"n": 1}, exchange=ex, routing_key="rk", serializer="json",
                                             declare=[ex, q])
            deadline = time.monotonic() + 10
            while not received and time.monotonic() < deadline:
                conn.drain_events(timeout=1)
    assert received == [({"n": 1}, "application/json", "rk")]


def test_topic_routing(conn, uniq):
    ex = Exchange(uniq("topic"), type="topic", durable=False, auto_delete=True)
    qa = Queue(uniq("a"), ex, routing_key="stock.*.nyse", durable=False, auto_delete=True)
    qb = Queue(uniq("b"), ex, routing_key="stock.#", durable=False, auto_delete=True)
    with conn.channel() as ch:
        for q in (qa, qb):
            q(ch).declare()
        p = Producer(ch, exchange=ex, serializer="json")
        p.publish("ibm", routing_key="stock.ibm.nyse")
        p.publish("sap", routing_key="stock.sap.xetra")
        p.publish("x", routing_key="bond.x")
        got = {}
        for q in (qa, qb):
            bound = q(ch)
            bodies = []
            while (m := bound.get(no_ack=True)) is not None:
                bodies.append(m.payload)
            got[q.routing_key] = bodies
    assert got == {"stock.*.nyse": ["ibm"], "stock.#": ["ibm", "sap"]}


def test_fanout_and_headers(conn, uniq):
    fan = Exchange(uniq("fan"), type="fanout", durable=False, auto_delete=True)
    hdr = Exchange(uniq("hdr"), type="headers", durable=False, auto_delete=True)
    qs = [Queue(uniq("f"), fan, durable=False, auto_delete=True) for _ in range(3)]
    qh = Queue(uniq("h"), hdr, durable=False, auto_delete=True, binding_arguments={"x-match": "all", "k": "v"})
    with conn.channel() as ch:
        for q in (*qs, qh):
            q(ch).declare()
        p = Producer(ch, serializer="json")
        p.publish("to-all", exchange=fan, routing_key="ignored")
        p.publish("match", exchange=hdr, headers={"k": "v"})
        p.publish("nomatch", exchange=hdr, headers={"k": "w"})
        assert [q(ch).get(no_ack=True).payload for q in qs] == ["to-all"] * 3
        assert qh(ch).get(no_ack=True).payload == "match"
        assert qh(ch).get(no_ack=True) is None


def test_simple_queue(conn, uniq):
    name = uniq("simple")
    with conn.SimpleQueue(name, queue_opts={"durable": False, "auto_delete": False}) as sq:
        for i in range(20):
            sq.put({"i": i}, serializer="json")
        out = []
        for _ in range(20):
            m = sq.get(block=True, timeout=5)
            out.append(m.payload["i"])
            m.ack()
        assert out == list(range(20))
        assert sq.qsize() == 0
    with conn.channel() as ch:
        Queue(name)(ch).delete()


def test_persistent_message_properties(conn, uniq):
    q = Queue(uniq("props"), durable=True, auto_delete=False)
    with conn.channel() as ch:
        bound = q(ch)
        bound.declare()
        Producer(ch).publish(b"\x00\x01binary", routing_key=q.name, delivery_mode=2, content_type="application/x-raw",
                             content_encoding="binary", headers={"h1": "v", "n": 42, "nested": {"a": [1, "b"]}},
                             correlation_id="cid-1", reply_to="somewhere", message_id="mid-1", priority=3,
                             expiration=60)
        m = bound.get(no_ack=False)
        assert m.body is not None
        assert m.decode() == b"\x00\x01binary"
        assert m.properties["delivery_mode"] == 2
        assert m.properties["correlation_id"] == "cid-1"
        assert m.properties["reply_to"] == "somewhere"
        assert m.properties["message_id"] == "mid-1"
        assert m.properties["priority"] == 3
        assert m.properties["expiration"] == "60000"
        assert m.headers["h1"] == "v" and m.headers["n"] == 42 and m.headers["nested"] == {"a": [1, "b"]}
        m.ack()
        bound.delete()


def test_reject_requeue_and_redelivered(conn, uniq):
    q = Queue(uniq("rq"), durable=False, auto_delete=False)
    with conn.channel() as ch:
        bound = q(ch)
        bound.declare()
        Producer(ch).publish("again", routing_key=q.name, serializer="json")
        m1 = bound.get()
        assert not m1.delivery_info["redelivered"]
        m1.requeue()
        m2 = bound.get()
        assert m2.payload == "again" and m2.delivery_info["redelivered"]
        m2.reject()  # requeue=False: dropped (no dead-letter exchange configured)
        assert bound.get() is None
        bound.delete()


def test_consumer_mixin_worker_with_qos(amqp_url, uniq):
    q = Queue(uniq("mixin"), durable=False, auto_delete=False)
    seen: list[int] = []

    class Worker(ConsumerMixin):
        def __init__(self, connection):
            self.connection = connection

        def get_consumers(self, Consumer, channel):  # noqa: N803 - kombu's signature
            channel.basic_qos(0, 5, False)
            return [Consumer(queues=[q], callbacks=[self.on_message], accept=["json"])]

        def on_message(self, body, message):
            seen.append(body)
            message.ack()
            if len(seen) == 100:
                self.should_stop = True

    with Connection(amqp_url) as producer_conn:
        with producer_conn.channel() as ch:
            q(ch).declare()
            p = Producer(ch, serializer="json")
            for i in range(100):
                p.publish(i, routing_key=q.name)
    with Connection(amqp_url) as c:
        w = Worker(c)
        th = threading.Thread(target=w.run, daemon=True)
        th.start()
        th.join(30)
        w.should_stop = True
        with c.channel() as ch:
            q(ch).delete()
    assert seen == list(range(100))


def test_confirm_publish_and_mandatory_return(conn, uniq):
    returned = []
    with conn.channel() as ch:
        p = Producer(ch, on_return=lambda exc, exchange, routing_key, message: returned.append(
            (exc.reply_code if hasattr(exc, "reply_code") else exc, routing_key)))
        ex = Exchange(uniq("unrouted"), type="direct", durable=False, auto_delete=True)
        ex(ch).declare()
        p.publish("lost", exchange=ex, routing_key="nowhere", mandatory=True, serializer="json")
        deadline = time.monotonic() + 5
        while not returned and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:
                pass
        assert returned and returned[0][1] == "nowhere"


def test_queue_declare_conflict_is_a_channel_error(conn, uniq):
    name = uniq("conflict")
    with conn.channel() as ch:
        Queue(name, durable=False, auto_delete=False)(ch).declare()
    with conn.channel() as ch2:
        with pytest.raises(conn.channel_errors) as info:
            Queue(name, durable=True, auto_delete=False)(ch2).declare()
        assert getattr(info.value, "code", None) == 406
    with conn.channel() as ch3:
        Queue(name)(ch3).delete()


def test_message_ttl_queue(conn, uniq):
    """kombu Queue(message_ttl=...) -> x-message-ttl: expired messages are gone."""
    q = Queue(uniq("ttl"), durable=False, auto_delete=False, message_ttl=0.2)
    with conn.channel() as ch:
        bound = q(ch)
        bound.declare()
        Producer(ch).publish("short-lived", routing_key=q.name, serializer="json")
        time.sleep(0.5)
        assert bound.get(no_ack=True) is None
        bound.delete()


def test_dead_letter_exchange(conn, uniq):
    """x-dead-letter-exchange: a rejected message is republished to the DLX with x-death."""
    dlx = Exchange(uniq("dlx"), type="fanout", durable=False, auto_delete=False)
    dead = Queue(uniq("dead"), dlx, durable=False, auto_delete=False)
    work = Queue(uniq("work"), durable=False, auto_delete=False,
                 queue_arguments={"x-dead-letter-exchange": dlx.name})
    with conn.channel() as ch:
        dead(ch).declare()
        work(ch).declare()
        Producer(ch).publish("bad", routing_key=work.name, serializer="json")
        work(ch).get().reject()
        time.sleep(0.2)
        m = dead(ch).get(no_ack=True)
        assert m is not None and m.payload == "bad"
        assert m.headers["x-death"][0]["reason"] == "rejected"
        for x in (work, dead):
            x(ch).delete()
        dlx(ch).delete()


def test_max_priority_queue(conn, uniq):
    """x-max-priority: higher priority messages are delivered first."""
    q = Queue(uniq("prio"), durable=False, auto_delete=False, max_priority=10)
    with conn.channel() as ch:
        bound = q(ch)
        bound.declare()
        p = Producer(ch, serializer="json")
        for prio in (1, 5, 9, 3):
            p.publish(prio, routing_key=q.name, priority=prio)
        assert [bound.get(no_ack=True).payload for _ in range(4)] == [9, 5, 3, 1]
        bound.delete()


def test_max_length_queue(conn, uniq):
    """x-max-length: the oldest messages are dropped when the queue is full."""
    q = Queue(uniq("maxlen"), durable=False, auto_delete=False, max_length=3)
    with conn.channel() as ch:
        bound = q(ch)
        bound.declare()
        p = Producer(ch, serializer="json")
        for i in range(5):
            p.publish(i, routing_key=q.name)
        assert [bound.get(no_ack=True).payload for _ in range(3)] == [2, 3, 4]
        bound.delete()
