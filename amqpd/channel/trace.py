"""RabbitMQ's firehose (rabbit_trace.erl): while tracing is on for a vhost, every publish is copied to
amq.rabbitmq.trace with routing key ``publish.<exchange>`` and every delivery (basic.deliver and
basic.get-ok) with ``deliver.<queue>``, the body unchanged and RabbitMQ's headers describing the
original message.

Tracing costs nothing while it is off: a channel of a traced vhost gets a Tracer (``ch.tracer``) and its
consumers are TracingConsumers; every other channel keeps the plain classes. Switched per vhost by
``amqpd.trace.vhosts`` for now.
"""

from __future__ import annotations

import socket
import struct
from typing import TYPE_CHECKING, Any

from ..message import Message
from ..protocol.properties import parse_header
from ..router import route
from .consumer import Consumer

if TYPE_CHECKING:
    from ..message import QEntry
    from . import Channel

TRACE_EXCHANGE = "amq.rabbitmq.trace"

_u16 = struct.Struct(">H").unpack_from
_u32 = struct.Struct(">I").unpack_from
_u64 = struct.Struct(">Q").unpack_from


def node_name() -> str:
    """This broker's name where RabbitMQ names its Erlang node (rabbit@<host>)."""
    return "amqpd@" + (socket.gethostname().split(".")[0] or "localhost")


# -- field table encoding with RabbitMQ's types: longstr, signedint (32 bits), array, table ---------------
def _shortstr(name: str) -> bytes:
    b = name.encode()
    return bytes((len(b),)) + b


def _longstr(value: bytes) -> bytes:
    return b"S" + struct.pack(">I", len(value)) + value


def _signedint(value: int) -> bytes:
    # Erlang's <<V:32/signed>> keeps the low 32 bits of a larger value (a timestamp, say)
    return b"I" + struct.pack(">I", value & 0xFFFFFFFF)


def _array(values: list[bytes]) -> bytes:
    items = b"".join(_longstr(v) for v in values)
    return b"A" + struct.pack(">I", len(items)) + items


def _table(fields: bytes) -> bytes:
    return b"F" + struct.pack(">I", len(fields)) + fields


# Basic properties in flag order: (flag bit, name, kind); kind s = shortstr, o = octet, t = timestamp,
# h = headers table.
_PROPS = (
    (0x8000, "content_type", "s"), (0x4000, "content_encoding", "s"), (0x2000, "headers", "h"),
    (0x1000, "delivery_mode", "o"), (0x0800, "priority", "o"), (0x0400, "correlation_id", "s"),
    (0x0200, "reply_to", "s"), (0x0100, "expiration", "s"), (0x0080, "message_id", "s"),
    (0x0040, "timestamp", "t"), (0x0020, "type", "s"), (0x0010, "user_id", "s"),
    (0x0008, "app_id", "s"), (0x0004, "cluster_id", "s"),
)


def properties_table(header: bytes) -> bytes:
    """The ``properties`` header: every property that is set, in the reverse of their field order (as
    rabbit_trace folds them), strings as longstr, numbers as signedint, headers as a table."""
    flags = _u16(header, 12)[0]
    pos = 14
    out: list[bytes] = []
    for bit, name, kind in _PROPS:
        if not flags & bit:
            continue
        if kind == "s":
            n = header[pos]
            value = _longstr(bytes(header[pos + 1:pos + 1 + n]))
            pos += 1 + n
        elif kind == "o":
            value = _signedint(header[pos])
            pos += 1
        elif kind == "t":
            value = _signedint(_u64(header, pos)[0])
            pos += 8
        else:
            n = _u32(header, pos)[0]
            value = b"F" + bytes(header[pos:pos + 4 + n])
            pos += 4 + n
        out.append(_shortstr(name) + value)
    out.reverse()
    return b"".join(out)


class Tracer:
    """One per channel of a traced vhost: what the trace headers say about where a message came from."""

    __slots__ = ("vhost", "exchange", "tail")

    def __init__(self, ch: Channel) -> None:
        conn = ch.conn
        self.vhost = ch.vhost
        self.exchange = ch.vhost.exchanges[TRACE_EXCHANGE]
        transport = conn.transport
        local = transport.get_extra_info("sockname") if transport is not None else None
        name = f"{conn.peer} -> {local[0]}:{local[1]}" if local else conn.peer
        # vhost, connection, channel and user close both kinds of record (redelivered precedes them on
        # deliveries).
        self.tail = (_shortstr("vhost") + _longstr(ch.vhost.name.encode())
                     + _shortstr("connection") + _longstr(name.encode())
                     + _shortstr("channel") + _signedint(ch.id)
                     + _shortstr("user") + _longstr(conn.user.encode()))

    def tap_in(self, msg: Message, queues: Any) -> None:
        if msg.exchange == TRACE_EXCHANGE:
            return
        keys = msg.all_routing_keys()
        if msg.exchange:
            routed = [q.name for q in queues]
        else:  # the default exchange names a queue per routing key, whether it exists or not
            routed = sorted(set(keys))
        fields = (self._about(msg, keys) + self.tail
                  + _shortstr("routed_queues") + _array([n.encode() for n in routed]))
        self._publish("publish." + msg.exchange, fields, msg.body)

    def tap_out(self, msg: Message, queue_name: str, redelivered: bool) -> None:
        header, body = msg.content()  # a paged-out message learns its exchange and key here
        if msg.exchange == TRACE_EXCHANGE:
            return
        fields = (self._about(msg, msg.all_routing_keys(), header)
                  + _shortstr("redelivered") + _signedint(1 if redelivered else 0) + self.tail)
        self._publish("deliver." + queue_name, fields, body)

    @staticmethod
    def _about(msg: Message, keys: list[str], header: bytes | None = None) -> bytes:
        return (_shortstr("exchange_name") + _longstr(msg.exchange.encode())
                + _shortstr("routing_keys") + _array([k.encode() for k in keys])
                + _shortstr("properties") + _table(properties_table(header or msg.header_payload))
                + _shortstr("node") + _longstr(NODE.encode()))

    def _publish(self, routing_key: str, fields: bytes, body: bytes) -> None:
        header = (struct.pack(">HHQH", 60, 0, len(body), 0x2000) + struct.pack(">I", len(fields)) + fields)
        props = parse_header(header)[3]
        trace = Message(TRACE_EXCHANGE, routing_key, header, body, props)
        for q in route(self.vhost.exchanges, self.exchange, routing_key, trace):
            q.enqueue(trace)


class TracingConsumer(Consumer):
    """A consumer of a traced channel: each delivery is also copied to the trace exchange."""

    __slots__ = ()

    def deliver(self, entry: QEntry) -> None:
        redelivered = entry.redelivered
        Consumer.deliver(self, entry)
        self.channel.tracer.tap_out(entry.msg, entry.queue.name, redelivered)


NODE = node_name()


def install(ch: Channel) -> None:
    ch.tracer = Tracer(ch)
    ch.consumer_class = TracingConsumer
