"""Containers for a queue's ready messages, behind one small interface.

Queue code only ever calls append, requeue, popleft, peek, clear, len(), iteration and reads ``bytes``
(the summed body sizes, which x-max-length-bytes is measured in). Keeping the containers behind that
interface lets a queue pick its ordering once at declare time (FIFO, per-priority FIFO, quorum-style
returns-first) and lets a later disk-paging container slot in without touching dispatch.

Entries are QEntry objects; requeue relies on ``entry.seq`` (position in the queue, assigned at enqueue)
and the priority container on ``entry.priority`` (fixed at enqueue, so it can be persisted with the entry).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any


def _insert_by_seq(dq: deque, entries: list[Any]) -> None:
    """Put entries back where their seq says; entries must be sorted by seq, highest first."""
    for entry in entries:
        seq = entry.seq
        if not dq or seq < dq[0].seq:
            dq.appendleft(entry)
        elif seq > dq[-1].seq:
            dq.append(entry)
        else:
            dq.insert(bisect_left(dq, seq, key=_seq), entry)


def _seq(entry: Any) -> int:
    return entry.seq


class FifoReady:
    """Plain FIFO: what every queue without x-max-priority uses."""

    __slots__ = ("_q", "bytes")

    def __init__(self) -> None:
        self._q: deque[Any] = deque()
        self.bytes = 0

    def append(self, entry: Any) -> None:
        self._q.append(entry)
        self.bytes += entry.msg.body_size

    def requeue(self, entries: Iterable[Any]) -> None:
        """Return entries to their original positions (RabbitMQ classic queue semantics)."""
        entries = sorted(entries, key=_seq, reverse=True)
        _insert_by_seq(self._q, entries)
        self.bytes += sum(e.msg.body_size for e in entries)

    def popleft(self) -> Any:
        entry = self._q.popleft()
        self.bytes -= entry.msg.body_size
        return entry

    def peek(self) -> Any:
        return self._q[0] if self._q else None

    def clear(self) -> list[Any]:
        out = list(self._q)
        self._q.clear()
        self.bytes = 0
        return out

    def __len__(self) -> int:
        return len(self._q)

    def __bool__(self) -> bool:
        return bool(self._q)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._q)


class PriorityReady:
    """One FIFO per priority 0..max_priority; the highest non-empty one is served first.

    Like RabbitMQ's rabbit_priority_queue, whatever takes "the head" (delivery, basic.get, drop-head on
    overflow, expiry) takes it from the highest non-empty priority.
    """

    __slots__ = ("_levels", "_len", "bytes", "max_priority", "_top")

    def __init__(self, max_priority: int) -> None:
        self.max_priority = max_priority
        self._levels: list[deque[Any]] = [deque() for _ in range(max_priority + 1)]
        self._len = 0
        self.bytes = 0
        self._top = -1  # highest level that may be non-empty; -1 when the container is empty

    def append(self, entry: Any) -> None:
        p = entry.priority
        self._levels[p].append(entry)
        self._len += 1
        self.bytes += entry.msg.body_size
        if p > self._top:
            self._top = p

    def requeue(self, entries: Iterable[Any]) -> None:
        by_level: dict[int, list[Any]] = {}
        for e in entries:
            by_level.setdefault(e.priority, []).append(e)
        for p, group in by_level.items():
            group.sort(key=_seq, reverse=True)
            _insert_by_seq(self._levels[p], group)
            self._len += len(group)
            self.bytes += sum(e.msg.body_size for e in group)
            if p > self._top:
                self._top = p

    def _top_level(self) -> deque[Any] | None:
        levels = self._levels
        p = self._top
        while p >= 0 and not levels[p]:
            p -= 1
        self._top = p
        return levels[p] if p >= 0 else None

    def popleft(self) -> Any:
        level = self._top_level()
        if level is None:
            raise IndexError("pop from an empty PriorityReady")
        entry = level.popleft()
        self._len -= 1
        self.bytes -= entry.msg.body_size
        return entry

    def peek(self) -> Any:
        level = self._top_level()
        return level[0] if level is not None else None

    def clear(self) -> list[Any]:
        out = list(self)
        for level in self._levels:
            level.clear()
        self._len = 0
        self.bytes = 0
        self._top = -1
        return out

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[Any]:
        """Delivery order: highest priority first, FIFO within a priority."""
        for level in reversed(self._levels):
            yield from level


class ReturnsFirstReady(FifoReady):
    """Quorum queue ordering: returned messages wait in their own FIFO, served before new ones.

    RabbitMQ's rabbit_fifo keeps a `returns` queue in front of its message queue, so a message
    returned by a consumer that went away (or nacked with a delivery limit set) comes back next, in
    the order it was returned, not at its original position. Without a delivery limit a nacked
    message is enqueued again at the back (append_all).
    """

    __slots__ = ("_returns",)

    def __init__(self) -> None:
        super().__init__()
        self._returns: deque[Any] = deque()

    def requeue(self, entries: Iterable[Any]) -> None:
        for e in entries:
            self._returns.append(e)
            self.bytes += e.msg.body_size

    def append_all(self, entries: Iterable[Any]) -> None:
        """Back of the queue: where 3.10 re-enqueues a nacked message when no delivery limit is set."""
        for e in entries:
            self.append(e)

    def popleft(self) -> Any:
        entry = self._returns.popleft() if self._returns else self._q.popleft()
        self.bytes -= entry.msg.body_size
        return entry

    def peek(self) -> Any:
        if self._returns:
            return self._returns[0]
        return self._q[0] if self._q else None

    def clear(self) -> list[Any]:
        out = list(self._returns) + list(self._q)
        self._returns.clear()
        self._q.clear()
        self.bytes = 0
        return out

    def __len__(self) -> int:
        return len(self._returns) + len(self._q)

    def __bool__(self) -> bool:
        return bool(self._returns) or bool(self._q)

    def __iter__(self) -> Iterator[Any]:
        yield from self._returns
        yield from self._q
