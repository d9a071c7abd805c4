"""Queue and exchange arguments: validated and compared in one place, with RabbitMQ's texts.

RabbitMQ validates only the arguments it knows, and on redeclare compares only those (unknown x-args
are stored and ignored); integer widths count as one type class, so 'I' 10 equals 'l' 10.
"""

from __future__ import annotations

import datetime
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


def resource_name(kind: str, name: str, vhost: str) -> str:
    return f"{kind} '{name}' in vhost '{vhost}'"


# -- per-argument validators: return None when fine, or the Erlang-ish error term as text ----------
def _int_check(positive: bool = False, max_value: int | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{{unacceptable_type,{amqp_type(value)}}}"
        if value < 0:
            return f"{{value_negative,{value}}}"
        if positive and value == 0:
            return f"{{value_zero,{value}}}"
        if max_value is not None and value > max_value:
            return f"{{value_too_large,{value},{max_value}}}"
        return None
    return check


def _str_check(allowed: tuple[str, ...] | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{{unacceptable_type,{amqp_type(value)}}}"
        if allowed is not None and value not in allowed:
            return f"{{invalid_value,{_erl(value)}}}"
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
    "x-overflow": _str_check(("drop-head", "reject-publish", "reject-publish-dlx")),
    "x-queue-mode": _str_check(("default", "lazy")),
    "x-queue-type": _str_check(),
    "x-single-active-consumer": _bool_check,
    "x-delivery-limit": _int_check(),
    "x-queue-master-locator": _str_check(("client-local", "min-masters", "random")),
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

EXCHANGE_ARGS: dict[str, Callable[[Any], str | None]] = {
    "alternate-exchange": _str_check(),
}


def validate_queue_args(name: str, vhost: str, args: dict[str, Any], durable: bool, exclusive: bool,
                        auto_delete: bool) -> None:
    res = resource_name("queue", name, vhost)
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
    if qtype != "classic":
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid arg 'x-queue-type' for {res}: {{unsupported_queue_type,{_erl(qtype)}}}")
    for key in UNSUPPORTED_QUEUE_ARGS.intersection(args):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid arg '{key}' for {res}: not supported by amqpd yet")


def validate_exchange_args(name: str, vhost: str, args: dict[str, Any]) -> None:
    res = resource_name("exchange", name, vhost)
    for key, check in EXCHANGE_ARGS.items():
        if key in args:
            err = check(args[key])
            if err is not None:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"invalid arg '{key}' for {res}: {err}")


def _describe(present: bool, value: Any) -> str:
    if not present:
        return "none"
    return f"the value '{_fmt(value)}' of type '{amqp_type(value)}'"


def assert_args_equivalent(kind: str, name: str, vhost: str, current: dict[str, Any],
                           requested: dict[str, Any], keys: Any) -> None:
    """406 if any of keys differs between the existing declaration and the new one."""
    for key in keys:
        in_cur, in_req = key in current, key in requested
        if not in_cur and not in_req:
            continue
        cur, req = current.get(key), requested.get(key)
        if in_cur and in_req and _type_class(cur) == _type_class(req) and cur == req:
            continue
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"inequivalent arg '{key}' for {resource_name(kind, name, vhost)}: "
            f"received {_describe(in_req, req)} but current is {_describe(in_cur, cur)}",
        )


def assert_flag_equivalent(kind: str, name: str, vhost: str, flag: str, current: Any, requested: Any) -> None:
    if current != requested:
        raise ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"inequivalent arg '{flag}' for {resource_name(kind, name, vhost)}: "
            f"received '{_fmt(requested)}' but current is '{_fmt(current)}'",
        )
