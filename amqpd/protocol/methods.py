"""Method frame codec: pamqp's method classes, decoded in one pass (fieldtable.read_fields); a hand-tuned
path for the three hottest frames.

basic.publish (in), basic.deliver (out) and content header/body frames (out) are built or parsed here
by hand because they run once per message; tests/unit/test_codec.py proves them byte-identical to
pamqp's marshal/unmarshal.
"""

from __future__ import annotations

import struct

from pamqp import base, commands
from pamqp import frame as pamqp_frame

from ..args import Long
from ..errors import ConnectionError, ReplyCode
from .fieldtable import TableDepthError, read_fields
from .framing import FRAME_BODY, FRAME_END_BYTE, FRAME_HEADER, FRAME_METHOD, erl_binary, frame_error

PUBLISH_INDEX = commands.Basic.Publish.index  # 0x003C0028
DECLARE_INDEX = commands.Queue.Declare.index
ACK_INDEX = commands.Basic.Ack.index
_u32 = struct.Struct(">I").unpack_from
_u16 = struct.Struct(">H").unpack_from
_FRAME_HDR = struct.Struct(">BHI")
_pack_hdr = _FRAME_HDR.pack
_TAG_REDELIVERED = struct.Struct(">QB")


class Publish:
    """A decoded basic.publish; same attribute names as pamqp's Basic.Publish."""

    __slots__ = ("exchange", "routing_key", "mandatory", "immediate", "tail")
    index = PUBLISH_INDEX
    name = "Basic.Publish"

    def __init__(self, exchange: str, routing_key: str, mandatory: bool, immediate: bool,
                 tail: bytes | None = None) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        self.mandatory = mandatory
        self.immediate = immediate
        # exchange + routing key as encoded on the wire: basic.deliver carries exactly these bytes
        self.tail = tail


def _shortstr(payload: bytes, pos: int) -> tuple[str, int]:
    n = payload[pos]
    end = pos + 1 + n
    if end > len(payload):
        raise IndexError("short string past end of frame")
    return payload[pos + 1 : end].decode("utf-8"), end


def decode_publish(payload: bytes) -> Publish:
    # layout: class(2) method(2) ticket(2) exchange(shortstr) routing_key(shortstr) bits(1)
    exchange, pos = _shortstr(payload, 6)
    routing_key, pos = _shortstr(payload, pos)
    bits = payload[pos]
    if pos + 1 != len(payload):
        raise IndexError("basic.publish frame longer than its arguments")
    return Publish(exchange, routing_key, bool(bits & 1), bool(bits & 2), bytes(payload[6:pos]))


_LAYOUTS: dict[type, tuple[tuple[str, str], ...]] = {}


def _layout(cls: type) -> tuple[tuple[str, str], ...]:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = tuple((a, cls.amqp_type(a)) for a in cls.__slots__)
    return layout


def decode_method(payload: bytes) -> base.Frame | Publish:
    """Decode a method frame payload. Raises ConnectionError with RabbitMQ's codes on garbage."""
    if len(payload) < 4:
        raise frame_error(FRAME_METHOD, payload, "unknown_frame")
    index = _u32(payload, 0)[0]
    class_id, method_id = index >> 16, index & 0xFFFF
    try:
        if index == PUBLISH_INDEX:
            return decode_publish(payload)
        cls = commands.INDEX_MAPPING.get(index)
        if cls is None:
            raise ConnectionError(
                ReplyCode.COMMAND_INVALID, f"unknown method {class_id}.{method_id}", class_id, method_id
            )
        method = cls()
        # queue.declare's arguments keep the 'l' type: RabbitMQ names it in its texts ("{unacceptable_type,long}")
        if read_fields(method, _layout(cls), payload, 4, Long if index == DECLARE_INDEX else None) != len(payload):
            raise IndexError("method frame longer than its arguments")
        return method
    except ConnectionError:
        raise
    except TableDepthError as exc:
        raise ConnectionError(ReplyCode.SYNTAX_ERROR, str(exc), class_id, method_id) from exc
    except (struct.error, ValueError, IndexError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ConnectionError(ReplyCode.FRAME_ERROR, f"cannot decode {erl_binary(payload[4:], as_string=False)}",
                              class_id, method_id) from exc


def class_method(method: object) -> tuple[int, int]:
    index = method.index
    return index >> 16, index & 0xFFFF


def encode_method(channel: int, method: base.Frame) -> bytes:
    return pamqp_frame.marshal(method, channel)


def shortstr(value: str) -> bytes:
    data = value.encode("utf-8")
    return bytes((len(data),)) + data


def deliver_prefix(consumer_tag: str) -> bytes:
    """The part of basic.deliver fixed for a consumer: class/method ids and the consumer tag."""
    return b"\x00\x3c\x00\x3c" + shortstr(consumer_tag)


def exchange_rk_tail(exchange: str, routing_key: str) -> bytes:
    """The part of basic.deliver / get-ok / return fixed for a message: exchange and routing key."""
    return shortstr(exchange) + shortstr(routing_key)


def deliver_frames(channel: int, prefix: bytes, tag: int, redelivered: bool, tail: bytes,
                   header_payload: bytes, body: bytes, max_body: int) -> bytes:
    """basic.deliver + content header + body frames as one buffer, so frames never interleave."""
    mlen = len(prefix) + 9 + len(tail)
    hlen = len(header_payload)
    blen = len(body)
    if blen <= max_body:
        if blen:
            return b"".join((
                _pack_hdr(FRAME_METHOD, channel, mlen), prefix, _TAG_REDELIVERED.pack(tag, redelivered),
                tail, FRAME_END_BYTE, _pack_hdr(FRAME_HEADER, channel, hlen), header_payload, FRAME_END_BYTE,
                _pack_hdr(FRAME_BODY, channel, blen), body, FRAME_END_BYTE,
            ))
        return b"".join((
            _pack_hdr(FRAME_METHOD, channel, mlen), prefix, _TAG_REDELIVERED.pack(tag, redelivered),
            tail, FRAME_END_BYTE, _pack_hdr(FRAME_HEADER, channel, hlen), header_payload, FRAME_END_BYTE,
        ))
    parts = [
        _pack_hdr(FRAME_METHOD, channel, mlen), prefix, _TAG_REDELIVERED.pack(tag, redelivered),
        tail, FRAME_END_BYTE, _pack_hdr(FRAME_HEADER, channel, hlen), header_payload, FRAME_END_BYTE,
    ]
    parts.extend(content_body_frames(channel, body, max_body))
    return b"".join(parts)


_ACK = struct.Struct(">BHIIQBB").pack


def ack_frame(channel: int, delivery_tag: int, multiple: bool) -> bytes:
    """basic.ack (publisher confirms), packed in one go: it goes out once per channel per loop turn."""
    return _ACK(FRAME_METHOD, channel, 13, ACK_INDEX, delivery_tag, multiple, 0xCE)


_END_AND_HEADER = struct.Struct(">BBHI").pack  # the previous frame's end octet + the next frame's header
_pack_tag = _TAG_REDELIVERED.pack


class DeliverTemplate:
    """basic.deliver for one consumer on one channel, with what never changes encoded once.

    The method frame's header and the consumer tag depend only on the length of exchange + routing key,
    so they are kept per length (at most 512 of them); a delivery then costs three small packs and one
    join. Output is byte-identical to deliver_frames (tests/unit/test_codec.py).
    """

    __slots__ = ("channel", "prefix", "_starts")

    def __init__(self, channel: int, prefix: bytes) -> None:
        self.channel = channel
        self.prefix = prefix
        self._starts: dict[int, bytes] = {}

    def frames(self, tag: int, redelivered: bool, tail: bytes, header_payload: bytes, body: bytes,
               max_body: int) -> bytes:
        blen = len(body)
        channel = self.channel
        if not blen or blen > max_body:
            return deliver_frames(channel, self.prefix, tag, redelivered, tail, header_payload, body, max_body)
        start = self._starts.get(len(tail))
        if start is None:
            start = self._starts[len(tail)] = (
                _pack_hdr(FRAME_METHOD, channel, len(self.prefix) + 9 + len(tail)) + self.prefix)
        return b"".join((start, _pack_tag(tag, redelivered), tail,
                         _END_AND_HEADER(0xCE, FRAME_HEADER, channel, len(header_payload)), header_payload,
                         _END_AND_HEADER(0xCE, FRAME_BODY, channel, blen), body, FRAME_END_BYTE))


def content_body_frames(channel: int, body: bytes, max_body: int) -> list[bytes]:
    parts: list[bytes] = []
    mv = memoryview(body)
    for start in range(0, len(body), max_body):
        chunk = mv[start : start + max_body]
        parts.append(_pack_hdr(FRAME_BODY, channel, len(chunk)))
        parts.append(chunk)
        parts.append(FRAME_END_BYTE)
    return parts


def content_frames(channel: int, method_frame: bytes, header_payload: bytes, body: bytes,
                   max_body: int) -> bytes:
    """A method frame that carries content (get-ok, return) followed by its header and body."""
    parts = [method_frame, _pack_hdr(FRAME_HEADER, channel, len(header_payload)), header_payload,
             FRAME_END_BYTE]
    if body:
        parts.extend(content_body_frames(channel, body, max_body))
    return b"".join(parts)
