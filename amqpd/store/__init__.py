"""The store interface queues and vhosts write through.

The broker calls these hooks for durable things only; which backend answers is decided once at boot.
NullStore keeps nothing (transient-only operation and unit tests); the RocksDB store lives beside it.
"""

from __future__ import annotations

from typing import Any, Protocol


class Store(Protocol):
    def add_message(self, queue: Any, entry: Any) -> None: ...
    def remove_message(self, queue: Any, entry: Any) -> None: ...
    def mark_redelivered(self, queue: Any, entries: list[Any]) -> None: ...
    def add_queue(self, queue: Any) -> None: ...
    def delete_queue(self, queue: Any) -> None: ...
    def add_exchange(self, vhost: str, exchange: Any) -> None: ...
    def delete_exchange(self, vhost: str, exchange: Any) -> None: ...
    def add_binding(self, vhost: str, binding: Any) -> None: ...
    def remove_binding(self, vhost: str, binding: Any) -> None: ...


class NullStore:
    """Keeps nothing."""

    def add_message(self, queue: Any, entry: Any) -> None:
        pass

    def remove_message(self, queue: Any, entry: Any) -> None:
        pass

    def mark_redelivered(self, queue: Any, entries: list[Any]) -> None:
        pass

    def add_queue(self, queue: Any) -> None:
        pass

    def delete_queue(self, queue: Any) -> None:
        pass

    def add_exchange(self, vhost: str, exchange: Any) -> None:
        pass

    def delete_exchange(self, vhost: str, exchange: Any) -> None:
        pass

    def add_binding(self, vhost: str, binding: Any) -> None:
        pass

    def remove_binding(self, vhost: str, binding: Any) -> None:
        pass
