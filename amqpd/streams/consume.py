"""What a 0-9-1 client may do with a stream, answered as RabbitMQ 3.10's rabbit_stream_queue answers:
consumers need a prefetch and manual acks, basic.get is not supported, and x-stream-offset must be
one of the forms streams/offsets.py reads."""

from __future__ import annotations

import time
from typing import Any

from ..args import _erl, amqp_type, resource_name
from ..errors import ChannelError, ConnectionError, ReplyCode
from . import offsets


def check_consume(ch: Any, q: Any, no_ack: bool, args: dict[str, Any]) -> None:
    res = resource_name("queue", q.name, ch.vhost.name)
    if no_ack:
        raise ConnectionError(ReplyCode.NOT_IMPLEMENTED,
                              f"automatic acknowledgement not supported by stream queues {res}", 60, 20)
    if not ch.prefetch_default:  # a global (channel-wide) prefetch alone does not do, as in RabbitMQ
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"consumer prefetch count is not set for '{res}'",
                           60, 20)
    if "x-stream-offset" in args:
        value = args["x-stream-offset"]
        try:
            if value is None:
                raise ValueError("void")
            offsets.parse_start(value, time.time())
        except ValueError:
            # RabbitMQ 3.10 answers a numeric string with this text and crashes (541) on the others
            shown = "undefined" if value is None else _erl(value)
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"invalid arg 'x-stream-offset' for {res}: "
                               f"{{invalid_stream_offset_arg,{{{amqp_type(value)},{shown}}}}}", 60, 20) from None
    reader = args.get("x-stream-reader")
    if reader is not None and not (isinstance(reader, (str, bytes)) and 0 < len(reader) <= 255):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid x-stream-reader for {res}: expected a name of 1 to 255 characters", 60, 20)
    filters = args.get("x-stream-filter")
    if filters is not None and not (isinstance(filters, (str, bytes)) or (
            isinstance(filters, list) and filters and all(isinstance(v, (str, bytes)) for v in filters))):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid x-stream-filter for {res}: expected a string or an array of strings", 60, 20)
    unfiltered = args.get("x-stream-match-unfiltered")
    if unfiltered is not None and not isinstance(unfiltered, bool):
        raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                           f"invalid x-stream-match-unfiltered for {res}: expected a boolean", 60, 20)


def refuse_get(ch: Any, q: Any) -> None:
    raise ConnectionError(ReplyCode.NOT_IMPLEMENTED,
                          f"basic.get not supported by stream queues {resource_name('queue', q.name, ch.vhost.name)}",
                          60, 70)


def refuse_purge(q: Any, vhost: str) -> None:
    raise ConnectionError(ReplyCode.NOT_IMPLEMENTED,
                          f"queue.purge not supported by stream queues {resource_name('queue', q.name, vhost)}",
                          50, 30)


def refuse_settle(taken: list[Any], vhost: str, class_method: tuple[int, int]) -> None:
    """basic.nack and basic.reject of a stream delivery: RabbitMQ 3.10 closes the connection."""
    for _tag, entry, _consumer in taken:
        q = entry.queue
        if q.stream:
            raise ConnectionError(ReplyCode.NOT_IMPLEMENTED, "basic.nack and basic.reject not supported by stream "
                                  f"queues {resource_name('queue', q.name, vhost)}", *class_method)


def refuse_recover(ch: Any, class_method: tuple[int, int]) -> None:
    """basic.recover with stream deliveries unacked: RabbitMQ 3.10 crashes the connection (541); amqpd
    says why instead."""
    for entry, _consumer in ch.unacked.values():
        if entry.queue.stream:
            res = resource_name("queue", entry.queue.name, ch.vhost.name)
            raise ConnectionError(ReplyCode.NOT_IMPLEMENTED, f"basic.recover not supported by stream queues {res}",
                                  *class_method)
