"""Connection- and channel-level behaviour: protocol header, handshake, auth, tune, heartbeats, channel
lifecycle and the connection errors a broken peer provokes. Every expectation was checked against
RabbitMQ 3.10; where RabbitMQ's behaviour is not worth mirroring the amqpd-only part says so."""

from __future__ import annotations

import socket
import struct
import time

import pamqp.commands as spec
import pamqp.frame
import pamqp.header
import pamqp.heartbeat
import pika
import pika.exceptions
import pytest
from pamqp import body as pbody

pytestmark = pytest.mark.timeout(60)

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_END = b"\xce"


class PeerClosed(Exception):
    """The broker closed the TCP connection."""


class RawClient:
    """A minimal AMQP 0-9-1 client on a plain socket, for what pika cannot (or will not) do."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.start: spec.Connection.Start | None = None
        self.tune: spec.Connection.Tune | None = None
        self.heartbeats_seen = 0

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, frame, channel: int = 0) -> None:
        self.send_raw(pamqp.frame.marshal(frame, channel))

    def send_quietly(self, frame, channel: int = 0) -> None:
        """send() that tolerates a broker which already closed the socket."""
        try:
            self.send(frame, channel)
        except OSError:
            pass

    def _recv(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete frame before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise TimeoutError("no complete frame before the deadline") from None
        except ConnectionResetError as e:
            raise PeerClosed(str(e)) from None
        if not data:
            raise PeerClosed("EOF")
        self.buf += data

    def read_raw(self, n: int, timeout: float | None = None) -> bytes:
        """Exactly n bytes (or fewer if the peer closes first)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        try:
            while len(self.buf) < n:
                self._recv(deadline)
        except PeerClosed:
            pass
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout: float | None = None):
        """The next frame as (channel, frame); heartbeats are returned too."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            if len(self.buf) >= 7:
                if self.buf[:4] == b"AMQP":
                    while len(self.buf) < 8:
                        self._recv(deadline)
                    consumed, channel, frame = pamqp.frame.unmarshal(self.buf[:8])
                    self.buf = self.buf[8:]
                    return channel, frame
                size = struct.unpack(">I", self.buf[3:7])[0]
                if len(self.buf) >= 8 + size:
                    consumed, channel, frame = pamqp.frame.unmarshal(self.buf[: 8 + size])
                    self.buf = self.buf[consumed:]
                    return channel, frame
            self._recv(deadline)

    def read_method(self, timeout: float | None = None):
        """The next non-heartbeat frame as (channel, frame)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            channel, frame = self.read_frame(max(0.0, deadline - time.monotonic()))
            if isinstance(frame, pamqp.heartbeat.Heartbeat):
                self.heartbeats_seen += 1
                continue
            return channel, frame

    def expect(self, cls, channel: int | None = None, timeout: float | None = None):
        ch, frame = self.read_method(timeout)
        assert isinstance(frame, cls), f"expected {cls.__name__}, got {frame!r} on channel {ch}"
        if channel is not None:
            assert ch == channel, f"{cls.__name__} on channel {ch}, expected {channel}"
        return frame

    def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Read until the broker closes the socket; returns whatever arrived meanwhile."""
        deadline = time.monotonic() + timeout
        got = self.buf
        self.buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"socket still open after {timeout}s (received {got[:64]!r})")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                return got
            if not data:
                return got
            got += data

    def expect_connection_close(self, timeout: float | None = None,
                                close_timeout: float = 8.0) -> spec.Connection.Close:
        """The broker closes the connection: read connection.close, answer close-ok, see EOF.

        (RabbitMQ keeps the socket up to 3 s after a fatal frame error, hence the generous close_timeout.)"""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            ch, frame = self.read_method(max(0.0, deadline - time.monotonic()))
            if isinstance(frame, spec.Connection.Close):
                assert ch == 0
                break
            # anything else the broker sent before failing (e.g. a pending reply) is skipped
        try:
            self.send(spec.Connection.CloseOk())
        except OSError:
            pass
        self.wait_closed(close_timeout)
        return frame

    def frames_until_closed(self, timeout: float = 8.0) -> list:
        """Every frame the broker sends until it closes the socket (heartbeats excluded)."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            try:
                ch, frame = self.read_frame(max(0.0, deadline - time.monotonic()))
            except PeerClosed:
                return frames
            if isinstance(frame, pamqp.heartbeat.Heartbeat):
                continue
            frames.append((ch, frame))
            if isinstance(frame, spec.Connection.Close):
                try:
                    self.send(spec.Connection.CloseOk())
                except OSError:
                    pass

    # -- protocol -------------------------------------------------------------------------------
    def handshake(self, vhost: str = "/", *, user: str = "guest", password: str = "guest",
                  mechanism: str = "PLAIN", response: str | None = None, heartbeat: int = 0,
                  frame_max: int | None = None, channel_max: int | None = None,
                  capabilities: dict | None = None, open_vhost: bool = True):
        """Header, start/start-ok, tune/tune-ok and (optionally) open/open-ok.

        frame_max/channel_max default to the broker's proposal. Returns the open-ok (or None)."""
        self.send_raw(AMQP_HEADER)
        _, self.start = self.read_method()
        assert isinstance(self.start, spec.Connection.Start), self.start
        if response is None:
            response = f"\0{user}\0{password}" if mechanism == "PLAIN" else amqplain(user, password)
        caps = {"authentication_failure_close": True, "connection.blocked": True,
                "consumer_cancel_notify": True, "basic.nack": True, "publisher_confirms": True}
        caps.update(capabilities or {})
        self.send(spec.Connection.StartOk(
            client_properties={"product": "amqpd-tests", "capabilities": caps},
            mechanism=mechanism, response=response, locale="en_US"))
        ch, tune = self.read_method()
        if not isinstance(tune, spec.Connection.Tune):
            return tune  # e.g. connection.close after a failed login
        self.tune = tune
        self.send(spec.Connection.TuneOk(
            channel_max=tune.channel_max if channel_max is None else channel_max,
            frame_max=tune.frame_max if frame_max is None else frame_max,
            heartbeat=heartbeat))
        if not open_vhost:
            return None
        self.send(spec.Connection.Open(virtual_host=vhost))
        _, frame = self.read_method()
        return frame

    def open_channel(self, channel: int) -> None:
        self.send(spec.Channel.Open(), channel)
        self.expect(spec.Channel.OpenOk, channel)

    def publish_frames(self, channel: int, exchange: str, routing_key: str, payload: bytes) -> bytes:
        """basic.publish + header + body as bytes."""
        hdr = pamqp.header.ContentHeader(0, len(payload), spec.Basic.Properties())
        return (pamqp.frame.marshal(spec.Basic.Publish(exchange=exchange, routing_key=routing_key), channel)
                + pamqp.frame.marshal(hdr, channel)
                + pamqp.frame.marshal(pbody.ContentBody(payload), channel))


def amqplain(user: str, password: str) -> str:
    """An AMQPLAIN response: a field table without its 4-byte length prefix."""
    out = b""
    for k, v in (("LOGIN", user), ("PASSWORD", password)):
        vb = v.encode()
        out += bytes([len(k)]) + k.encode() + b"S" + struct.pack(">I", len(vb)) + vb
    return out.decode("latin-1")


def raw_frame(frame_type: int, channel: int, payload: bytes, end: bytes = FRAME_END) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + end


def assert_close(frame, code: int, text: str | None = None, *, prefix: str | None = None,
                 contains: str | None = None, class_id: int | None = None, method_id: int | None = None):
    assert isinstance(frame, spec.Connection.Close | spec.Channel.Close), frame
    assert frame.reply_code == code, (frame.reply_code, frame.reply_text)
    if text is not None:
        assert frame.reply_text == text
    if prefix is not None:
        assert frame.reply_text.startswith(prefix), frame.reply_text
    if contains is not None:
        assert contains in frame.reply_text, frame.reply_text
    if class_id is not None:
        assert (frame.class_id, frame.method_id) == (class_id, method_id), (frame.class_id, frame.method_id)


def custom_params(broker, **kw) -> pika.ConnectionParameters:
    """Like broker.pika_params() but credentials and vhost may be overridden too."""
    kw.setdefault("virtual_host", broker.vhost)
    kw.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    kw.setdefault("heartbeat", 0)
    kw.setdefault("connection_attempts", 1)
    return pika.ConnectionParameters(host=broker.host, port=broker.port, **kw)


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------

class Bystander:
    """A connection opened before a test provokes an error; it must be unaffected afterwards."""

    def __init__(self, broker) -> None:
        self.conn = pika.BlockingConnection(broker.pika_params())
        self.ch = self.conn.channel()

    def check(self) -> None:
        assert self.conn.is_open and self.ch.is_open
        q = self.ch.queue_declare("", exclusive=True).method.queue
        self.ch.basic_publish("", q, b"still-alive")
        deadline = time.monotonic() + 5
        while True:
            _, _, body = self.ch.basic_get(q, auto_ack=True)
            if body is not None or time.monotonic() > deadline:
                break
            self.conn.process_data_events(time_limit=0.05)
        assert body == b"still-alive"
        self.ch.queue_delete(q)

    def close(self) -> None:
        try:
            if self.conn.is_open:
                self.conn.close()
        except Exception:
            pass


@pytest.fixture
def bystander(broker):
    b = Bystander(broker)
    yield b
    b.close()


@pytest.fixture
def raw(broker):
    """Factory of RawClients on the module broker, all closed at the end of the test."""
    clients: list[RawClient] = []

    def make(timeout: float = 5.0) -> RawClient:
        c = RawClient(broker.host, broker.port, timeout)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def opened(raw):
    """A raw client past connection.open-ok with channel 1 open."""
    c = raw()
    ok = c.handshake()
    assert isinstance(ok, spec.Connection.OpenOk), ok
    c.open_channel(1)
    return c


# --------------------------------------------------------------------------------------------------
# protocol header
# --------------------------------------------------------------------------------------------------

def test_protocol_header_gets_connection_start(raw):
    c = raw()
    c.send_raw(AMQP_HEADER)
    ch, start = c.read_method()
    assert ch == 0
    assert isinstance(start, spec.Connection.Start)
    assert (start.version_major, start.version_minor) == (0, 9)


def test_server_properties(raw):
    c = raw()
    c.send_raw(AMQP_HEADER)
    start = c.expect(spec.Connection.Start, 0)
    props = start.server_properties
    for key in ("product", "version", "platform", "copyright", "information"):
        assert isinstance(props.get(key), str) and props[key], (key, props.get(key))
    caps = props["capabilities"]
    assert isinstance(caps, dict)
    for cap in ("publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
                "authentication_failure_close", "per_consumer_qos"):
        assert caps.get(cap) is True, (cap, caps)
    mechanisms = start.mechanisms.split(" ")
    assert "PLAIN" in mechanisms and "AMQPLAIN" in mechanisms, start.mechanisms
    assert start.locales == "en_US"


def test_amqp_0_9_header_is_accepted_as_0_9_1(raw):
    # RabbitMQ treats the 0-9 header ("AMQP" 1 1 0 9) as 0-9-1 and answers with connection.start
    c = raw()
    c.send_raw(b"AMQP\x01\x01\x00\x09")
    start = c.expect(spec.Connection.Start, 0)
    assert (start.version_major, start.version_minor) == (0, 9)
    c.send(spec.Connection.StartOk(client_properties={}, mechanism="PLAIN", response="\0guest\0guest"))
    tune = c.expect(spec.Connection.Tune, 0)
    c.send(spec.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
    c.send(spec.Connection.Open(virtual_host="/"))
    c.expect(spec.Connection.OpenOk, 0)


@pytest.mark.parametrize("header", [b"AMQP\x01\x01\x08\x00", b"AMQP\x01\x01\x09\x01"], ids=["0-8", "0-8-website"])
def test_amqp_0_8_header(broker, raw, header):
    c = raw()
    c.send_raw(header)
    if broker.external:
        # RabbitMQ still speaks AMQP 0-8 and answers with a 0-8 connection.start (version 8-0)
        start = c.expect(spec.Connection.Start, 0)
        assert (start.version_major, start.version_minor) == (8, 0)
    else:
        # amqpd only speaks 0-9-1: it answers with the header it supports and closes
        assert c.wait_closed(5) == AMQP_HEADER


@pytest.mark.parametrize("header", [
    b"HTTP/1.1",
    b"GET / HTTP/1.1\r\n\r\n",
    b"AMQP\x00\x00\x09\x02",   # unknown 0-9-x revision
    b"AMQP\x00\x00\x08\x00",
    b"amqp\x00\x00\x09\x01",   # case matters
    b"AMQP\x00\x01\x00\x00",   # AMQP 1.0 (no 1.0 support)
    b"AMQP\x03\x01\x00\x00",   # AMQP 1.0 SASL layer
], ids=["http", "http-get", "0-9-2", "0-0-8-0", "lowercase", "amqp-1.0", "amqp-1.0-sasl"])
def test_bad_protocol_header_gets_supported_header_and_close(raw, bystander, header):
    c = raw()
    c.send_raw(header)
    got = c.wait_closed(5)
    assert got == AMQP_HEADER
    bystander.check()


# --------------------------------------------------------------------------------------------------
# authentication
# --------------------------------------------------------------------------------------------------

def test_wrong_password_with_pika(broker, bystander):
    params = custom_params(broker, credentials=pika.PlainCredentials("guest", "wrong-password"))
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as ei:
        pika.BlockingConnection(params)
    # pika announces authentication_failure_close, so the broker explains itself with a 403
    assert "(403) 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. " \
           "For details see the broker logfile.'" in str(ei.value)
    bystander.check()


@pytest.mark.parametrize("user,password", [("guest", "wrong"), ("no-such-user", "guest")])
def test_auth_failure_close_raw(raw, bystander, user, password):
    c = raw()
    close = c.handshake(user=user, password=password)
    assert_close(close, 403, "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                             "For details see the broker logfile.", class_id=0, method_id=0)
    c.send(spec.Connection.CloseOk())
    assert c.wait_closed(5) == b""
    bystander.check()


def test_auth_failure_without_capability_just_closes(raw, bystander):
    # Without authentication_failure_close the client gets no explanation, only a closed socket
    # (RabbitMQ waits 3 s first to slow down password guessing).
    c = raw(timeout=8)
    c.send_raw(AMQP_HEADER)
    c.expect(spec.Connection.Start, 0)
    c.send(spec.Connection.StartOk(client_properties={"capabilities": {}}, mechanism="PLAIN",
                                   response="\0guest\0wrong", locale="en_US"))
    assert c.frames_until_closed(8) == []
    bystander.check()


def test_amqplain_login(raw):
    c = raw()
    ok = c.handshake(mechanism="AMQPLAIN")
    assert isinstance(ok, spec.Connection.OpenOk), ok
    c.open_channel(1)
    c.send(spec.Queue.Declare(queue="", exclusive=True), 1)
    assert c.expect(spec.Queue.DeclareOk, 1).queue.startswith("amq.gen-")


def test_amqplain_wrong_password(raw, bystander):
    c = raw()
    close = c.handshake(mechanism="AMQPLAIN", password="nope")
    assert_close(close, 403, "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. "
                             "For details see the broker logfile.", class_id=0, method_id=0)
    bystander.check()


@pytest.mark.parametrize("mechanism,response,code,text", [
    ("FOO", "\0guest\0guest", 503, "COMMAND_INVALID - unknown authentication mechanism 'FOO'"),
    ("PLAIN", "garbage", 502, None),
    ("AMQPLAIN", "garbage", 502, None),
], ids=["unknown-mechanism", "bad-plain-response", "bad-amqplain-response"])
def test_bad_start_ok_closes_connection(broker, raw, bystander, mechanism, response, code, text):
    c = raw(timeout=8)
    c.send_raw(AMQP_HEADER)
    c.expect(spec.Connection.Start, 0)
    c.send(spec.Connection.StartOk(client_properties={"capabilities": {"authentication_failure_close": True}},
                                   mechanism=mechanism, response=response, locale="en_US"))
    frames = c.frames_until_closed(8)
    # RabbitMQ drops an unauthenticated peer after 3 s without a word ("we don't trust the client yet").
    if broker.external:
        assert frames == []
    else:
        # amqpd may explain itself first; if it does, with the code RabbitMQ logs.
        assert all(isinstance(f, spec.Connection.Close) for _, f in frames), frames
        for _, f in frames:
            assert_close(f, code, text)
    bystander.check()


# --------------------------------------------------------------------------------------------------
# tune
# --------------------------------------------------------------------------------------------------

def test_tune_values(raw):
    c = raw()
    ok = c.handshake()
    assert isinstance(ok, spec.Connection.OpenOk)
    assert (c.tune.channel_max, c.tune.frame_max, c.tune.heartbeat) == (2047, 131072, 60)


def test_pika_negotiation(broker):
    # pika with heartbeat=None accepts the server's proposal
    conn = pika.BlockingConnection(broker.pika_params(heartbeat=None))
    try:
        p = conn._impl.params
        assert (p.heartbeat, p.frame_max, p.channel_max) == (60, 131072, 2047)
        assert conn._impl.server_properties["capabilities"]["publisher_confirms"] is True
    finally:
        conn.close()
    # lower values are accepted by the broker
    conn = pika.BlockingConnection(broker.pika_params(heartbeat=lambda _c, server: min(5, server),
                                                      channel_max=100, frame_max=8192))
    try:
        p = conn._impl.params
        assert (p.heartbeat, p.frame_max, p.channel_max) == (5, 8192, 100)
        ch = conn.channel()
        ch.basic_publish("", "no-such-queue", b"x" * 20000)  # split into several body frames
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"y" * 20000)
        body = None
        deadline = time.monotonic() + 5
        while body is None and time.monotonic() < deadline:
            _, _, body = ch.basic_get(q, auto_ack=True)
        assert body == b"y" * 20000
    finally:
        conn.close()


@pytest.mark.parametrize("kw,text", [
    ({"frame_max": 1024}, "NOT_ALLOWED - negotiated frame_max = 1024 is lower than the minimum allowed value (4096)"),
    ({"frame_max": 4095}, "NOT_ALLOWED - negotiated frame_max = 4095 is lower than the minimum allowed value (4096)"),
    ({"frame_max": 0}, "NOT_ALLOWED - negotiated frame_max = 0 is higher than the maximum allowed value (131072)"),
    ({"frame_max": 131073},
     "NOT_ALLOWED - negotiated frame_max = 131073 is higher than the maximum allowed value (131072)"),
    ({"channel_max": 2048},
     "NOT_ALLOWED - negotiated channel_max = 2048 is higher than the maximum allowed value (2047)"),
    ({"channel_max": 0},
     "NOT_ALLOWED - negotiated channel_max = 0 (no limit) is higher than the maximum allowed value (2047)"),
], ids=["frame_max-1024", "frame_max-4095", "frame_max-0", "frame_max-too-big", "channel_max-too-big",
        "channel_max-0"])
def test_tune_ok_out_of_range_refused(broker, raw, bystander, kw, text):
    c = raw(timeout=8)
    assert c.handshake(open_vhost=False, **kw) is None
    c.send_quietly(spec.Connection.Open(virtual_host="/"))
    frames = c.frames_until_closed(8)
    assert not any(isinstance(f, spec.Connection.OpenOk) for _, f in frames), frames
    if broker.external:
        # RabbitMQ 3.10 logs "failed to negotiate connection parameters: <text>" and drops the socket
        # 3 s later without a connection.close.
        assert frames == []
    else:
        # amqpd tells the client why, with the text RabbitMQ logs (and later RabbitMQ versions send)
        assert len(frames) == 1, frames
        assert_close(frames[0][1], 530, text)
    bystander.check()


def test_frame_max_accepts_min_and_uses_negotiated_value(raw):
    c = raw()
    ok = c.handshake(frame_max=4096)
    assert isinstance(ok, spec.Connection.OpenOk)
    c.open_channel(1)
    c.send(spec.Queue.Declare(queue="", exclusive=True), 1)
    q = c.expect(spec.Queue.DeclareOk, 1).queue
    # RabbitMQ accepts a frame whose *payload* is frame_max bytes (it allows 8 octets of slack for the
    # frame header and end marker), so a body frame of exactly frame_max bytes goes through
    payload = bytes(range(256)) * 16
    assert len(payload) == 4096
    hdr = pamqp.header.ContentHeader(0, len(payload), spec.Basic.Properties())
    c.send_raw(pamqp.frame.marshal(spec.Basic.Publish(exchange="", routing_key=q), 1)
               + pamqp.frame.marshal(hdr, 1) + raw_frame(3, 1, payload))
    c.send(spec.Basic.Get(queue=q, no_ack=True), 1)
    c.expect(spec.Basic.GetOk, 1)
    _, header = c.read_method()
    assert isinstance(header, pamqp.header.ContentHeader) and header.body_size == 4096
    got = b""
    while len(got) < 4096:
        _, part = c.read_method()
        assert isinstance(part, pbody.ContentBody)
        got += part.value
    assert got == payload


# --------------------------------------------------------------------------------------------------
# heartbeats
# --------------------------------------------------------------------------------------------------

def test_broker_sends_heartbeats_and_drops_silent_peer(raw, bystander):
    c = raw(timeout=10)
    assert isinstance(c.handshake(heartbeat=1), spec.Connection.OpenOk)
    t0 = time.monotonic()
    beats = 0
    frames = []
    while True:
        try:
            ch, frame = c.read_frame(10 - (time.monotonic() - t0))
        except PeerClosed:
            break
        if isinstance(frame, pamqp.heartbeat.Heartbeat):
            assert ch == 0
            beats += 1
        else:
            frames.append(frame)
    elapsed = time.monotonic() - t0
    # RabbitMQ sends a heartbeat every timeout/2 and drops the peer after ~3 s of silence (no close)
    assert beats >= 2, beats
    assert 1.5 <= elapsed <= 8, elapsed
    assert not any(isinstance(f, spec.Connection.OpenOk) for f in frames)
    bystander.check()


def test_heartbeating_peer_stays_connected(raw):
    c = raw()
    assert isinstance(c.handshake(heartbeat=1), spec.Connection.OpenOk)
    hb = pamqp.heartbeat.Heartbeat()
    end = time.monotonic() + 4
    while time.monotonic() < end:
        c.send(hb)
        try:
            c.read_method(0.4)
            raise AssertionError("unexpected frame")
        except TimeoutError:
            pass
    assert c.heartbeats_seen >= 4
    c.open_channel(1)
    c.send(spec.Channel.Close(200, "bye", 0, 0), 1)
    c.expect(spec.Channel.CloseOk, 1)


def test_heartbeat_zero_disables_heartbeats(raw):
    c = raw()
    assert isinstance(c.handshake(heartbeat=0), spec.Connection.OpenOk)
    with pytest.raises(TimeoutError):
        c.read_frame(2.5)  # neither heartbeats nor a disconnect
    c.open_channel(1)


# --------------------------------------------------------------------------------------------------
# connection.open / close
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vhost", ["no-such-vhost", ""])
def test_unknown_vhost_raw(raw, bystander, vhost):
    c = raw()
    close = c.handshake(vhost=vhost)
    assert_close(close, 530, f"NOT_ALLOWED - vhost {vhost} not found", class_id=10, method_id=40)
    c.send(spec.Connection.CloseOk())
    assert c.wait_closed(5) == b""
    bystander.check()


def test_unknown_vhost_pika(broker):
    params = custom_params(broker, virtual_host="no-such-vhost")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError) as ei:
        pika.BlockingConnection(params)
    assert "(530) 'NOT_ALLOWED - vhost no-such-vhost not found'" in str(ei.value)


def test_client_close_gets_close_ok_and_later_frames_are_ignored(opened, bystander):
    c = opened
    c.open_channel(2)
    c.send(spec.Connection.Close(200, "bye", 0, 0))
    # after sending connection.close the client must expect nothing but close-ok, and the broker ignores
    # whatever follows
    c.send(spec.Channel.Open(), 3)
    c.send(spec.Queue.Declare(queue="no-such-queue-zz", passive=True), 1)
    ch, frame = c.read_method()
    assert ch == 0 and isinstance(frame, spec.Connection.CloseOk), frame
    with pytest.raises((TimeoutError, PeerClosed)):
        c.read_method(1.0)
    bystander.check()


def test_pika_close(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    ch = conn.channel()
    ch.queue_declare("", exclusive=True)
    conn.close()
    assert conn.is_closed


def test_methods_on_channel_0_after_open(opened, bystander):
    c = opened
    c.send(spec.Connection.Open(virtual_host="/"))
    assert_close(c.expect_connection_close(), 504, "CHANNEL_ERROR - unexpected method in connection state running",
                 class_id=10, method_id=40)
    bystander.check()


def test_handshake_timeout_amqpd(broker_factory):
    # RabbitMQ's handshake_timeout is 10 s: only checked against amqpd (configured to 1 s here)
    b = broker_factory("handshake_timeout = 1000\n")
    with RawClient(b.host, b.port, timeout=8) as c:
        c.send_raw(AMQP_HEADER)
        c.expect(spec.Connection.Start, 0)
        t0 = time.monotonic()
        c.wait_closed(8)
        assert time.monotonic() - t0 < 6
    with RawClient(b.host, b.port, timeout=8) as c:  # a socket that never sends the header
        t0 = time.monotonic()
        c.wait_closed(8)
        assert time.monotonic() - t0 < 6
    with RawClient(b.host, b.port, timeout=8) as c:  # a well-behaved client is not affected
        assert isinstance(c.handshake(), spec.Connection.OpenOk)
        time.sleep(1.5)
        c.open_channel(1)


# --------------------------------------------------------------------------------------------------
# channels
# --------------------------------------------------------------------------------------------------

def test_channel_open_close_reopen(opened):
    c = opened
    c.send(spec.Channel.Close(200, "", 0, 0), 1)
    c.expect(spec.Channel.CloseOk, 1)
    c.open_channel(1)
    c.open_channel(2047)
    c.send(spec.Queue.Declare(queue="", exclusive=True), 2047)
    c.expect(spec.Queue.DeclareOk, 2047)


def test_pika_many_channels(broker):
    conn = pika.BlockingConnection(broker.pika_params())
    try:
        chans = [conn.channel() for _ in range(50)]
        for ch in chans[::2]:
            ch.close()
        for ch in chans[1::2]:
            ch.queue_declare("", exclusive=True)
        conn.channel().close()
    finally:
        conn.close()


def test_channel_max_counts_open_channels(raw, bystander):
    c = raw()
    assert isinstance(c.handshake(channel_max=2), spec.Connection.OpenOk)
    c.open_channel(1)
    # RabbitMQ checks the number of open channels, not the channel number
    c.open_channel(7)
    c.send(spec.Channel.Close(200, "", 0, 0), 1)
    c.expect(spec.Channel.CloseOk, 1)
    c.open_channel(3)
    c.send(spec.Channel.Open(), 4)
    assert_close(c.expect_connection_close(), 530,
                 "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
                 class_id=0, method_id=0)
    bystander.check()


def test_channel_max_configured_amqpd(broker_factory):
    b = broker_factory("channel_max = 8\n")
    with RawClient(b.host, b.port) as c:
        assert isinstance(c.handshake(), spec.Connection.OpenOk)
        assert c.tune.channel_max == 8
        for n in range(1, 9):
            c.open_channel(n)
        c.send(spec.Channel.Open(), 9)
        assert_close(c.expect_connection_close(), 530,
                     "NOT_ALLOWED - number of channels opened (8) has reached the negotiated channel_max (8)")
    with RawClient(b.host, b.port, timeout=8) as c:
        c.handshake(channel_max=9, open_vhost=False)
        c.send_quietly(spec.Connection.Open(virtual_host="/"))
        frames = c.frames_until_closed(8)
        assert [f.reply_code for _, f in frames] == [530], frames


def test_reopen_open_channel(opened, bystander):
    c = opened
    c.send(spec.Channel.Open(), 1)
    assert_close(c.expect_connection_close(), 504, "CHANNEL_ERROR - second 'channel.open' seen",
                 class_id=20, method_id=10)
    bystander.check()


def test_reopen_channel_before_close_ok(opened, bystander):
    c = opened
    c.send(spec.Queue.Declare(queue="no-such-queue-zz", passive=True), 1)
    close = c.expect(spec.Channel.Close, 1)
    assert_close(close, 404, "NOT_FOUND - no queue 'no-such-queue-zz' in vhost '/'", class_id=50, method_id=10)
    c.send(spec.Channel.Open(), 1)  # the channel is closing, not closed: close-ok is still owed
    assert_close(c.expect_connection_close(), 504, "CHANNEL_ERROR - second 'channel.open' seen",
                 class_id=20, method_id=10)
    bystander.check()


def test_methods_ignored_until_close_ok(opened):
    c = opened
    c.send(spec.Queue.Declare(queue="no-such-queue-zz", passive=True), 1)
    c.expect(spec.Channel.Close, 1)
    c.send(spec.Queue.Declare(queue="no-such-queue-zz", passive=True), 1)  # dropped silently
    # content still has to be framed correctly; the publish is then dropped too
    c.send_raw(c.publish_frames(1, "no-such-exchange-zz", "k", b"dropped"))
    with pytest.raises(TimeoutError):
        c.read_method(1.0)
    c.send(spec.Channel.CloseOk(), 1)
    c.open_channel(1)
    c.send(spec.Queue.Declare(queue="", exclusive=True), 1)
    c.expect(spec.Queue.DeclareOk, 1)


@pytest.mark.parametrize("method,ids", [
    (spec.Queue.Declare(queue="x"), (50, 10)),
    (spec.Basic.Qos(prefetch_count=1), (60, 10)),
    (spec.Channel.Close(200, "", 0, 0), (20, 40)),
    (spec.Channel.CloseOk(), (20, 41)),
    (spec.Channel.Flow(active=True), (20, 20)),
], ids=["queue.declare", "basic.qos", "channel.close", "channel.close-ok", "channel.flow"])
def test_method_on_unopened_channel(opened, bystander, method, ids):
    c = opened
    c.send(method, 5)
    assert_close(c.expect_connection_close(), 504, "CHANNEL_ERROR - expected 'channel.open'",
                 class_id=ids[0], method_id=ids[1])
    bystander.check()


@pytest.mark.parametrize("method,ids", [
    (spec.Channel.Open(), (20, 10)),
    (spec.Queue.Declare(queue="x"), (50, 10)),
    (spec.Basic.Publish(exchange="", routing_key="x"), (60, 40)),
    (spec.Connection.TuneOk(2047, 131072, 0), (10, 31)),
], ids=["channel.open", "queue.declare", "basic.publish", "connection.tune-ok"])
def test_non_connection_method_on_channel_0(opened, bystander, method, ids):
    c = opened
    c.send(method, 0)
    assert_close(c.expect_connection_close(), 504, "CHANNEL_ERROR - unexpected method in connection state running",
                 class_id=ids[0], method_id=ids[1])
    bystander.check()


def test_channel_flow(opened, bystander):
    c = opened
    c.send(spec.Channel.Flow(active=True), 1)
    ok = c.expect(spec.Channel.FlowOk, 1)
    assert ok.active is True
    c.send(spec.Channel.Flow(active=False), 1)
    assert_close(c.expect_connection_close(), 540, "NOT_IMPLEMENTED - active=false", class_id=20, method_id=20)
    bystander.check()


# --------------------------------------------------------------------------------------------------
# framing errors
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("frame_max,size", [(4096, 4097), (131072, 131073), (131072, 1 << 20)])
def test_frame_larger_than_frame_max(raw, bystander, frame_max, size):
    c = raw()
    assert isinstance(c.handshake(frame_max=frame_max), spec.Connection.OpenOk)
    c.open_channel(1)
    c.send(spec.Basic.Publish(exchange="", routing_key="x"), 1)
    c.send(pamqp.header.ContentHeader(0, size, spec.Basic.Properties()), 1)
    c.send_raw(raw_frame(3, 1, b"\0" * size))
    assert_close(c.expect_connection_close(), 501,
                 f"FRAME_ERROR - type 3, all octets = <<>>: {{frame_too_large,{size},{frame_max - 8}}}",
                 class_id=0, method_id=0)
    bystander.check()


def test_oversized_frame_refused_on_its_header(opened, bystander):
    # the size check happens on the 7-octet frame header: the broker does not wait for the payload
    c = opened
    c.send_raw(struct.pack(">BHI", 1, 1, 200000))
    assert_close(c.expect_connection_close(), 501,
                 "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,200000,131064}",
                 class_id=0, method_id=0)
    bystander.check()


def test_oversized_tune_ok_refused_before_tuning(raw, bystander):
    """Regression (issue 15's fuzzer): after start-ok, a tune-ok whose header announces 9,484 octets, more
    than the 4,096 that apply until tune-ok, then a connection.open with a corrupted method octet. amqpd
    used to wait for the rest of the frame (until handshake_timeout) and swallow what followed; the
    frame is refused from its header at once, as RabbitMQ refuses it."""
    c = raw()
    c.send_raw(AMQP_HEADER)
    c.start = c.expect(spec.Connection.Start)
    c.send(spec.Connection.StartOk(client_properties={}, mechanism="PLAIN", response="\0guest\0guest"))
    c.expect(spec.Connection.Tune)
    c.send_raw(bytes.fromhex("01 0000 0000250c 000a 001f 07ff 00020000 0000 ce"
                             "01 0000 00000008 000a 0003 01 2f 0000 ce"))
    # answered from the frame header, not after handshake_timeout (10 s): the read waits 2 s at most
    assert_close(c.expect(spec.Connection.Close, timeout=2), 501,
                 "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,9484,4088}", class_id=0, method_id=0)
    c.wait_closed(timeout=8)  # the rest of the input is not read: the socket goes after the close grace
    bystander.check()


def test_start_ok_larger_than_the_minimum_frame_refused(raw, bystander):
    """Before tune-ok no frame may exceed 4,096 octets, start-ok included (RabbitMQ's rule too)."""
    c = raw()
    c.send_raw(AMQP_HEADER)
    c.start = c.expect(spec.Connection.Start)
    c.send(spec.Connection.StartOk(client_properties={"padding": "x" * 5000}, mechanism="PLAIN",
                                   response="\0guest\0guest"))
    close = c.expect(spec.Connection.Close, timeout=2)
    assert close.reply_code == 501 and "{frame_too_large,5" in close.reply_text, close
    bystander.check()


def test_bad_frame_end(opened, bystander):
    c = opened
    frame = pamqp.frame.marshal(spec.Queue.Declare(queue="abc"), 1)
    c.send_raw(frame[:-1] + b"\x00")
    assert_close(c.expect_connection_close(), 501, prefix="FRAME_ERROR - type 1, all octets = <<",
                 contains="invalid_frame_end_marker", class_id=0, method_id=0)
    bystander.check()


@pytest.mark.parametrize("ftype", [4, 9, 0xCE])
def test_unknown_frame_type(opened, bystander, ftype):
    c = opened
    c.send_raw(raw_frame(ftype, 1, b"abc"))
    assert_close(c.expect_connection_close(), 501,
                 f'FRAME_ERROR - type {ftype}, all octets = <<"abc">>: unknown_frame', class_id=0, method_id=0)
    bystander.check()


@pytest.mark.parametrize("what", ["header", "body"])
def test_content_without_publish(opened, bystander, what):
    c = opened
    if what == "header":
        c.send(pamqp.header.ContentHeader(0, 3, spec.Basic.Properties()), 1)
    else:
        c.send(pbody.ContentBody(b"abc"), 1)
    assert_close(c.expect_connection_close(), 505,
                 "UNEXPECTED_FRAME - expected method frame, got non method frame instead", class_id=0, method_id=0)
    bystander.check()


def test_content_header_on_another_channel(opened, bystander):
    c = opened
    c.open_channel(2)
    c.send(spec.Basic.Publish(exchange="", routing_key="x"), 1)
    c.send(pamqp.header.ContentHeader(0, 3, spec.Basic.Properties()), 2)
    assert_close(c.expect_connection_close(), 505,
                 "UNEXPECTED_FRAME - expected method frame, got non method frame instead", class_id=0, method_id=0)
    bystander.check()


@pytest.mark.parametrize("follow,text", [
    ("method", "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"),
    ("body", "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"),
    ("wrong-class-header", "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead"),
    ("header-then-method", "UNEXPECTED_FRAME - expected content body, got non content body frame instead"),
])
def test_publish_followed_by_wrong_frame(opened, bystander, follow, text):
    c = opened
    c.send(spec.Basic.Publish(exchange="", routing_key="x"), 1)
    if follow == "method":
        c.send(spec.Queue.Declare(queue="abc"), 1)
    elif follow == "body":
        c.send(pbody.ContentBody(b"abc"), 1)
    elif follow == "wrong-class-header":
        c.send_raw(raw_frame(2, 1, struct.pack(">HHQH", 50, 0, 0, 0)))
    else:
        c.send(pamqp.header.ContentHeader(0, 3, spec.Basic.Properties()), 1)
        c.send(spec.Queue.Declare(queue="abc"), 1)
    assert_close(c.expect_connection_close(), 505, text, class_id=60, method_id=40)
    bystander.check()


@pytest.mark.parametrize("ftype,payload", [(2, None), (3, b"abc")])
def test_content_frame_on_channel_0(opened, bystander, ftype, payload):
    c = opened
    if payload is None:
        c.send(pamqp.header.ContentHeader(0, 3, spec.Basic.Properties()), 0)
    else:
        c.send_raw(raw_frame(ftype, 0, payload))
    assert_close(c.expect_connection_close(), 505, prefix=f"UNEXPECTED_FRAME - type {ftype}, all octets = <<",
                 class_id=0, method_id=0)
    bystander.check()


def test_heartbeat_on_non_zero_channel(opened, bystander):
    c = opened
    c.send_raw(raw_frame(8, 1, b""))
    assert_close(c.expect_connection_close(), 505, "UNEXPECTED_FRAME - type 8, all octets = <<>>",
                 class_id=0, method_id=0)
    bystander.check()


def test_truncated_method_arguments(opened, bystander):
    c = opened
    c.send_raw(raw_frame(1, 1, struct.pack(">HH", 50, 10) + b"\x00"))
    assert_close(c.expect_connection_close(), 501, "FRAME_ERROR - cannot decode <<0>>", class_id=50, method_id=10)
    bystander.check()


@pytest.mark.parametrize("class_id,method_id", [(50, 99), (99, 10), (0, 0)])
def test_unknown_method(broker, opened, bystander, class_id, method_id):
    c = opened
    c.send_raw(raw_frame(1, 1, struct.pack(">HH", class_id, method_id) + b"\0" * 6))
    frames = c.frames_until_closed(8)
    if broker.external:
        # RabbitMQ's reader crashes ({unknown_method_id, {C, M}}) and the socket is reset without a close
        assert frames == []
    else:
        # amqpd explains itself instead
        assert len(frames) == 1, frames
        assert frames[0][1].reply_code in (503, 540), frames
    bystander.check()
