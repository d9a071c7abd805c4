"""Streams over AMQP 0-9-1 (issue 16), driven by pika against a real amqpd: declare rules, publish with
confirms, every x-stream-offset form, the x-stream-offset header, independent readers, acks that only
give credit back, what RabbitMQ 3.10 refuses, retention by size and by age, restart and kill -9, and
amqpd's named readers and filters."""

from __future__ import annotations

import datetime
import os
import signal
import struct
import time

import pika
import pytest
from conftest import start_amqpd
from helpers import close_quietly
from pamqp import commands

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")

STREAM = {"x-queue-type": "stream"}


@pytest.fixture(scope="module")
def amqpd(tmp_path_factory):
    b = start_amqpd(tmp_path_factory.mktemp("streams"), conf="heartbeat = 0\n")
    yield b
    b.stop()


@pytest.fixture
def conn(amqpd):
    c = pika.BlockingConnection(amqpd.pika_params())
    yield c
    close_quietly(c)


def declare(ch, name: str, **args) -> None:
    ch.queue_declare(name, durable=True, arguments={**STREAM, **args})


def publish(ch, name: str, bodies, **props) -> None:
    ch.confirm_delivery()
    for body in bodies:
        ch.basic_publish("", name, body, pika.BasicProperties(**props))


def read(c, name: str, want: int, prefetch: int = 100, ack: bool = True, timeout: float = 5.0,
         **args) -> list[tuple[int, bytes]]:
    """Consume from a stream on a new channel until `want` deliveries (or the timeout); (offset, body)."""
    ch = c.channel()
    ch.basic_qos(prefetch_count=prefetch)
    got: list[tuple[int, bytes]] = []

    def on_message(chan, method, props, body):
        got.append((props.headers["x-stream-offset"], body))
        if ack:
            chan.basic_ack(method.delivery_tag)

    ch.basic_consume(name, on_message, arguments=args)
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        c.process_data_events(0.05)
    c.process_data_events(0.1)  # anything beyond `want` shows up too
    ch.close()
    return got


def test_publish_with_confirms_then_read_from_every_offset_form(conn):
    ch = conn.channel()
    declare(ch, "forms")
    publish(ch, "forms", [b"m%d" % i for i in range(10)])
    assert ch.queue_declare("forms", durable=True, arguments=STREAM).method.message_count == 10
    everything = [(i, b"m%d" % i) for i in range(10)]
    assert read(conn, "forms", 10, **{"x-stream-offset": "first"}) == everything
    assert read(conn, "forms", 4, **{"x-stream-offset": 6}) == everything[6:]
    assert read(conn, "forms", 1, **{"x-stream-offset": "last"}) == everything[9:]
    assert read(conn, "forms", 10, **{"x-stream-offset": "1h"}) == everything
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    assert read(conn, "forms", 10, **{"x-stream-offset": past}) == everything
    for start in ("next", 1000):  # past the end behaves like next
        assert read(conn, "forms", 1, timeout=0.3, **{"x-stream-offset": start}) == []
    assert read(conn, "forms", 1, timeout=0.3) == []  # default: next


def test_header_is_a_long_spliced_into_the_properties_sent(amqpd):
    """Byte level: the delivered properties are the published ones with one more headers field,
    x-stream-offset of type 'l' (signed 64-bit), as RabbitMQ 3.10 sends it."""
    from rawclient import F, RawClient, encode_properties, encode_table

    with RawClient(amqpd.host, amqpd.port) as c:
        ch = c.open_channel()
        c.declare_queue(ch, "bytes-s", durable=True, arguments=STREAM)
        for props in (encode_properties(content_type="text/plain", headers=[("k", F("S", "v"))], delivery_mode=2),
                      encode_properties(content_encoding="gzip", message_id="m")):
            c.publish(ch, b"body", routing_key="bytes-s", properties=props)
        c.rpc(ch, commands.Basic.Qos(prefetch_count=10), commands.Basic.QosOk)
        c.send_method(ch, commands.Basic.Consume(queue="bytes-s", arguments={"x-stream-offset": "first"}))
        c.wait_method(ch, commands.Basic.ConsumeOk)
        field = lambda n: b"\x0fx-stream-offsetl" + struct.pack(">q", n)  # noqa: E731
        _, hdr, body, _ = c.read_message(ch)
        table = encode_table([("k", F("S", "v"))]) + field(0)
        assert hdr.header_properties == encode_properties(content_type="text/plain", headers=table, delivery_mode=2)
        _, hdr, body, _ = c.read_message(ch)
        assert hdr.header_properties == encode_properties(content_encoding="gzip", headers=field(1), message_id="m")
        assert body == b"body"


def test_next_reader_gets_what_is_published_after_it_started(conn):
    ch = conn.channel()
    declare(ch, "live")
    publish(ch, "live", [b"old"])
    reader = conn.channel()
    reader.basic_qos(prefetch_count=10)
    got = []
    reader.basic_consume("live", lambda c, m, p, b: (got.append((p.headers["x-stream-offset"], b)),
                                                     c.basic_ack(m.delivery_tag)))
    conn.process_data_events(0.2)
    publish(ch, "live", [b"new1", b"new2"], headers={"k": "v", "x-stream-offset": 99})  # the real one wins
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        conn.process_data_events(0.05)
    assert got == [(1, b"new1"), (2, b"new2")]


def test_acks_only_give_credit_and_readers_are_independent(conn):
    ch = conn.channel()
    declare(ch, "credit")
    publish(ch, "credit", [b"%d" % i for i in range(6)])
    held = read(conn, "credit", 6, prefetch=2, ack=False, timeout=0.5, **{"x-stream-offset": "first"})
    assert [o for o, _ in held] == [0, 1]  # prefetch 2, nothing acked: two deliveries only
    a = read(conn, "credit", 6, prefetch=2, **{"x-stream-offset": "first"})
    b = read(conn, "credit", 6, prefetch=2, **{"x-stream-offset": "first"})
    assert [o for o, _ in a] == [o for o, _ in b] == list(range(6))  # reading removed nothing
    assert ch.queue_declare("credit", durable=True, arguments=STREAM).method.message_count == 6


def test_refusals_as_rabbitmq_answers_them(amqpd):
    def fresh():
        return pika.BlockingConnection(amqpd.pika_params())

    c = fresh()
    ch = c.channel()
    declare(ch, "refuse")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
        ch.basic_get("refuse")
    assert exc.value.reply_code == 540
    assert exc.value.reply_text == ("NOT_IMPLEMENTED - basic.get not supported by stream queues queue 'refuse' "
                                    "in vhost '/'")
    c = fresh()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
        ch = c.channel()
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume("refuse", lambda *a: None, auto_ack=True)
    assert exc.value.reply_code == 540 and "automatic acknowledgement not supported by stream queues" in \
        exc.value.reply_text
    c = fresh()
    ch = c.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_consume("refuse", lambda *a: None)
    assert exc.value.reply_code == 406
    assert exc.value.reply_text == ("PRECONDITION_FAILED - consumer prefetch count is not set for "
                                    "'queue 'refuse' in vhost '/''")
    for args in ({"x-stream-offset": "bogus"}, {"x-stream-offset": {"a": 1}}, {"x-stream-reader": ""},
                 {"x-stream-filter": 5}):
        ch = c.channel()
        ch.basic_qos(prefetch_count=1)
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ch.basic_consume("refuse", lambda *a: None, arguments=args)
        assert exc.value.reply_code == 406, args
    c = fresh()
    ch = c.channel()
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
        ch.queue_purge("refuse")
    assert exc.value.reply_text == ("NOT_IMPLEMENTED - queue.purge not supported by stream queues queue 'refuse' "
                                    "in vhost '/'")
    for settle in (lambda ch, tag: ch.basic_nack(tag, requeue=True), lambda ch, tag: ch.basic_reject(tag, False)):
        c = fresh()
        ch = c.channel()
        publish(ch, "refuse", [b"x"])
        ch.basic_qos(prefetch_count=1)
        tags: list[int] = []
        ch.basic_consume("refuse", lambda chan, m, p, b, tags=tags: tags.append(m.delivery_tag),
                         arguments={"x-stream-offset": "first"})
        while not tags:
            c.process_data_events(0.05)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:
            settle(ch, tags[0])
            c.process_data_events(1)
        assert exc.value.reply_text == ("NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream "
                                        "queues queue 'refuse' in vhost '/'")
    c = fresh()
    for args, err in (({"x-max-age": 5}, "{unacceptable_type,signedint}"), ({"x-max-age": "0s"}, "invalid_max_age"),
                      ({"x-max-age": "abc"}, "invalid_max_age"),
                      ({"x-stream-max-segment-size-bytes": -1}, "{value_negative,-1}")):
        ch = c.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ch.queue_declare("refuse-args", durable=True, arguments={**STREAM, **args})
        key = next(iter(args))
        assert exc.value.reply_text == (f"PRECONDITION_FAILED - invalid arg '{key}' for queue 'refuse-args' in "
                                        f"vhost '/': {err}")
    for kw, prop in (({"durable": False}, "non-durable"), ({"exclusive": True}, "exclusive-owner"),
                     ({"auto_delete": True}, "auto-delete")):
        ch = c.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
            ch.queue_declare("refuse-" + prop, **{"durable": True, **kw}, arguments=STREAM)
        assert exc.value.reply_code == 406
        assert exc.value.reply_text == (f"PRECONDITION_FAILED - invalid property '{prop}' for queue "
                                        f"'refuse-{prop}' in vhost '/'")
    close_quietly(c)


def test_retention_by_size_drops_whole_segments_and_readers_continue_from_the_first_kept(conn):
    ch = conn.channel()
    declare(ch, "bysize", **{"x-stream-max-segment-size-bytes": 1000, "x-max-length-bytes": 3000})
    publish(ch, "bysize", [b"x" * 100 for _ in range(100)])
    got = read(conn, "bysize", 100, timeout=1.0, **{"x-stream-offset": "first"})
    first = got[0][0]
    assert first > 0  # whole segments went (sizes count the stored record: properties and routing too)
    assert [o for o, _ in got] == list(range(first, 100))  # the rest, in order; offsets not reused
    assert ch.queue_declare("bysize", passive=True).method.message_count == 100 - first
    assert read(conn, "bysize", 1, **{"x-stream-offset": 0})[0][0] == first  # behind retention: first kept


def test_retention_by_age(conn):
    ch = conn.channel()
    declare(ch, "byage", **{"x-stream-max-segment-size-bytes": 500, "x-max-age": "1s"})
    publish(ch, "byage", [b"o" * 100 for _ in range(10)])  # two segments
    time.sleep(1.5)
    publish(ch, "byage", [b"n" * 100 for _ in range(6)])  # new segments start: the old ones are too old
    got = read(conn, "byage", 16, timeout=1.0, **{"x-stream-offset": "first"})
    old = [o for o, body in got if body.startswith(b"o")]
    # whole segments went: only old records sharing the open segment with new ones can remain
    assert got[0][0] > 0 and len(old) <= 3, old
    assert [o for o, body in got if body.startswith(b"n")] == list(range(10, 16))


def test_max_length_bytes_policy_applies_to_a_stream(amqpd, conn):
    from mgmt_helpers import Api

    api = Api(amqpd.http_port)
    assert api.put("/policies/%2F/stream-size", {"pattern": "^policed$", "apply-to": "queues",
                                                  "definition": {"max-length-bytes": 2000}}).status == 201
    ch = conn.channel()
    declare(ch, "policed", **{"x-stream-max-segment-size-bytes": 1000})
    publish(ch, "policed", [b"p" * 100 for _ in range(60)])
    assert ch.queue_declare("policed", passive=True).method.message_count < 60
    assert api.get("/queues/%2F/policed").body["policy"] == "stream-size"
    api.delete("/policies/%2F/stream-size")


def test_kill_9_keeps_every_confirmed_record_and_its_offset(tmp_path):
    b = start_amqpd(tmp_path, conf="heartbeat = 0\n")
    try:
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        declare(ch, "durable-s")
        publish(ch, "durable-s", [b"d%d" % i for i in range(50)])
        # a named reader acknowledges the first 20: the broker keeps its mark (amqpd's x-stream-reader)
        reader = c.channel()
        reader.basic_qos(prefetch_count=20)
        tags: list[int] = []
        reader.basic_consume("durable-s", lambda chan, m, p, body: tags.append(m.delivery_tag),
                             arguments={"x-stream-offset": "first", "x-stream-reader": "billing"})
        while len(tags) < 20:
            c.process_data_events(0.05)
        reader.basic_ack(tags[-1], multiple=True)
        c.process_data_events(0.1)
        time.sleep(0.5)  # the mark is written with the store's next batch, a few ms after the last ack
        b.stop(signal.SIGKILL)
        b = start_amqpd(tmp_path, conf="heartbeat = 0\n", data_dir=b.data_dir)
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        assert ch.queue_declare("durable-s", durable=True, arguments=STREAM).method.message_count == 50
        assert read(c, "durable-s", 50, **{"x-stream-offset": "first"}) == [(i, b"d%d" % i) for i in range(50)]
        resumed = read(c, "durable-s", 50, **{"x-stream-reader": "billing"})
        assert resumed and resumed[0][0] == 20  # resumes after what it acknowledged
        publish(ch, "durable-s", [b"after"])
        assert read(c, "durable-s", 1, **{"x-stream-offset": "last"}) == [(50, b"after")]  # offsets go on
        close_quietly(c)
    finally:
        b.stop()


def test_filter_values(conn):
    ch = conn.channel()
    declare(ch, "filtered")
    ch.confirm_delivery()
    for i, colour in enumerate(["red", "blue", None, "red", "green"]):
        headers = {"x-stream-filter-value": colour} if colour else None
        ch.basic_publish("", "filtered", b"%d" % i, pika.BasicProperties(headers=headers))
    red = read(conn, "filtered", 2, **{"x-stream-offset": "first", "x-stream-filter": "red"})
    assert [o for o, _ in red] == [0, 3]
    some = read(conn, "filtered", 4, **{"x-stream-offset": "first", "x-stream-filter": ["blue", "green"],
                                        "x-stream-match-unfiltered": True})
    assert [o for o, _ in some] == [1, 2, 4]


def test_api_cli_and_browse_show_the_stream(amqpd, conn):
    from ctl_helpers import amqpctl, conf_of
    from mgmt_helpers import Api

    ch = conn.channel()
    declare(ch, "shown")
    publish(ch, "shown", [b"s%d" % i for i in range(5)])
    reader = conn.channel()
    reader.basic_qos(prefetch_count=2)
    reader.basic_consume("shown", lambda *a: None, arguments={"x-stream-offset": "first"})
    conn.process_data_events(0.3)
    q = Api(amqpd.http_port).get("/queues/%2F/shown").body
    assert q["type"] == "stream" and q["messages"] == 5 and q["messages_unacknowledged"] == 0
    s = q["amqpd_stream"]
    assert (s["first_offset"], s["last_offset"], s["messages"]) == (0, 4, 5) and s["bytes"] > 10
    assert [(r["offset"], r["lag"]) for r in s["readers"]] == [(2, 3)]  # two delivered, three to go
    browse = Api(amqpd.http_port).get("/queues/%2F/shown/messages?offset=3&count=5").body
    assert [(m["stream_offset"], m["payload"]) for m in browse] == [(3, "s3"), (4, "s4")]
    import urllib.request

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{amqpd.metrics_port}/metrics", timeout=5).read().decode()
    assert 'amqpd_stream_last_offset{queue="shown",vhost="/"} 4.0' in metrics
    assert 'amqpd_stream_reader_lag_max{queue="shown",vhost="/"} 3.0' in metrics
    assert f'amqpd_stream_bytes{{queue="shown",vhost="/"}} {float(s["bytes"])}' in metrics
    r = amqpctl("stream_status", "shown", conf=conf_of(amqpd))
    assert r.code == 0 and r.out.splitlines()[1].split("\t")[:6] == ["role", "node", "epoch", "offset",
                                                                       "committed_offset", "first_offset"], r
    r = amqpctl("-q", "list_queues", "name", "type", conf=conf_of(amqpd))
    assert "shown\tstream" in r.out


def test_readers_share_the_dispatch_fairly(amqpd, conn):
    """Readers that get their credit back at once must not keep the others waiting: each gets a share of
    every dispatch pass, and the pass starts with a different reader each time. Measured at the byte level
    by the order the broker sends deliveries in (a client library would reorder them by channel)."""
    from rawclient import FRAME_METHOD, RawClient

    ch = conn.channel()
    declare(ch, "fair")
    ch.confirm_delivery()
    for i in range(5_000):
        ch.basic_publish("", "fair", b"%d" % i)
    order: list[int] = []
    with RawClient(amqpd.host, amqpd.port) as c:
        for n in range(1, 11):
            c.open_channel(n)
            c.rpc(n, commands.Basic.Qos(prefetch_count=2000), commands.Basic.QosOk)
        for n in range(1, 11):  # all at once: waiting for one consume-ok would skip the others' deliveries
            c.send_method(n, commands.Basic.Consume(queue="fair", arguments={"x-stream-offset": "first"}))
        while len(order) < 10_000:  # the first fifth of what the ten will read
            f = c.read_frame(timeout=10)
            if f.type == FRAME_METHOD and isinstance(f.method, commands.Basic.Deliver):
                order.append(f.channel)
                if f.method.delivery_tag % 100 == 0:  # credit back quickly, as a busy consumer does
                    c.send_method(f.channel, commands.Basic.Ack(delivery_tag=f.method.delivery_tag, multiple=True))
    counts = [order.count(n) for n in range(1, 11)]
    # unfair, the first readers would take every pass and the last would not have started yet
    assert min(counts) > 10_000 / 20, counts
