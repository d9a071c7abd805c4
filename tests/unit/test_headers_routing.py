"""Headers exchange matching, binding validation and bookkeeping."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from amqpd.errors import ChannelError, ReplyCode
from amqpd.exchanges import Binding
from amqpd.exchanges.headers import HeadersExchange

UTC = datetime.UTC


class Dest:
    is_exchange = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Dest({self.name!r})"


class Strict313HeadersExchange(HeadersExchange):
    LEGACY_VALUE_MATCH = False


def matches(args: dict, headers: dict | None, cls=HeadersExchange) -> bool:
    x = cls("h")
    q = Dest("q")
    x.validate_binding("", args)
    x.bind(Binding("h", q, "ignored", args))
    return list(x.route("whatever", lambda: headers)) == [q]


# (binding arguments, message headers, matches?) — the same in every RabbitMQ 3.x.
CASES = [
    # RabbitMQ deps/rabbit/test/exchanges_SUITE.erl headers_exchange/1.
    ({"x-match": "all", "foo": "bar", "fuu": "ber"}, {"foo": "bar", "fuu": "ber"}, True),
    ({"x-match": "all", "foo": "bar", "fuu": "ber"}, {"foo": "bar"}, False),
    ({"x-match": "all", "foo": "bar", "fuu": "ber"}, None, False),
    ({"x-match": "any", "foo": "bar", "fuu": "ber"}, {"foo": "bar", "fuu": "ber"}, True),
    ({"x-match": "any", "foo": "bar", "fuu": "ber"}, {"foo": "bar"}, True),
    ({"x-match": "any", "foo": "bar", "fuu": "ber"}, None, False),
    # x-match defaults to all.
    ({"foo": "bar", "n": 1}, {"foo": "bar", "n": 1, "extra": "x"}, True),
    ({"foo": "bar", "n": 1}, {"foo": "bar", "n": 2}, False),
    ({"foo": "bar", "n": 1}, {"foo": "bar"}, False),
    # Nothing to compare: all matches every message, any matches none.
    ({}, None, True), ({}, {}, True), ({}, {"a": 1}, True),
    ({"x-match": "all"}, None, True), ({"x-match": "all"}, {"a": 1}, True),
    ({"x-match": "any"}, None, False), ({"x-match": "any"}, {"a": 1}, False),
    ({"x-match": "all", "a": 1}, {}, False), ({"x-match": "any", "a": 1}, {}, False),
    ({"x-match": "any", "a": 1, "b": 2}, {"a": 2, "b": 3}, False),
    ({"x-match": "any", "a": 1, "b": 2}, {"a": 2, "b": 2}, True),
    ({"x-match": "any", "a": 1, "b": 2}, {"c": 1}, False),
    # x- arguments take no part in all/any matching...
    ({"x-match": "all", "x-foo": "bar"}, None, True),
    ({"x-match": "all", "x-foo": "bar"}, {"x-foo": "other"}, True),
    ({"x-match": "all", "x-foo": "bar", "a": 1}, {"a": 1}, True),
    ({"x-match": "any", "x-foo": "bar"}, {"x-foo": "bar"}, False),
    ({"x-match": "any", "x-foo": "bar", "a": 1}, {"x-foo": "bar"}, False),
    ({"x-match": "any", "x-foo": "bar", "a": 1}, {"a": 1}, True),
    ({"x-foo": "bar"}, {}, True),
    # ...but do with the -with-x variants; x-match itself never takes part.
    ({"x-match": "all-with-x", "x-foo": "bar"}, {"x-foo": "bar"}, True),
    ({"x-match": "all-with-x", "x-foo": "bar"}, {"x-foo": "baz"}, False),
    ({"x-match": "all-with-x", "x-foo": "bar"}, None, False),
    ({"x-match": "all-with-x", "x-foo": "bar", "a": 1}, {"x-foo": "bar"}, False),
    ({"x-match": "all-with-x", "x-foo": "bar", "a": 1}, {"x-foo": "bar", "a": 1}, True),
    ({"x-match": "all-with-x"}, {"x-match": "any"}, True),
    ({"x-match": "all-with-x"}, None, True),
    ({"x-match": "any-with-x", "x-foo": "bar"}, {"x-foo": "bar"}, True),
    ({"x-match": "any-with-x", "x-foo": "bar", "a": 1}, {"a": 1}, True),
    ({"x-match": "any-with-x", "x-foo": "bar", "a": 1}, {"x-foo": "no", "a": 2}, False),
    ({"x-match": "any-with-x"}, {"x-match": "any-with-x"}, False),
    ({"x-match": "any", "b": 1}, {"x-match": "any", "b": 1}, True),
    ({"x-match": "all", "x-match-not": 1}, {}, True),
    # A void binding value asks for presence only, with any value, void included.
    ({"flag": None}, {"flag": "anything"}, True),
    ({"flag": None}, {"flag": None}, True),
    ({"flag": None}, {"flag": 0}, True),
    ({"flag": None}, {"other": 1}, False),
    ({"flag": None}, None, False),
    ({"x-match": "any", "flag": None, "a": 1}, {"flag": 7}, True),
    ({"x-match": "all", "flag": None, "a": 1}, {"flag": 7}, False),
    ({"x-match": "all", "flag": None, "a": 1}, {"flag": 7, "a": 1}, True),
    ({"x-match": "all", "x-flag": None}, {}, True),
    ({"x-match": "all-with-x", "x-flag": None}, {}, False),
    ({"x-match": "all-with-x", "x-flag": None}, {"x-flag": "v"}, True),
    # A void header value equals no non-void binding value.
    ({"a": "x"}, {"a": None}, False), ({"a": 0}, {"a": None}, False), ({"a": ""}, {"a": None}, False),
    # Types are not compared, values are: longstr and byte array holding the same bytes are equal...
    ({"a": "bytes"}, {"a": bytearray(b"bytes")}, True),
    ({"a": bytearray(b"bytes")}, {"a": "bytes"}, True),
    ({"a": "caf\u00e9"}, {"a": bytearray("caf\u00e9".encode())}, True),
    ({"a": "bytes"}, {"a": b"bytes"}, True),
    # ...but a string is not a number, and booleans are not integers.
    ({"a": 1}, {"a": "1"}, False), ({"a": "1"}, {"a": 1}, False),
    ({"a": True}, {"a": 1}, False), ({"a": 1}, {"a": True}, False),
    ({"a": False}, {"a": 0}, False), ({"a": True}, {"a": True}, True), ({"a": False}, {"a": True}, False),
    ({"a": ""}, {"a": bytearray()}, True), ({"a": "A"}, {"a": "a"}, False),
    # Integer widths are one class (the wire type is gone after decoding, and RabbitMQ ignores it too).
    ({"a": 2**40}, {"a": 2**40}, True), ({"a": -5}, {"a": -5}, True),
    # Decimals compare as {scale, unscaled}: 1.0 and 1.00 differ.
    ({"a": Decimal("1.5")}, {"a": Decimal("1.5")}, True),
    ({"a": Decimal("1.0")}, {"a": Decimal("1.00")}, False),
    ({"a": Decimal("1")}, {"a": 1}, False),
    # Nested tables: order and element types count, as for RabbitMQ's unsorted {Name, Type, Value} lists.
    ({"a": {"k": "v", "n": 1}}, {"a": {"k": "v", "n": 1}}, True),
    ({"a": {"k": "v", "n": 1}}, {"a": {"n": 1, "k": "v"}}, False),
    ({"a": {"k": "v"}}, {"a": {"k": bytearray(b"v")}}, False),
    ({"a": {"k": 1}}, {"a": {"k": 1.0}}, False),
    ({"a": {}}, {"a": {}}, True), ({"a": {}}, {"a": []}, True),  # both [] in Erlang
    ({"a": [1, "x"]}, {"a": [1, "x"]}, True), ({"a": [1, "x"]}, {"a": ["x", 1]}, False),
    ({"a": [1]}, {"a": [True]}, False), ({"a": [[1], {"b": None}]}, {"a": [[1], {"b": None}]}, True),
    ({"a": []}, {"a": None}, False), ({"a": None}, {"a": []}, True),
    # Header names are case sensitive.
    ({"A": 1}, {"a": 1}, False),
]


@pytest.mark.parametrize(("args", "headers", "want"), CASES)
@pytest.mark.parametrize("cls", [HeadersExchange, Strict313HeadersExchange], ids=["3.12", "3.13"])
def test_matching(cls, args, headers, want):
    assert matches(args, headers, cls) is want


T5 = datetime.datetime.fromtimestamp(5, tz=UTC)

# Where RabbitMQ <= 3.12 (Erlang ==) and >= 3.13 (=:=, timestamps as milliseconds) disagree.
VERSIONED = [
    # (binding arguments, headers, 3.12 answer, 3.13 answer)
    ({"a": 1}, {"a": 1.0}, True, False),
    ({"a": 1.0}, {"a": 1}, True, False),
    ({"a": 2.5}, {"a": 2.5}, True, True),
    ({"a": 0}, {"a": -0.0}, True, False),
    ({"a": T5}, {"a": T5}, True, False),
    ({"a": T5}, {"a": T5.replace(tzinfo=None)}, True, False),  # naive datetimes are UTC
    ({"a": 5}, {"a": T5}, True, False),
    ({"a": 5000}, {"a": T5}, False, True),
    ({"a": datetime.datetime.fromtimestamp(5000, tz=UTC)}, {"a": T5}, False, True),
    ({"a": datetime.datetime.fromtimestamp(0, tz=UTC)}, {"a": datetime.datetime.fromtimestamp(0, tz=UTC)},
     True, True),
    ({"x-match": "any", "a": 1, "b": "z"}, {"a": 1.0}, True, False),
]


@pytest.mark.parametrize(("args", "headers", "v312", "v313"), VERSIONED)
def test_version_dependent_value_rules(args, headers, v312, v313):
    assert matches(args, headers, HeadersExchange) is v312
    assert matches(args, headers, Strict313HeadersExchange) is v313


def test_default_is_rabbitmq_3_12_and_earlier():
    assert HeadersExchange.LEGACY_VALUE_MATCH is True


@pytest.mark.parametrize("mode", [None, "all", "any", "all-with-x", "any-with-x"])
def test_validate_accepts(mode):
    x = HeadersExchange("h")
    args = {"a": 1} if mode is None else {"x-match": mode, "a": 1}
    x.validate_binding("", args)
    x.validate_binding("", {})


EXPECTED = "; expected all, any, all-with-x, or any-with-x"
INVALID = [
    ("foo", 'Invalid x-match field value <<"foo">>; expected all, any, all-with-x, or any-with-x'),
    ("ALL", 'Invalid x-match field value <<"ALL">>; expected all, any, all-with-x, or any-with-x'),
    ("", "Invalid x-match field value <<>>; expected all, any, all-with-x, or any-with-x"),
    ("all ", 'Invalid x-match field value <<"all ">>; expected all, any, all-with-x, or any-with-x'),
    ('a"b', 'Invalid x-match field value <<"a\\"b">>; expected all, any, all-with-x, or any-with-x'),
    # ~p: printable Latin-1 bytes print as text (the UTF-8 bytes reach the client unchanged), others not.
    ("caf\u00e9", 'Invalid x-match field value <<"caf\u00e9">>' + EXPECTED),
    ("a\u20ac", "Invalid x-match field value <<97,226,130,172>>" + EXPECTED),
    ("a\nb", 'Invalid x-match field value <<"a\\nb">>; expected all, any, all-with-x, or any-with-x'),
    (1, "Invalid x-match field type signedint (value 1); expected longstr"),
    (2**40, "Invalid x-match field type long (value 1099511627776); expected longstr"),
    (True, "Invalid x-match field type bool (value true); expected longstr"),
    (None, "Invalid x-match field type void (value undefined); expected longstr"),
    (1.5, "Invalid x-match field type double (value 1.5); expected longstr"),
    (bytearray(b"all"), 'Invalid x-match field type binary (value <<"all">>); expected longstr'),
]


@pytest.mark.parametrize(("value", "text"), INVALID)
def test_validate_refuses(value, text):
    x = HeadersExchange("h")
    with pytest.raises(ChannelError) as info:
        x.validate_binding("", {"x-match": value, "a": 1})
    err = info.value
    assert err.reply_code == ReplyCode.PRECONDITION_FAILED == 406
    assert err.text == text
    assert err.reply_text == "PRECONDITION_FAILED - " + text


def test_unvalidated_bad_mode_falls_back_to_all():
    x = HeadersExchange("h")
    q = Dest("q")
    x.bind(Binding("h", q, "", {"x-match": "bogus", "a": 1, "x-y": 2}))
    assert list(x.route("", lambda: {"a": 1})) == [q]
    assert list(x.route("", lambda: {"a": 2})) == []


def test_headers_not_fetched_without_bindings():
    x = HeadersExchange("h")

    def boom():
        raise AssertionError("headers decoded for nothing")

    assert list(x.route("rk", boom)) == []
    q = Dest("q")
    b = Binding("h", q, "", {"a": 1})
    x.bind(b)
    x.unbind(b)
    assert list(x.route("rk", boom)) == []


def test_routing_key_is_ignored():
    x = HeadersExchange("h")
    q = Dest("q")
    x.bind(Binding("h", q, "some.key", {"a": 1}))
    assert list(x.route("another", lambda: {"a": 1})) == [q]


def test_bind_unbind_remove_destination():
    x = HeadersExchange("h")
    q1, q2 = Dest("q1"), Dest("q2")
    b_all = Binding("h", q1, "", {"x-match": "all", "a": 1})
    b_any = Binding("h", q1, "", {"x-match": "any", "b": 2})
    assert x.bind(b_all) is True
    assert x.bind(Binding("h", q1, "", {"a": 1, "x-match": "all"})) is False  # same table, other order
    assert x.bind(b_any) is True  # same destination, other arguments: a binding of its own
    assert x.bind(Binding("h", q2, "", {})) is True
    assert len(x.bindings) == 3

    def route(headers):
        return {d.name for d in x.route("", lambda: headers)}

    assert route({"a": 1}) == {"q1", "q2"}
    assert route({"b": 2}) == {"q1", "q2"}
    assert route(None) == {"q2"}
    assert x.unbind(Binding("h", q1, "", {"x-match": "all", "a": 1})) is b_all
    assert route({"a": 1}) == {"q2"}
    assert route({"b": 2}) == {"q1", "q2"}
    assert x.unbind(b_all) is None
    assert [b.arguments for b in x.remove_destination(q2)] == [{}]
    assert route(None) == set()
    assert route({"b": 2}) == {"q1"}
    assert x.remove_destination(q1) == [b_any]
    assert route({"b": 2}) == set()
    assert not x.has_bindings()


def test_headerless_answer_follows_changes():
    x = HeadersExchange("h")
    q1, q2 = Dest("q1"), Dest("q2")
    x.bind(Binding("h", q1, "", {"x-match": "all"}))
    assert list(x.route("", lambda: None)) == [q1]
    b2 = Binding("h", q2, "", {"x-match": "all", "x-any": 1})
    x.bind(b2)
    assert {d.name for d in x.route("", lambda: {})} == {"q1", "q2"}
    x.unbind(b2)
    assert list(x.route("", lambda: None)) == [q1]


def test_exchange_destination():
    x = HeadersExchange("h")
    e = Dest("e")
    e.is_exchange = True
    x.bind(Binding("h", e, "", {"k": "v"}))
    assert list(x.route("", lambda: {"k": "v"})) == [e]


def test_binding_identity_tells_a_float_from_an_int_of_the_same_value():
    """{"a": 1} and {"a": 1.0} are two bindings in RabbitMQ (long vs double), one key each here too."""
    ex = HeadersExchange("h")
    dest = Dest("q")
    assert ex.bind(Binding("h", dest, "", {"x-match": "any", "a": 1}))
    assert ex.bind(Binding("h", dest, "", {"x-match": "any", "a": 1.0}))
    assert not ex.bind(Binding("h", dest, "", {"x-match": "any", "a": 1}))
    assert Binding("h", dest, "", {"a": True}).key != Binding("h", dest, "", {"a": 1}).key
