"""amqpd.protocol.fieldtable: the one-pass table decoder against pamqp's (the reference for values and
types), its strictness where pamqp reads past a container, and its depth limit.

The decoder exists because pamqp's is quadratic (issue 15: 0.9 s per 130 KB queue.declare). How fast
it is shows in the abuse cases of tests/integration/test_fuzz.py (answers within the 10 s bound) and in
bench/README.md, not here."""

from __future__ import annotations

import datetime
import struct
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pamqp import commands, decode, encode, header
from pamqp import frame as pamqp_frame

from amqpd.args import Long
from amqpd.errors import ConnectionError, ReplyCode
from amqpd.protocol.fieldtable import MAX_DEPTH, TableDepthError, TableError, field_table, read_table
from amqpd.protocol.methods import Publish, decode_method
from amqpd.protocol.properties import PropertyError, decode_headers, decode_properties, parse_header

SETTINGS = {"derandomize": True, "database": None, "deadline": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

field_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
              st.floats(allow_nan=False, width=32),
              st.binary(max_size=20).map(bytearray),
              st.sampled_from((Decimal("1.5"), Decimal("-0.25"), Decimal(7))),
              st.integers(0, 253_402_300_799).map(lambda s: datetime.datetime.fromtimestamp(s, datetime.UTC))),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
tables = st.dictionaries(st.text(max_size=10), field_values, max_size=6)


def typed(value):
    """The value with every type spelled out: 1 == True == 1.0 in Python, not on the wire."""
    if isinstance(value, dict):
        return ("dict", tuple((k, typed(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(typed(v) for v in value))
    return (type(value).__name__, value)


@settings(max_examples=400, **SETTINGS)
@given(tables)
def test_tables_decode_to_what_pamqp_decodes(table):
    raw = encode.field_table(table)
    consumed, ours = field_table(raw)
    theirs_consumed, theirs = decode.field_table(raw)
    assert consumed == theirs_consumed == len(raw)
    assert typed(ours) == typed(theirs)


@settings(max_examples=200, **SETTINGS)
@given(tables, st.data())
def test_a_table_cut_short_is_refused_with_a_table_error(table, data):
    raw = encode.field_table(table)[4:]
    if not raw:
        return
    cut = data.draw(st.integers(0, len(raw) - 1))
    try:
        read_table(raw[:cut], 0, cut)
    except TableError:
        return
    # a cut that falls between two fields is a shorter, well-formed table
    assert cut == 0 or read_table(raw, 0, cut) == read_table(raw[:cut], 0, cut)


@settings(max_examples=300, **SETTINGS)
@given(st.binary(max_size=64))
def test_garbage_raises_only_table_errors(raw):
    try:
        read_table(raw, 0, len(raw))
    except TableError:
        pass


def test_every_wire_type_as_pamqp_reads_it():
    items = [b"\x01tt\x01", b"\x01bb\xff", b"\x01BB\xff", b"\x01ss\xff\xfe", b"\x01uu\xff\xfe",
             b"\x01II\xff\xff\xff\xfe", b"\x01ii\xff\xff\xff\xfe", b"\x01ll" + struct.pack(">q", -5),
             b"\x01LL" + struct.pack(">q", -6), b"\x01ff" + struct.pack(">f", 1.5), b"\x01dd" + struct.pack(">d", 2.5),
             b"\x01DD\x02" + struct.pack(">i", -1234), b"\x01SS\x00\x00\x00\x02\xc3\xa9",
             b"\x01bS\x00\x00\x00\x01\xff", b"\x01xx\x00\x00\x00\x02ab", b"\x01TT" + struct.pack(">Q", 1_700_000_000),
             b"\x01MT" + struct.pack(">Q", 1_700_000_000_123), b"\x01VV", b"\x01ZA\x00\x00\x00\x03Vt\x01",
             b"\x01FF\x00\x00\x00\x03\x01aV"]
    raw = b"".join(items)
    ours = read_table(raw, 0, len(raw))
    assert typed(ours) == typed(decode.field_table(struct.pack(">I", len(raw)) + raw)[1])
    assert ours["S"] == "é" and ours["b"] == b"\xff" and ours["x"] == bytearray(b"ab")
    assert ours["D"] == Decimal("-12.34") and ours["i"] == 2**32 - 2 and ours["I"] == -2
    assert ours["M"] == datetime.datetime.fromtimestamp(1_700_000_000.123, datetime.UTC)
    assert ours["Z"] == [None, True] and ours["F"] == {"a": None}


def test_a_value_running_past_its_table_is_refused_where_pamqp_reads_on():
    # the table declares 6 octets, which end inside its string's length: pamqp reads the string from past it
    raw = b"\x00\x00\x00\x06\x01aS\x00\x00\x00\x04" + b"tail"
    assert decode.field_table(raw)[1] == {"a": "tail"}
    with pytest.raises(TableError, match="past the end"):
        field_table(raw)
    array = b"\x00\x00\x00\x02Is\x00\x00"
    with pytest.raises(TableError):
        field_table(b"\x00\x00\x00\x0b\x01aA" + array)


def test_unknown_type_tag_is_refused():
    with pytest.raises(TableError, match="unknown field type b'Z'"):
        read_table(b"\x01aZ\x00", 0, 4)


def test_key_without_value_is_refused():
    with pytest.raises(TableError, match="key runs past"):
        read_table(b"\x02ab", 0, 3)


def _nested(depth: int) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = b"\x01aF" + struct.pack(">I", len(inner)) + inner
    return inner


def test_nesting_up_to_the_limit_decodes_and_deeper_is_refused_without_recursing():
    raw = _nested(MAX_DEPTH)
    table = read_table(raw, 0, len(raw))
    for _ in range(MAX_DEPTH):
        table = table["a"]
    assert table == {}
    for depth in (MAX_DEPTH + 1, 3000, 20_000):
        raw = _nested(depth)
        with pytest.raises(TableDepthError, match=f"nested deeper than {MAX_DEPTH} levels"):
            read_table(raw, 0, len(raw))


def test_large_arrays_decode_whole():
    raw = b"\x05x-fooA" + struct.pack(">I", 130_000) + b"V" * 130_000
    assert read_table(raw, 0, len(raw)) == {"x-foo": [None] * 130_000}


def _declare(table_items: bytes) -> bytes:
    return (struct.pack(">HHH", 50, 10, 0) + b"\x01q" + b"\x00" + struct.pack(">I", len(table_items))
            + table_items)


def test_declare_nested_too_deep_is_a_syntax_error_naming_the_limit():
    with pytest.raises(ConnectionError) as err:
        decode_method(_declare(_nested(3000)))
    assert err.value.reply_code == ReplyCode.SYNTAX_ERROR
    assert str(MAX_DEPTH) in err.value.text and (err.value.class_id, err.value.method_id) == (50, 10)


def test_declare_keeps_long_type_of_top_level_l_only():
    items = b"\x01al" + struct.pack(">q", 5) + b"\x01bI" + struct.pack(">i", 6) \
        + b"\x01cF\x00\x00\x00\x0b\x01dl" + struct.pack(">q", 7)
    method = decode_method(_declare(items))
    assert type(method.arguments["a"]) is Long and type(method.arguments["b"]) is int
    assert type(method.arguments["c"]["d"]) is int
    bind = decode_method(pamqp_frame.marshal(commands.Queue.Bind(queue="q", exchange="e", arguments={"a": 5}), 1)[7:-1])
    assert type(bind.arguments["a"]) is int


RESERVED = {"insist", "ticket", "capabilities", "known_hosts", "out_of_band", "channel_id", "cluster_id"}


@pytest.mark.parametrize("cls", sorted(commands.INDEX_MAPPING.values(), key=lambda c: c.index), ids=lambda c: c.name)
def test_every_method_decodes_as_pamqp_unmarshals_it(cls):
    method = cls()
    for name in cls.__slots__:  # values that fill each field, so a misplaced offset shows
        kind = cls.amqp_type(name)
        value = {"bit": True, "octet": 7, "short": 0x1234, "long": 0x12345678, "longlong": 2**40 + 3,
                 "shortstr": "s-" + name, "longstr": "l-" + name, "table": {"k": name, "n": [1, {"z": None}]},
                 "timestamp": None}[kind]
        if name in RESERVED:  # pamqp's marshal insists on the default
            continue
        setattr(method, name, value)
    payload = pamqp_frame.marshal(method, 1)[7:-1]
    ours = decode_method(payload)
    theirs = cls()
    theirs.unmarshal(payload[4:])
    for name in cls.__slots__:
        if name in RESERVED and isinstance(ours, Publish):  # amqpd's own publish keeps only what it uses
            continue
        assert typed(getattr(ours, name)) == typed(getattr(theirs, name)), name


@settings(max_examples=200, **SETTINGS)
@given(st.builds(commands.Basic.Properties, content_type=st.none() | st.text(max_size=20), headers=st.none() | tables,
                 delivery_mode=st.none() | st.integers(1, 2), priority=st.none() | st.integers(0, 255),
                 correlation_id=st.none() | st.text(max_size=20), reply_to=st.none() | st.text(max_size=20),
                 expiration=st.none() | st.integers(0, 10**9).map(str), message_id=st.none() | st.text(max_size=20),
                 timestamp=st.none() | st.integers(0, 2**31).map(lambda s: datetime.datetime.fromtimestamp(s, datetime.UTC)),
                 message_type=st.none() | st.text(max_size=20), user_id=st.none() | st.text(max_size=20),
                 app_id=st.none() | st.text(max_size=20)))
def test_properties_and_headers_decode_as_pamqp_unmarshals_them(props):
    payload = pamqp_frame.marshal(header.ContentHeader(0, 3, props), 1)[7:-1]
    flags = struct.unpack_from(">H", payload, 12)[0]
    ours = decode_properties(payload)
    theirs = commands.Basic.Properties()
    theirs.unmarshal(flags, payload[14:])
    for name in commands.Basic.Properties.__slots__:
        assert typed(getattr(ours, name)) == typed(getattr(theirs, name)), name
    assert typed(decode_headers(payload, parse_header(payload)[3].headers_span)) == typed(theirs.headers)


def test_headers_nested_too_deep_are_a_property_error():
    table = _nested(MAX_DEPTH + 1)
    payload = struct.pack(">HHQH", 60, 0, 0, 0x2000) + struct.pack(">I", len(table)) + table
    with pytest.raises(PropertyError, match="nested too deeply"):
        decode_headers(payload, parse_header(payload)[3].headers_span)
    with pytest.raises(PropertyError, match="nested too deeply"):
        decode_properties(payload)


def test_only_the_named_top_level_fields_are_decoded():
    big = b"\x03bigA" + struct.pack(">I", 110_000) + b"V" * 110_000
    deep = b"\x04deep" + b"F" + struct.pack(">I", len(_nested(3000))) + _nested(3000)
    raw = big + deep + b"\x02zzI" + struct.pack(">i", 7) + b"\x02ssS\x00\x00\x00\x01x"
    assert read_table(raw, 0, len(raw), only=frozenset({"zz", "ss"})) == {"zz": 7, "ss": "x"}
    assert read_table(raw, 0, len(raw), only=frozenset()) == {}
    with pytest.raises(TableDepthError):
        read_table(raw, 0, len(raw), only=frozenset({"deep"}))


@pytest.mark.parametrize("raw", [b"\x01aZ", b"\x01aS\x00\x00\x00\x09xx", b"\x01aI\x00\x00", b"\x01aF\x00\x00"])
def test_a_skipped_field_is_still_checked_against_the_table_end(raw):
    with pytest.raises(TableError):
        read_table(raw, 0, len(raw), only=frozenset({"b"}))
