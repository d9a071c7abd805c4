"""Reads the few basic properties the broker acts on straight from the encoded content header.

The encoded properties are forwarded to consumers verbatim (byte-exact, and no re-encoding per
message), so the broker only needs to *find* delivery_mode, priority, expiration, user_id and the
headers table. Walking the flag word costs a handful of integer ops; full decoding (fieldtable.py)
happens only when something needs the headers as values (headers exchange, CC/BCC, dead-lettering).
"""

from __future__ import annotations

import struct

from pamqp import commands

from .fieldtable import TableDepthError, read_fields, read_table

_u16 = struct.Struct(">H").unpack_from
_u32 = struct.Struct(">I").unpack_from
_BODY = struct.Struct(">HHQ")

# Flag bits in property order (AMQP 0-9-1, class basic).
F_CONTENT_TYPE = 0x8000
F_CONTENT_ENCODING = 0x4000
F_HEADERS = 0x2000
F_DELIVERY_MODE = 0x1000
F_PRIORITY = 0x0800
F_CORRELATION_ID = 0x0400
F_REPLY_TO = 0x0200
F_EXPIRATION = 0x0100
F_MESSAGE_ID = 0x0080
F_TIMESTAMP = 0x0040
F_TYPE = 0x0020
F_USER_ID = 0x0010
F_APP_ID = 0x0008
F_CLUSTER_ID = 0x0004


class PropertyError(ValueError):
    pass


class Props:
    """What the broker needs from a content header. Offsets index into the header payload."""

    __slots__ = ("delivery_mode", "priority", "expiration", "user_id", "headers_span", "reply_to_span", "flags")

    def __init__(self) -> None:
        self.reply_to_span: tuple[int, int] | None = None  # the reply_to shortstr, length byte included
        self.delivery_mode = 0
        self.priority = None
        self.expiration: str | None = None
        self.user_id: str | None = None
        self.headers_span: tuple[int, int] | None = None
        self.flags = 0


def parse_header(payload: bytes) -> tuple[int, int, int, Props]:
    """(class_id, weight, body_size, Props) of a content header frame payload.

    Raises PropertyError when the property list is truncated or uses continuation flags (0-9-1 basic
    has 14 properties; a continuation word is a framing error from a 0-9-1 client).
    """
    if len(payload) < 14:
        raise PropertyError("content header too short")
    class_id, weight, body_size = _BODY.unpack_from(payload, 0)
    flags = _u16(payload, 12)[0]
    p = Props()
    p.flags = flags
    if flags == 0:
        return class_id, weight, body_size, p
    if flags & 1:
        raise PropertyError("property flag continuation is not used by class basic")
    pos = 14
    try:
        if flags & F_CONTENT_TYPE:
            pos += 1 + payload[pos]
        if flags & F_CONTENT_ENCODING:
            pos += 1 + payload[pos]
        if flags & F_HEADERS:
            n = _u32(payload, pos)[0]
            p.headers_span = (pos, pos + 4 + n)
            pos += 4 + n
        if flags & F_DELIVERY_MODE:
            p.delivery_mode = payload[pos]
            pos += 1
        if flags & F_PRIORITY:
            p.priority = payload[pos]
            pos += 1
        if flags & F_CORRELATION_ID:
            pos += 1 + payload[pos]
        if flags & F_REPLY_TO:
            end = pos + 1 + payload[pos]
            p.reply_to_span = (pos, end)
            pos = end
        if flags & F_EXPIRATION:
            n = payload[pos]
            p.expiration = bytes(payload[pos + 1 : pos + 1 + n]).decode("utf-8", "replace")
            pos += 1 + n
        if flags & F_MESSAGE_ID:
            pos += 1 + payload[pos]
        if flags & F_TIMESTAMP:
            pos += 8
        if flags & F_TYPE:
            pos += 1 + payload[pos]
        if flags & F_USER_ID:
            n = payload[pos]
            p.user_id = bytes(payload[pos + 1 : pos + 1 + n]).decode("utf-8", "replace")
            pos += 1 + n
        if flags & F_APP_ID:
            pos += 1 + payload[pos]
        if flags & F_CLUSTER_ID:
            pos += 1 + payload[pos]
    except (IndexError, struct.error) as exc:
        raise PropertyError("content header properties truncated") from exc
    if pos > len(payload):
        raise PropertyError("content header properties truncated")
    return class_id, weight, body_size, p


_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")


def add_long_header(payload: bytes, props: Props, encoded_name: bytes, value: int) -> bytes:
    """The same content header with one more headers-table field, a signed 64-bit 'l' (encoded_name: the
    field name as a shortstr, length byte included). Spliced in, every other byte kept: no pamqp round
    trip per message."""
    field = encoded_name + b"l" + _I64.pack(value)
    span = props.headers_span
    if span is not None:
        start, end = span
        size = _u32(payload, start)[0] + len(field)
        return payload[:start] + _U32.pack(size) + payload[start + 4 : end] + field + payload[end:]
    flags = props.flags
    pos = 14
    if flags & F_CONTENT_TYPE:
        pos += 1 + payload[pos]
    if flags & F_CONTENT_ENCODING:
        pos += 1 + payload[pos]
    return payload[:12] + _U16.pack(flags | F_HEADERS) + payload[14:pos] + _U32.pack(len(field)) + field + payload[pos:]


def reply_to(payload: bytes, props: Props) -> str | None:
    span = props.reply_to_span
    if span is None:
        return None
    return bytes(payload[span[0] + 1 : span[1]]).decode("utf-8", "replace")


def replace_reply_to(payload: bytes, props: Props, value: str) -> bytes:
    """The same content header with another reply_to; every other byte is kept as it was."""
    start, end = props.reply_to_span
    data = value.encode("utf-8")
    return payload[:start] + bytes((len(data),)) + data + payload[end:]


def decode_headers(payload: bytes, span: tuple[int, int] | None, only: frozenset[str] | None = None) -> dict | None:
    """The headers table (with `only`: just those top-level names; see fieldtable.read_table)."""
    if span is None:
        return None
    try:
        return read_table(payload, span[0] + 4, span[1], None, only)
    except TableDepthError:
        raise PropertyError("headers table nested too deeply") from None
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        raise PropertyError(f"malformed headers table: {exc}") from exc


_PROPERTY_LAYOUT = tuple((name, getattr(commands.Basic.Properties, "_" + name))
                         for name in commands.Basic.Properties.__slots__)
_PROPERTY_FLAG = commands.Basic.Properties.flags


def decode_properties(payload: bytes) -> commands.Basic.Properties:
    """Every property decoded, for the rare paths that rewrite them."""
    props = commands.Basic.Properties()
    flags = _u16(payload, 12)[0]
    try:
        read_fields(props, tuple(f for f in _PROPERTY_LAYOUT if flags & _PROPERTY_FLAG[f[0]]), payload, 14)
    except TableDepthError:
        raise PropertyError("headers table nested too deeply") from None
    except (ValueError, IndexError, struct.error) as exc:
        # parse_header only walked the lengths: a table or a string inside can still be malformed
        raise PropertyError(f"malformed content header properties: {exc}") from exc
    return props


def encode_header(body_size: int, props: commands.Basic.Properties) -> bytes:
    return _BODY.pack(60, 0, body_size) + props.marshal()
