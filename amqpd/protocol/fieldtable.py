"""AMQP field tables and arrays, decoded in one pass over the frame.

pamqp's decoder copies the rest of the buffer for every item (``value[offset:]``), which makes a table
or array quadratic in its size: a 130 KB array of voids in a queue.declare took 0.9 s, so a client
could stall its connection's reader for seconds per frame. This decoder walks offsets into the
one buffer and keeps its own stack instead of recursing, so nesting costs no Python stack either.

Values come out exactly as pamqp gives them (tests/unit/test_fieldtable.py compares the two), so
everything else in the broker sees the same types; unlike pamqp, a value that runs past the end of
its table or array is an error rather than silently cut short, as in RabbitMQ's parser.
"""

from __future__ import annotations

import datetime
import decimal
import struct
from typing import Any

# Deeper nesting is refused: RabbitMQ has no limit, but every consumer of a table (JSON for the HTTP
# API, equality on redeclare, the store's encoder) recurses, and no client needs more than a few.
MAX_DEPTH = 100

_u32 = struct.Struct(">I").unpack_from
_FIXED: dict[int, tuple[Any, int]] = {
    ord("b"): (struct.Struct(">b").unpack_from, 1),
    ord("B"): (struct.Struct(">B").unpack_from, 1),
    ord("s"): (struct.Struct(">h").unpack_from, 2),
    ord("u"): (struct.Struct(">H").unpack_from, 2),
    ord("I"): (struct.Struct(">i").unpack_from, 4),
    ord("i"): (struct.Struct(">I").unpack_from, 4),
    ord("l"): (struct.Struct(">q").unpack_from, 8),
    ord("L"): (struct.Struct(">q").unpack_from, 8),  # pamqp reads 'L' as signed too
    ord("f"): (struct.Struct(">f").unpack_from, 4),
    ord("d"): (struct.Struct(">d").unpack_from, 8),
}
_DECIMAL = struct.Struct(">Bi").unpack_from
_STAMP = struct.Struct(">Q").unpack_from
_T, _D, _S, _X, _TS, _V, _NUL, _TABLE, _ARRAY, _LONG = (ord(c) for c in "tDSxTV\x00FAl")


class TableError(ValueError):
    pass


class TableDepthError(TableError):
    pass


def timestamp(raw: int) -> datetime.datetime:
    # pamqp's reading: anything past the year 2106 is taken to be milliseconds
    return datetime.datetime.fromtimestamp(raw / 1000.0 if raw > 0xFFFFFFFF else raw, tz=datetime.UTC)


def read_table(buf: bytes, pos: int, end: int, long_type: type | None = None,
               only: frozenset[str] | set[str] | None = None) -> dict[str, Any]:
    """The table whose items fill buf[pos:end] (after its length prefix).

    `long_type` wraps the top level's 'l' integers (queue.declare's arguments keep their wire type for
    RabbitMQ's error texts). With `only`, top-level fields of other names are stepped over by their
    length, not decoded: routing by headers needs only the names its bindings use, and a 100 KB array
    beside them then costs nothing."""
    if end > len(buf):
        raise TableError("field table length exceeds available data")
    root: dict[str, Any] = {}
    stack: list[tuple[Any, int]] = []
    cur: Any = root
    is_table = True
    key = ""
    while True:
        if pos >= end:
            if pos > end:
                raise TableError("field value runs past the end of its table or array")
            if not stack:
                return root
            cur, end = stack.pop()
            is_table = cur.__class__ is dict
            continue
        if is_table:
            n = buf[pos]
            pos += 1 + n
            if pos >= end:
                raise TableError("field table key runs past the end of its table")
            try:
                key = buf[pos - n : pos].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise TableError(f"field table key is not UTF-8: {exc}") from None
            if only is not None and key not in only and not stack:
                pos = _skip(buf, pos, end)
                continue
        tag = buf[pos]
        pos += 1
        fixed = _FIXED.get(tag)
        if fixed is not None:
            if pos + fixed[1] > end:
                raise TableError("field value runs past the end of its table or array")
            value = fixed[0](buf, pos)[0]
            pos += fixed[1]
            if tag == _LONG and long_type is not None and not stack:
                value = long_type(value)
        elif tag == _S or tag == _X:
            if pos + 4 > end:
                raise TableError("string length runs past the end of its table or array")
            stop = pos + 4 + _u32(buf, pos)[0]
            if stop > end:
                raise TableError("string runs past the end of its table or array")
            raw = buf[pos + 4 : stop]
            pos = stop
            if tag == _X:
                value = bytearray(raw)
            else:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    value = bytes(raw)
        elif tag == _TABLE or tag == _ARRAY:
            if pos + 4 > end:
                raise TableError("nested length runs past the end of its table or array")
            stop = pos + 4 + _u32(buf, pos)[0]
            if stop > end:
                raise TableError("nested table or array runs past the end of its container")
            if len(stack) >= MAX_DEPTH:
                raise TableDepthError(f"field tables nested deeper than {MAX_DEPTH} levels")
            value = {} if tag == _TABLE else []
            if is_table:
                cur[key] = value
            else:
                cur.append(value)
            stack.append((cur, end))
            cur, end, is_table, pos = value, stop, tag == _TABLE, pos + 4
            continue
        elif tag == _T:
            if pos >= end:
                raise TableError("field value runs past the end of its table or array")
            value = bool(buf[pos])
            pos += 1
        elif tag == _V or tag == _NUL:
            value = None
        elif tag == _D:
            if pos + 5 > end:
                raise TableError("field value runs past the end of its table or array")
            places, raw_int = _DECIMAL(buf, pos)
            value = decimal.Decimal(raw_int) * (decimal.Decimal(10) ** -places)
            pos += 5
        elif tag == _TS:
            if pos + 8 > end:
                raise TableError("field value runs past the end of its table or array")
            value = timestamp(_STAMP(buf, pos)[0])
            pos += 8
        else:
            raise TableError(f"unknown field type {bytes((tag,))!r}")
        if is_table:
            cur[key] = value
        else:
            cur.append(value)


_SIZES = {tag: size for tag, (_, size) in _FIXED.items()} | {_T: 1, _D: 5, _TS: 8, _V: 0, _NUL: 0}


def _skip(buf: bytes, pos: int, end: int) -> int:
    """The position after the field value at buf[pos] (its type tag), checked against the table's end."""
    tag = buf[pos]
    pos += 1
    size = _SIZES.get(tag)
    if size is None:
        if tag not in (_S, _X, _TABLE, _ARRAY):
            raise TableError(f"unknown field type {bytes((tag,))!r}")
        if pos + 4 > end:
            raise TableError("field value runs past the end of its table or array")
        size = 4 + _u32(buf, pos)[0]
    pos += size
    if pos > end:
        raise TableError("field value runs past the end of its table or array")
    return pos


def field_table(data: bytes, pos: int = 0) -> tuple[int, dict[str, Any]]:
    """(bytes consumed, table) of a length-prefixed table at data[pos:], as pamqp.decode.field_table."""
    if pos + 4 > len(data):
        raise TableError("field table length past the end of the data")
    end = pos + 4 + _u32(data, pos)[0]
    return end - pos, read_table(data, pos + 4, end)


_ARG = {
    "octet": (struct.Struct(">B").unpack_from, 1),
    "short": (struct.Struct(">H").unpack_from, 2),
    "long": (struct.Struct(">I").unpack_from, 4),
    "longlong": (struct.Struct(">q").unpack_from, 8),
}


def read_fields(target: Any, layout: tuple[tuple[str, str], ...], buf: bytes, pos: int,
                long_type: type | None = None) -> int:
    """Set target's attributes from the arguments laid out as (name, AMQP type) from buf[pos:]; returns
    the position after the last one. Bits pack up to eight to an octet, as pamqp's unmarshal reads them.
    Raises IndexError when an argument runs past the buffer, TableError for a malformed table."""
    end = len(buf)
    bits = bit = 0
    for name, kind in layout:
        if kind == "bit":
            if bit == 0 or bit == 8:
                if pos >= end:
                    raise IndexError("bit field past end of frame")
                bits, bit = buf[pos], 0
                pos += 1
            setattr(target, name, bool(bits & (1 << bit)))
            bit += 1
            continue
        bit = 0
        if kind == "shortstr":
            if pos >= end:
                raise IndexError("short string past end of frame")
            stop = pos + 1 + buf[pos]
            if stop > end:
                raise IndexError("short string past end of frame")
            value: Any = buf[pos + 1 : stop].decode("utf-8")
        elif kind in _ARG:
            unpack, size = _ARG[kind]
            stop = pos + size
            if stop > end:
                raise IndexError("argument past end of frame")
            value = unpack(buf, pos)[0]
        elif kind == "timestamp":
            stop = pos + 8
            if stop > end:
                raise IndexError("timestamp past end of frame")
            value = timestamp(_STAMP(buf, pos)[0])
        else:  # longstr, table
            if pos + 4 > end:
                raise IndexError("long string past end of frame")
            stop = pos + 4 + _u32(buf, pos)[0]
            if stop > end:
                raise IndexError("argument past end of frame")
            if kind == "table":
                value = read_table(buf, pos + 4, stop, long_type)
            else:
                raw = buf[pos + 4 : stop]
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError:
                    value = bytes(raw)
        setattr(target, name, value)
        pos = stop
    return pos
