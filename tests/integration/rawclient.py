"""A minimal raw-socket AMQP 0-9-1 client for byte-level integration tests.

pamqp encodes and decodes method frames; content header properties are encoded by hand here so a test
chooses every field-table type tag itself and can compare the exact property bytes a broker sends back.
Every socket operation has a timeout, so a test using this client always ends by itself.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass
from decimal import Decimal

from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE
BASIC_CLASS_ID = 60


class ConnectionClosedError(Exception):
    """The peer closed the TCP connection (or never answered) while we waited for a frame."""


@dataclass
class Frame:
    type: int
    channel: int
    payload: bytes
    method: object | None = None  # decoded pamqp command for method frames

    @property
    def header_properties(self) -> bytes:
        """Raw property flags + property list of a content header frame."""
        assert self.type == FRAME_HEADER
        return self.payload[12:]

    @property
    def body_size(self) -> int:
        assert self.type == FRAME_HEADER
        return struct.unpack(">Q", self.payload[4:12])[0]


# ---------------------------------------------------------------------------------------------------------
# Field values with explicit type tags: F(tag, value). Tables are lists of (name, F) pairs (order is kept).


@dataclass(frozen=True)
class F:
    tag: str
    value: object = None


def shortstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    assert len(b) < 256
    return struct.pack(">B", len(b)) + b


def longstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


def encode_value(v: F) -> bytes:
    t, x = v.tag, v.value
    tag = t.encode()
    if t == "t":
        return tag + struct.pack(">B", 1 if x else 0)
    if t in "bBsuIilLfd":
        fmt = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I", "l": ">q", "L": ">Q",
               "f": ">f", "d": ">d"}[t]
        return tag + struct.pack(fmt, x)
    if t == "D":
        if isinstance(x, Decimal):
            sign, digits, exp = x.as_tuple()
            scale = -exp
            raw = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
            return tag + struct.pack(">Bi", scale, raw)
        scale, raw = x
        return tag + struct.pack(">BI", scale, raw)
    if t == "T":
        return tag + struct.pack(">Q", x)
    if t == "S":
        return tag + longstr(x)
    if t == "x":
        return tag + longstr(bytes(x))
    if t == "V":
        return tag
    if t == "F":
        return tag + longstr(encode_table(x))
    if t == "A":
        return tag + longstr(b"".join(encode_value(i) for i in x))
    raise ValueError(f"unknown field type {t!r}")


def encode_table(items) -> bytes:
    if isinstance(items, dict):
        items = list(items.items())
    return b"".join(shortstr(k) + encode_value(v) for k, v in items)


# Basic property flags, highest bit first, with their wire type.
BASIC_PROPERTIES = [
    ("content_type", "shortstr"), ("content_encoding", "shortstr"), ("headers", "table"),
    ("delivery_mode", "octet"), ("priority", "octet"), ("correlation_id", "shortstr"),
    ("reply_to", "shortstr"), ("expiration", "shortstr"), ("message_id", "shortstr"),
    ("timestamp", "timestamp"), ("type", "shortstr"), ("user_id", "shortstr"), ("app_id", "shortstr"),
    ("cluster_id", "shortstr"),
]


def encode_properties(**props) -> bytes:
    """Property flags + property list for class basic. headers may be raw bytes (a pre-encoded table)."""
    flags = 0
    out = b""
    for i, (name, kind) in enumerate(BASIC_PROPERTIES):
        if name not in props or props[name] is None:
            continue
        flags |= 1 << (15 - i)
        v = props[name]
        if kind == "shortstr":
            out += shortstr(v)
        elif kind == "octet":
            out += struct.pack(">B", v)
        elif kind == "timestamp":
            out += struct.pack(">Q", v)
        elif kind == "table":
            t = v if isinstance(v, bytes | bytearray) else encode_table(v)
            out += struct.pack(">I", len(t)) + t
    unknown = set(props) - {n for n, _ in BASIC_PROPERTIES}
    assert not unknown, unknown
    return struct.pack(">H", flags) + out


def header_payload(body_size: int, properties: bytes, class_id: int = BASIC_CLASS_ID, weight: int = 0) -> bytes:
    return struct.pack(">HHQ", class_id, weight, body_size) + properties


def raw_frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + bytes([FRAME_END])


# ---------------------------------------------------------------------------------------------------------


class RawClient:
    def __init__(self, host: str, port: int, vhost: str = "/", user: str = "guest", password: str = "guest",
                 frame_max: int = 131072, channel_max: int = 2047, timeout: float = 5.0) -> None:
        self.host, self.port, self.vhost = host, port, vhost
        self.user, self.password = user, password
        self.frame_max_wanted = frame_max
        self.channel_max_wanted = channel_max
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""
        self.frame_max = 0
        self.server_properties: dict = {}

    # -- connection ---------------------------------------------------------------------------------------
    def connect(self) -> RawClient:
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.settimeout(self.timeout)
        self.sock.sendall(pheader.ProtocolHeader().marshal())
        start = self.wait_method(0, commands.Connection.Start)
        self.server_properties = start.server_properties
        self.send_method(0, commands.Connection.StartOk(
            client_properties={"product": "amqpd-rawclient", "capabilities": {"consumer_cancel_notify": True}},
            mechanism="PLAIN", response=f"\0{self.user}\0{self.password}", locale="en_US"))
        tune = self.wait_method(0, commands.Connection.Tune)
        fm = min([x for x in (tune.frame_max, self.frame_max_wanted) if x] or [0])
        cm = min([x for x in (tune.channel_max, self.channel_max_wanted) if x] or [0])
        self.frame_max = fm
        self.send_method(0, commands.Connection.TuneOk(channel_max=cm, frame_max=fm, heartbeat=0))
        self.send_method(0, commands.Connection.Open(virtual_host=self.vhost))
        self.wait_method(0, commands.Connection.OpenOk)
        return self

    def __enter__(self) -> RawClient:
        return self.connect() if self.sock is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close politely if still possible, then drop the socket."""
        if self.sock is None:
            return
        try:
            self.send_method(0, commands.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                f = self.read_frame(timeout=max(0.05, deadline - time.monotonic()))
                if f.channel == 0 and isinstance(f.method, commands.Connection.CloseOk | commands.Connection.Close):
                    break
        except (OSError, ConnectionClosedError, AssertionError):
            pass
        finally:
            try:
                self.sock.close()
            finally:
                self.sock = None

    # -- sending ------------------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def send_method(self, channel: int, method) -> None:
        self.send_raw(pframe.marshal(method, channel))

    def send_header(self, channel: int, body_size: int, properties: bytes | None = None, **kw) -> None:
        props = properties if properties is not None else encode_properties()
        self.send_raw(raw_frame(FRAME_HEADER, channel, header_payload(body_size, props, **kw)))

    def send_body(self, channel: int, body: bytes) -> None:
        self.send_raw(raw_frame(FRAME_BODY, channel, body))

    def publish(self, channel: int, body: bytes, exchange: str = "", routing_key: str = "",
                properties: bytes | None = None, mandatory: bool = False, immediate: bool = False) -> None:
        """basic.publish + header + body frames split by the negotiated frame_max."""
        self.send_method(channel, commands.Basic.Publish(exchange=exchange, routing_key=routing_key,
                                                         mandatory=mandatory, immediate=immediate))
        self.send_header(channel, len(body), properties)
        chunk = (self.frame_max or 131072) - 8
        for i in range(0, len(body), chunk):
            self.send_body(channel, body[i:i + chunk])

    # -- receiving ----------------------------------------------------------------------------------------
    def _recv_exact(self, n: int, deadline: float) -> bytes:
        assert self.sock is not None
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no complete frame within the timeout ({len(self.buf)}/{n} bytes)")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"no complete frame within the timeout ({len(self.buf)}/{n} bytes)") from None
            except ConnectionResetError as e:
                raise ConnectionClosedError(str(e)) from e
            if not data:
                raise ConnectionClosedError("peer closed the TCP connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout: float | None = None) -> Frame:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        hdr = self._recv_exact(7, deadline)
        if hdr[:4] == b"AMQP":  # protocol header mismatch reply
            rest = self._recv_exact(1, deadline)
            return Frame(-1, 0, hdr + rest)
        ftype, channel, size = struct.unpack(">BHI", hdr)
        payload = self._recv_exact(size + 1, deadline)
        assert payload[-1] == FRAME_END, f"bad frame end {payload[-1]:#x}"
        payload = payload[:-1]
        f = Frame(ftype, channel, payload)
        if ftype == FRAME_METHOD:
            _, _, f.method = pframe.unmarshal(hdr + payload + bytes([FRAME_END]))
        return f

    def wait_method(self, channel: int, cls, timeout: float | None = None):
        """Next method frame on `channel` must be of class `cls` (anything else on that channel fails).

        Frames on other channels are skipped. A connection.close raises an AssertionError naming it.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(timeout=max(0.0, deadline - time.monotonic()))
            if f.type == FRAME_METHOD and f.channel == 0 and isinstance(f.method, commands.Connection.Close) \
                    and cls is not commands.Connection.Close:
                raise AssertionError(f"connection closed: {f.method.reply_code} {f.method.reply_text}")
            if f.channel != channel or f.type == FRAME_HEARTBEAT:
                continue
            assert f.type == FRAME_METHOD, f"expected {cls.__name__}, got frame type {f.type}"
            assert isinstance(f.method, cls), f"expected {cls.__name__}, got {f.method!r}"
            return f.method

    def wait_close(self, timeout: float | None = None):
        """Wait for connection.close (answering it with close-ok); returns the close method."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(timeout=max(0.0, deadline - time.monotonic()))
            if f.type == FRAME_METHOD and f.channel == 0 and isinstance(f.method, commands.Connection.Close):
                try:
                    self.send_method(0, commands.Connection.CloseOk())
                except OSError:
                    pass
                self.expect_eof()
                return f.method

    def wait_channel_close(self, channel: int, timeout: float | None = None):
        """Wait for channel.close on `channel` (answering with close-ok); returns the close method."""
        m = self.wait_method(channel, commands.Channel.Close, timeout)
        self.send_method(channel, commands.Channel.CloseOk())
        return m

    def expect_eof(self, timeout: float = 5.0) -> None:
        """After connection.close-ok the server must close the socket."""
        try:
            while True:
                self.read_frame(timeout=timeout)
        except ConnectionClosedError:
            pass
        finally:
            if self.sock is not None:
                self.sock.close()
                self.sock = None

    def read_message(self, channel: int, timeout: float | None = None):
        """Next deliver/get-ok/return on channel with its content: (method, header Frame, body, body frames)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(timeout=max(0.0, deadline - time.monotonic()))
            if f.channel != channel:
                continue
            if f.type == FRAME_METHOD and isinstance(f.method, commands.Basic.Deliver | commands.Basic.GetOk
                                                     | commands.Basic.Return):
                break
            raise AssertionError(f"expected a message on channel {channel}, got {f.method or f.type!r}")
        hdr = self.read_frame(timeout=max(0.0, deadline - time.monotonic()))
        assert hdr.type == FRAME_HEADER and hdr.channel == channel, hdr
        frames = []
        body = b""
        while len(body) < hdr.body_size:
            b = self.read_frame(timeout=max(0.0, deadline - time.monotonic()))
            assert b.type == FRAME_BODY and b.channel == channel, b
            frames.append(b.payload)
            body += b.payload
        assert len(body) == hdr.body_size
        return f.method, hdr, body, frames

    # -- helpers ------------------------------------------------------------------------------------------
    def open_channel(self, channel: int = 1) -> int:
        self.send_method(channel, commands.Channel.Open())
        self.wait_method(channel, commands.Channel.OpenOk)
        return channel

    def rpc(self, channel: int, method, reply_cls):
        self.send_method(channel, method)
        return self.wait_method(channel, reply_cls)

    def declare_queue(self, channel: int, name: str, **kw):
        return self.rpc(channel, commands.Queue.Declare(queue=name, **kw), commands.Queue.DeclareOk)

    def delete_queue(self, channel: int, name: str):
        return self.rpc(channel, commands.Queue.Delete(queue=name), commands.Queue.DeleteOk)
