"""Unit tests for amqpd.protocol.properties: parse_header finds the right values in pamqp-built headers.

The reference is pamqp: a Basic.Properties is marshalled into a content header payload, and parse_header
must find delivery_mode, priority, expiration, user_id and the headers table in it for every
combination of the 14 basic properties.
"""

from __future__ import annotations

import datetime
import random
import struct
from decimal import Decimal

import pytest
from pamqp import commands, header

from amqpd.protocol.properties import (
    F_CLUSTER_ID,
    F_EXPIRATION,
    F_HEADERS,
    F_USER_ID,
    PropertyError,
    decode_headers,
    decode_properties,
    encode_header,
    parse_header,
)

PROPERTY_NAMES = list(commands.Basic.Properties.__slots__)
assert len(PROPERTY_NAMES) == 14

HEADERS = {
    "x-int": 1, "x-neg": -5, "x-big": 2**40, "x-str": "héllo", "x-bool": False, "x-float": 1.5,
    "x-decimal": Decimal("1.23"), "x-nested": {"k": [1, "a", True, {"deep": None}]}, "x-void": None,
    "x-bytes": bytearray(b"\x00\xff"), "x-time": datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
}

VALUES = {
    "content_type": "application/json",
    "content_encoding": "gzip",
    "headers": HEADERS,
    "delivery_mode": 2,
    "priority": 7,
    "correlation_id": "corr-1",
    "reply_to": "amq.rabbitmq.reply-to",
    "expiration": "60000",
    "message_id": "mid-é",
    "timestamp": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC),
    "message_type": "order.created",
    "user_id": "guest",
    "app_id": "amqpd-tests",
    "cluster_id": "cluster-1",
}
assert set(VALUES) == set(PROPERTY_NAMES)


def build(values: dict, body_size: int = 10) -> tuple[commands.Basic.Properties, bytes]:
    """Basic.Properties with the given values and its content header payload, marshalled by pamqp."""
    cluster_id = values.get("cluster_id")
    props = commands.Basic.Properties(**{k: v for k, v in values.items() if k != "cluster_id"})
    if cluster_id is not None:
        props.cluster_id = cluster_id  # pamqp's constructor refuses it (deprecated in 0-9-1); marshal does not
    return props, header.ContentHeader(0, body_size, props).marshal()


def check(values: dict, body_size: int = 10) -> None:
    props, payload = build(values, body_size)
    class_id, weight, size, p = parse_header(payload)
    assert (class_id, weight, size) == (60, 0, body_size)
    expected_flags = 0
    for name, value in values.items():
        if value is not None and value != "":
            expected_flags |= commands.Basic.Properties.flags[name]
    assert p.flags == expected_flags == struct.unpack(">H", payload[12:14])[0]
    assert p.delivery_mode == (values.get("delivery_mode") or 0)
    assert p.priority == values.get("priority")
    assert p.expiration == (values.get("expiration") or None)
    assert p.user_id == (values.get("user_id") or None)
    if values.get("headers") is None:
        assert p.headers_span is None
        assert decode_headers(payload, p.headers_span) is None
    else:
        start, end = p.headers_span
        assert 14 <= start < end <= len(payload)
        assert decode_headers(payload, p.headers_span) == values["headers"]
    assert decode_properties(payload) == props
    assert encode_header(body_size, props) == payload


# ------------------------------------------------------------------------------- pamqp-built headers

def test_no_properties():
    check({})
    _, _, _, p = parse_header(b"\x00\x3c\x00\x00" + b"\x00" * 8 + b"\x00\x00")
    assert (p.flags, p.delivery_mode, p.priority, p.expiration, p.user_id, p.headers_span) == (
        0, 0, None, None, None, None)


@pytest.mark.parametrize("name", PROPERTY_NAMES)
def test_each_property_alone(name):
    check({name: VALUES[name]})


def test_all_properties_together():
    check(dict(VALUES))


@pytest.mark.parametrize("body_size", [0, 1, 2**32, 2**64 - 1])
def test_body_size(body_size):
    check({"delivery_mode": 1, "expiration": "5"}, body_size)


def test_every_combination_of_the_14_properties():
    for mask in range(1 << 14):
        values = {name: VALUES[name] for i, name in enumerate(PROPERTY_NAMES) if mask >> i & 1}
        check(values)


def random_text(rng: random.Random, max_bytes: int = 255) -> str:
    alphabet = "abcxyz0189-_.:/ éß日本🐇"
    while True:
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 80)))
        if len(text.encode()) <= max_bytes:
            return text


def random_value(rng: random.Random, name: str):
    if name == "headers":
        return rng.choice([{}, {"a": rng.randrange(-2**31, 2**31)},
                           {random_text(rng, 100): random_text(rng) for _ in range(rng.randrange(1, 6))},
                           HEADERS])
    if name == "delivery_mode":
        return rng.choice((1, 2))
    if name == "priority":
        return rng.randrange(256)
    if name == "timestamp":
        return datetime.datetime.fromtimestamp(rng.randrange(2**31), tz=datetime.UTC)
    return random_text(rng)


def test_random_subsets_with_random_values():
    rng = random.Random(1409)
    for _ in range(3000):
        names = [n for n in PROPERTY_NAMES if rng.random() < 0.5]
        check({name: random_value(rng, name) for name in names}, rng.randrange(2**40))


@pytest.mark.parametrize("priority", [0, 1, 9, 10, 255])
def test_priority_values(priority):
    check({"priority": priority, "delivery_mode": 1})


def test_empty_headers_table_is_present_but_empty():
    _, payload = build({"headers": {}, "user_id": "u"})
    _, _, _, p = parse_header(payload)
    assert p.headers_span == (14, 18)
    assert decode_headers(payload, p.headers_span) == {}
    assert p.user_id == "u"


def test_unicode_expiration_and_user_id():
    check({"expiration": "１２３", "user_id": "ユーザー", "headers": {"é": "日本"}})


def test_hand_built_empty_expiration_and_user_id():
    # pamqp never encodes an empty shortstr property, but a client may send one
    payload = b"\x00\x3c\x00\x00" + b"\x00" * 8 + struct.pack(">H", F_EXPIRATION | F_USER_ID) + b"\x00\x00"
    _, _, _, p = parse_header(payload)
    assert (p.expiration, p.user_id) == ("", "")


def test_payload_given_as_memoryview_slice():
    _, payload = build(dict(VALUES))
    view = memoryview(b"\xff" * 3 + payload)[3:]
    _, _, _, p = parse_header(view)
    assert (p.delivery_mode, p.priority, p.expiration, p.user_id) == (2, 7, "60000", "guest")


# -------------------------------------------------------------------------------------- bad headers

@pytest.mark.parametrize("values", [{}, {"delivery_mode": 2}, {"headers": HEADERS}, {"cluster_id": "c"},
                                    {"timestamp": VALUES["timestamp"]}, dict(VALUES)],
                         ids=["none", "delivery_mode", "headers", "cluster_id", "timestamp", "all"])
def test_every_truncation_raises_property_error(values):
    _, payload = build(values)
    parse_header(payload)
    for n in range(len(payload)):
        with pytest.raises(PropertyError):
            parse_header(payload[:n])


@pytest.mark.parametrize("name", PROPERTY_NAMES)
def test_truncated_by_one_byte_for_each_property_last(name):
    _, payload = build({name: VALUES[name]})
    with pytest.raises(PropertyError, match="truncated"):
        parse_header(payload[:-1])


def test_headers_length_past_the_end():
    payload = b"\x00\x3c\x00\x00" + b"\x00" * 8 + struct.pack(">HI", F_HEADERS, 100) + b"\x00" * 10
    with pytest.raises(PropertyError):
        parse_header(payload)


def test_shortstr_length_past_the_end():
    payload = b"\x00\x3c\x00\x00" + b"\x00" * 8 + struct.pack(">H", F_CLUSTER_ID) + b"\x05abc"
    with pytest.raises(PropertyError):
        parse_header(payload)


@pytest.mark.parametrize("values", [{}, {"delivery_mode": 2}, dict(VALUES)], ids=["none", "one", "all"])
def test_continuation_flag_raises_property_error(values):
    _, payload = build(values)
    flags = struct.unpack(">H", payload[12:14])[0] | 1
    bad = payload[:12] + struct.pack(">H", flags) + b"\x00\x00" + payload[14:]
    with pytest.raises(PropertyError, match="continuation"):
        parse_header(bad)


def test_malformed_headers_table_raises_property_error():
    # a table with an entry of unknown field type 'Z'
    table = b"\x01kZ\x00"
    payload = (b"\x00\x3c\x00\x00" + b"\x00" * 8 + struct.pack(">HI", F_HEADERS, len(table)) + table)
    _, _, _, p = parse_header(payload)
    with pytest.raises(PropertyError, match="malformed headers"):
        decode_headers(payload, p.headers_span)


def test_decode_headers_only_raises_property_error_on_garbage():
    rng = random.Random(99)
    _, good_payload = build({"headers": HEADERS})
    _, _, _, p = parse_header(good_payload)
    good = good_payload[p.headers_span[0] : p.headers_span[1]]
    for _ in range(3000):
        data = bytearray(good)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        else:
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            result = decode_headers(bytes(data), (0, len(data)))
        except PropertyError:
            continue
        assert isinstance(result, dict)


def test_flag_constants_match_pamqp():
    from amqpd.protocol import properties

    for name, flag in commands.Basic.Properties.flags.items():
        const = "F_" + ("TYPE" if name == "message_type" else name.upper())
        assert getattr(properties, const) == flag, name
    assert sum(commands.Basic.Properties.flags.values()) == 0xFFFC
