"""A minimal AMQP 0-9-1 codec and blocking client for the stream scenario.

Written for observation rather than convenience: every frame the broker sends is kept, field tables
keep their AMQP type tags (`Typed`), a channel.close / connection.close from the broker is answered
(close-ok) and recorded as an event like any other method, and nothing is retried or hidden."""

from __future__ import annotations

import datetime
import decimal
import socket
import struct
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

FRAME_END = 0xCE


@dataclass(frozen=True)
class Typed:
    """A field-table value with an explicit AMQP type tag (t b B s u I i l f d D S A T F V x)."""

    tag: str
    value: Any


# ---------------------------------------------------------------------------------------------- tables

def _shortstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    if len(b) > 255:
        raise ValueError("shortstr too long")
    return bytes([len(b)]) + b


def _longstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


def infer(value: Any) -> Typed:
    """Untagged Python values: bool t, int l (signed 64), float d, str S, bytes x, dict F, list A,
    datetime T, Decimal D, None V."""
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed("t", value)
    if isinstance(value, int):
        return Typed("l", value)
    if isinstance(value, float):
        return Typed("d", value)
    if isinstance(value, str):
        return Typed("S", value)
    if isinstance(value, (bytes, bytearray)):
        return Typed("x", bytes(value))
    if isinstance(value, dict):
        return Typed("F", value)
    if isinstance(value, (list, tuple)):
        return Typed("A", list(value))
    if isinstance(value, datetime.datetime):
        return Typed("T", int(value.timestamp()))
    if isinstance(value, decimal.Decimal):
        return Typed("D", value)
    if value is None:
        return Typed("V", None)
    raise TypeError(f"cannot encode {value!r} in a field table")


def encode_value(value: Any) -> bytes:
    t = infer(value)
    tag, v = t.tag, t.value
    body: bytes
    if tag == "t":
        body = bytes([1 if v else 0])
    elif tag in "bBsuIilT":
        fmt = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I", "l": ">q", "T": ">Q"}[tag]
        body = struct.pack(fmt, v)
    elif tag == "f":
        body = struct.pack(">f", v)
    elif tag == "d":
        body = struct.pack(">d", v)
    elif tag == "D":
        sign, digits, exp = decimal.Decimal(v).as_tuple()
        places = -exp if isinstance(exp, int) and exp < 0 else 0
        raw = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        body = struct.pack(">Bi", places, raw)
    elif tag in "Sx":
        body = _longstr(v)
    elif tag == "A":
        inner = b"".join(encode_value(x) for x in v)
        body = struct.pack(">I", len(inner)) + inner
    elif tag == "F":
        body = encode_table(v)
    elif tag == "V":
        body = b""
    else:
        raise ValueError(f"unknown tag {tag}")
    return tag.encode() + body


def encode_table(table: dict[str, Any] | None) -> bytes:
    inner = b"".join(_shortstr(k) + encode_value(v) for k, v in (table or {}).items())
    return struct.pack(">I", len(inner)) + inner


def decode_value(buf: bytes, pos: int) -> tuple[Typed, int]:
    tag = chr(buf[pos])
    pos += 1
    if tag == "t":
        return Typed(tag, bool(buf[pos])), pos + 1
    sizes = {"b": (">b", 1), "B": (">B", 1), "s": (">h", 2), "u": (">H", 2), "I": (">i", 4), "i": (">I", 4),
             "l": (">q", 8), "L": (">Q", 8), "T": (">Q", 8), "f": (">f", 4), "d": (">d", 8)}
    if tag in sizes:
        fmt, n = sizes[tag]
        return Typed(tag, struct.unpack_from(fmt, buf, pos)[0]), pos + n
    if tag == "D":
        places, raw = struct.unpack_from(">Bi", buf, pos)
        return Typed(tag, str(decimal.Decimal(raw).scaleb(-places))), pos + 5
    if tag in "Sx":
        (n,) = struct.unpack_from(">I", buf, pos)
        raw = buf[pos + 4:pos + 4 + n]
        try:
            val: Any = raw.decode() if tag == "S" else raw.hex()
        except UnicodeDecodeError:
            val = raw.hex()
        return Typed(tag, val), pos + 4 + n
    if tag == "A":
        (n,) = struct.unpack_from(">I", buf, pos)
        end, pos, items = pos + 4 + n, pos + 4, []
        while pos < end:
            item, pos = decode_value(buf, pos)
            items.append(item)
        return Typed(tag, items), end
    if tag == "F":
        table, pos = decode_table(buf, pos)
        return Typed(tag, table), pos
    if tag == "V":
        return Typed(tag, None), pos
    raise ValueError(f"unknown field type {tag!r}")


def decode_table(buf: bytes, pos: int) -> tuple[dict[str, Typed], int]:
    (n,) = struct.unpack_from(">I", buf, pos)
    end, pos, out = pos + 4 + n, pos + 4, {}
    while pos < end:
        klen = buf[pos]
        key = buf[pos + 1:pos + 1 + klen].decode()
        pos += 1 + klen
        out[key], pos = decode_value(buf, pos)
    return out, end


def plain(value: Any) -> Any:
    """A decoded value as JSON: Typed -> {"type": tag, "value": ...}, recursively."""
    if isinstance(value, Typed):
        return {"type": value.tag, "value": plain(value.value)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------- methods

# (class_id, method_id) -> (name, [(field, type)]); types: octet short long longlong shortstr longstr
# bit table timestamp
METHODS: dict[tuple[int, int], tuple[str, list[tuple[str, str]]]] = {
    (10, 10): ("connection.start", [("version_major", "octet"), ("version_minor", "octet"),
                                    ("server_properties", "table"), ("mechanisms", "longstr"),
                                    ("locales", "longstr")]),
    (10, 11): ("connection.start-ok", [("client_properties", "table"), ("mechanism", "shortstr"),
                                       ("response", "longstr"), ("locale", "shortstr")]),
    (10, 30): ("connection.tune", [("channel_max", "short"), ("frame_max", "long"), ("heartbeat", "short")]),
    (10, 31): ("connection.tune-ok", [("channel_max", "short"), ("frame_max", "long"), ("heartbeat", "short")]),
    (10, 40): ("connection.open", [("virtual_host", "shortstr"), ("reserved_1", "shortstr"),
                                   ("reserved_2", "bit")]),
    (10, 41): ("connection.open-ok", [("reserved_1", "shortstr")]),
    (10, 50): ("connection.close", [("reply_code", "short"), ("reply_text", "shortstr"),
                                    ("class_id", "short"), ("method_id", "short")]),
    (10, 51): ("connection.close-ok", []),
    (10, 60): ("connection.blocked", [("reason", "shortstr")]),
    (10, 61): ("connection.unblocked", []),
    (20, 10): ("channel.open", [("reserved_1", "shortstr")]),
    (20, 11): ("channel.open-ok", [("reserved_1", "longstr")]),
    (20, 20): ("channel.flow", [("active", "bit")]),
    (20, 21): ("channel.flow-ok", [("active", "bit")]),
    (20, 40): ("channel.close", [("reply_code", "short"), ("reply_text", "shortstr"),
                                 ("class_id", "short"), ("method_id", "short")]),
    (20, 41): ("channel.close-ok", []),
    (40, 10): ("exchange.declare", [("reserved_1", "short"), ("exchange", "shortstr"), ("type", "shortstr"),
                                    ("passive", "bit"), ("durable", "bit"), ("auto_delete", "bit"),
                                    ("internal", "bit"), ("no_wait", "bit"), ("arguments", "table")]),
    (40, 11): ("exchange.declare-ok", []),
    (40, 20): ("exchange.delete", [("reserved_1", "short"), ("exchange", "shortstr"), ("if_unused", "bit"),
                                   ("no_wait", "bit")]),
    (40, 21): ("exchange.delete-ok", []),
    (50, 10): ("queue.declare", [("reserved_1", "short"), ("queue", "shortstr"), ("passive", "bit"),
                                 ("durable", "bit"), ("exclusive", "bit"), ("auto_delete", "bit"),
                                 ("no_wait", "bit"), ("arguments", "table")]),
    (50, 11): ("queue.declare-ok", [("queue", "shortstr"), ("message_count", "long"),
                                    ("consumer_count", "long")]),
    (50, 20): ("queue.bind", [("reserved_1", "short"), ("queue", "shortstr"), ("exchange", "shortstr"),
                              ("routing_key", "shortstr"), ("no_wait", "bit"), ("arguments", "table")]),
    (50, 21): ("queue.bind-ok", []),
    (50, 30): ("queue.purge", [("reserved_1", "short"), ("queue", "shortstr"), ("no_wait", "bit")]),
    (50, 31): ("queue.purge-ok", [("message_count", "long")]),
    (50, 40): ("queue.delete", [("reserved_1", "short"), ("queue", "shortstr"), ("if_unused", "bit"),
                                ("if_empty", "bit"), ("no_wait", "bit")]),
    (50, 41): ("queue.delete-ok", [("message_count", "long")]),
    (50, 50): ("queue.unbind", [("reserved_1", "short"), ("queue", "shortstr"), ("exchange", "shortstr"),
                                ("routing_key", "shortstr"), ("arguments", "table")]),
    (50, 51): ("queue.unbind-ok", []),
    (60, 10): ("basic.qos", [("prefetch_size", "long"), ("prefetch_count", "short"), ("global", "bit")]),
    (60, 11): ("basic.qos-ok", []),
    (60, 20): ("basic.consume", [("reserved_1", "short"), ("queue", "shortstr"), ("consumer_tag", "shortstr"),
                                 ("no_local", "bit"), ("no_ack", "bit"), ("exclusive", "bit"),
                                 ("no_wait", "bit"), ("arguments", "table")]),
    (60, 21): ("basic.consume-ok", [("consumer_tag", "shortstr")]),
    (60, 30): ("basic.cancel", [("consumer_tag", "shortstr"), ("no_wait", "bit")]),
    (60, 31): ("basic.cancel-ok", [("consumer_tag", "shortstr")]),
    (60, 40): ("basic.publish", [("reserved_1", "short"), ("exchange", "shortstr"),
                                 ("routing_key", "shortstr"), ("mandatory", "bit"), ("immediate", "bit")]),
    (60, 50): ("basic.return", [("reply_code", "short"), ("reply_text", "shortstr"), ("exchange", "shortstr"),
                                ("routing_key", "shortstr")]),
    (60, 60): ("basic.deliver", [("consumer_tag", "shortstr"), ("delivery_tag", "longlong"),
                                 ("redelivered", "bit"), ("exchange", "shortstr"), ("routing_key", "shortstr")]),
    (60, 70): ("basic.get", [("reserved_1", "short"), ("queue", "shortstr"), ("no_ack", "bit")]),
    (60, 71): ("basic.get-ok", [("delivery_tag", "longlong"), ("redelivered", "bit"), ("exchange", "shortstr"),
                                ("routing_key", "shortstr"), ("message_count", "long")]),
    (60, 72): ("basic.get-empty", [("reserved_1", "shortstr")]),
    (60, 80): ("basic.ack", [("delivery_tag", "longlong"), ("multiple", "bit")]),
    (60, 90): ("basic.reject", [("delivery_tag", "longlong"), ("requeue", "bit")]),
    (60, 100): ("basic.recover-async", [("requeue", "bit")]),
    (60, 110): ("basic.recover", [("requeue", "bit")]),
    (60, 111): ("basic.recover-ok", []),
    (60, 120): ("basic.nack", [("delivery_tag", "longlong"), ("multiple", "bit"), ("requeue", "bit")]),
    (85, 10): ("confirm.select", [("nowait", "bit")]),
    (85, 11): ("confirm.select-ok", []),
}
BY_NAME = {name: (ids, fields) for ids, (name, fields) in METHODS.items()}
CONTENT_METHODS = {"basic.publish", "basic.return", "basic.deliver", "basic.get-ok"}

# basic properties in flag order (bit 15 first)
PROPERTIES = [("content_type", "shortstr"), ("content_encoding", "shortstr"), ("headers", "table"),
              ("delivery_mode", "octet"), ("priority", "octet"), ("correlation_id", "shortstr"),
              ("reply_to", "shortstr"), ("expiration", "shortstr"), ("message_id", "shortstr"),
              ("timestamp", "longlong"), ("type", "shortstr"), ("user_id", "shortstr"),
              ("app_id", "shortstr"), ("cluster_id", "shortstr")]


def _encode_fields(fields: list[tuple[str, str]], args: dict[str, Any]) -> bytes:
    out, bits, nbits = bytearray(), 0, 0

    def flush():
        nonlocal bits, nbits
        if nbits:
            out.append(bits)
            bits, nbits = 0, 0

    for name, kind in fields:
        value = args.get(name)
        if kind == "bit":
            if value:
                bits |= 1 << nbits
            nbits += 1
            if nbits == 8:
                flush()
            continue
        flush()
        if kind == "octet":
            out += struct.pack(">B", value or 0)
        elif kind == "short":
            out += struct.pack(">H", value or 0)
        elif kind == "long":
            out += struct.pack(">I", value or 0)
        elif kind in ("longlong", "timestamp"):
            out += struct.pack(">Q", value or 0)
        elif kind == "shortstr":
            out += _shortstr(value or "")
        elif kind == "longstr":
            out += _longstr(value or b"")
        elif kind == "table":
            out += encode_table(value)
    flush()
    return bytes(out)


def _decode_fields(fields: list[tuple[str, str]], buf: bytes, pos: int) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    bitpos = 8
    byte = 0
    for name, kind in fields:
        if kind == "bit":
            if bitpos == 8:
                byte, pos, bitpos = buf[pos], pos + 1, 0
            out[name] = bool(byte & (1 << bitpos))
            bitpos += 1
            continue
        bitpos = 8
        if kind == "octet":
            out[name], pos = buf[pos], pos + 1
        elif kind == "short":
            out[name], pos = struct.unpack_from(">H", buf, pos)[0], pos + 2
        elif kind == "long":
            out[name], pos = struct.unpack_from(">I", buf, pos)[0], pos + 4
        elif kind in ("longlong", "timestamp"):
            out[name], pos = struct.unpack_from(">Q", buf, pos)[0], pos + 8
        elif kind == "shortstr":
            n = buf[pos]
            out[name], pos = buf[pos + 1:pos + 1 + n].decode(errors="replace"), pos + 1 + n
        elif kind == "longstr":
            (n,) = struct.unpack_from(">I", buf, pos)
            out[name], pos = buf[pos + 4:pos + 4 + n], pos + 4 + n
        elif kind == "table":
            out[name], pos = decode_table(buf, pos)
    return out, pos


def encode_properties(props: dict[str, Any]) -> bytes:
    flags, body = 0, bytearray()
    for i, (name, kind) in enumerate(PROPERTIES):
        if props.get(name) is None:
            continue
        flags |= 1 << (15 - i)
        body += _encode_fields([(name, kind)], props)
    return struct.pack(">H", flags) + bytes(body)


def decode_properties(buf: bytes, pos: int) -> dict[str, Any]:
    (flags,) = struct.unpack_from(">H", buf, pos)
    pos += 2
    out: dict[str, Any] = {}
    for i, (name, kind) in enumerate(PROPERTIES):
        if flags & (1 << (15 - i)):
            values, pos = _decode_fields([(name, kind)], buf, pos)
            out[name] = values[name]
    return out


# ---------------------------------------------------------------------------------------------- client

@dataclass
class Event:
    """One thing the broker sent: a method (with its content for deliveries/returns/get-ok), or the
    socket closing. `fields` holds the method's arguments."""

    channel: int
    name: str
    fields: dict[str, Any]
    properties: dict[str, Any] | None = None
    body: bytes | None = None


class ConnectionClosed(Exception):
    pass


class Client:
    """One AMQP connection. Events accumulate in `self.events` until taken with `take()`."""

    def __init__(self, url: str, timeout: float = 10.0, name: str = "stream-compare") -> None:
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 5672
        self.vhost = urllib.parse.unquote(u.path[1:]) if len(u.path) > 1 else "/"
        self.user = urllib.parse.unquote(u.username or "guest")
        self.password = urllib.parse.unquote(u.password or "guest")
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.events: list[Event] = []
        self.partial: dict[int, list[Any]] = {}   # channel -> [method event, size, chunks]
        self.closed: str | None = None           # why the socket/connection is gone
        self.frame_max = 131072
        self.open_channels: set[int] = set()
        self.server_properties: dict[str, Any] = {}
        self._handshake(name)

    # -- framing
    def _send_frame(self, ftype: int, channel: int, payload: bytes) -> None:
        self.sock.sendall(struct.pack(">BHI", ftype, channel, len(payload)) + payload + bytes([FRAME_END]))

    def send(self, channel: int, name: str, content: tuple[dict[str, Any], bytes] | None = None,
             **args: Any) -> None:
        (cid, mid), fields = BY_NAME[name]
        self._send_frame(1, channel, struct.pack(">HH", cid, mid) + _encode_fields(fields, args))
        if content is not None:
            props, body = content
            self._send_frame(2, channel, struct.pack(">HHQ", cid, 0, len(body)) + encode_properties(props))
            step = self.frame_max - 8
            for i in range(0, len(body), step):
                self._send_frame(3, channel, body[i:i + step])

    def _read_frame(self, deadline: float) -> bool:
        """Read one frame into events; False when nothing arrived before the deadline."""
        while len(self.buf) < 7 or len(self.buf) < 8 + struct.unpack_from(">I", self.buf, 3)[0]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            except OSError as exc:
                self._lost(f"socket error: {exc.__class__.__name__}")
                raise ConnectionClosed(self.closed) from exc
            if not chunk:
                self._lost("socket closed by broker")
                raise ConnectionClosed(self.closed)
            self.buf += chunk
        ftype, channel, size = struct.unpack_from(">BHI", self.buf, 0)
        payload = self.buf[7:7 + size]
        self.buf = self.buf[8 + size:]
        self._frame(ftype, channel, payload)
        return True

    def _lost(self, why: str) -> None:
        if self.closed is None:
            self.closed = why
            self.events.append(Event(0, "socket.closed", {}))

    def _frame(self, ftype: int, channel: int, payload: bytes) -> None:
        if ftype == 8:   # heartbeat
            return
        if ftype == 1:
            cid, mid = struct.unpack_from(">HH", payload, 0)
            name, fields = METHODS.get((cid, mid), (f"method.{cid}.{mid}", []))
            values, _ = _decode_fields(fields, payload, 4)
            event = Event(channel, name, values)
            if name in CONTENT_METHODS:
                self.partial[channel] = [event, None, []]
                return
            self.events.append(event)
            if name == "channel.close":
                self.send(channel, "channel.close-ok")
                self.open_channels.discard(channel)
            elif name == "connection.close":
                self.send(0, "connection.close-ok")
                self.closed = "connection.close from broker"
            return
        pending = self.partial.get(channel)
        if pending is None:
            return
        if ftype == 2:
            (size,) = struct.unpack_from(">Q", payload, 4)
            pending[1] = size
            pending[0].properties = decode_properties(payload, 12)
        elif ftype == 3:
            pending[2].append(payload)
        if pending[1] is not None and sum(map(len, pending[2])) >= pending[1]:
            pending[0].body = b"".join(pending[2])
            self.events.append(pending[0])
            del self.partial[channel]

    # -- waiting
    def wait_for(self, predicate, timeout: float = 5.0, start: int = 0) -> Event | None:
        """Read frames until an event satisfying predicate is in self.events[start:] (returned), or
        timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events[start:]:
                if predicate(e):
                    return e
            if self.closed and not self.buf:
                return None
            try:
                if not self._read_frame(deadline):
                    return None
            except ConnectionClosed:
                return None

    def settle(self, idle: float = 0.25, limit: float = 3.0) -> None:
        """Read until the broker has been silent for `idle` seconds (at most `limit` in all)."""
        end = time.monotonic() + limit
        while not (self.closed and not self.buf):
            now = time.monotonic()
            if now >= end:
                return
            try:
                if not self._read_frame(min(end, now + idle)):
                    return
            except ConnectionClosed:
                return

    def take(self) -> list[Event]:
        out, self.events = self.events, []
        return out

    # -- synchronous helpers
    def call(self, channel: int, name: str, reply: str | tuple[str, ...], timeout: float = 5.0,
             **args: Any) -> Event | None:
        """Send a method and wait for its reply, or for a channel/connection close of that channel."""
        replies = (reply,) if isinstance(reply, str) else reply
        start = len(self.events)
        self.send(channel, name, **args)

        def done(e: Event) -> bool:
            return ((e.channel == channel and (e.name in replies or e.name == "channel.close"))
                    or e.name in ("connection.close", "socket.closed"))
        return self.wait_for(done, timeout, start)

    def _handshake(self, name: str) -> None:
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        start = self.wait_for(lambda e: e.name == "connection.start")
        if start is None:
            raise ConnectionClosed("no connection.start")
        self.server_properties = plain(start.fields["server_properties"])
        caps = {k: Typed("t", True) for k in ("publisher_confirms", "consumer_cancel_notify", "basic.nack",
                                               "exchange_exchange_bindings", "connection.blocked",
                                               "authentication_failure_close", "per_consumer_qos")}
        self.send(0, "connection.start-ok", mechanism="PLAIN", locale="en_US",
                  response=b"\0" + self.user.encode() + b"\0" + self.password.encode(),
                  client_properties={"product": Typed("S", "interop.stream_compare"),
                                     "connection_name": Typed("S", name), "capabilities": Typed("F", caps)})
        tune = self.wait_for(lambda e: e.name in ("connection.tune", "connection.close"))
        if tune is None or tune.name != "connection.tune":
            raise ConnectionClosed("no connection.tune")
        self.frame_max = min(tune.fields["frame_max"] or 131072, 131072)
        self.send(0, "connection.tune-ok", channel_max=tune.fields["channel_max"], frame_max=self.frame_max,
                  heartbeat=0)
        self.send(0, "connection.open", virtual_host=self.vhost)
        if self.wait_for(lambda e: e.name in ("connection.open-ok", "connection.close")).name != "connection.open-ok":
            raise ConnectionClosed("connection.open refused")
        self.take()

    def open_channel(self, channel: int) -> None:
        ok = self.call(channel, "channel.open", "channel.open-ok")
        if ok is None or ok.name != "channel.open-ok":
            raise ConnectionClosed(f"channel.open {channel} failed")
        self.open_channels.add(channel)
        self.events.remove(ok)

    def close(self) -> None:
        if self.closed is None:
            try:
                self.call(0, "connection.close", "connection.close-ok", timeout=3, reply_code=200,
                          reply_text="bye")
            except OSError:
                pass
            self.closed = "closed by client"
        try:
            self.sock.close()
        except OSError:
            pass
