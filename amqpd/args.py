"""Queue and exchange arguments: validated and compared in one place, with RabbitMQ's texts.

RabbitMQ validates only the arguments it knows, and on redeclare compares only those (unknown x-args
are stored and ignored); integer widths count as one type class, so 'I' 10 equals 'l' 10.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .errors import ChannelError, ReplyCode


def amqp_type(value: Any) -> str:
    """RabbitMQ's name for the field type a decoded value most likely had."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "signedint" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, str):
        return "longstr"
    if isinstance(value, float):
        return "double"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    return "void"


def _type_class(value: Any) -> str:
    t = amqp_type(value)
    return "int" if t in ("signedint", "long") else t


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _erl(value: Any) -> str:
    if isinstance(value, str):
        return f'<<"{value}">>'
    return _fmt(value)


_EXPIRATION = re.compile(r"([+-]?[0-9]+)(.*)", re.S)
MAX_EXPIRY = 4294967295


def check_expiration(value: str) -> int:
    """Milliseconds from a message's expiration property; 406 with RabbitMQ's text when invalid."""
    m = _EXPIRATION.fullmatch(value)
    if m is None:
        err = "no_integer"
    elif m.group(2):
        err = f'{{leftover_string,"{m.group(2)}"}}'
    else:
        n = int(m.group(1))
        if n < 0:
            err = f"{{value_negative,{n}}}"
        elif n > MAX_EXPIRY:
            err = f"{{value_too_large,{n}}}"
        else:
            return n
    raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"invalid expiration '{value}': {err}")


def resource_name(kind: str, name: str, vhost: str) -> str:
    return f"{kind} '{name}' in vhost '{vhost}'"


# -- per-argument validators: None when fine, else the error term RabbitMQ 3.10 prints -------------
# (texts checked against RabbitMQ 3.10.8; quoted ones are Erlang strings printed with ~p)
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_check(positive: bool = False, max_value: int | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not _is_int(value):
            return f'"expected integer, got {amqp_type(value)}"'
        if value < 0:
            return f"{{value_negative,{value}}}"
        if positive and value == 0:
            return f"{{value_zero,{value}}}"
        if max_value is not None and value > max_value:
            return f"{{max_value_exceeded,{value}}}"
        return None
    return check


def _str_check(allowed: tuple[str, ...] | None = None, bad_value: str = "") -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{{unacceptable_type,{amqp_type(value)}}}"
        if allowed is not None and value not in allowed:
            return bad_value.format(value=value)
        return None
    return check


def _bool_check(value: Any) -> str | None:
    if not isinstance(value, bool):
        return f"{{unacceptable_type,{amqp_type(value)}}}"
    return None


QUEUE_ARGS: dict[str, Callable[[Any], str | None]] = {
    "x-expires": _int_check(positive=True),
    "x-message-ttl": _int_check(),
    "x-dead-letter-exchange": _str_check(),
    "x-dead-letter-routing-key": _str_check(),
    "x-max-length": _int_check(),
    "x-max-length-bytes": _int_check(),
    "x-max-priority": _int_check(max_value=255),
    "x-overflow": _str_check(("drop-head", "reject-publish", "reject-publish-dlx"), "invalid_overflow"),
    "x-queue-mode": _str_check(("default", "lazy"), "\"unsupported queue mode '{value}'\""),
    "x-queue-type": _str_check(("classic", "quorum", "stream"), "\"unsupported queue type '{value}'\""),
    "x-single-active-consumer": _bool_check,
    "x-delivery-limit": _int_check(),
    "x-max-in-memory-length": _int_check(),
    "x-max-in-memory-bytes": _int_check(),
}

# Arguments amqpd validates but whose behaviour is not built yet. Accepting them silently would make
# a queue behave unlike the one the application asked for, so declare refuses them (and the refusal is
# written down in docs/compatibility.md).
UNSUPPORTED_QUEUE_ARGS = frozenset({
    "x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-max-length",
    "x-max-length-bytes", "x-max-priority", "x-overflow", "x-single-active-consumer", "x-delivery-limit",
    "x-max-in-memory-length", "x-max-in-memory-bytes",
})



def validate_queue_args(name: str, vhost: str, args: dict[str, Any], durable: bool, exclusive: bool,
                        auto_delete: bool) -> None:
    res = resource_name("queue", name, vhost)
    dlx = args.get("x-dead-letter-exchange")
    if "x-dead-letter-exchange" in args and not isinstance(dlx, str):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid type '{amqp_type(dlx)}' for arg 'x-dead-letter-exchange' in {res}")
    for key, check in QUEUE_ARGS.items():
        if key in args:
            err = check(args[key])
            if err is not None:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"invalid arg '{key}' for {res}: {err}")
    qtype = args.get("x-queue-type", "classic")
    if qtype == "stream":
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid arg 'x-queue-type' for {res}: stream queues are not supported by amqpd")
    if qtype == "quorum":
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid arg 'x-queue-type' for {res}: quorum queues are not supported by amqpd yet")
    if "x-delivery-limit" in args:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid arg 'x-delivery-limit' for {res} of queue type rabbit_classic_queue")
    for key in sorted(UNSUPPORTED_QUEUE_ARGS.intersection(args)):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid arg '{key}' for {res}: not supported by amqpd yet")


def validate_exchange_args(name: str, vhost: str, args: dict[str, Any]) -> None:
    ae = args.get("alternate-exchange")
    if "alternate-exchange" in args and not isinstance(ae, str):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid type '{amqp_type(ae)}' for arg 'alternate-exchange' in "
                           f"{resource_name('exchange', name, vhost)}")


def _describe(present: bool, value: Any) -> str:
    if not present:
        return "none"
    return f"the value '{_fmt(value)}' of type '{amqp_type(value)}'"


def assert_args_equivalent(kind: str, name: str, vhost: str, current: dict[str, Any],
                           requested: dict[str, Any], keys: Any) -> None:
    """406 if any of keys differs between the existing declaration and the new one (rabbit_misc's
    assert_args_equivalence: typed form when one side lacks the key, plain values when both have it)."""
    for key in keys:
        in_cur, in_req = key in current, key in requested
        if not in_cur and not in_req:
            continue
        cur, req = current.get(key), requested.get(key)
        if in_cur and in_req:
            if (_type_class(cur) == _type_class(req) and cur == req) or _same_queue_type(key, cur, req):
                continue
            detail = f"received '{_fmt(req)}' but current is '{_fmt(cur)}'"
        else:
            if _same_queue_type(key, cur, req):
                continue
            detail = f"received {_describe(in_req, req)} but current is {_describe(in_cur, cur)}"
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"inequivalent arg '{key}' for {resource_name(kind, name, vhost)}: {detail}")


def _same_queue_type(key: str, cur: Any, req: Any) -> bool:
    # A queue declared without x-queue-type is a classic queue; RabbitMQ treats an explicit
    # 'classic' as equivalent to the absent argument (rabbitmq-common#341).
    return key == "x-queue-type" and (cur or "classic") == (req or "classic")


def assert_flag_equivalent(kind: str, name: str, vhost: str, flag: str, current: Any, requested: Any) -> None:
    if current != requested:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"inequivalent arg '{flag}' for {resource_name(kind, name, vhost)}: "
            f"received '{_fmt(requested)}' but current is '{_fmt(current)}'",
        )
