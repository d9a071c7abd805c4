"""Backpressure: a flooding publisher is throttled (state flow), never the consumers; memory stays bounded;
nothing is lost, duplicated or left unconfirmed.

The clients here are raw sockets so a test decides exactly how fast each side writes and reads: a
publisher that writes as fast as the kernel lets it, a consumer that reads slowly or not at all. Every
behaviour is observed from outside: the broker's log, its RSS, queue depths, what the clients receive.
"""

from __future__ import annotations

import re
import time

import pytest
from flow_helpers import (
    MIB,
    ConfirmReader,
    Flooder,
    SlowConsumer,
    assert_exactly_once,
    depth,
    flow_logged_for,
    local_addr,
    queue_and_publisher,
    rss,
    wait_until,
)
from pamqp import commands
from rawclient import RawClient

pytestmark = pytest.mark.skipif(
    __import__("os").environ.get("AMQPD_TEST_URL") is not None,
    reason="reads amqpd's log and RSS")

def test_flooding_publisher_is_throttled_consumers_keep_receiving(broker, uniq):
    queue = uniq("flood")
    admin, pub = queue_and_publisher(broker, queue)
    slow = [SlowConsumer(broker, queue, rate=256 * 1024) for _ in range(2)]
    rss_before = rss(broker.proc.pid)
    flooder = Flooder(pub, queue).start()

    depths, received, peak_rss = [], [], 0
    for _ in range(12):  # 3 s of flooding
        time.sleep(0.25)
        depths.append(depth(admin, queue))
        received.append(sum(len(c.seqs) for c in slow))
        peak_rss = max(peak_rss, rss(broker.proc.pid))
    # the consumers keep receiving while the publisher floods
    assert all(b > a for a, b in zip(received, received[1:], strict=False)), received
    # the publisher is held: what it got into the broker is bounded by the queue's watermark
    assert max(depths) < 10_000, depths
    assert flooder.stalls > 0
    assert wait_until(lambda: flow_logged_for(broker, local_addr(pub)), 5), "publisher never in state flow"
    # a connection that only consumes is never throttled
    assert not any(flow_logged_for(broker, c.addr) for c in slow)
    assert peak_rss - rss_before < 64 * MIB, (rss_before, peak_rss)

    published = flooder.stop()
    for c in slow:
        c.rate = None  # catch up
    assert wait_until(lambda: sum(len(c.seqs) for c in slow) >= published, 30)
    time.sleep(0.2)
    assert_exactly_once([s for c in slow for s in c.seqs], published)
    assert depth(admin, queue) == 0
    for c in slow:
        c.close()
    pub.close()
    admin.close()


def test_throttled_publisher_gets_every_confirm(broker, uniq):
    queue = uniq("confirm")
    admin, pub = queue_and_publisher(broker, queue)
    consumer = SlowConsumer(broker, queue, rate=128 * 1024)
    pub.rpc(1, commands.Confirm.Select(), commands.Confirm.SelectOk)
    total = 200_000  # ~30 MB: more than the kernel's socket buffers can absorb
    confirms = ConfirmReader(pub, total)
    flooder = Flooder(pub, queue, limit=total).start()
    assert wait_until(lambda: flow_logged_for(broker, local_addr(pub)), 10), "publisher never throttled"
    assert wait_until(lambda: flooder.stalls > 0, 10)
    assert flooder.published < total  # held while the consumer is slow
    consumer.rate = None
    flooder.thread.join(40)
    confirms.thread.join(40)
    assert (confirms.upto, confirms.nacks) == (total, 0)
    assert wait_until(lambda: len(consumer.seqs) >= total, 20)
    assert_exactly_once(consumer.seqs, total)
    consumer.close()
    pub.close()
    admin.close()


def test_consumer_that_never_reads_cannot_grow_broker_memory(broker, uniq):
    queue = uniq("stuck")
    admin, pub = queue_and_publisher(broker, queue)
    stuck = SlowConsumer(broker, queue, rate=0)
    rss_before = rss(broker.proc.pid)
    flooder = Flooder(pub, queue, size=1024).start()
    peak = 0
    for _ in range(12):
        time.sleep(0.25)
        peak = max(peak, rss(broker.proc.pid))
    # 3 s of 1 KB messages unthrottled would be hundreds of MB; the broker keeps a bounded window
    assert peak - rss_before < 64 * MIB, (rss_before, peak)
    assert depth(admin, queue) < 10_000
    assert flow_logged_for(broker, local_addr(pub))
    # the publisher is held, not dropped: once the consumer reads, everything arrives exactly once
    stuck.rate = None
    published = flooder.stop()
    assert wait_until(lambda: len(stuck.seqs) >= published, 30)
    time.sleep(0.2)
    assert_exactly_once(stuck.seqs, published)
    stuck.close()
    pub.close()
    admin.close()


def test_publisher_that_never_reads_its_returns_is_not_read_either(broker, uniq):
    # Every publish is mandatory and unroutable, so each one makes the broker write a basic.return back;
    # the client never reads them. The broker stops reading it instead of buffering returns forever.
    pub = RawClient(broker.host, broker.port).connect()
    pub.open_channel(1)
    rss_before = rss(broker.proc.pid)
    flooder = Flooder(pub, uniq("nowhere"), size=1024, mandatory=True).start()
    time.sleep(3)
    grown = rss(broker.proc.pid) - rss_before
    published = flooder.published
    assert grown < 64 * MIB, grown
    assert flooder.stalls > 0
    # bounded by socket buffers plus the broker's output watermark, not by the 3 s of flooding
    assert published < 100_000, published
    # the connection still works once the client reads: drain the returns and close cleanly
    flooder._stop.set()
    pub.sock.settimeout(0.5)
    drained = 0
    deadline = time.monotonic() + 30
    while flooder.thread.is_alive() and time.monotonic() < deadline:
        try:
            drained += len(pub.sock.recv(1 << 20))
        except TimeoutError:
            pass
    assert not flooder.thread.is_alive()
    assert drained > 0
    pub.sock.settimeout(5)
    pub.buf = b""
    pub.close()


def test_flow_state_is_logged_with_the_queue(broker, uniq):
    """The log line names the state, the queue that was behind and its depth (rate limited)."""
    queue = uniq("logged")
    admin, pub = queue_and_publisher(broker, queue)
    consumer = SlowConsumer(broker, queue, rate=64 * 1024)
    flooder = Flooder(pub, queue).start()
    addr = local_addr(pub)
    assert wait_until(lambda: flow_logged_for(broker, addr), 10)
    line = next(ln for ln in broker.log_text().splitlines() if "connection flow" in ln and f"conn={addr}" in ln)
    assert f"queue={queue}" in line and "state=flow" in line
    assert int(re.search(r"depth=(\d+)", line).group(1)) > 1000
    consumer.rate = None
    flooder.stop()
    consumer.close()
    pub.close()
    admin.close()


def test_two_services_feeding_each_other_never_deadlock(broker, uniq):
    """Service P consumes A and publishes to B, service Q consumes B and publishes to A, each on a single
    connection with manual acks. Both queues stay above the flow watermark the whole time, so each
    connection is a publisher into a queue that is behind; a held connection's acks must never be what
    the other queue waits for, or both would stop for good."""
    import threading

    import pika

    a, b = uniq("svc-a"), uniq("svc-b")
    setup = pika.BlockingConnection(broker.pika_params())
    ch = setup.channel()
    for q in (a, b):
        ch.queue_declare(q)
        for i in range(5000):
            ch.basic_publish("", q, str(i).encode())
    setup.close()
    goal = 15_000
    done = {a: 0, b: 0}
    errors: list[BaseException] = []

    def service(source: str, target: str) -> None:
        try:
            conn = pika.BlockingConnection(broker.pika_params())
            c = conn.channel()
            c.basic_qos(prefetch_count=500)

            def on_message(chan, method, _props, body):
                chan.basic_publish("", target, body)
                chan.basic_ack(method.delivery_tag)
                done[source] += 1
                if done[source] >= goal:
                    chan.stop_consuming()

            c.basic_consume(source, on_message)
            deadline = time.monotonic() + 60
            while done[source] < goal and time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.2)
            conn.close()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=service, args=(a, b)), threading.Thread(target=service, args=(b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(70)
    assert not errors, errors
    assert done == {a: goal, b: goal}
    # nothing was lost on the way: 10,000 messages still circulate
    check = pika.BlockingConnection(broker.pika_params())
    cch = check.channel()
    assert wait_until(lambda: cch.queue_declare(a, passive=True).method.message_count
                      + cch.queue_declare(b, passive=True).method.message_count == 10_000, 10)
    check.close()


def test_consumer_that_stopped_reading_is_dropped_after_send_timeout(broker_factory, uniq):
    """tcp_listen_options.send_timeout (RabbitMQ's key, 15 s by default; 1 s here): a client whose output
    stays full without reading any of it is disconnected, with a log line, instead of holding its buffer
    and its messages for ever. A slow reader that makes progress is not (the test above)."""
    b = broker_factory("tcp_listen_options.send_timeout = 1000\n")
    queue = uniq("stopped")
    admin, pub = queue_and_publisher(b, queue)
    stuck = SlowConsumer(b, queue, rate=0)
    flooder = Flooder(pub, queue, size=64 * 1024).start()
    try:
        assert wait_until(lambda: "the client stopped reading its socket" in b.log_text(), 15), b.log_text()[-2000:]
        line = next(ln for ln in b.log_text().splitlines() if "the client stopped reading its socket" in ln)
        assert stuck.addr in line, (stuck.addr, line)
        assert depth(admin, queue) >= 0  # everyone else is served
    finally:
        flooder.stop()
        stuck.close()
        pub.close()
        admin.close()
