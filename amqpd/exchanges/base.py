"""The exchange interface every exchange type implements.

An exchange owns its bindings and answers one question fast: for this routing key (and, for headers
exchanges, these message headers), which destinations? Destinations are queues or other exchanges; the
router (amqpd/router.py) walks exchange-to-exchange hops, so an exchange never recurses itself.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from ..policy import Policy, exchange_alternate

# A destination is a Queue or an Exchange; both have `.name` and `.is_exchange`.
Destination = Any
HeadersGetter = Callable[[], "dict[str, Any] | None"]


INTERNAL_USER = "rmq-internal"  # RabbitMQ's name for the broker itself as the actor


def freeze(value: Any) -> Any:
    """A hashable, order-insensitive (for tables) form of an AMQP field value.

    Binding identity in RabbitMQ is (source, destination, routing key, arguments); arguments are tables,
    which are unhashable, so we key bindings by this frozen form.
    """
    if isinstance(value, dict):
        return ("T", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("A", tuple(freeze(v) for v in value))
    if isinstance(value, (bytearray, memoryview)):
        return ("x", bytes(value))
    if isinstance(value, bool):
        return ("t", value)
    if isinstance(value, float):  # 1.0 == 1 in Python; on the wire (and to RabbitMQ) they differ
        return ("d", value)
    if isinstance(value, Decimal):
        return ("D", str(value))
    return value


@dataclass(eq=False, slots=True)
class Binding:
    source: str
    destination: Destination
    routing_key: str
    arguments: dict[str, Any] = field(default_factory=dict)
    key: tuple = field(init=False)

    def __post_init__(self) -> None:
        self.key = (id(self.destination), self.routing_key, freeze(self.arguments))


class Exchange(abc.ABC):
    """Base class: bookkeeping shared by all types. Subclasses index bindings for routing."""

    type_name: ClassVar[str] = ""
    is_exchange: ClassVar[bool] = True
    # route() never names a destination twice for one key (headers exchanges may: one entry per binding)
    routes_unique: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        durable: bool = False,
        auto_delete: bool = False,
        internal: bool = False,
        arguments: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.durable = durable
        self.auto_delete = auto_delete
        self.internal = internal
        self.arguments: dict[str, Any] = dict(arguments or {})
        # the alternate exchange in effect: the argument, else the policy's (amqpd/policy.py)
        self.alternate: str | None = exchange_alternate(self.arguments, None)
        self.policy: str | None = None  # the name of the policy that applies, for the management API
        self.operator_policy: str | None = None
        # Bindings from this exchange, keyed by Binding.key; insertion ordered.
        self.bindings: dict[tuple, Binding] = {}
        self.to_exchanges = 0  # how many of them lead to another exchange (the router must walk on)
        self.declared_by = INTERNAL_USER  # RabbitMQ's user_who_performed_action
        self.n_in = 0  # published to it, and routed to some queue (amqpd/stats/)
        self.n_out = 0

    # -- binding bookkeeping (shared) -------------------------------------------------------------
    def validate_binding(self, routing_key: str, arguments: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Raise errors.ChannelError (406) if this type refuses such a binding. Default: anything goes."""

    def bind(self, binding: Binding) -> bool:
        """Add a binding; False if an identical one already existed (binding is idempotent)."""
        if binding.key in self.bindings:
            return False
        self.bindings[binding.key] = binding
        self._index_add(binding)
        self.to_exchanges += binding.destination.is_exchange
        return True

    def unbind(self, binding: Binding) -> Binding | None:
        """Remove the binding with the same identity; return it, or None if there was none."""
        existing = self.bindings.pop(binding.key, None)
        if existing is not None:
            self._index_remove(existing)
            self.to_exchanges -= existing.destination.is_exchange
        return existing

    def remove_destination(self, destination: Destination) -> list[Binding]:
        """Drop every binding to destination (it was deleted); return what was removed."""
        gone = [b for b in self.bindings.values() if b.destination is destination]
        for b in gone:
            del self.bindings[b.key]
            self._index_remove(b)
            self.to_exchanges -= b.destination.is_exchange
        return gone

    def has_bindings(self) -> bool:
        return bool(self.bindings)

    def apply_policy(self, policy: Policy | None, operator_policy: Policy | None = None) -> None:
        """The policy (and operator policy) that now apply (rabbit_policy:update_exchange); None: none."""
        self.policy = policy.name if policy is not None else None
        self.operator_policy = operator_policy.name if operator_policy is not None else None
        self.alternate = exchange_alternate(self.arguments, policy)

    # -- type specific ------------------------------------------------------------------------------
    @abc.abstractmethod
    def _index_add(self, binding: Binding) -> None: ...

    @abc.abstractmethod
    def _index_remove(self, binding: Binding) -> None: ...

    @abc.abstractmethod
    def route(self, routing_key: str, get_headers: HeadersGetter) -> Iterable[Destination]:
        """Destinations matching this message. May return an internal collection: callers must not
        mutate it. Duplicates are allowed (the router de-duplicates)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
