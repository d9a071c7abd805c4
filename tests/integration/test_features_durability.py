"""Queue features survive a broker restart: durable queues, persistent messages, RocksDB store.

Every test runs twice: the broker is stopped gracefully (SIGTERM) or killed (kill -9) after the publishes
were confirmed, then started again on the same data dir and port. What must come back is what RabbitMQ
3.10 brings back for a durable queue with persistent messages:

- x-max-priority: priority order, FIFO within a priority, redelivered flags of delivered messages;
- message TTL (x-message-ttl and the expiration property): the original deadline, dead-lettering with
  reason expired, and messages whose deadline passed while the broker was down never delivered;
- x-expires: the queue comes back and then expires once unused for its time;
- x-max-length / x-max-length-bytes / x-overflow: the limits still apply;
- dead letters (x-death and every other header byte for byte) and the DLX arguments; dead letters made
  at boot join the target queue's recovered messages; a recovered message is dead-lettered with all the
  keys it was published with (CC, BCC);
- x-single-active-consumer;
- quorum queues: the delivery count carries over the restart (x-delivery-limit, x-delivery-count) and
  returned messages are still served first;
- recovery beyond amqpd.queue.index_threshold (content left on disk) changes none of the above.

Writes that a publisher confirm does not cover (ack, nack, the delivered flag, dead letters, a quorum
queue's delivery count) are group committed; before a kill -9 the tests "fence" them: a confirmed
persistent publish on the same connection is only confirmed once every earlier batch is on disk.
"""

from __future__ import annotations

import datetime
import signal
import threading
import time
from decimal import Decimal

import pika
import pika.data
import pika.exceptions
import pytest
from pamqp import commands
from rawclient import RawClient

pytestmark = pytest.mark.timeout(60)

QUORUM = {"x-queue-type": "quorum"}


# ---------------------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(params=["sigterm", "kill9"])
def mode(request):
    return request.param


class Client:
    """One pika connection with one channel in confirm mode (publish, get, ack, declare)."""

    def __init__(self, broker) -> None:
        self.broker = broker
        self.conn = pika.BlockingConnection(broker.pika_params())
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()
        self._fence_q: str | None = None

    def publish(self, rk: str, body: str | bytes, exchange: str = "", mandatory: bool = False, **props) -> None:
        """Publish (persistent unless told otherwise) and wait for the broker's ack; a nack raises NackError."""
        props.setdefault("delivery_mode", 2)
        body = body.encode() if isinstance(body, str) else body
        self.ch.basic_publish(exchange, rk, body, pika.BasicProperties(**props), mandatory=mandatory)

    def count(self, q: str) -> int:
        return self.ch.queue_declare(q, passive=True).method.message_count

    def get(self, q: str, auto_ack: bool = False):
        return self.ch.basic_get(q, auto_ack=auto_ack)

    def get_all(self, q: str, limit: int = 100) -> list:
        out = []
        for _ in range(limit):
            method, props, body = self.ch.basic_get(q, auto_ack=True)
            if method is None:
                return out
            out.append((method, props, body))
        raise AssertionError(f"more than {limit} messages in {q}")

    def bodies(self, q: str) -> list[str]:
        return [b.decode() for _, _, b in self.get_all(q)]

    def routable(self, q: str) -> bool:
        """Does queue q exist? A mandatory transient publish, which (unlike a declare) is not a 'use'."""
        try:
            self.publish(q, b"probe", mandatory=True, delivery_mode=1)
        except pika.exceptions.UnroutableError:
            return False
        return True

    def fence(self) -> None:
        """Make every store write the broker did for this connection so far durable (see module doc)."""
        if self._fence_q is None:
            self._fence_q = f"fence-{time.monotonic_ns()}"
            self.ch.queue_declare(self._fence_q, durable=True)
        self.publish(self._fence_q, b"fence")

    def close(self) -> None:
        try:
            if self.conn.is_open:
                self.conn.close()
        except Exception:
            pass


class Clients:
    """Makes Clients; closes them before a graceful stop (a pika connection that is not pumping events
    cannot answer the broker's connection.close, which would hold the shutdown for its full timeout)."""

    def __init__(self) -> None:
        self.made: list[Client] = []

    def __call__(self, broker) -> Client:
        c = Client(broker)
        self.made.append(c)
        return c

    def close_all(self) -> None:
        for c in self.made:
            c.close()


@pytest.fixture
def clients():
    made = Clients()
    yield made
    made.close_all()


def restart(factory, broker, mode: str, clients: Clients, downtime: float = 0.0, conf: str | None = None):
    """Stop (SIGTERM, expecting a clean exit, or kill -9), optionally stay down a while, start again."""
    if mode == "kill9":
        assert broker.stop(signal.SIGKILL) == -signal.SIGKILL
    else:
        clients.close_all()
        started = time.monotonic()
        assert broker.stop() == 0, broker.log_text()[-3000:]
        assert time.monotonic() - started < 3, "graceful stop took too long"
    if downtime:
        time.sleep(downtime)
    return factory(conf, data_dir=broker.data_dir, port=broker.port)


def wait_for(cond, timeout: float, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


def death(props, index: int = 0) -> dict:
    return props.headers["x-death"][index]


def raw_get(broker, q: str, no_ack: bool = True):
    """basic.get through the raw client: (get-ok, header properties bytes, body)."""
    with RawClient(broker.host, broker.port) as rc:
        rc.open_channel(1)
        rc.send_method(1, commands.Basic.Get(queue=q, no_ack=no_ack))
        method, header, body, _ = rc.read_message(1)
        return method, header.header_properties, body


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:
        pass


def pika_field(name: str, value) -> bytes:
    """A header as pika puts it on the wire: name (shortstr) + type tag + value."""
    pieces: list[bytes] = []
    pika.data.encode_table(pieces, {name: value})
    return b"".join(pieces)[4:]  # without the table's length prefix


# ---------------------------------------------------------------------------------------------------------
# x-max-priority


def test_priority_order_and_redelivered_survive_restart(broker_factory, clients, uniq, mode):
    b = broker_factory()
    c = clients(b)
    q = uniq("prio")
    args = {"x-max-priority": 5}
    c.ch.queue_declare(q, durable=True, arguments=args)
    # (body, priority); no priority means 0, 9 counts as the maximum (5)
    for body, p in [("a0", 0), ("b0", 3), ("a1", None), ("c0", 5), ("b1", 3), ("d0", 9), ("a2", 0), ("c1", 5)]:
        c.publish(q, body, priority=p)
    # delivery order now: c0 d0 c1 b0 b1 a0 a1 a2
    got = [c.get(q) for _ in range(3)]
    assert [body for _, _, body in got] == [b"c0", b"d0", b"c1"]
    tags = {body.decode(): m.delivery_tag for m, _, body in got}
    # b0 is delivered to another connection and stays unacknowledged while the broker goes down
    holder = RawClient(b.host, b.port).connect()
    holder.open_channel(1)
    holder.send_method(1, commands.Basic.Get(queue=q, no_ack=False))
    _, _, body, _ = holder.read_message(1)
    assert body == b"b0"
    c.ch.basic_ack(tags["d0"])
    c.ch.basic_nack(tags["c1"], requeue=True)
    c.ch.basic_nack(tags["c0"], requeue=True)
    c.fence()
    assert c.count(q) == 6
    # it answers the broker's connection.close on a graceful stop
    answer = threading.Thread(target=_quietly, args=(holder.wait_close, 10), daemon=True)
    answer.start()

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    c.ch.queue_declare(q, durable=True, arguments=args)  # a client redeclaring with the same arguments
    assert c.count(q) == 7
    # published after the restart: behind the recovered messages of their priority
    c.publish(q, "n5", priority=5)
    c.publish(q, "n0")
    got = c.get_all(q)
    assert [(body.decode(), m.redelivered) for m, _, body in got] == [
        ("c0", True), ("c1", True), ("n5", False), ("b0", True), ("b1", False),
        ("a0", False), ("a1", False), ("a2", False), ("n0", False),
    ]
    assert [p.priority for _, p, _ in got] == [5, 5, 5, 3, 3, 0, None, 0, None]
    assert all(p.delivery_mode == 2 for _, p, _ in got)
    answer.join(10)
    _quietly(holder.close)


# ---------------------------------------------------------------------------------------------------------
# message TTL


def _dlx(c: Client, uniq) -> tuple[str, str]:
    """A durable direct exchange with a durable queue bound with key 'dead'."""
    dlx, dlq = uniq("dlx"), uniq("dlq")
    c.ch.exchange_declare(dlx, "direct", durable=True)
    c.ch.queue_declare(dlq, durable=True)
    c.ch.queue_bind(dlq, dlx, "dead")
    return dlx, dlq


def test_ttl_remaining_deadline_kept_across_restart(broker_factory, clients, uniq, mode):
    """A message with TTL left expires at its original deadline after the restart, not a full TTL later
    and not never; with a dead-letter exchange it is dead-lettered with reason expired."""
    ttl = 3000
    b = broker_factory()
    c = clients(b)
    dlx, dlq = _dlx(c, uniq)
    dl_args = {"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"}
    q_ttl, q_exp, q_drop = uniq("qttl"), uniq("qexp"), uniq("qdrop")
    c.ch.queue_declare(q_ttl, durable=True, arguments={"x-message-ttl": ttl, **dl_args})
    c.ch.queue_declare(q_exp, durable=True, arguments=dl_args)
    c.ch.queue_declare(q_drop, durable=True, arguments={"x-message-ttl": ttl})
    t0 = time.monotonic()
    c.publish(q_ttl, "by-queue-ttl", message_id="m-ttl")
    c.publish(q_exp, "by-expiration", expiration=str(ttl), message_id="m-exp")
    c.publish(q_drop, "dropped")
    t1 = time.monotonic()
    m, _, body = c.get(q_exp)  # delivered and requeued: keeps its deadline
    assert body == b"by-expiration"
    c.ch.basic_nack(m.delivery_tag, requeue=True)
    c.fence()

    # Down for a while: a deadline reset at boot would land well after the original one.
    b = restart(broker_factory, b, mode, clients, downtime=1.2)
    c = clients(b)
    assert time.monotonic() < t0 + ttl / 1000 - 0.5, "the restart took too long for this test"
    assert (c.count(q_ttl), c.count(q_exp), c.count(q_drop), c.count(dlq)) == (1, 1, 1, 0)

    wait_for(lambda: c.count(dlq) == 2, timeout=t1 + ttl / 1000 + 3 - time.monotonic(), interval=0.03,
             what="both messages dead-lettered")
    expired_at = time.monotonic()
    assert expired_at >= t0 + ttl / 1000 - 0.1, "expired before its deadline"
    assert expired_at <= t1 + ttl / 1000 + 0.9, (
        f"expired {expired_at - t1 - ttl / 1000:.2f}s after its original deadline (TTL restarted at boot?)")
    wait_for(lambda: c.count(q_drop) == 0, timeout=1, what="message without DLX dropped")
    assert (c.count(q_ttl), c.count(q_exp)) == (0, 0)
    assert c.get(q_ttl)[0] is None and c.get(q_exp)[0] is None and c.get(q_drop)[0] is None

    got = {p.message_id: (m, p, body) for m, p, body in c.get_all(dlq)}
    m, p, body = got["m-ttl"]
    assert body == b"by-queue-ttl" and m.exchange == dlx and m.routing_key == "dead"
    assert p.delivery_mode == 2 and p.expiration is None
    d = death(p)
    assert (d["reason"], d["queue"], d["count"], d["exchange"], d["routing-keys"]) == \
        ("expired", q_ttl, 1, "", [q_ttl])
    assert "original-expiration" not in d
    assert p.headers["x-first-death-reason"] == "expired" and p.headers["x-first-death-queue"] == q_ttl
    m, p, body = got["m-exp"]
    assert body == b"by-expiration" and p.expiration is None and p.delivery_mode == 2
    d = death(p)
    assert (d["reason"], d["queue"], d["count"]) == ("expired", q_exp, 1)
    assert d["original-expiration"] == str(ttl)


def test_deadline_passed_while_down_never_delivered(broker_factory, clients, uniq, mode):
    """Messages whose deadline passed while the broker was down are dropped or dead-lettered at boot
    (or right after), never delivered; a message behind them with time left is."""
    ttl = 800
    b = broker_factory()
    c = clients(b)
    dlx, dlq = _dlx(c, uniq)
    dl_args = {"x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"}
    q_ttl, q_exp, q_drop = uniq("qttl"), uniq("qexp"), uniq("qdrop")
    c.ch.queue_declare(q_ttl, durable=True, arguments={"x-message-ttl": ttl, **dl_args})
    c.ch.queue_declare(q_exp, durable=True, arguments=dl_args)
    c.ch.queue_declare(q_drop, durable=True, arguments={"x-message-ttl": ttl})
    t0 = time.monotonic()
    c.publish(q_ttl, "t-doomed")
    c.publish(q_exp, "e-doomed", expiration=str(ttl))
    c.publish(q_exp, "e-keep", expiration="60000")
    c.publish(q_drop, "d-doomed")

    b = restart(broker_factory, b, mode, clients, downtime=max(0.0, t0 + ttl / 1000 + 0.4 - time.monotonic()))
    c = clients(b)
    # the very first thing a client sees: nothing expired is handed out
    m, _, body = c.get(q_exp, auto_ack=True)
    assert body == b"e-keep"
    assert c.get(q_ttl, auto_ack=True)[0] is None
    assert c.get(q_drop, auto_ack=True)[0] is None
    wait_for(lambda: c.count(dlq) == 2, timeout=2, what="expired messages dead-lettered")
    assert (c.count(q_ttl), c.count(q_exp), c.count(q_drop)) == (0, 0, 0)
    got = {body.decode(): p for _, p, body in c.get_all(dlq)}
    assert set(got) == {"t-doomed", "e-doomed"}
    assert death(got["t-doomed"])["reason"] == "expired" and death(got["t-doomed"])["queue"] == q_ttl
    assert death(got["e-doomed"])["reason"] == "expired" and death(got["e-doomed"])["queue"] == q_exp
    assert death(got["e-doomed"])["original-expiration"] == str(ttl)


def test_boot_dead_letters_join_a_recovered_target_queue(broker_factory, clients, uniq, mode):
    """Dead letters made at boot (deadline passed while down) go behind the messages the target queue
    already held, and neither replaces the other in the store: a second restart still has them all.

    The target queue is declared after the source queue, so recovery reaches it later."""
    b = broker_factory()
    c = clients(b)
    dlx = uniq("dlx")
    c.ch.exchange_declare(dlx, "direct", durable=True)
    src, target = uniq("src"), uniq("target")
    c.ch.queue_declare(src, durable=True, arguments={"x-message-ttl": 500, "x-dead-letter-exchange": dlx,
                                                     "x-dead-letter-routing-key": "dead"})
    c.ch.queue_declare(target, durable=True)
    c.ch.queue_bind(target, dlx, "dead")
    c.publish(target, "old-1")
    c.publish(target, "old-2")
    c.publish(src, "doomed")

    b = restart(broker_factory, b, mode, clients, downtime=0.8)
    c = clients(b)
    wait_for(lambda: c.count(target) == 3, timeout=2, what="dead letter in the target queue")
    assert c.count(src) == 0

    b = restart(broker_factory, b, "sigterm", clients)
    c = clients(b)
    got = c.get_all(target)
    assert [body.decode() for _, _, body in got] == ["old-1", "old-2", "doomed"]
    assert death(got[2][1])["reason"] == "expired"


# ---------------------------------------------------------------------------------------------------------
# x-expires


def test_queue_expires_after_restart(broker_factory, clients, uniq, mode):
    expires = 2500
    b = broker_factory()
    c = clients(b)
    used, unused, keeper = uniq("exp-used"), uniq("exp-unused"), uniq("exp-keeper")
    c.ch.queue_declare(used, durable=True, arguments={"x-expires": expires})
    c.ch.queue_declare(unused, durable=True, arguments={"x-expires": expires})
    c.ch.queue_declare(keeper, durable=True, arguments={"x-expires": 600_000})
    c.publish(used, "m")
    c.publish(unused, "m")

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    t_used = time.monotonic()
    assert c.count(used) == 1  # back, with its message; this declare is a use and restarts the countdown
    assert c.routable(unused)  # back (publishing is not a use)
    time.sleep(max(0.0, t_used + 1.2 - time.monotonic()))
    assert c.routable(unused) and c.routable(used)
    time.sleep(max(0.0, t_used + expires / 1000 - 0.6 - time.monotonic()))
    assert c.routable(used), "expired before x-expires had passed since its last use"
    time.sleep(max(0.0, t_used + expires / 1000 + 0.8 - time.monotonic()))
    assert not c.routable(unused), "an unused queue with x-expires did not expire after the restart"
    assert not c.routable(used), "queue with x-expires did not expire after the restart"
    assert c.count(keeper) == 0
    ch = c.conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(used, passive=True)
    assert info.value.reply_code == 404

    # expired for good: deleted from the store as well
    c.close()
    b = restart(broker_factory, b, "sigterm", clients)
    c = clients(b)
    assert not c.routable(used) and not c.routable(unused) and c.routable(keeper)


# ---------------------------------------------------------------------------------------------------------
# x-max-length, x-max-length-bytes, x-overflow


def test_length_limits_apply_after_restart(broker_factory, clients, uniq, mode):
    b = broker_factory()
    c = clients(b)
    dlx, dlq = uniq("dlx"), uniq("dlq")
    c.ch.exchange_declare(dlx, "fanout", durable=True)
    c.ch.queue_declare(dlq, durable=True)
    c.ch.queue_bind(dlq, dlx)
    decl = {
        "drop": {"x-max-length": 3, "x-dead-letter-exchange": dlx},
        "rej": {"x-max-length-bytes": 10, "x-overflow": "reject-publish"},
        "rejdlx": {"x-max-length": 2, "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": dlx},
        "bytes": {"x-max-length-bytes": 8},
    }
    qs = {k: uniq(k) for k in decl}
    for k, args in decl.items():
        c.ch.queue_declare(qs[k], durable=True, arguments=args)
    for i in range(3):
        c.publish(qs["drop"], f"m{i}")
    c.publish(qs["rej"], "aaaaa")
    c.publish(qs["rej"], "bbbbb")
    c.publish(qs["rejdlx"], "c0")
    c.publish(qs["rejdlx"], "c1")
    c.publish(qs["bytes"], "1234")
    c.publish(qs["bytes"], "5678")

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    for k, args in decl.items():
        c.ch.queue_declare(qs[k], durable=True, arguments=args)  # arguments restored: redeclare is equivalent
    assert [c.count(qs[k]) for k in decl] == [3, 2, 2, 2]

    c.publish(qs["drop"], "m3")  # drop-head: m0 goes, dead-lettered (maxlen)
    with pytest.raises(pika.exceptions.NackError):
        c.publish(qs["rej"], "c")  # 11 bytes > 10: refused
    with pytest.raises(pika.exceptions.NackError):
        c.publish(qs["rejdlx"], "c2")  # refused and dead-lettered (maxlen)
    c.publish(qs["bytes"], "9")  # 9 bytes > 8: drop-head drops "1234", no DLX

    assert c.bodies(qs["drop"]) == ["m1", "m2", "m3"]
    assert c.bodies(qs["rej"]) == ["aaaaa", "bbbbb"]
    assert c.bodies(qs["rejdlx"]) == ["c0", "c1"]
    assert c.bodies(qs["bytes"]) == ["5678", "9"]
    wait_for(lambda: c.count(dlq) == 2, timeout=2, what="two maxlen dead letters")
    got = {body.decode(): p for _, p, body in c.get_all(dlq)}
    assert set(got) == {"m0", "c2"}
    assert (death(got["m0"])["reason"], death(got["m0"])["queue"]) == ("maxlen", qs["drop"])
    assert (death(got["c2"])["reason"], death(got["c2"])["queue"]) == ("maxlen", qs["rejdlx"])


# ---------------------------------------------------------------------------------------------------------
# dead-lettering


def test_dead_letters_and_dlx_arguments_survive_restart(broker_factory, clients, uniq, mode):
    b = broker_factory()
    c = clients(b)
    dlx, dlq = _dlx(c, uniq)
    src = uniq("src")
    c.ch.queue_declare(src, durable=True, arguments={"x-dead-letter-exchange": dlx,
                                                     "x-dead-letter-routing-key": "dead"})
    headers = {
        "s": "text", "i": 7, "big": 2**40, "neg": -3, "flag": True, "bin": b"\x00\xff",
        "dec": Decimal("1.25"), "ts": datetime.datetime(2024, 5, 6, 7, 8, 9), "tbl": {"k": "v", "n": 1},
        "arr": [1, "x", {"deep": [None]}], "void": None, "CC": ["cc-key"],
    }
    c.publish(src, "one", headers=headers, message_id="m1", expiration="600000", correlation_id="corr",
              content_type="text/plain", timestamp=1_700_000_000, app_id="app")
    c.publish(src, "two", headers={"n": 2}, message_id="m2")
    c.publish(src, "three", headers={"n": 3}, message_id="m3")
    for _ in range(2):
        m, _, _ = c.get(src)
        c.ch.basic_reject(m.delivery_tag, requeue=False)
    wait_for(lambda: c.count(dlq) == 2, timeout=2, what="two dead letters")
    # Look at the first dead letter's exact bytes, then give it back (it is redelivered from then on).
    with RawClient(b.host, b.port) as rc:
        rc.open_channel(1)
        rc.send_method(1, commands.Basic.Get(queue=dlq, no_ack=False))
        m_before, header, body, _ = rc.read_message(1)
        props_before = header.header_properties
    assert body == b"one" and not m_before.redelivered
    wait_for(lambda: c.count(dlq) == 2, timeout=2, what="peeked dead letter back in its queue")
    c.fence()

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    assert (c.count(src), c.count(dlq)) == (1, 2)
    m, props_after, body = raw_get(b, dlq)
    assert body == b"one" and m.redelivered
    assert m.exchange == dlx and m.routing_key == "dead"
    assert props_after == props_before, "dead letter's content header changed across the restart"
    # headers amqpd does not own are the publisher's bytes; CC went with x-dead-letter-routing-key
    for name, value in headers.items():
        if name != "CC":
            assert pika_field(name, value) in props_after, f"header {name!r} not byte-identical"
    assert b"\x02CC" not in props_after

    m, p, body = c.get(dlq, auto_ack=True)
    assert body == b"two" and not m.redelivered and m.exchange == dlx and m.routing_key == "dead"
    assert p.message_id == "m2" and p.delivery_mode == 2 and p.headers["n"] == 2
    d = death(p)
    assert (d["count"], d["reason"], d["queue"], d["exchange"], d["routing-keys"]) == \
        (1, "rejected", src, "", [src])
    assert isinstance(d["time"], datetime.datetime)
    assert (p.headers["x-first-death-reason"], p.headers["x-first-death-queue"],
            p.headers["x-first-death-exchange"]) == ("rejected", src, "")

    # the source queue's x-dead-letter-exchange and -routing-key still apply
    m, _, body = c.get(src)
    assert body == b"three" and not m.redelivered
    c.ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, body = wait_for(lambda: (r := c.get(dlq, auto_ack=True))[0] is not None and r, timeout=2,
                          what="dead letter after restart")
    assert body == b"three" and m.exchange == dlx and m.routing_key == "dead"
    assert p.message_id == "m3" and p.delivery_mode == 2 and p.headers["n"] == 3
    assert (death(p)["reason"], death(p)["queue"], death(p)["count"]) == ("rejected", src, 1)
    assert c.count(src) == 0 and c.count(dlq) == 0


def test_dead_letter_routes_with_cc_and_bcc_keys_after_restart(broker_factory, clients, uniq, mode):
    """Without x-dead-letter-routing-key a dead letter is routed with every key the message was
    published with (routing key, CC, BCC), also for a message recovered from the store."""
    b = broker_factory()
    c = clients(b)
    pub_ex, dlx = uniq("pubex"), uniq("dlx")
    c.ch.exchange_declare(pub_ex, "direct", durable=True)
    c.ch.exchange_declare(dlx, "direct", durable=True)
    src = uniq("src")
    c.ch.queue_declare(src, durable=True, arguments={"x-dead-letter-exchange": dlx})
    for key in ("k-main", "k-cc", "k-bcc"):
        c.ch.queue_bind(src, pub_ex, key)
    targets = {key: uniq(f"dl-{key}") for key in ("k-main", "k-cc", "k-bcc")}
    for key, q in targets.items():
        c.ch.queue_declare(q, durable=True)
        c.ch.queue_bind(q, dlx, key)
    c.publish("k-main", "before", exchange=pub_ex, headers={"CC": ["k-cc"], "BCC": ["k-bcc"]})
    assert c.count(src) == 1  # routed once, whichever keys matched

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    m, p, body = c.get(src)
    assert body == b"before" and m.exchange == pub_ex and m.routing_key == "k-main"
    assert p.headers == {"CC": ["k-cc"]}  # BCC never reaches a consumer
    c.ch.basic_reject(m.delivery_tag, requeue=False)
    c.fence()
    counts = {key: c.count(q) for key, q in targets.items()}
    assert counts == {"k-main": 1, "k-cc": 1, "k-bcc": 1}, (
        f"dead letter of a recovered message routed with the wrong keys: {counts}")
    _, p, _ = c.get(targets["k-main"], auto_ack=True)
    # rabbit_dead_letter: the publish key plus the keys of the CC/BCC headers still on the message
    assert death(p)["routing-keys"] == ["k-main", "k-cc"]


def test_paged_recovery_keeps_priority_ttl_and_dead_letter_details(broker_factory, clients, uniq, mode):
    """amqpd.queue.index_threshold 1: recovery keeps only one message's content in memory per queue and
    the rest as stubs; order, priorities, deadlines and dead-letter details must not depend on that."""
    conf = "amqpd.queue.index_threshold = 1\n"
    ttl = 3000
    b = broker_factory(conf)
    c = clients(b)
    prio = uniq("prio")
    c.ch.queue_declare(prio, durable=True, arguments={"x-max-priority": 5})
    for body, p in [("x1", 1), ("y1", 5), ("x2", 1), ("y2", 5), ("z", None)]:
        c.publish(prio, body, priority=p)
    pub_ex, dlx = uniq("pubex"), uniq("dlx")
    c.ch.exchange_declare(pub_ex, "direct", durable=True)
    c.ch.exchange_declare(dlx, "direct", durable=True)
    ttlq, dlq = uniq("ttl"), uniq("dlq")
    c.ch.queue_declare(ttlq, durable=True, arguments={"x-message-ttl": ttl, "x-dead-letter-exchange": dlx})
    c.ch.queue_bind(ttlq, pub_ex, "tk")
    c.ch.queue_declare(dlq, durable=True)
    c.ch.queue_bind(dlq, dlx, "tk")
    t0 = time.monotonic()
    for i in range(3):
        c.publish("tk", f"t{i}", exchange=pub_ex, message_id=f"t{i}")
    t1 = time.monotonic()

    b = restart(broker_factory, b, mode, clients, conf=conf)
    c = clients(b)
    assert c.count(ttlq) == 3
    wait_for(lambda: c.count(dlq) == 3, timeout=t1 + ttl / 1000 + 3 - time.monotonic(), interval=0.03,
             what="three expired dead letters")
    expired_at = time.monotonic()
    assert t0 + ttl / 1000 - 0.1 <= expired_at <= t1 + ttl / 1000 + 0.9
    got = c.get_all(dlq)
    assert [body.decode() for _, _, body in got] == ["t0", "t1", "t2"]
    for m, p, body in got:
        assert (m.exchange, m.routing_key, p.message_id) == (dlx, "tk", body.decode())
        d = death(p)
        assert (d["reason"], d["queue"], d["exchange"], d["routing-keys"]) == ("expired", ttlq, pub_ex, ["tk"])
        assert p.headers["x-first-death-exchange"] == pub_ex

    # the priority queue after the TTL part (whose timing matters): published to the default exchange
    got = c.get_all(prio)
    seen = [(body.decode(), p.priority, m.exchange, m.routing_key) for m, p, body in got]
    assert seen == [("y1", 5, "", prio), ("y2", 5, "", prio), ("x1", 1, "", prio), ("x2", 1, "", prio),
                    ("z", None, "", prio)], seen


# ---------------------------------------------------------------------------------------------------------
# x-single-active-consumer


def test_single_active_consumer_after_restart(broker_factory, clients, uniq, mode):
    b = broker_factory()
    c = clients(b)
    q = uniq("sac")
    args = {"x-single-active-consumer": True}
    c.ch.queue_declare(q, durable=True, arguments=args)
    for i in range(3):
        c.publish(q, f"m{i}")

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    c.ch.queue_declare(q, durable=True, arguments=args)
    first, second = clients(b), clients(b)
    got_a: list = []
    got_b: list = []
    first.ch.basic_qos(prefetch_count=1)
    tag_a = first.ch.basic_consume(q, lambda ch, m, p, body: got_a.append((m, body)))
    second.ch.basic_consume(q, lambda ch, m, p, body: got_b.append((m, body)))

    def pump(seconds: float, until=None):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until and until()):
            first.conn.process_data_events(0.01)
            second.conn.process_data_events(0.01)

    pump(2, lambda: got_a)
    pump(0.4)
    assert [body for _, body in got_a] == [b"m0"]
    assert got_b == [], "the second consumer got messages while the first was active"
    assert c.ch.queue_declare(q, passive=True).method.consumer_count == 2
    first.ch.basic_ack(got_a[0][0].delivery_tag)
    pump(2, lambda: len(got_a) == 2)
    pump(0.3)
    assert [body for _, body in got_a] == [b"m0", b"m1"] and got_b == []

    first.ch.basic_cancel(tag_a)  # m1 stays unacked on the first channel
    pump(2, lambda: got_b)
    pump(0.2)
    assert [body for _, body in got_b] == [b"m2"]
    first.ch.basic_ack(got_a[1][0].delivery_tag)
    second.ch.basic_ack(got_b[0][0].delivery_tag)
    pump(0.2)
    assert c.count(q) == 0


# ---------------------------------------------------------------------------------------------------------
# quorum queues


def test_quorum_delivery_count_survives_restart(broker_factory, clients, uniq, mode):
    """x-delivery-limit 3: returned twice before the restart and twice after, the fourth return
    dead-letters it (reason delivery_limit); x-delivery-count continues where it was."""
    b = broker_factory()
    c = clients(b)
    dlx, dlq = _dlx(c, uniq)
    q = uniq("qq")
    args = {**QUORUM, "x-delivery-limit": 3, "x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"}
    c.ch.queue_declare(q, durable=True, arguments=args)
    c.publish(q, "payload", message_id="qm", headers={"app": "x"})
    c.publish(q, "other", message_id="qo")
    for expected_count in (0, 1):
        m, p, body = c.get(q)
        assert body == b"payload" and p.headers["x-delivery-count"] == expected_count
        c.ch.basic_nack(m.delivery_tag, requeue=True)
    c.fence()

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    c.ch.queue_declare(q, durable=True, arguments=args)
    assert c.count(q) == 2
    for expected_count in (2, 3):
        m, p, body = c.get(q)
        assert (body, m.redelivered, p.headers["x-delivery-count"]) == (b"payload", True, expected_count)
        c.ch.basic_nack(m.delivery_tag, requeue=True)
    m, p, body = wait_for(lambda: (r := c.get(dlq, auto_ack=True))[0] is not None and r, timeout=2,
                          what="delivery_limit dead letter")
    assert body == b"payload" and p.message_id == "qm" and p.delivery_mode == 2
    assert "x-delivery-count" not in p.headers and p.headers["app"] == "x"
    d = death(p)
    assert (d["reason"], d["queue"], d["count"]) == ("delivery_limit", q, 1)
    assert p.headers["x-first-death-reason"] == "delivery_limit"
    # the message never returned is untouched
    m, p, body = c.get(q, auto_ack=True)
    assert (body, m.redelivered, p.headers["x-delivery-count"]) == (b"other", False, 0)
    assert c.count(q) == 0


def test_quorum_delivery_count_from_consumer_returns_survives_restart(broker_factory, clients, uniq, mode):
    """Same, with consumer deliveries: the count carries over and the limit applies across the restart."""
    b = broker_factory()
    c = clients(b)
    dlx, dlq = _dlx(c, uniq)
    q = uniq("qq")
    args = {**QUORUM, "x-delivery-limit": 1, "x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"}
    c.ch.queue_declare(q, durable=True, arguments=args)
    c.publish(q, "payload")
    m, p, body = c.get(q)
    c.ch.basic_reject(m.delivery_tag, requeue=True)  # delivery count 1 = the limit
    c.fence()

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    got: list = []
    c.ch.basic_consume(q, lambda ch, m, p, body: got.append((m, p, body)))
    wait_for(lambda: c.conn.process_data_events(0.01) or got, timeout=3, what="delivery after restart")
    m, p, body = got[0]
    assert (body, m.redelivered, (p.headers or {}).get("x-delivery-count")) == (b"payload", True, 1)
    c.ch.basic_nack(m.delivery_tag, requeue=True)  # second return: over the limit
    wait_for(lambda: c.conn.process_data_events(0.01) or c.count(dlq) == 1, timeout=3,
             what="delivery_limit dead letter")
    assert len(got) == 1 and c.count(q) == 0
    _, p, _ = c.get(dlq, auto_ack=True)
    assert death(p)["reason"] == "delivery_limit"


def test_quorum_returned_messages_still_first_after_restart(broker_factory, clients, uniq, mode):
    """With x-delivery-limit set, returned messages are served next in return order (rabbit_fifo's
    returns queue); a restart recovers that state rather than falling back to publish order."""
    b = broker_factory()
    c = clients(b)
    q = uniq("qq")
    args = {**QUORUM, "x-delivery-limit": 10}
    c.ch.queue_declare(q, durable=True, arguments=args)
    for body in ("A", "B", "C"):
        c.publish(q, body)
    ma, _, _ = c.get(q)
    mb, _, _ = c.get(q)
    c.ch.basic_nack(mb.delivery_tag, requeue=True)
    c.ch.basic_nack(ma.delivery_tag, requeue=True)
    c.fence()

    b = restart(broker_factory, b, mode, clients)
    c = clients(b)
    got = c.get_all(q)
    assert [(body.decode(), m.redelivered, p.headers["x-delivery-count"]) for m, p, body in got] == [
        ("B", True, 1), ("A", True, 1), ("C", False, 0)]
