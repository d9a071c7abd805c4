"""Exchange types by their AMQP type name.

The default exchange ("") is not a type a client can declare, so it is not in the registry; the vhost
builds it directly (amqpd/exchanges/default.py).
"""

from __future__ import annotations

from .base import Binding, Exchange
from .consistent_hash import ConsistentHashExchange
from .dedup import DedupExchange
from .delayed import DelayedMessageExchange
from .direct import DirectExchange
from .fanout import FanoutExchange
from .headers import HeadersExchange
from .topic import TopicExchange

REGISTRY: dict[str, type[Exchange]] = {
    "direct": DirectExchange,
    "fanout": FanoutExchange,
    "topic": TopicExchange,
    "headers": HeadersExchange,
    # the rabbitmq-delayed-message-exchange plugin's type; the class made depends on x-delayed-type
    "x-delayed-message": DelayedMessageExchange,  # type: ignore[dict-item]
    # the rabbitmq-message-deduplication plugin's type
    "x-message-deduplication": DedupExchange,
    # the rabbitmq_consistent_hash_exchange plugin's type (shipped with RabbitMQ, off by default)
    "x-consistent-hash": ConsistentHashExchange,
}


def exchange_class(type_name: str) -> type[Exchange] | None:
    return REGISTRY.get(type_name)


__all__ = [
    "REGISTRY",
    "Binding",
    "DirectExchange",
    "Exchange",
    "FanoutExchange",
    "HeadersExchange",
    "TopicExchange",
    "exchange_class",
]
