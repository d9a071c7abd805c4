"""Per-queue history: depth, ready, unacked, publish/deliver/ack rates and the age of the oldest ready
message, sampled with the statistics (every 5 s by default) and kept for 24 h at decreasing resolution:
every sample for 5 minutes, minute averages for an hour, 10-minute averages for 23 hours. That is at most
258 points a queue, for at most MAX_QUEUES queues: the memory is bounded whatever the traffic.

The age of the oldest ready message costs nothing per message: each point also records the queue's next
sequence number, so the head's sequence number says between which two points it arrived. The minute and
10-minute points are written to the store (one small record per point, in the store's batches) and read
back at start, so a restart keeps the day.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from typing import Any

TIERS = ((5, 60), (60, 60), (600, 138))  # (seconds a point covers, points kept): 5 min, 1 h, 23 h
FIELDS = ("messages", "messages_ready", "messages_unacknowledged", "publish_rate", "deliver_rate", "ack_rate",
          "oldest_ready_age")
MAX_QUEUES = 2000  # queues with a history; more are sampled for rates as before, without one
_T = struct.Struct(">Q")


class QueueHistory:
    """Points are (epoch seconds, *FIELDS, next sequence number)."""

    __slots__ = ("tiers", "_since")

    def __init__(self) -> None:
        self.tiers = [deque(maxlen=n) for _, n in TIERS]
        self._since = [0, 0]  # points added to tiers 0 and 1 since their last roll-up

    def add(self, point: tuple, persist: Any = None) -> None:
        self.tiers[0].append(point)
        for level in (0, 1):
            self._since[level] += 1
            ratio = TIERS[level + 1][0] // TIERS[level][0]
            if self._since[level] < ratio:
                break
            self._since[level] = 0
            recent = list(self.tiers[level])[-ratio:]
            rolled = _average(recent)
            upper = self.tiers[level + 1]
            evicted = upper[0] if len(upper) == upper.maxlen else None
            upper.append(rolled)
            if persist is not None:
                persist(level + 1, rolled, evicted)

    def series(self, seconds: float, now: float) -> list[tuple]:
        """Points of the last `seconds`, oldest first, each from the finest tier that has it."""
        out: list[tuple] = []
        finer_start = None
        for tier in self.tiers:
            part = [p for p in tier if p[0] >= now - seconds and (finer_start is None or p[0] < finer_start)]
            out = part + out
            if tier:
                finer_start = min(tier[0][0], finer_start) if finer_start is not None else tier[0][0]
        return out

    def arrived(self, seq: int, now: float) -> float | None:
        """When the message with this sequence number had arrived by, at the resolution of the history: the
        time of the first point that had counted it (now, if none has yet). None if it is older than
        everything kept. Ages derived from it are lower bounds, off by at most a point's span."""
        for tier in self.tiers:
            if tier and tier[0][-1] <= seq:
                for p in tier:
                    if p[-1] > seq:
                        return p[0]
                return now
        return None

    def load(self, level: int, points: list[tuple]) -> None:
        self.tiers[level].extend(sorted(points))


def _average(points: list[tuple]) -> tuple:
    n = len(points)
    last = points[-1]
    mid = tuple(round(sum(p[i] for p in points) / n, 1) for i in range(1, len(FIELDS) + 1))
    return (last[0], *mid, last[-1])


def oldest_ready_age(q: Any, hist: QueueHistory | None, now: float) -> float:
    head = q.ready.peek() if not q.stream and q.ready else None
    if head is None or hist is None:
        return 0.0
    at = hist.arrived(head.seq, now)
    if at is None:  # older than the history: at least as old as the oldest point
        oldest = min((t[0][0] for t in hist.tiers if t), default=now)
        return round(now - oldest, 1)
    return round(max(0.0, now - at), 1)


class Histories:
    """Every queue's history (as an attribute of the queue, so it goes with it), and their records."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.count = 0
        self.refused_logged = False
        # id(queue) -> (queue, vhost, name, what writes its roll-ups to the store or None)
        self._tracked: dict[int, tuple[Any, str, str, Any]] = {}
        self._seen: set[int] = set()

    def sweep(self) -> None:
        """After a sampling round: the histories of queues that are gone, and their records, go too."""
        for key in set(self._tracked) - self._seen:
            q, vhost, name, _persist = self._tracked.pop(key)
            self.count -= 1
            q._history = None
            if self.store is not None and q.durable:
                prefix = _prefix(vhost, name)
                self.store.delete_range("history", prefix, prefix[:-1] + b"\x01")
        self._seen = set()

    def record(self, q: Any, vhost: str, now: float, depth: tuple[int, int, int], rates: tuple[float, ...],
               log: Any) -> None:
        hist = getattr(q, "_history", None)
        if hist is None:
            if self.count >= MAX_QUEUES:
                if not self.refused_logged:
                    log.warning("queue history limit reached: queues declared from now on have none",
                                limit=MAX_QUEUES)
                    self.refused_logged = True
                return
            hist = q._history = QueueHistory()
            self.count += 1
            durable = q.durable and q.exclusive_owner is None
            persist = self._persister(vhost, q.name) if durable and self.store is not None else None
            self._tracked[id(q)] = (q, vhost, q.name, persist)
            self._load(q, vhost, hist)
        key = id(q)
        self._seen.add(key)
        deliver = rates[1] + rates[2] + rates[3] + rates[4]
        point = (round(now, 2), *depth, rates[0], round(deliver, 1), rates[7],
                 oldest_ready_age(q, hist, now), q.next_seq)
        hist.add(point, self._tracked[key][3])

    def _persister(self, vhost: str, name: str) -> Any:
        prefix = _prefix(vhost, name)

        def persist(level: int, point: tuple, evicted: tuple | None) -> None:
            key = prefix + bytes((level,))
            self.store.put("history", key + _T.pack(int(point[0] * 1000)), json.dumps(point).encode())
            if evicted is not None:
                self.store.delete("history", key + _T.pack(int(evicted[0] * 1000)))
        return persist

    def _load(self, q: Any, vhost: str, hist: QueueHistory) -> None:
        if self.store is None or not q.durable:
            return
        prefix = _prefix(vhost, q.name)
        rows = self.store.scan("history", prefix, prefix[:-1] + b"\x01", sum(n for _, n in TIERS[1:]) + 8)
        by_level: dict[int, list[tuple]] = {1: [], 2: []}
        for key, value in rows:
            level = key[len(prefix)]
            if level in by_level:
                by_level[level].append(tuple(json.loads(value)))
        for level, points in by_level.items():
            hist.load(level, points)


def _prefix(vhost: str, name: str) -> bytes:
    return vhost.encode() + b"\0" + name.encode() + b"\0"
