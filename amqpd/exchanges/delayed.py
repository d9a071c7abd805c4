"""x-delayed-message: the exchange type of the rabbitmq-delayed-message-exchange plugin.

Declared with `x-delayed-type` (direct, fanout, topic or headers), it routes like that type, except that
a message with a positive `x-delay` header (milliseconds) is handed to the broker's schedule (amqpd/delays.py)
and routed only when due; routing then finds no queue now, so a mandatory publish is returned, as with the
plugin. When it is due, the message is routed with `x-delay` set to minus the delay, which is also what
keeps it from being delayed again. A delay that is not an integer (strings and floats are converted as the
plugin does), not positive or above 2^32-1 ms means no delay.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..errors import ChannelError, ConnectionError, ReplyCode
from .base import Destination, Exchange, HeadersGetter
from .direct import DirectExchange
from .fanout import FanoutExchange
from .headers import HeadersExchange
from .topic import TopicExchange

TYPE_NAME = "x-delayed-message"
MAX_DELAY = 4294967295  # ms: the plugin's (Erlang's timer) limit
DELAY_FIELD = b"\x07x-delay"
BASE_TYPES: dict[str, type[Exchange]] = {
    "direct": DirectExchange, "fanout": FanoutExchange, "topic": TopicExchange, "headers": HeadersExchange,
}


def delay_of(headers: dict[str, Any] | None) -> int | None:
    """The x-delay of a message in ms, or None when it is not to be delayed."""
    value = (headers or {}).get("x-delay")
    if isinstance(value, bool):
        return None
    if isinstance(value, (bytes, str)):
        try:
            value = int(value)
        except ValueError:
            return None
    elif isinstance(value, (float, Decimal)):
        value = int(value)
    if not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_DELAY else None


class _Delayed:
    """Mixed in before the routing type: delays what asks for it, routes the rest as that type does."""

    type_name = TYPE_NAME
    delays_messages = True

    # set by the vhost that owns it: the broker's schedule, and the vhost's name for the records
    scheduler: Any = None
    vhost_name = ""

    def route(self, routing_key: str, get_headers: HeadersGetter) -> Iterable[Destination]:
        msg = get_headers  # the router passes the message itself (it is its own headers getter)
        scheduler = self.scheduler
        if scheduler is not None and getattr(msg, "headers_mention", None) is not None \
                and msg.headers_mention(DELAY_FIELD):
            delay = delay_of(msg.headers)
            if delay is not None:
                scheduler.delay(self, msg, delay)
                return ()
        return super().route(routing_key, get_headers)  # type: ignore[misc]


_CLASSES: dict[type[Exchange], type[Exchange]] = {}


def delayed_class(base: type[Exchange]) -> type[Exchange]:
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type("Delayed" + base.__name__, (_Delayed, base), {"type_name": TYPE_NAME})
    return cls


class DelayedMessageExchange:
    """The registry's entry for the type: which class it makes depends on x-delayed-type."""

    type_name = TYPE_NAME

    def __new__(cls, name: str, durable: bool = False, auto_delete: bool = False, internal: bool = False,
                arguments: dict[str, Any] | None = None) -> Any:  # type: ignore[misc]
        kind = (arguments or {}).get("x-delayed-type")
        if isinstance(kind, bytes):
            kind = kind.decode("utf-8", "replace")
        if not isinstance(kind, str):
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               "Invalid argument, 'x-delayed-type' must be an existing exchange type")
        base = BASE_TYPES.get(kind)
        if base is None:  # the plugin's rabbit_exchange:check_type
            raise ConnectionError(ReplyCode.COMMAND_INVALID, f"unknown exchange type '{kind}'")
        return delayed_class(base)(name, durable=durable, auto_delete=auto_delete, internal=internal,
                                   arguments=arguments)
