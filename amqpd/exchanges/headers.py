"""Headers exchange: match on message headers against binding arguments; the routing key is ignored.

RabbitMQ's rules (rabbit_exchange_type_headers.erl):

* x-match is "all" (the default when absent), "any", "all-with-x" or "any-with-x"; anything else is
  refused at bind time with 406.
* Binding arguments whose names start with "x-" take no part in matching, except with the -with-x
  modes, where only x-match itself is skipped.
* A void (None) binding value asks only that the header be present, whatever its value (even void).
* Otherwise the header must be present with an equal value. Field types are not compared, only the
  decoded values: a longstr equals a byte array holding the same bytes, and all integer widths are
  alike. "all" with nothing left to compare matches every message; "any" then matches none.

The value comparison changed in 3.13. Up to 3.12 it is Erlang's `==`, so the integer 1 equals the float
1.0. From 3.13 (and in 4.x) it is `=:=`, so it does not, and a timestamp header is compared in
milliseconds (mc_amqpl:routing_headers multiplies it by 1000) against a binding value in seconds.
LEGACY_VALUE_MATCH picks the rule; it defaults to 3.12-and-earlier, the broker amqpd is compared against.
Nested tables and arrays compare with their element types and in wire order, in both versions.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, ClassVar

from ..errors import precondition_failed
from ..protocol.framing import erl_binary
from .base import Binding, Destination, Exchange, HeadersGetter

# x-match value -> (must every argument match?, do x- arguments count?)
_MODES = {
    "all": (True, False), "any": (False, False), "all-with-x": (True, True), "any-with-x": (False, True),
}
_MISSING = object()
_VOID = ("void",)
_EMPTY = ("list", ())
# Types whose Python equality is already RabbitMQ's when both sides have the same type: the fast path.
_SIMPLE = frozenset((str, int, bytes, bool, float))
# A table or array never equals a scalar: no need to convert a 100,000-item array to find that out.
_CONTAINERS = frozenset((list, dict))


class HeadersExchange(Exchange):
    type_name = "headers"
    routes_unique = False  # one entry per binding: a queue bound twice can match twice
    # True: RabbitMQ <= 3.12 (`==`, timestamps in seconds). False: RabbitMQ >= 3.13 (`=:=`, see above).
    LEGACY_VALUE_MATCH: ClassVar[bool] = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Binding.key -> (destination, match all?, items); items are (name, raw value, comparable value,
        # void?, type for the fast path or None), the x-match/x- filtering already done.
        self._entries: dict[tuple, tuple] = {}
        # Both rebuilt lazily after a change: the bindings as a tuple to walk, and the answer for a
        # message without headers, which needs no walk at all.
        self._walk: tuple | None = ()
        self._headerless: tuple[Destination, ...] | None = ()
        self._names: frozenset[str] = frozenset()  # every header name a binding looks at

    def validate_binding(self, routing_key: str, arguments: dict[str, Any]) -> None:
        value = arguments.get("x-match", _MISSING) if arguments else _MISSING
        if value is _MISSING or (type(value) is str and value in _MODES):
            return
        if _amqp_type(value) == "longstr":
            raise precondition_failed(
                f"Invalid x-match field value {_erl_term(value)}; "
                "expected all, any, all-with-x, or any-with-x")
        raise precondition_failed(
            f"Invalid x-match field type {_amqp_type(value)} (value {_erl_term(value)}); expected longstr")

    def _index_add(self, binding: Binding) -> None:
        args = binding.arguments or {}
        mode = args.get("x-match", "all")
        # Bindings made before validation existed fall back to "all" in RabbitMQ too.
        want_all, with_x = _MODES.get(mode, (True, False)) if type(mode) is str else (True, False)
        legacy = self.LEGACY_VALUE_MATCH
        items = []
        for name, raw in args.items():
            if name == "x-match" or (not with_x and name.startswith("x-")):
                continue
            void = raw is None
            simple = type(raw) if type(raw) in _SIMPLE else None
            items.append((name, raw, None if void else _comparable(raw, legacy, 1), void, simple))
        self._entries[binding.key] = (binding.destination, want_all, tuple(items))
        self._walk = self._headerless = None

    def _index_remove(self, binding: Binding) -> None:
        if self._entries.pop(binding.key, None) is not None:
            self._walk = self._headerless = None

    def route(self, routing_key: str, get_headers: HeadersGetter) -> list[Destination] | tuple:
        walk = self._walk
        if walk is None:
            walk = self._walk = tuple(self._entries.values())
            self._headerless = tuple(d for d, want_all, items in walk if want_all and not items)
            self._names = frozenset(item[0] for _d, _a, items in walk for item in items)
        if not walk:
            return ()
        subset = getattr(get_headers, "headers_subset", None)  # a Message: decode only what is looked at
        headers = get_headers() if subset is None else subset(self._names)
        if not headers:
            return self._headerless
        legacy = self.LEGACY_VALUE_MATCH
        ts_scale = 1 if legacy else 1000
        out = []
        for dest, want_all, items in walk:
            if want_all:
                for name, raw, comparable, void, simple in items:
                    value = headers.get(name, _MISSING)
                    if value is _MISSING:
                        break
                    if void:
                        continue
                    if type(value) is simple:
                        if value != raw:
                            break
                    elif (simple is not None and type(value) in _CONTAINERS
                          or _comparable(value, legacy, ts_scale) != comparable):
                        break
                else:
                    out.append(dest)
            else:
                for name, raw, comparable, void, simple in items:
                    value = headers.get(name, _MISSING)
                    if value is _MISSING:
                        continue
                    if void:
                        out.append(dest)
                        break
                    if type(value) is simple:
                        if value == raw:
                            out.append(dest)
                            break
                    elif (simple is None or type(value) not in _CONTAINERS) \
                            and _comparable(value, legacy, ts_scale) == comparable:
                        out.append(dest)
                        break
        return out


# -- values as RabbitMQ sees them ------------------------------------------------------------------------
def _comparable(value: Any, legacy: bool, ts_scale: int) -> Any:
    """A form of a decoded field value whose Python equality is RabbitMQ's equality of the Erlang term.

    ts_scale is 1000 for a 3.13+ header value at the top level (milliseconds there), else 1.
    """
    t = type(value)
    if t is str:
        # longstr and byte array are both Erlang binaries: equal when their bytes are.
        return value.encode("utf-8", "surrogateescape")
    if t is bool:
        # Erlang's true/false are atoms, never equal to 1/0 (Python's True == 1 would say otherwise).
        return ("bool", value)
    if t is int:
        return value
    if t is float:
        # `==` lets 1 equal 1.0; `=:=` does not, so tag floats apart from integers.
        return value if legacy else ("float", value)
    if t is bytes or t is bytearray or t is memoryview:
        return bytes(value)
    if value is None:
        return _VOID
    if isinstance(value, Decimal):
        return ("decimal", *_decimal_parts(value))
    if isinstance(value, datetime.datetime):
        return _timestamp_seconds(value) * ts_scale
    if isinstance(value, (dict, list, tuple)) and not value:
        return _EMPTY  # an empty table and an empty array are both [] to Erlang: equal
    if isinstance(value, dict):
        # Nested tables are {Name, Type, Value} lists, unsorted: order and types both count.
        return ("table", tuple((k, _amqp_type(v), _comparable(v, legacy, 1)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("array", tuple((_amqp_type(v), _comparable(v, legacy, 1)) for v in value))
    return value


def _decimal_parts(value: Decimal) -> tuple[int, int] | tuple[str]:
    # RabbitMQ keeps a decimal as {Scale, Unscaled}: 1.0 and 1.00 are different values.
    sign, digits, exp = value.as_tuple()
    if not isinstance(exp, int):
        return (str(value),)
    unscaled = int("".join(map(str, digits)) or "0")
    if exp > 0:
        unscaled *= 10**exp
        exp = 0
    return (-exp, -unscaled if sign else unscaled)


def _timestamp_seconds(value: datetime.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    seconds = value.timestamp()
    if seconds != int(seconds):
        # pamqp turns a wire value above 2**32 into seconds by dividing by 1000; undo that.
        return round(seconds * 1000)
    return int(seconds)


def _amqp_type(value: Any) -> str:
    """RabbitMQ's name for the field type a decoded value most likely arrived as."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "signedint" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, str):
        return "longstr"
    if isinstance(value, bytes):
        # pamqp hands back a longstr that is not valid UTF-8 as bytes; a byte array comes as bytearray.
        return "longstr"
    if isinstance(value, (bytearray, memoryview)):
        return "binary"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, (list, tuple)):
        return "array"
    return "void"


# -- Erlang's ~p, for error texts -------------------------------------------------------------------------
def _erl_term(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            return f"{mantissa}e{int(exponent)}"
        return text
    if isinstance(value, str):
        return erl_binary(value.encode("utf-8", "surrogateescape"))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return erl_binary(bytes(value))
    if value is None:
        return "undefined"
    if isinstance(value, Decimal):
        parts = _decimal_parts(value)
        return "{" + ",".join(map(str, parts)) + "}"
    if isinstance(value, datetime.datetime):
        return str(_timestamp_seconds(value))
    if isinstance(value, dict):
        return "[" + ",".join(
            "{" + f"{_erl_term(k)},{_amqp_type(v)},{_erl_term(v)}" + "}" for k, v in value.items()) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join("{" + f"{_amqp_type(v)},{_erl_term(v)}" + "}" for v in value) + "]"
    return repr(value)


