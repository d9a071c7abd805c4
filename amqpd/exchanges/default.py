"""The default exchange (""): a direct exchange implicitly bound to every queue by its name.

It keeps no bindings of its own: routing is a lookup in the vhost's queue table, so declaring or deleting
a queue needs no bookkeeping here. Explicit binds to it are refused with 403 by the vhost before they get
this far; reaching the index methods means a caller bug.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Binding, Destination, Exchange, HeadersGetter


class DefaultExchange(Exchange):
    type_name = "direct"

    def __init__(self, name: str = "", *, lookup: Callable[[str], Destination | None],
                 arguments: dict[str, Any] | None = None) -> None:
        super().__init__(name, durable=True, auto_delete=False, internal=False, arguments=arguments)
        self._lookup = lookup

    def bind(self, binding: Binding) -> bool:
        # Refuse before the base class records the binding, so a misuse cannot leave a phantom entry.
        raise RuntimeError("the default exchange cannot be bound to")

    def _index_add(self, binding: Binding) -> None:
        raise RuntimeError("the default exchange cannot be bound to")

    def _index_remove(self, binding: Binding) -> None:
        raise RuntimeError("the default exchange has no bindings to remove")

    def route(self, routing_key: str, get_headers: HeadersGetter) -> tuple[Destination, ...]:
        q = self._lookup(routing_key)
        return (q,) if q is not None else ()
