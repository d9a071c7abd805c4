"""Access-control, limits, routing and policy scenario for a broker that has loaded
tests/fixtures/rabbitmq-3.10/definitions.json.

`run_scenario(host, port)` performs a fixed, ordered list of steps with the pika blocking client and
returns one plain-JSON record per step. interop/rabbitmq_access/record.py runs it against RabbitMQ 3.10
and stores the result as tests/fixtures/rabbitmq-3.10/access.json; a test runs it against amqpd and
compares. Refused steps use a fresh channel (or connection) so that later steps are unaffected, and
every resource the scenario creates is deleted again, so a broker can run it more than once.
"""

from __future__ import annotations

import datetime
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pika
import pika.exceptions as pe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rabbitmq-3.10"
PASSWORDS: dict[str, str] = json.loads((FIXTURES / "passwords.json").read_text())

STEP_TIMEOUT = 10.0  # seconds; a step that takes longer has its sockets shut down
TTL_WAIT = 0.35  # policies use 100 ms TTLs

# Queues that the routing steps inspect (drained with basic.get after every publish).
ROUTING_QUEUES = [
    "orders.hdr-all",
    "orders.hdr-any",
    "orders.fan1",
    "orders.internal-sink",
    "orders.unrouted-q",
    "orders.with-ae-q",
    "events.audit",
    "events.orders",
    "ae2.q",
    "orders.created",
    "orders.dead",
    "dlx.sink-q",
]

_GEN = re.compile(r"amq\.gen-[A-Za-z0-9_-]+")
_CLOSE = re.compile(r"\((\d+)\) ['\"](.*)['\"]$", re.S)


class StepTimeout(Exception):
    pass


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return "<time>"
    return value


def _normalise(value):
    if isinstance(value, str):
        return _GEN.sub("amq.gen-*", value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def error_of(exc: BaseException) -> dict:
    """The observable part of a refusal: which scope was closed, with which code and text."""
    if isinstance(exc, pe.ChannelClosedByBroker):
        return {"scope": "channel", "code": exc.reply_code, "text": exc.reply_text}
    if isinstance(exc, pe.ConnectionClosedByBroker):
        return {"scope": "connection", "code": exc.reply_code, "text": exc.reply_text}
    if isinstance(exc, pe.AMQPConnectionError) and exc.args:
        # pika wraps handshake refusals:
        # ProbableAuthenticationError("ConnectionClosedByBroker: (403) '...'")
        inner = exc.args[0]
        if isinstance(inner, pe.ConnectionClosedByBroker):
            return {
                "scope": "connection",
                "code": inner.reply_code,
                "text": inner.reply_text,
                "exception": type(exc).__name__,
            }
        match = _CLOSE.search(str(inner))
        if match:
            return {
                "scope": "connection",
                "code": int(match.group(1)),
                "text": match.group(2),
                "exception": type(exc).__name__,
            }
    return {"scope": "connection", "code": None, "text": None, "exception": type(exc).__name__}


class Scenario:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.results: list[dict] = []
        self._cached: dict[tuple[str, str], pika.BlockingConnection] = {}
        self._all: list[pika.BlockingConnection] = []
        self._timed_out = False

    # -- connections ------------------------------------------------------------------------------------

    def params(self, user: str, vhost: str, password: str | None = None) -> pika.ConnectionParameters:
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=vhost,
            credentials=pika.PlainCredentials(
                user, PASSWORDS.get(user, "") if password is None else password
            ),
            connection_attempts=1,
            socket_timeout=5,
            stack_timeout=8,
            blocked_connection_timeout=8,
            heartbeat=0,
            client_properties={"connection_name": f"access-scenario {user}"},
        )

    def connect(self, user: str, vhost: str, password: str | None = None) -> pika.BlockingConnection:
        conn = pika.BlockingConnection(self.params(user, vhost, password))
        self._all.append(conn)
        return conn

    def conn(self, user: str, vhost: str = "shop") -> pika.BlockingConnection:
        conn = self._cached.get((user, vhost))
        if conn is None or not conn.is_open:
            conn = self._cached[(user, vhost)] = self.connect(user, vhost)
        return conn

    def chan(self, user: str, vhost: str = "shop"):
        return self.conn(user, vhost).channel()

    def close_all(self) -> None:
        for conn in self._all:
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - a dead connection needs no closing
                pass
        self._all.clear()
        self._cached.clear()

    def _abort(self) -> None:
        # Runs on the watchdog thread: shutting the sockets down wakes pika's blocked select.
        self._timed_out = True
        for conn in list(self._all):
            sock = getattr(getattr(conn._impl, "_transport", None), "_sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- steps ------------------------------------------------------------------------------------------

    def step(self, sid: str, user: str, vhost: str, op: str, fn: Callable[[], dict | None], **extra) -> dict:
        record: dict = {"step": sid, "user": user, "vhost": vhost, "op": op, **extra}
        self._timed_out = False
        watchdog = threading.Timer(STEP_TIMEOUT, self._abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            data = fn()
            record["result"] = "ok"
            if data:
                record.update(data)
        except (pe.AMQPError, OSError) as exc:
            record["result"] = error_of(exc)
        finally:
            watchdog.cancel()
        if self._timed_out:
            record["result"] = {"scope": "timeout", "code": None, "text": f"step exceeded {STEP_TIMEOUT}s"}
            self._cached.clear()
        # A channel-level refusal leaves the cached connection usable; a connection-level one does not.
        for key, conn in list(self._cached.items()):
            if not conn.is_open:
                del self._cached[key]
        record = _normalise(_jsonable(record))
        self.results.append(record)
        return record

    def on_channel(self, sid: str, user: str, vhost: str, op: str, fn, **extra) -> dict:
        """A step run on a fresh channel of the user's cached connection; the channel is closed after."""

        def run():
            ch = self.chan(user, vhost)
            try:
                return fn(ch)
            finally:
                if ch.is_open:
                    ch.close()

        return self.step(sid, user, vhost, op, run, **extra)

    def login(self, sid: str, user: str, vhost: str, password: str | None = None, **extra) -> dict:
        def run():
            conn = self.connect(user, vhost, password)
            ch = conn.channel()
            ch.close()
            conn.close()

        return self.step(sid, user, vhost, "connection.open", run, **extra)


# -- operations used by the steps --------------------------------------------------------------------------


def publish(ch, exchange: str, key: str, body: str = "m", headers: dict | None = None, confirm: bool = True):
    """Publish; with confirms a refusal (or a nack) surfaces here instead of at some later call."""
    if confirm:
        ch.confirm_delivery()
    props = pika.BasicProperties(headers=headers) if headers is not None else None
    try:
        ch.basic_publish(exchange, key, body.encode(), props)
    except pe.NackError:
        return "nack"
    if not confirm:
        # A round trip on the same channel: the broker has handled the publish once this returns.
        ch.basic_qos(prefetch_count=0)
    return "ack" if confirm else "sent"


def drain(ch, queue: str, with_death: bool = False) -> list:
    out = []
    for _ in range(100):
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            break
        if with_death:
            deaths = (props.headers or {}).get("x-death")
            out.append(
                {
                    "body": body.decode(),
                    "x-death": deaths,
                    "routing_key": method.routing_key,
                    "exchange": method.exchange,
                }
            )
        else:
            out.append(body.decode())
    return out


def drain_all(ch, queues=ROUTING_QUEUES, with_death: bool = False) -> dict:
    got = {}
    for queue in queues:
        msgs = drain(ch, queue, with_death)
        if msgs:
            got[queue] = msgs
    return got


def queue_declare(ch, name: str, **kw) -> dict:
    ok = ch.queue_declare(name, **kw)
    return {
        "queue": ok.method.queue,
        "message_count": ok.method.message_count,
        "consumer_count": ok.method.consumer_count,
    }


# -- the scenario ------------------------------------------------------------------------------------------


def _limits(s: Scenario) -> None:
    """Limits first: connection counts are tracked asynchronously, so no earlier connection may linger."""
    held: list[pika.BlockingConnection] = []

    def hold(user, vhost):
        def run():
            held.append(s.connect(user, vhost))

        return run

    for i in (1, 2, 3):
        s.step(
            f"limits.vhost.max-connections.{i}",
            "guest",
            "billing",
            "connection.open",
            hold("guest", "billing"),
            limit="billing max-connections 2",
        )
    for conn in held:
        conn.close()
    held.clear()

    for i in (1, 2, 3):
        s.step(
            f"limits.user.max-connections.{i}",
            "limited",
            "shop",
            "connection.open",
            hold("limited", "shop"),
            limit="user limited max-connections 2",
        )
    for conn in held:
        conn.close()
    held.clear()

    chans: list = []

    def open_channel():
        if not held:
            held.append(s.connect("limited", "shop"))
        chans.append(held[0].channel())
        return {"channel_number": chans[-1].channel_number}

    for i in (1, 2, 3, 4):
        s.step(
            f"limits.user.max-channels.{i}",
            "limited",
            "shop",
            "channel.open",
            open_channel,
            limit="user limited max-channels 3",
        )

    def after():
        return {
            "connection_open": held[0].is_open,
            "channels_open": [c.channel_number for c in chans if c.is_open],
        }

    s.step("limits.user.max-channels.after", "limited", "shop", "observe", after)

    def reuse():
        # Once a channel is closed, is its slot free again?
        if held[0].is_open and chans and chans[0].is_open:
            chans[0].close()
        conn = held[0] if held[0].is_open else s.connect("limited", "shop")
        ch = conn.channel()
        queue_declare(ch, "limited.q", exclusive=True)
        return {"channel_number": ch.channel_number}

    s.step("limits.user.max-channels.reuse", "limited", "shop", "channel.open", reuse)
    for conn in held:
        if conn.is_open:
            conn.close()

    for name in ("lim.q1", "lim.q2", "lim.q3"):
        s.on_channel(
            f"limits.vhost.max-queues.{name}",
            "guest",
            "billing",
            "queue.declare",
            lambda ch, n=name: queue_declare(ch, n),
            limit="billing max-queues 3 (invoices.q exists)",
        )
    s.on_channel(
        "limits.vhost.max-queues.redeclare-existing",
        "guest",
        "billing",
        "queue.declare",
        lambda ch: queue_declare(ch, "invoices.q", durable=True),
    )
    s.on_channel(
        "limits.vhost.max-queues.server-named",
        "guest",
        "billing",
        "queue.declare",
        lambda ch: queue_declare(ch, "", exclusive=True),
    )
    for name in ("lim.q1", "lim.q2", "lim.q3"):
        s.on_channel(
            f"limits.vhost.max-queues.cleanup.{name}",
            "guest",
            "billing",
            "queue.delete",
            lambda ch, n=name: {"deleted": ch.queue_delete(n).method.message_count},
        )
    s.on_channel(
        "limits.vhost.max-queues.after-delete",
        "guest",
        "billing",
        "queue.declare",
        lambda ch: queue_declare(ch, "", exclusive=True),
    )
    s.close_all()


def _logins(s: Scenario) -> None:
    homes = {"guest": "/", "limited": "shop"}
    for user in sorted(PASSWORDS):
        s.login(f"login.{user}", user, homes.get(user, "shop"))
    s.login("login.shop-admin.billing", "shop-admin", "billing")
    s.login("login.bad-password.guest", "guest", "/", password="wrong")
    s.login("login.bad-password.orders-svc", "orders-svc", "shop", password="guest")
    s.login("login.nopass.empty", "nopass", "shop", password="")
    s.login("login.nopass.any", "nopass", "shop", password="anything")
    s.login("login.unknown-user", "nobody", "shop", password="nobody")
    s.login("vhost.no-permission.reporter", "reporter", "billing")
    s.login("vhost.no-permission.policy-maker", "policy-maker", "billing")
    s.login("vhost.no-permission.tracker", "tracker", "/")
    s.login("vhost.unknown", "guest", "nope")
    s.login("vhost.empty-permissions", "orders-svc", "billing")
    s.on_channel(
        "vhost.empty-permissions.queue.declare",
        "orders-svc",
        "billing",
        "queue.declare",
        lambda ch: queue_declare(ch, "anything"),
    )
    s.on_channel(
        "vhost.empty-permissions.publish.default",
        "orders-svc",
        "billing",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "", "invoices.q")},
    )
    s.on_channel(
        "vhost.empty-permissions.passive",
        "orders-svc",
        "billing",
        "queue.declare(passive)",
        lambda ch: queue_declare(ch, "invoices.q", passive=True),
    )
    s.close_all()


def _exchanges(s: Scenario) -> None:
    # `... and None` below: the step records only success or the refusal, not pika's method frame.
    o = "orders-svc"
    s.on_channel(
        "exchange.declare.allowed",
        o,
        "shop",
        "exchange.declare",
        lambda ch: ch.exchange_declare("orders.scenario-x", "direct", auto_delete=False) and None,
    )
    s.on_channel(
        "exchange.declare.refused",
        o,
        "shop",
        "exchange.declare",
        lambda ch: ch.exchange_declare("other.x", "direct") and None,
    )
    s.on_channel(
        "exchange.declare.redeclare-existing-no-configure",
        o,
        "shop",
        "exchange.declare",
        lambda ch: ch.exchange_declare("events", "topic", durable=True) and None,
    )
    s.on_channel(
        "exchange.declare.passive.no-configure",
        o,
        "shop",
        "exchange.declare(passive)",
        lambda ch: ch.exchange_declare("events", passive=True) and None,
    )
    s.on_channel(
        "exchange.declare.passive.no-permissions-at-all",
        "reporter",
        "shop",
        "exchange.declare(passive)",
        lambda ch: ch.exchange_declare("orders.direct", passive=True) and None,
    )
    s.on_channel(
        "exchange.declare.passive.missing-allowed-name",
        o,
        "shop",
        "exchange.declare(passive)",
        lambda ch: ch.exchange_declare("orders.nope", passive=True) and None,
    )
    s.on_channel(
        "exchange.declare.passive.missing-refused-name",
        o,
        "shop",
        "exchange.declare(passive)",
        lambda ch: ch.exchange_declare("other.nope", passive=True) and None,
    )
    s.on_channel(
        "exchange.declare.ae.write-refused",
        o,
        "shop",
        "exchange.declare",
        lambda ch: (
            ch.exchange_declare("orders.ae-x", "direct", arguments={"alternate-exchange": "events"}) and None
        ),
    )
    s.on_channel(
        "exchange.declare.ae.allowed",
        o,
        "shop",
        "exchange.declare",
        lambda ch: (
            ch.exchange_declare("orders.ae-ok", "direct", arguments={"alternate-exchange": "orders.unrouted"})
            and None
        ),
    )
    s.on_channel(
        "exchange.declare.ae.missing-ae",
        o,
        "shop",
        "exchange.declare",
        lambda ch: (
            ch.exchange_declare(
                "orders.ae-missing", "direct", arguments={"alternate-exchange": "orders.nonexistent"}
            )
            and None
        ),
    )
    s.on_channel(
        "exchange.declare.ae.read-refused",
        "tracker",
        "shop",
        "exchange.declare",
        lambda ch: (
            ch.exchange_declare("tracker.x", "direct", arguments={"alternate-exchange": "events"}) and None
        ),
    )
    s.on_channel(
        "exchange.declare.internal",
        o,
        "shop",
        "exchange.declare",
        lambda ch: ch.exchange_declare("orders.scenario-internal", "fanout", internal=True) and None,
    )
    s.on_channel(
        "exchange.declare.reserved-prefix",
        "shop-admin",
        "shop",
        "exchange.declare",
        lambda ch: ch.exchange_declare("amq.custom", "direct") and None,
    )
    s.on_channel(
        "exchange.delete.refused",
        o,
        "shop",
        "exchange.delete",
        lambda ch: ch.exchange_delete("events") and None,
    )
    s.on_channel(
        "exchange.delete.missing-allowed-name",
        o,
        "shop",
        "exchange.delete",
        lambda ch: ch.exchange_delete("orders.nope") and None,
    )
    s.on_channel(
        "exchange.delete.missing-refused-name",
        o,
        "shop",
        "exchange.delete",
        lambda ch: ch.exchange_delete("other.nope") and None,
    )
    s.on_channel(
        "exchange.delete.reporter",
        "reporter",
        "shop",
        "exchange.delete",
        lambda ch: ch.exchange_delete("orders.fanout") and None,
    )


def _queues(s: Scenario) -> None:
    o = "orders-svc"
    s.on_channel(
        "queue.declare.allowed", o, "shop", "queue.declare", lambda ch: queue_declare(ch, "orders.scenario-q")
    )
    s.on_channel("queue.declare.refused", o, "shop", "queue.declare", lambda ch: queue_declare(ch, "other.q"))
    s.on_channel(
        "queue.declare.server-named.refused",
        o,
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "", exclusive=True),
    )
    s.on_channel(
        "queue.declare.server-named.allowed",
        "shop-admin",
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "", exclusive=True),
    )
    s.on_channel(
        "queue.declare.exclusive",
        o,
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "orders.excl", exclusive=True),
    )
    s.on_channel(
        "queue.declare.exclusive-other-connection",
        "shop-admin",
        "shop",
        "queue.declare(passive)",
        lambda ch: queue_declare(ch, "orders.excl", passive=True),
    )
    s.on_channel(
        "queue.declare.passive.no-configure",
        o,
        "shop",
        "queue.declare(passive)",
        lambda ch: queue_declare(ch, "events.audit", passive=True),
    )
    s.on_channel(
        "queue.declare.passive.read-only-user",
        "reporter",
        "shop",
        "queue.declare(passive)",
        lambda ch: queue_declare(ch, "orders.created", passive=True),
    )
    s.on_channel(
        "queue.declare.passive.no-permission",
        "tracker",
        "shop",
        "queue.declare(passive)",
        lambda ch: queue_declare(ch, "orders.created", passive=True),
    )
    s.on_channel(
        "queue.declare.passive.missing-refused-name",
        o,
        "shop",
        "queue.declare(passive)",
        lambda ch: queue_declare(ch, "other.missing", passive=True),
    )
    s.on_channel(
        "queue.declare.passive.missing-allowed-name",
        o,
        "shop",
        "queue.declare(passive)",
        lambda ch: queue_declare(ch, "orders.missing", passive=True),
    )
    s.on_channel(
        "queue.declare.redeclare-existing-no-configure",
        "reporter",
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "orders.dead", durable=True),
    )
    s.on_channel(
        "queue.declare.dlx.write-refused",
        o,
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "orders.dl1", arguments={"x-dead-letter-exchange": "events"}),
    )
    s.on_channel(
        "queue.declare.dlx.allowed",
        o,
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "orders.dl2", arguments={"x-dead-letter-exchange": "orders.dlx"}),
    )
    s.on_channel(
        "queue.declare.dlx.default-exchange-allowed",
        o,
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "orders.dl3", arguments={"x-dead-letter-exchange": ""}),
    )
    s.on_channel(
        "queue.declare.dlx.read-refused",
        "tracker",
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "tracker.dl", arguments={"x-dead-letter-exchange": "events"}),
    )
    s.on_channel(
        "queue.declare.dlx.default-exchange-write-refused",
        "tracker",
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "tracker.in.dl", arguments={"x-dead-letter-exchange": ""}),
    )
    s.on_channel(
        "queue.declare.dlx.missing-dlx",
        o,
        "shop",
        "queue.declare",
        lambda ch: queue_declare(ch, "orders.dl4", arguments={"x-dead-letter-exchange": "orders.none"}),
    )


def _bindings(s: Scenario) -> None:
    o = "orders-svc"
    s.on_channel(
        "queue.bind.allowed",
        o,
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("orders.scenario-q", "orders.direct", "s") and None,
    )
    s.on_channel(
        "queue.bind.read-refused",
        o,
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("orders.scenario-q", "events", "shop.#") and None,
    )
    s.on_channel(
        "queue.bind.write-refused",
        "reporter",
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("orders.created", "orders.direct", "x") and None,
    )
    s.on_channel(
        "queue.bind.both-refused",
        "tracker",
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("orders.created", "orders.direct", "x") and None,
    )
    s.on_channel(
        "queue.bind.missing-exchange",
        o,
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("orders.scenario-q", "orders.nope", "x") and None,
    )
    s.on_channel(
        "queue.bind.missing-queue",
        o,
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("orders.nope", "orders.direct", "x") and None,
    )
    s.on_channel(
        "exchange.bind.allowed",
        o,
        "shop",
        "exchange.bind",
        lambda ch: ch.exchange_bind("orders.scenario-x", "orders.direct", "s") and None,
    )
    s.on_channel(
        "exchange.bind.read-refused",
        o,
        "shop",
        "exchange.bind",
        lambda ch: ch.exchange_bind("orders.scenario-x", "events", "shop.#") and None,
    )
    s.on_channel(
        "exchange.bind.write-refused",
        o,
        "shop",
        "exchange.bind",
        lambda ch: ch.exchange_bind("events", "orders.direct", "s") and None,
    )
    s.on_channel(
        "queue.unbind.read-refused",
        o,
        "shop",
        "queue.unbind",
        lambda ch: ch.queue_unbind("orders.scenario-q", "events", "shop.#") and None,
    )
    s.on_channel(
        "queue.unbind.write-refused",
        "reporter",
        "shop",
        "queue.unbind",
        lambda ch: ch.queue_unbind("orders.created", "orders.direct", "created") and None,
    )
    s.on_channel(
        "queue.unbind.allowed",
        o,
        "shop",
        "queue.unbind",
        lambda ch: ch.queue_unbind("orders.scenario-q", "orders.direct", "s") and None,
    )
    s.on_channel(
        "queue.unbind.missing-binding",
        o,
        "shop",
        "queue.unbind",
        lambda ch: ch.queue_unbind("orders.scenario-q", "orders.direct", "never-bound") and None,
    )
    s.on_channel(
        "exchange.unbind.read-refused",
        o,
        "shop",
        "exchange.unbind",
        lambda ch: ch.exchange_unbind("orders.scenario-x", "events", "shop.#") and None,
    )
    s.on_channel(
        "exchange.unbind.allowed",
        o,
        "shop",
        "exchange.unbind",
        lambda ch: ch.exchange_unbind("orders.scenario-x", "orders.direct", "s") and None,
    )


def _publish_and_topics(s: Scenario) -> None:
    o, t = "orders-svc", "tracker"
    s.on_channel(
        "publish.default.allowed",
        o,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "", "orders.scenario-q", "p1")},
    )
    s.on_channel(
        "publish.default.refused",
        "reporter",
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "", "orders.created")},
    )
    s.on_channel(
        "publish.default.refused-no-confirm",
        "reporter",
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "", "orders.created", confirm=False)},
    )
    s.on_channel(
        "publish.named.allowed",
        o,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "orders.direct", "nobody-bound", "p2")},
    )
    s.on_channel(
        "publish.named.refused",
        o,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "events", "shop.orders.new")},
    )
    s.on_channel(
        "publish.missing-exchange.allowed-name",
        o,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "orders.nope", "x")},
    )
    s.on_channel(
        "publish.missing-exchange.refused-name",
        o,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "other.nope", "x")},
    )
    s.on_channel(
        "publish.internal-exchange",
        "shop-admin",
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "orders.internal", "x")},
    )
    s.on_channel(
        "publish.topic.allowed",
        t,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "events", "tracker.order.created", "t1")},
    )
    s.on_channel(
        "publish.topic.refused",
        t,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "events", "shop.order.created", "t2")},
    )
    s.on_channel(
        "publish.topic.amq-topic.allowed",
        t,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "amq.topic", "public.news", "t3")},
    )
    s.on_channel(
        "publish.topic.amq-topic.refused",
        t,
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "amq.topic", "private.news", "t4")},
    )
    s.on_channel(
        "publish.topic.user-without-topic-permissions",
        "shop-admin",
        "shop",
        "basic.publish",
        lambda ch: {"confirm": publish(ch, "events", "whatever.key", "t5")},
    )
    s.on_channel(
        "publish.topic.messages",
        "shop-admin",
        "shop",
        "basic.get",
        lambda ch: {
            "got": drain_all(
                ch, ["events.audit", "events.orders", "orders.internal-sink", "orders.scenario-q"]
            )
        },
    )
    s.on_channel(
        "queue.bind.topic.allowed",
        t,
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("tracker.in", "events", "shop.orders.#") and None,
    )
    s.on_channel(
        "queue.bind.topic.refused",
        t,
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("tracker.in", "events", "billing.#") and None,
    )
    s.on_channel(
        "queue.bind.amq-topic.refused",
        t,
        "shop",
        "queue.bind",
        lambda ch: ch.queue_bind("tracker.in", "amq.topic", "private.#") and None,
    )
    s.on_channel(
        "queue.unbind.topic.refused",
        t,
        "shop",
        "queue.unbind",
        lambda ch: ch.queue_unbind("tracker.in", "events", "billing.#") and None,
    )
    s.on_channel(
        "queue.unbind.topic.allowed",
        t,
        "shop",
        "queue.unbind",
        lambda ch: ch.queue_unbind("tracker.in", "events", "shop.orders.#") and None,
    )


def _consume_get_purge_delete(s: Scenario) -> None:
    o = "orders-svc"

    def consume(queue):
        def run(ch):
            tag = ch.basic_consume(queue, lambda *a: None, auto_ack=False, consumer_tag="scenario-ctag")
            ch.basic_cancel(tag)
            return {"consumer_tag": tag}

        return run

    s.on_channel("basic.consume.allowed", o, "shop", "basic.consume", consume("orders.created"))
    s.on_channel(
        "basic.consume.read-only-user", "reporter", "shop", "basic.consume", consume("orders.created")
    )
    s.on_channel("basic.consume.refused", "tracker", "shop", "basic.consume", consume("orders.created"))
    s.on_channel("basic.consume.missing", o, "shop", "basic.consume", consume("orders.nope"))
    s.on_channel("basic.get.allowed", o, "shop", "basic.get", lambda ch: {"got": drain(ch, "orders.created")})
    s.on_channel(
        "basic.get.refused", "tracker", "shop", "basic.get", lambda ch: {"got": drain(ch, "orders.created")}
    )
    s.on_channel(
        "queue.purge.read-only-user",
        "reporter",
        "shop",
        "queue.purge",
        lambda ch: {"purged": ch.queue_purge("orders.created").method.message_count},
    )
    s.on_channel(
        "queue.purge.refused",
        "tracker",
        "shop",
        "queue.purge",
        lambda ch: {"purged": ch.queue_purge("orders.created").method.message_count},
    )
    s.on_channel(
        "queue.purge.allowed",
        o,
        "shop",
        "queue.purge",
        lambda ch: {"purged": ch.queue_purge("orders.scenario-q").method.message_count},
    )
    s.on_channel(
        "queue.delete.refused",
        "reporter",
        "shop",
        "queue.delete",
        lambda ch: {"deleted": ch.queue_delete("orders.created").method.message_count},
    )
    s.on_channel(
        "queue.delete.allowed",
        o,
        "shop",
        "queue.delete",
        lambda ch: {"deleted": ch.queue_delete("orders.scenario-q").method.message_count},
    )
    s.on_channel(
        "queue.delete.missing-allowed-name",
        o,
        "shop",
        "queue.delete",
        lambda ch: {"deleted": ch.queue_delete("orders.nope").method.message_count},
    )
    s.on_channel(
        "queue.delete.missing-refused-name",
        o,
        "shop",
        "queue.delete",
        lambda ch: {"deleted": ch.queue_delete("other.nope").method.message_count},
    )
    s.on_channel(
        "exchange.delete.allowed",
        o,
        "shop",
        "exchange.delete",
        lambda ch: ch.exchange_delete("orders.scenario-x") and None,
    )


def _routing(s: Scenario) -> None:
    a = "shop-admin"

    def route(exchange, key, body, headers=None):
        def run(ch):
            confirm = publish(ch, exchange, key, body, headers)
            return {"confirm": confirm, "got": drain_all(ch)}

        return run

    s.on_channel("route.reset", a, "shop", "basic.get", lambda ch: {"got": drain_all(ch)})
    s.on_channel(
        "route.headers.all-and-any",
        a,
        "shop",
        "basic.publish",
        route("orders.headers", "", "h1", {"format": "pdf", "type": "report"}),
    )
    s.on_channel(
        "route.headers.all-with-extra-header",
        a,
        "shop",
        "basic.publish",
        route("orders.headers", "", "h2", {"format": "pdf", "type": "report", "extra": 1}),
    )
    s.on_channel(
        "route.headers.any-format",
        a,
        "shop",
        "basic.publish",
        route("orders.headers", "", "h3", {"format": "pdf"}),
    )
    s.on_channel(
        "route.headers.any-type",
        a,
        "shop",
        "basic.publish",
        route("orders.headers", "", "h4", {"type": "log"}),
    )
    s.on_channel(
        "route.headers.none", a, "shop", "basic.publish", route("orders.headers", "", "h5", {"format": "doc"})
    )
    s.on_channel("route.headers.no-headers", a, "shop", "basic.publish", route("orders.headers", "", "h6"))
    s.on_channel("route.fanout-to-internal-e2e", a, "shop", "basic.publish", route("orders.fanout", "", "f1"))
    s.on_channel(
        "route.topic.shop-orders", a, "shop", "basic.publish", route("events", "shop.orders.new", "e1")
    )
    s.on_channel(
        "route.topic.shop-payments", a, "shop", "basic.publish", route("events", "shop.payments.done", "e2")
    )
    s.on_channel("route.topic.billing", a, "shop", "basic.publish", route("events", "billing.x", "e3"))
    s.on_channel("route.ae.known", a, "shop", "basic.publish", route("orders.with-ae", "known", "a1"))
    s.on_channel("route.ae.unknown", a, "shop", "basic.publish", route("orders.with-ae", "unknown", "a2"))
    s.on_channel("route.ae.policy", a, "shop", "basic.publish", route("aep.direct", "x", "a3"))
    s.on_channel("route.ae.argument-vs-policy", a, "shop", "basic.publish", route("aep.argae", "x", "a4"))
    s.on_channel("route.ae.declared-by-client", a, "shop", "basic.publish", route("orders.ae-ok", "x", "a5"))
    s.on_channel("route.ae.missing-ae", a, "shop", "basic.publish", route("orders.ae-missing", "x", "a6"))

    def dlx_reject(ch):
        confirm = publish(ch, "orders.direct", "created", "d1")
        method, _props, _body = ch.basic_get("orders.created", auto_ack=False)
        ch.basic_reject(method.delivery_tag, requeue=False)
        ch.basic_qos(prefetch_count=0)  # round trip so the reject has been handled
        return {"confirm": confirm, "got": drain_all(ch, with_death=True)}

    s.on_channel("route.dlx.reject", a, "shop", "basic.reject", dlx_reject)

    def roundtrip(queue):
        def run(ch):
            confirm = publish(ch, "", queue, f"to-{queue}")
            return {"confirm": confirm, "got": drain(ch, queue)}

        return run

    s.on_channel("route.quorum", a, "shop", "basic.publish", roundtrip("orders.quorum"))
    s.on_channel("route.lazy", a, "shop", "basic.publish", roundtrip("orders.lazy"))


def _policies(s: Scenario) -> None:
    a = "shop-admin"

    def ttl(ch):
        for queue in ("ttl.plain", "ttl.arg60000"):
            publish(ch, "", queue, f"ttl-{queue}")
        time.sleep(TTL_WAIT)
        return {
            "got": {q: drain(ch, q) for q in ("ttl.plain", "ttl.arg60000")},
            "note": "policy message-ttl 100 on ^ttl\\.; ttl.arg60000 has x-message-ttl 60000",
        }

    s.on_channel("policy.message-ttl", a, "shop", "basic.publish", ttl)

    def overlap(ch):
        confirms = [publish(ch, "", "prio.high.q", f"hi{i}") for i in (1, 2, 3)]
        confirms.append(publish(ch, "", "prio.low.q", "lo1"))
        time.sleep(TTL_WAIT)
        return {
            "confirms": confirms,
            "got": {q: drain(ch, q) for q in ("prio.high.q", "prio.low.q")},
            "note": "prio-low (1): message-ttl 100 on ^prio\\.; prio-high (5): max-length 1 on ^prio\\.high",
        }

    s.on_channel("policy.priority-overlap", a, "shop", "basic.publish", overlap)

    def dlx(ch):
        publish(ch, "", "dlxp.q", "x1")
        publish(ch, "", "dlxp.argdlx", "x2")
        time.sleep(TTL_WAIT)
        return {
            "got": drain_all(ch, ["dlxp.q", "dlxp.argdlx", "dlx.sink-q", "orders.dead"], with_death=True),
            "note": "policy dlx: dead-letter-exchange dlx.sink + message-ttl 100 on ^dlxp\\.; "
            "dlxp.argdlx has x-dead-letter-exchange orders.dlx",
        }

    s.on_channel("policy.dead-letter-exchange", a, "shop", "basic.publish", dlx)

    def maxlen(queue):
        def run(ch):
            confirms = [publish(ch, "", queue, f"{queue}-{i}") for i in (1, 2, 3, 4)]
            return {"confirms": confirms, "got": drain(ch, queue)}

        return run

    note = (
        "policy maxlen (0): max-length 5 overflow reject-publish on ^maxlen\\.; maxlen-small (2): "
        "max-length 1 on ^maxlen\\.small; operator policy op-maxlen: max-length 2 on ^maxlen\\."
    )
    s.on_channel(
        "policy.max-length.operator-stricter", a, "shop", "basic.publish", maxlen("maxlen.a"), note=note
    )
    s.on_channel(
        "policy.max-length.policy-stricter", a, "shop", "basic.publish", maxlen("maxlen.small"), note=note
    )
    s.on_channel(
        "policy.max-length.argument-10", a, "shop", "basic.publish", maxlen("maxlen.arg10"), note=note
    )


def _cleanup(s: Scenario) -> None:
    a = "shop-admin"
    for name in ("orders.ae-ok", "orders.ae-missing", "orders.scenario-internal", "orders.scenario-x"):
        s.on_channel(
            f"cleanup.exchange.{name}",
            a,
            "shop",
            "exchange.delete",
            lambda ch, n=name: ch.exchange_delete(n) and None,
        )
    for name in ("orders.dl2", "orders.dl3", "orders.dl4", "orders.scenario-q"):
        s.on_channel(
            f"cleanup.queue.{name}",
            a,
            "shop",
            "queue.delete",
            lambda ch, n=name: {"deleted": ch.queue_delete(n).method.message_count},
        )
    s.on_channel(
        "cleanup.drain",
        a,
        "shop",
        "basic.get",
        lambda ch: {"got": drain_all(ch, ROUTING_QUEUES + ["tracker.in", "orders.quorum", "orders.lazy"])},
    )


def run_scenario(host: str = "127.0.0.1", port: int = 5672) -> list[dict]:
    """Run every step in order against the broker at host:port; returns the step records."""
    s = Scenario(host, port)
    try:
        _limits(s)
        _logins(s)
        _exchanges(s)
        _queues(s)
        _bindings(s)
        _publish_and_topics(s)
        _consume_get_purge_delete(s)
        _routing(s)
        _policies(s)
        _cleanup(s)
    finally:
        s.close_all()
    return s.results


if __name__ == "__main__":
    import sys

    print(json.dumps(run_scenario(*(sys.argv[1:2] or ["127.0.0.1"]), *map(int, sys.argv[2:3])), indent=1))
