"""Property-based tests (hypothesis) for the topic and headers exchange matchers
(amqpd/exchanges/topic.py, amqpd/exchanges/headers.py), each against a small reference written here.

Why properties here: both matchers are optimised (a word trie with memoised states and a route cache for
topic; pre-digested bindings, a fast path and a cached headerless answer for headers), and such code goes
wrong on inputs nobody lists: empty words, "#" next to "#", bindings removed in an unusual order, a value
that is equal in Erlang but not in Python. Everything goes through the exchanges' public API
(validate_binding, bind, unbind, remove_destination, route).

Topic reference: a direct recursive reading of AMQP topic semantics as RabbitMQ applies them. A key is
split on every "."; the empty key has no words, and empty words are real words ("a..b" has three).
In a binding key "*" is exactly one word and "#" zero or more words; in a routing key both are literal.

Headers reference: a line-by-line transcription of headers_match/5 from RabbitMQ 3.10's
rabbit_exchange_type_headers.erl, run on tables parsed from the wire bytes the way rabbit_binary_parser
parses them, so wire types are real, values compare with Erlang's `==`, and an empty table and an empty
array are both the empty list. Binding arguments and headers are encoded by pamqp (as aio-pika clients
do, but keeping the order of nested tables, which pamqp would sort) and reach amqpd through its own
decoders (decode_method, the content header), as they do in the broker. Known differences, kept out of the
random tests on purpose and reported rather than encoded as right:

* a top-level empty table against an empty array: `[] == []` in RabbitMQ, no match in amqpd (see the
  strict xfail test at the end);
* nested integers of the same value but different wire widths (a pika-encoded signedint 1 against a
  pamqp-encoded byte 1) differ in RabbitMQ, but amqpd only sees decoded values; with one encoder on
  both sides, as here, the widths always agree.

All runs are derandomized and keep no example database.
"""

from __future__ import annotations

import datetime
import struct
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pamqp import commands, encode

from amqpd.errors import ChannelError, ReplyCode
from amqpd.exchanges import Binding
from amqpd.exchanges.base import freeze
from amqpd.exchanges.headers import HeadersExchange
from amqpd.exchanges.topic import TopicExchange
from amqpd.message import Message
from amqpd.protocol.methods import decode_method
from amqpd.protocol.properties import F_HEADERS, parse_header

SETTINGS = {"derandomize": True, "database": None, "deadline": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


class Dest:
    is_exchange = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Dest({self.name!r})"


def no_headers():
    raise AssertionError("a topic exchange must not look at headers")


# ============================================================================================== topic

def ref_words(key: str) -> tuple[str, ...]:
    return tuple(key.split(".")) if key else ()


def ref_topic_match(binding: tuple[str, ...], routing: tuple[str, ...]) -> bool:
    if not binding:
        return not routing
    head, rest = binding[0], binding[1:]
    if head == "#":
        # "#" takes no word (go on with the rest) or one word (and is still there for more).
        return ref_topic_match(rest, routing) or (bool(routing) and ref_topic_match(binding, routing[1:]))
    if not routing:
        return False
    return (head == "*" or head == routing[0]) and ref_topic_match(rest, routing[1:])


# Few words, so matches are frequent; "x#" and "*x" are literal words that merely contain a wildcard.
TOPIC_WORDS = ("a", "b", "", "*", "#", "x#", "*x")
NOTABLE_KEYS = ("", "#", "*", "#.#", "a.#.b", "#.*", "*.#", "#.#.#", ".", "..", "a.", ".a", "a..b", "#.a.#")
binding_keys = st.one_of(st.sampled_from(NOTABLE_KEYS), st.lists(st.sampled_from(TOPIC_WORDS), max_size=5).map(".".join))
routing_keys = st.one_of(st.sampled_from(NOTABLE_KEYS + ("a.b", "a.a.b", "b")),
                         st.lists(st.sampled_from(TOPIC_WORDS + ("c",)), max_size=6).map(".".join))


def test_topic_reference_agrees_with_rabbitmq_examples():
    # The reference itself, on RabbitMQ's own routing_SUITE answers (see test_topic_routing.py).
    assert ref_topic_match(ref_words("#"), ref_words(""))
    assert ref_topic_match(ref_words("#.#.#"), ref_words(""))
    assert not ref_topic_match(ref_words("*.#"), ref_words(""))
    assert ref_topic_match(ref_words("a.#.b"), ref_words("a.b"))
    assert ref_topic_match(ref_words("#.b.#"), ref_words("a.b.c"))
    assert not ref_topic_match(ref_words("a.*"), ref_words("a.b.c"))
    assert ref_topic_match(ref_words("*"), ref_words("oneword"))
    assert ref_topic_match(ref_words("*.*"), ref_words("."))
    assert not ref_topic_match(ref_words("*"), ref_words(""))


@settings(max_examples=200, **SETTINGS)
@given(bindings=st.lists(st.tuples(binding_keys, st.integers(0, 4)), max_size=12),
       keys=st.lists(routing_keys, min_size=1, max_size=8))
@example(bindings=[("a.#.b", 0), ("#.#", 1), ("", 2), ("*", 3)], keys=["", "a.b", "a..b", ".", "#"])
def test_topic_routing_matches_the_reference(bindings, keys):
    x = TopicExchange("t")
    dests = [Dest(f"q{i}") for i in range(5)]
    for key, d in bindings:
        x.bind(Binding("t", dests[d], key))
    for rk in keys:
        want = {f"q{d}" for key, d in bindings if ref_topic_match(ref_words(key), ref_words(rk))}
        for _ in range(2):  # the second answer comes from the route cache
            got = x.route(rk, no_headers)
            assert sorted(d.name for d in got) == sorted(want), (rk, bindings)  # no destination twice
        assert {d.name for d in x.match(rk)} == want


topic_ops = st.lists(st.one_of(
    st.tuples(st.just("bind"), binding_keys, st.integers(0, 3), st.booleans()),
    st.tuples(st.just("unbind"), binding_keys, st.integers(0, 3), st.booleans()),
    st.tuples(st.just("unbind-bound"), st.integers(0, 1000)),
    st.tuples(st.just("remove_destination"), st.integers(0, 3)),
    st.tuples(st.just("route"), routing_keys),
), max_size=30)
# Routed after every change, so a route cache answer that outlived a change would show.
PROBE_KEYS = ("", ".", "a", "b", "a.b", "a..b", "b.a.b", "#", "*", "x#.a")


@settings(max_examples=200, **SETTINGS)
@given(ops=topic_ops)
def test_topic_bind_unbind_in_any_order_routes_like_the_reference_over_what_remains(ops):
    x = TopicExchange("t")
    dests = [Dest(f"q{i}") for i in range(4)]
    live: set[tuple[int, str, bool]] = set()  # (destination, binding key, has arguments)

    def check(rk: str) -> None:
        want = {f"q{d}" for d, key, _ in live if ref_topic_match(ref_words(key), ref_words(rk))}
        got = x.route(rk, no_headers)
        assert sorted(d.name for d in got) == sorted(want), (rk, sorted(live))

    for op in ops:
        if op[0] == "route":
            check(op[1])
            continue
        if op[0] == "unbind-bound":
            if not live:
                continue
            d, key, with_args = sorted(live)[op[1] % len(live)]
            op = ("unbind", key, d, with_args)
        if op[0] in ("bind", "unbind"):
            _, key, d, with_args = op
            # Arguments are part of a binding's identity: same queue and key, another binding.
            binding = Binding("t", dests[d], key, {"v": 1} if with_args else {})
            if op[0] == "bind":
                assert x.bind(binding) is ((d, key, with_args) not in live)
                live.add((d, key, with_args))
            else:
                assert (x.unbind(binding) is not None) is ((d, key, with_args) in live)
                live.discard((d, key, with_args))
        else:
            gone = x.remove_destination(dests[op[1]])
            assert sorted((b.routing_key, bool(b.arguments)) for b in gone) == \
                sorted((key, a) for d, key, a in live if d == op[1])
            live = {b for b in live if b[0] != op[1]}
        for rk in PROBE_KEYS:
            check(rk)
    if not live:
        # Unbinding prunes the trie: nothing is left for later walks to visit.
        assert not x._root.children and not x._root.dests


# ============================================================================================ headers
# -- the reference: RabbitMQ 3.10, rabbit_binary_parser + rabbit_exchange_type_headers -------------------

def bin_(b: bytes) -> tuple:
    return ("bin", bytes(b))


def num(n) -> tuple:
    # Erlang's == compares an integer and a float by value, as Python's == does.
    return ("num", n)


def atom(name: str) -> tuple:
    return ("atom", name)


_FIXED = {"b": (">b", "byte"), "B": (">B", "unsignedbyte"), "s": (">h", "short"), "u": (">H", "unsignedshort"),
          "I": (">i", "signedint"), "i": (">I", "unsignedint"), "l": (">q", "long"), "L": (">q", "long"),
          "d": (">d", "double"), "f": (">f", "float"), "T": (">Q", "timestamp")}


def erl_value(buf: bytes, pos: int) -> tuple[str, tuple, int]:
    """(type, Erlang term, next position) of one field value, as rabbit_binary_parser reads it."""
    code = chr(buf[pos])
    pos += 1
    if code in _FIXED:
        fmt, name = _FIXED[code]
        (value,) = struct.unpack_from(fmt, buf, pos)
        return name, num(value), pos + struct.calcsize(fmt)
    if code == "t":
        return "bool", atom("true" if buf[pos] else "false"), pos + 1
    if code == "D":
        scale, value = struct.unpack_from(">BI", buf, pos)
        return "decimal", ("tuple", (num(scale), num(value))), pos + 5
    if code == "V":
        return "void", atom("undefined"), pos
    (size,) = struct.unpack_from(">I", buf, pos)
    data = buf[pos + 4 : pos + 4 + size]
    pos += 4 + size
    if code == "S":
        return "longstr", bin_(data), pos
    if code == "x":
        return "binary", bin_(data), pos
    if code == "F":
        return "table", ("list", tuple(("tuple", (bin_(k), atom(t), v)) for k, t, v in erl_table(data))), pos
    if code == "A":
        items = []
        i = 0
        while i < len(data):
            t, v, i = erl_value(data, i)
            items.append(("tuple", (atom(t), v)))
        return "array", ("list", tuple(items)), pos
    raise AssertionError(f"field type {code!r} not produced by the encoder")


def erl_table(buf: bytes) -> list[tuple[bytes, str, tuple]]:
    """A field table as rabbit_binary_parser:parse_table returns it: [{Name, Type, Value}] in wire order."""
    out = []
    pos = 0
    while pos < len(buf):
        n = buf[pos]
        name = bytes(buf[pos + 1 : pos + 1 + n])
        t, v, pos = erl_value(buf, pos + 1 + n)
        out.append((name, t, v))
    return out


def wire_value(value) -> bytes:
    """One field value as pamqp encodes it (same type for the same value), except that tables keep their
    order: pamqp sorts table keys, and the order of a nested table matters to RabbitMQ."""
    if isinstance(value, dict):
        data = wire_table(value)
        return b"F" + struct.pack(">I", len(data)) + data
    if isinstance(value, list):
        data = b"".join(map(wire_value, value))
        return b"A" + struct.pack(">I", len(data)) + data
    return encode.encode_table_value(value)


def wire_table(table: dict) -> bytes:
    """A field table's octets, without the length prefix, fields in the dict's order."""
    return b"".join(encode.short_string(name) + wire_value(value) for name, value in table.items())


def parse_x_match(args: list) -> str:
    for name, t, v in args:  # rabbit_misc:table_lookup: the first entry with that name
        if name == b"x-match":
            if t == "longstr" and v[1] in (b"all", b"any", b"all-with-x", b"any-with-x"):
                return v[1].decode().replace("-", "_")
            return "all"  # legacy: bindings made before x-match was validated
    return "all"


def ref_headers_match(args: list, data: list) -> bool:
    """headers_match/2 and /5 of rabbit_exchange_type_headers.erl (3.10), clause by clause."""
    args = sorted(args, key=lambda f: f[0])  # rabbit_binding sorts arguments...
    data = sorted(data, key=lambda f: f[0])  # ...and route/2 the headers (lists:keysort)
    mk = parse_x_match(args)
    all_match, any_match = True, False
    p, d = args, data
    while True:
        if not all_match and mk in ("all", "all_with_x"):
            return False
        if any_match and mk in ("any", "any_with_x"):
            return True
        if not p:
            return all_match if mk in ("all", "all_with_x") else any_match
        pk, pt, pv = p[0]
        if pk == b"x-match":
            p = p[1:]
        elif pk.startswith(b"x-") and mk not in ("all_with_x", "any_with_x"):
            p = p[1:]
        elif not d:
            p, all_match = [], False
        elif pk > d[0][0]:
            d = d[1:]
        elif pk < d[0][0]:
            p, all_match = p[1:], False
        elif pt == "void":
            p, d, any_match = p[1:], d[1:], True
        elif pv == d[0][2]:
            p, d, any_match = p[1:], d[1:], True
        else:
            p, d, all_match = p[1:], d[1:], False


def ref_validate(args: list) -> bool:
    for name, t, v in args:
        if name == b"x-match":
            return t == "longstr" and v[1] in (b"all", b"any", b"all-with-x", b"any-with-x")
    return True


# -- values -------------------------------------------------------------------------------------------

def _ts(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


# Small pools, so that equal and nearly equal values (1, 1.0, True, "1", bytearray(b"1")) meet often.
scalars = st.sampled_from((
    None, True, False, 0, 1, 2, -1, 300, 70_000, 2**40, 0.0, -0.0, 1.0, 1.5, 2.0,
    "", "a", "1", "all", bytearray(b""), bytearray(b"a"), bytearray(b"1"),
    Decimal("1"), Decimal("1.0"), Decimal("-0.25"), _ts(0), _ts(1), _ts(2),
))
HEADER_NAMES = ("a", "b", "x", "x-", "x-a", "x-b", "x-match", "xa")
nested = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(("k", "l")), inner, max_size=2)), max_leaves=4)
# Top level: void often (it means "present, any value"), and no empty array, the one known divergence
# (see the module docstring and the xfail test).
top_values = st.one_of(
    st.none(),
    # the values whose equality across types is most at stake
    st.sampled_from((True, False, 0, 1, 1.0, -0.0, "1", "a", bytearray(b"a"), Decimal("1"), _ts(1))),
    scalars,
    nested.filter(lambda v: v != []),
    # two fields or elements, so that the same table or array in another order (near()) comes up
    st.fixed_dictionaries({"k": scalars, "l": scalars}),
    st.lists(scalars, min_size=2, max_size=2),
)


def near(value):
    """Values like `value` that RabbitMQ's == may or may not take for it: another type, a neighbour,
    the same table in another order."""
    if value is None:
        return [0, "", False]
    if isinstance(value, bool):
        return [not value, int(value)]
    if isinstance(value, int):
        return [float(value), value + 1, -value, *([bool(value)] if value in (0, 1) else []),
                *([_ts(value)] if 0 <= value < 2**31 else [])]
    if isinstance(value, float):
        return [int(value) if value.is_integer() else value + 1, -value, value + 1]
    if isinstance(value, str):
        return [bytearray(value.encode()), value + "a", value.upper()]
    if isinstance(value, bytearray):
        return [value.decode("latin-1"), bytearray(b"x") + value]
    if isinstance(value, Decimal):
        return [value.quantize(Decimal("0.01")), int(value) if value == int(value) else value + 1]
    if isinstance(value, datetime.datetime):
        return [int(value.timestamp()), _ts(int(value.timestamp()) + 1)]
    if isinstance(value, dict):
        return [dict(reversed(value.items())), {k: near(v)[0] for k, v in value.items()}]
    return [list(reversed(value)), [near(v)[0] for v in value] or [None]]

header_tables = st.dictionaries(st.sampled_from(HEADER_NAMES), top_values, max_size=5)
# x-match: absent (None), a mode, or (wrapped in a list) a value validate_binding must refuse.
x_match = st.sampled_from(("any", "all", "any-with-x", "all-with-x", None, "any", "any-with-x",
                           ["none"], ["ALL"], [""], [1], [None], [bytearray(b"any")], [True]))


@st.composite
def binding_args(draw) -> dict:
    # Names without "x-" twice as often: only those take part in the plain all/any modes.
    names = st.sampled_from(("a", "a", "b", "b", "x", "xa", "x-", "x-a", "x-b"))
    args = draw(st.dictionaries(names, top_values, max_size=4))
    mode = draw(x_match)
    if mode is not None:
        value = mode[0] if isinstance(mode, list) else mode  # a list marks an invalid x-match value
        # Where x-match sits among the arguments must not matter.
        items = list(args.items())
        items.insert(draw(st.integers(0, len(items))), ("x-match", value))
        args = dict(items)
    return args


# -- the broker side: what amqpd decodes from the wire ---------------------------------------------------

def decoded_binding_arguments(args: dict) -> dict:
    """The arguments as amqpd gets them: decoded from a queue.bind frame payload."""
    table = wire_table(args)
    payload = (struct.pack(">IH", commands.Queue.Bind.index, 0) + encode.short_string("q") + encode.short_string("h")
               + encode.short_string("") + b"\x00" + struct.pack(">I", len(table)) + table)
    return decode_method(payload).arguments


def message_with_headers(headers: dict | None) -> Message:
    """A message as amqpd assembles it; it is its own headers getter (exchanges/base.py)."""
    payload = struct.pack(">HHQH", 60, 0, 0, 0 if headers is None else F_HEADERS)
    if headers is not None:
        table = wire_table(headers)
        payload += struct.pack(">I", len(table)) + table
    return Message("h", "", payload, b"", parse_header(payload)[3])


@st.composite
def headers_like(draw, args: dict) -> dict:
    """Headers made from a binding's arguments, so that they often match or nearly do: the same fields
    with one value changed to a near one (an "all" binding then hinges on that one comparison), that one
    field alone (so does an "any" binding), or each field kept, dropped, changed or replaced at random."""
    if args and draw(st.booleans()):
        name = draw(st.sampled_from(sorted(args)))
        value = draw(st.sampled_from([args[name], *near(args[name])]))
        if draw(st.booleans()):
            return {**args, name: value}
        return {name: value}
    out = {}
    for name, value in args.items():
        how = draw(st.sampled_from(("keep", "keep", "keep", "drop", "near", "replace")))
        if how == "keep":
            out[name] = value
        elif how == "near":
            out[name] = draw(st.sampled_from(near(value)))
        elif how == "replace":
            out[name] = draw(top_values)
    out.update(draw(st.dictionaries(st.sampled_from(HEADER_NAMES), top_values, max_size=2)))
    return out


def check_headers_routing(bindings: list[dict], messages: list[dict | None]) -> None:
    x = HeadersExchange("h")
    refs = []
    for i, args in enumerate(bindings):
        wire = erl_table(wire_table(args))
        decoded = decoded_binding_arguments(args)
        if ref_validate(wire):
            x.validate_binding("", decoded)
        else:
            with pytest.raises(ChannelError) as refused:
                x.validate_binding("", decoded)
            assert refused.value.reply_code == ReplyCode.PRECONDITION_FAILED
        # Bound even when refused: such bindings exist in old definitions, and RabbitMQ reads them as "all".
        x.bind(Binding("h", Dest(f"b{i}"), "", decoded))
        refs.append(wire)
    for headers in messages:
        data = erl_table(wire_table(headers)) if headers is not None else []
        want = Counter(f"b{i}" for i, wire in enumerate(refs) if ref_headers_match(wire, data))
        got = Counter(d.name for d in x.route("ignored", message_with_headers(headers)))
        assert got == want, (headers, bindings)


@settings(max_examples=250, **SETTINGS)
@given(bindings=st.lists(binding_args(), min_size=1, max_size=6), data=st.data())
def test_headers_routing_matches_rabbitmq_3_10(bindings, data):
    # Headers made from each binding, or few would match at all; then any headers.
    messages = [data.draw(headers_like(args), f"like b{i}") for i, args in enumerate(bindings)]
    messages += data.draw(st.lists(st.none() | header_tables, max_size=3), "others")
    check_headers_routing(bindings, messages)


@pytest.mark.parametrize(("bindings", "messages"), [
    ([{"x-match": "any", "a": None}, {"a": 1}, {"x-match": "all-with-x", "x-a": "1"}],
     [{"a": None}, {"a": 1.0}, {"x-a": bytearray(b"1")}, {"a": True}, None, {}]),
    # equality across types, and tables in another order
    ([{"a": False}, {"a": True}, {"a": 1}, {"a": 0}, {"a": "1"}, {"a": 1.5}, {"a": {"k": 1, "l": 2}},
      {"a": [1, "x"]}, {"a": _ts(1)}, {"a": Decimal("1")}],
     [{"a": True}, {"a": False}, {"a": 1}, {"a": 0}, {"a": 1.0}, {"a": -0.0}, {"a": bytearray(b"1")},
      {"a": {"l": 2, "k": 1}}, {"a": {"k": 1, "l": 2}}, {"a": ["x", 1]}, {"a": [1, "x"]}, {"a": _ts(1)},
      {"a": Decimal("1.0")}, {"a": Decimal("1")}]),
    ([{"x-match": "all"}, {"x-match": "any"}, {"x-match": "any-with-x"}, {"x-a": 1}, {"x-match": "none"}],
     [None, {"x-a": 2}, {"x-match": "any"}]),
])
def test_headers_routing_notable_cases(bindings, messages):
    check_headers_routing(bindings, messages)


headers_ops = st.lists(st.one_of(
    st.tuples(st.just("bind"), st.integers(0, 4), st.integers(0, 2)),
    st.tuples(st.just("unbind"), st.integers(0, 4), st.integers(0, 2)),
    st.tuples(st.just("remove_destination"), st.integers(0, 2)),
    st.tuples(st.just("route"), st.none() | header_tables),
), max_size=25)


# Routed after every change, so that a cached answer (the one for headerless messages) that outlived a
# change would show.
HEADER_PROBES = (None, {}, {"a": 1}, {"a": 1, "b": "a"}, {"x-a": None})


@settings(max_examples=200, **SETTINGS)
@given(pool=st.lists(binding_args(), min_size=1, max_size=5,
                     # Distinct as amqpd keys bindings, hence distinct for RabbitMQ too (which is stricter):
                     # binding identity has its own notes in the report, it is not what this test is about.
                     unique_by=lambda a: freeze(decoded_binding_arguments(a))),
       ops=headers_ops)
def test_headers_bind_unbind_in_any_order_routes_like_the_reference_over_what_remains(pool, ops):
    x = HeadersExchange("h")
    dests = [Dest(f"q{i}") for i in range(3)]
    live: set[tuple[int, int]] = set()  # (pool index, destination)

    def check(headers: dict | None) -> None:
        data = erl_table(wire_table(headers)) if headers is not None else []
        want = Counter(f"q{d}" for i, d in live if ref_headers_match(erl_table(wire_table(pool[i])), data))
        got = Counter(q.name for q in x.route("", message_with_headers(headers)))
        assert got == want, (headers, sorted(live))

    for op in ops:
        if op[0] in ("bind", "unbind"):
            i, d = op[1] % len(pool), op[2]
            binding = Binding("h", dests[d], "", decoded_binding_arguments(pool[i]))
            if op[0] == "bind":
                assert x.bind(binding) is ((i, d) not in live)
                live.add((i, d))
            else:
                assert (x.unbind(binding) is not None) is ((i, d) in live)
                live.discard((i, d))
        elif op[0] == "remove_destination":
            x.remove_destination(dests[op[1]])
            live = {(i, d) for i, d in live if d != op[1]}
        else:
            check(op[1])
            continue
        for headers in HEADER_PROBES:
            check(headers)
    for headers in HEADER_PROBES:
        check(headers)


# -- the reference itself, on RabbitMQ's own exchanges_SUITE cases ---------------------------------------

def test_headers_reference_agrees_with_rabbitmq_examples():
    def ref(args, headers):
        return ref_headers_match(erl_table(wire_table(args)), erl_table(wire_table(headers or {})))

    assert ref({"x-match": "all", "foo": "bar", "fuu": "ber"}, {"foo": "bar", "fuu": "ber"})
    assert not ref({"x-match": "all", "foo": "bar", "fuu": "ber"}, {"foo": "bar"})
    assert ref({"x-match": "any", "foo": "bar", "fuu": "ber"}, {"foo": "bar"})
    assert not ref({"x-match": "any", "foo": "bar"}, None)
    assert ref({}, None) and not ref({"x-match": "any"}, {"a": 1})
    assert ref({"x-match": "all", "x-foo": "bar"}, None)
    assert not ref({"x-match": "all-with-x", "x-foo": "bar"}, None)
    assert ref({"x-match": "any-with-x", "x-foo": "bar"}, {"x-foo": "bar"})
    assert ref({"a": None}, {"a": 5}) and not ref({"a": None}, {"b": 5})
    assert ref({"a": 1}, {"a": 1.0}) and not ref({"a": 1}, {"a": True}) and not ref({"a": 1}, {"a": "1"})
    assert ref({"a": "v"}, {"a": bytearray(b"v")})
    assert not ref({"a": {"k": "v"}}, {"a": {"k": bytearray(b"v")}})  # nested: types count


def test_empty_table_binding_matches_an_empty_array_header_like_rabbitmq():
    """RabbitMQ 3.10 compares the values with ==, and an empty table and an empty array are both []."""
    args, headers = {"a": {}}, {"a": []}
    assert ref_headers_match(erl_table(wire_table(args)), erl_table(wire_table(headers)))
    x = HeadersExchange("h")
    x.bind(Binding("h", Dest("q"), "", decoded_binding_arguments(args)))
    assert [d.name for d in x.route("", message_with_headers(headers))] == ["q"]
