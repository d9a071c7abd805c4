"""The ready-message containers behind queue.py: FIFO, per-priority, quorum returns-first."""

from __future__ import annotations

import pytest

from amqpd.ready import FifoReady, PriorityReady, ReturnsFirstReady


class Msg:
    def __init__(self, size: int) -> None:
        self.body_size = size


class Entry:
    def __init__(self, seq: int, priority: int = 0, size: int = 10) -> None:
        self.seq = seq
        self.priority = priority
        self.msg = Msg(size)

    def __repr__(self) -> str:
        return f"E{self.seq}p{self.priority}"


def drain(ready) -> list[int]:
    out = []
    while ready:
        out.append(ready.popleft().seq)
    return out


@pytest.mark.parametrize("make", [FifoReady, lambda: PriorityReady(0), ReturnsFirstReady])
def test_fifo_order_len_bytes_peek(make):
    r = make()
    assert not r and len(r) == 0 and r.peek() is None and r.bytes == 0
    for i in range(1, 6):
        r.append(Entry(i, size=i))
    assert len(r) == 5 and r.bytes == 15 and r.peek().seq == 1
    assert [e.seq for e in r] == [1, 2, 3, 4, 5]
    assert r.popleft().seq == 1 and r.bytes == 14
    assert drain(r) == [2, 3, 4, 5] and r.bytes == 0


def test_fifo_requeue_restores_original_positions():
    r = FifoReady()
    es = [Entry(i) for i in range(1, 8)]
    for e in es:
        r.append(e)
    taken = [r.popleft() for _ in range(4)]  # 1..4 out
    r.requeue([taken[2], taken[0]])  # 3 and 1 come back, in any order
    assert [e.seq for e in r] == [1, 3, 5, 6, 7]
    r.popleft()
    r.requeue([taken[1], taken[3]])
    assert drain(r) == [2, 3, 4, 5, 6, 7]


def test_fifo_requeue_into_empty_and_behind():
    r = FifoReady()
    a, b = Entry(1), Entry(2)
    r.requeue([b, a])
    assert [e.seq for e in r] == [1, 2] and r.bytes == 20
    c = Entry(3)
    r.append(c)
    late = Entry(9)
    r.requeue([late])
    assert drain(r) == [1, 2, 3, 9]


def test_priority_highest_first_fifo_within():
    r = PriorityReady(5)
    for seq, p in [(1, 1), (2, 5), (3, 3), (4, 5), (5, 0), (6, 1)]:
        r.append(Entry(seq, p))
    assert [e.seq for e in r] == [2, 4, 3, 1, 6, 5]
    assert r.peek().seq == 2
    assert drain(r) == [2, 4, 3, 1, 6, 5]
    assert r.peek() is None


def test_priority_requeue_goes_back_within_its_level():
    r = PriorityReady(9)
    es = {seq: Entry(seq, p) for seq, p in [(1, 9), (2, 9), (3, 1), (4, 9), (5, 1)]}
    for e in es.values():
        r.append(e)
    a, b = r.popleft(), r.popleft()
    assert (a.seq, b.seq) == (1, 2)
    r.requeue([b, a])
    assert drain(r) == [1, 2, 4, 3, 5]


def test_priority_append_after_top_emptied():
    r = PriorityReady(3)
    r.append(Entry(1, 3))
    assert r.popleft().seq == 1
    r.append(Entry(2, 0))
    r.append(Entry(3, 2))
    assert r.peek().seq == 3
    assert drain(r) == [3, 2]
    with pytest.raises(IndexError):
        r.popleft()


def test_priority_bytes_and_clear():
    r = PriorityReady(2)
    r.append(Entry(1, 0, size=5))
    r.append(Entry(2, 2, size=7))
    assert r.bytes == 12 and len(r) == 2
    cleared = r.clear()
    assert [e.seq for e in cleared] == [2, 1]
    assert not r and r.bytes == 0 and len(r) == 0


def test_returns_first_serves_returns_in_return_order():
    r = ReturnsFirstReady()
    for i in range(1, 5):
        r.append(Entry(i))
    a, b = r.popleft(), r.popleft()
    r.requeue([b])
    r.requeue([a])
    assert [e.seq for e in r] == [2, 1, 3, 4]
    assert r.peek().seq == 2 and len(r) == 4 and r.bytes == 40
    assert [e.seq for e in r.clear()] == [2, 1, 3, 4]
    assert not r and r.bytes == 0
