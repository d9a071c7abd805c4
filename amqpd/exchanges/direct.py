"""Direct exchange: exact routing-key match."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Binding, Destination, Exchange, HeadersGetter


class DirectExchange(Exchange):
    type_name = "direct"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # routing key -> destinations, each at most once. route() hands this list out as is, so a publish
        # costs one dict lookup and allocates nothing.
        self._routes: dict[str, list[Destination]] = {}
        # (routing key, id(destination)) -> number of bindings (same key, different arguments) behind
        # that single list entry; the entry goes only when the last such binding does.
        self._refs: dict[tuple[str, int], int] = {}

    def _index_add(self, binding: Binding) -> None:
        rk = binding.routing_key
        ref = (rk, id(binding.destination))
        n = self._refs.get(ref, 0)
        self._refs[ref] = n + 1
        if n == 0:
            self._routes.setdefault(rk, []).append(binding.destination)

    def _index_remove(self, binding: Binding) -> None:
        rk = binding.routing_key
        dest = binding.destination
        ref = (rk, id(dest))
        n = self._refs.get(ref, 0) - 1
        if n > 0:
            self._refs[ref] = n
            return
        self._refs.pop(ref, None)
        dests = self._routes.get(rk)
        if dests is None:
            return
        # By identity: destinations may define __eq__, and only this very object is going away.
        for i, d in enumerate(dests):
            if d is dest:
                del dests[i]
                break
        if not dests:
            del self._routes[rk]

    def route(self, routing_key: str, get_headers: HeadersGetter) -> Sequence[Destination]:
        return self._routes.get(routing_key, ())
