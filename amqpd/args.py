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


class Long(int):
    """An integer RabbitMQ holds as a ``long`` whatever its size: a JSON integer from the HTTP API (the
    management plugin types them so, and its error texts name that type). Integers decoded from AMQP
    frames stay plain ints, named by their size as below."""

    __slots__ = ()


def amqp_type(value: Any) -> str:
    """RabbitMQ's name for the field type a decoded value most likely had."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Long):
        return "long"
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
# They mirror rabbit_amqqueue's check_*_arg functions; a term printed by ~p with a string inside (an
# Erlang list) carries the double quotes, as RabbitMQ's texts do.
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_error(value: Any) -> str | None:
    return None if _is_int(value) else f'"expected integer, got {amqp_type(value)}"'


def _non_neg_int(value: Any, _args: dict) -> str | None:
    err = _int_error(value)
    if err is None and value < 0:
        return f"{{value_negative,{value}}}"
    return err


def _expiry(value: int) -> str | None:
    if value < 0:
        return f"{{value_negative,{value}}}"
    if value > MAX_EXPIRY:
        return f"{{value_too_large,{value}}}"
    return None


def _expires(value: Any, _args: dict) -> str | None:
    err = _int_error(value)
    if err is not None:
        return err
    return f"{{value_zero,{value}}}" if value == 0 else _expiry(value)


def _message_ttl(value: Any, _args: dict) -> str | None:
    return _int_error(value) or _expiry(value)


def _max_priority(value: Any, args: dict) -> str | None:
    err = _non_neg_int(value, args)
    if err is None and value > MAX_PRIORITY:
        return f"{{max_value_exceeded,{value}}}"
    return err


def _non_zero_non_neg_int(value: Any, args: dict) -> str | None:
    err = _non_neg_int(value, args)
    return f"{{value_zero,{value}}}" if err is None and value == 0 else err


def _longstr(value: Any, _args: dict) -> str | None:
    return None if isinstance(value, str) else f"{{unacceptable_type,{amqp_type(value)}}}"


def _dlx_rk(value: Any, args: dict) -> str | None:
    if not isinstance(value, str):
        return f"{{unacceptable_type,{amqp_type(value)}}}"
    return None if "x-dead-letter-exchange" in args else "routing_key_but_no_dlx_defined"


def _one_of(allowed: tuple[str, ...], error: Callable[[str], str]) -> Callable[[Any, dict], str | None]:
    def check(value: Any, _args: dict) -> str | None:
        if not isinstance(value, str):
            return f"{{unacceptable_type,{amqp_type(value)}}}"
        return None if value in allowed else error(value)
    return check


def _bool(value: Any, _args: dict) -> str | None:
    return None if isinstance(value, bool) else f"{{unacceptable_type,{amqp_type(value)}}}"


def _max_age(value: Any, _args: dict) -> str | None:
    """rabbit_amqqueue:check_max_age_arg. RabbitMQ 3.10 crashes (541) on a string it cannot parse;
    amqpd answers that as it answers "0s"."""
    from .streams.offsets import parse_age

    if not isinstance(value, (str, bytes)):
        return f"{{unacceptable_type,{amqp_type(value)}}}"
    age = parse_age(value)
    return None if age else "invalid_max_age"


def _queue_version(value: Any, args: dict) -> str | None:
    err = _non_neg_int(value, args)
    if err is None and value not in (1, 2):
        return f"\"unsupported queue version '{value}'\""
    return err


def _queue_type(value: Any, _args: dict) -> str | None:
    if not isinstance(value, str):
        return f"{{unacceptable_type,{amqp_type(value)}}}"
    return None if value in QUEUE_TYPES else f"\"unsupported queue type '{value}'\""


MAX_PRIORITY = 255
MAX_EXPIRY = 315_360_000_000  # ten years in ms, rabbit_misc:check_expiry
QUEUE_TYPES = ("classic", "quorum", "stream")

# rabbit_amqqueue:declare_args(): the order here is the order RabbitMQ checks (and reports) them in.
DECLARE_ARGS: dict[str, Callable[[Any, dict], str | None]] = {
    "x-expires": _expires,
    "x-message-ttl": _message_ttl,
    "x-dead-letter-exchange": _longstr,
    "x-dead-letter-routing-key": _dlx_rk,
    "x-dead-letter-strategy": _one_of(("at-most-once", "at-least-once"), lambda v: "invalid_dlx_strategy"),
    "x-max-length": _non_neg_int,
    "x-max-length-bytes": _non_neg_int,
    "x-max-in-memory-length": _non_neg_int,
    "x-max-in-memory-bytes": _non_neg_int,
    "x-max-priority": _max_priority,
    "x-overflow": _one_of(("drop-head", "reject-publish", "reject-publish-dlx"), lambda v: "invalid_overflow"),
    "x-queue-mode": _one_of(("default", "lazy"), lambda v: f"\"unsupported queue mode '{v}'\""),
    "x-queue-version": _queue_version,
    "x-single-active-consumer": _bool,
    "x-queue-type": _queue_type,
    "x-quorum-initial-group-size": _non_zero_non_neg_int,
    "x-queue-leader-locator": _one_of(("client-local", "balanced", "random", "least-leaders"),
                                      lambda v: "invalid_queue_locator_arg"),
    "x-max-age": _max_age,
    "x-stream-max-segment-size-bytes": _non_neg_int,
    # amqpd's own (amqpd/retry.py)
    "x-retry-delays": lambda v, _a: _retry().delays_error(v),
    "x-retry-limit": lambda v, _a: _retry().limit_error(v),
}


def _retry() -> Any:
    from . import retry

    return retry

# The arguments each queue type understands (its capabilities() in RabbitMQ 3.10). Only these are
# validated and compared on redeclare; the other types' arguments are refused.
TYPE_ARGS: dict[str, tuple[str, ...]] = {
    "classic": ("x-expires", "x-message-ttl", "x-dead-letter-exchange", "x-dead-letter-routing-key",
                "x-max-length", "x-max-length-bytes", "x-max-priority", "x-overflow", "x-queue-mode",
                "x-queue-version", "x-single-active-consumer", "x-queue-type", "x-queue-master-locator",
                "x-retry-delays", "x-retry-limit"),
    "quorum": ("x-dead-letter-exchange", "x-dead-letter-routing-key", "x-dead-letter-strategy", "x-expires",
               "x-max-length", "x-max-length-bytes", "x-max-in-memory-length", "x-max-in-memory-bytes",
               "x-overflow", "x-single-active-consumer", "x-queue-type", "x-quorum-initial-group-size",
               "x-delivery-limit", "x-message-ttl", "x-queue-leader-locator", "x-retry-delays", "x-retry-limit"),
    "stream": ("x-max-length-bytes", "x-queue-type", "x-max-age", "x-stream-max-segment-size-bytes",
               "x-initial-cluster-size", "x-queue-leader-locator"),
}
ALL_TYPE_ARGS = frozenset(a for args in TYPE_ARGS.values() for a in args)
TYPE_MODULES = {"classic": "rabbit_classic_queue", "quorum": "rabbit_quorum_queue",
                "stream": "rabbit_stream_queue"}

# Kept for callers that compare every known queue argument (redeclare of a classic queue).
QUEUE_ARGS = TYPE_ARGS["classic"]

CONSUME_ARGS = {"classic": ("x-cancel-on-ha-failover", "x-priority", "x-credit"),
                "quorum": ("x-priority", "x-credit"),
                "stream": ("x-priority", "x-credit", "x-stream-offset")}
ALL_CONSUME_ARGS = frozenset({"x-cancel-on-ha-failover", "x-priority", "x-credit", "x-stream-offset"})



def queue_type(args: dict[str, Any]) -> str:
    qtype = args.get("x-queue-type")
    return qtype if isinstance(qtype, str) and qtype in QUEUE_TYPES else "classic"


def check_server_named(args: dict[str, Any]) -> None:
    """rabbit_channel: only classic queues may be server-named."""
    qtype = queue_type(args)
    if qtype != "classic":
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"Cannot declare a server-named queue for type {TYPE_MODULES[qtype]}")


def validate_queue_args(name: str, vhost: str, args: dict[str, Any], durable: bool, exclusive: bool,
                        auto_delete: bool) -> None:
    """A new queue's declaration, checked in RabbitMQ's order: the DLX name's type (rabbit_channel), the
    queue type, the type's own arguments, arguments of other types, then the type's property rules."""
    res = resource_name("queue", name, vhost)

    def fail(text: str) -> ChannelError:
        return ChannelError(ReplyCode.PRECONDITION_FAILED, text)

    dlx = args.get("x-dead-letter-exchange")
    if "x-dead-letter-exchange" in args and not isinstance(dlx, str):
        raise fail(f"invalid type '{amqp_type(dlx)}' for arg 'x-dead-letter-exchange' in {res}")
    if "x-queue-type" in args:
        err = _queue_type(args["x-queue-type"], args)
        if err is not None:
            raise fail(f"invalid arg 'x-queue-type' for {res}: {err}")
    qtype = queue_type(args)
    allowed = TYPE_ARGS[qtype]
    for key, check in DECLARE_ARGS.items():
        if key in allowed and key in args:
            err = check(args[key], args)
            if err is not None:
                raise fail(f"invalid arg '{key}' for {res}: {err}")
    for key in args:
        if key in ALL_TYPE_ARGS and key not in allowed:
            raise fail(f"invalid arg '{key}' for {res} of queue type {TYPE_MODULES[qtype]}")
    if qtype != "classic":
        durable = durable and not exclusive
        for bad, prop in ((auto_delete, "auto-delete"), (exclusive, "exclusive-owner"),
                          (not durable, "non-durable")):
            if bad:
                raise fail(f"invalid property '{prop}' for {res}")


def validate_consume_args(queue_name: str, vhost: str, qtype: str, args: dict[str, Any]) -> None:
    """rabbit_amqqueue:check_consume_arguments."""
    res = resource_name("queue", queue_name, vhost)
    allowed = CONSUME_ARGS.get(qtype, ())
    if "x-priority" in args and "x-priority" in allowed:
        err = _int_error(args["x-priority"])
        if err is not None:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"invalid arg 'x-priority' for {res}: {err}")
    if "x-cancel-on-ha-failover" in args and "x-cancel-on-ha-failover" in allowed:
        err = _bool(args["x-cancel-on-ha-failover"], args)
        if err is not None:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"invalid arg 'x-cancel-on-ha-failover' for {res}: {err}")
    for key in args:
        if key in ALL_CONSUME_ARGS and key not in allowed:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"invalid arg '{key}' for {res} of queue type {TYPE_MODULES[qtype]}")


def validate_exchange_args(name: str, vhost: str, args: dict[str, Any]) -> None:
    ae = args.get("alternate-exchange")
    if "alternate-exchange" in args and not isinstance(ae, str):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid type '{amqp_type(ae)}' for arg 'alternate-exchange' in "
                           f"{resource_name('exchange', name, vhost)}")


def _plain(value: Any) -> str:
    return "none" if value is None else f"'{_fmt(value)}'"


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
        if key == "x-queue-type" and (cur if in_cur else req) == "classic" and not (in_cur and in_req):
            continue  # an absent x-queue-type means classic (rabbit_misc:assert_field_equivalence)
        if in_cur and in_req:
            # Both present: RabbitMQ prints the bare values (rabbit_misc:val/1 of the untyped values).
            raise ChannelError(
                ReplyCode.PRECONDITION_FAILED,
                f"inequivalent arg '{key}' for {resource_name(kind, name, vhost)}: "
                f"received {_plain(req)} but current is {_plain(cur)}",
            )
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
