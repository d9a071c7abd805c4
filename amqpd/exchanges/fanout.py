"""Fanout exchange: every bound destination, whatever the routing key."""

from __future__ import annotations

from .base import Binding, Destination, Exchange, HeadersGetter


class FanoutExchange(Exchange):
    type_name = "fanout"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # id(destination) -> [destination, number of bindings to it]: a destination bound with several
        # argument tables still receives one copy, and stays until its last binding goes.
        self._dests: dict[int, list] = {}
        # Rebuilt lazily on the first publish after a change, so binding N queues costs O(N), not O(N^2).
        self._snapshot: tuple[Destination, ...] | None = ()

    def _index_add(self, binding: Binding) -> None:
        entry = self._dests.get(id(binding.destination))
        if entry is None:
            self._dests[id(binding.destination)] = [binding.destination, 1]
            self._snapshot = None
        else:
            entry[1] += 1

    def _index_remove(self, binding: Binding) -> None:
        key = id(binding.destination)
        entry = self._dests.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self._dests[key]
            self._snapshot = None

    def route(self, routing_key: str, get_headers: HeadersGetter) -> tuple[Destination, ...]:
        snap = self._snapshot
        if snap is None:
            snap = self._snapshot = tuple(entry[0] for entry in self._dests.values())
        return snap
