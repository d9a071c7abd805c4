"""amqpd.stats.history: the tiers roll up (12 samples into a minute point, 10 of those into a 10-minute
point), stay bounded, a series takes each span from the finest tier that has it, arrival times come from
the sequence numbers, and the roll-ups are what gets persisted."""

from __future__ import annotations

from amqpd.stats.history import FIELDS, TIERS, QueueHistory


def point(t: int, messages: int, seq: int) -> tuple:
    return (t, messages, messages, 0, 1.0, 2.0, 3.0, 0.0, seq)


def test_roll_up_and_bounds():
    h = QueueHistory()
    persisted = []
    for i in range(24 * 720 + 5):  # a day and a bit of 5 s samples
        h.add(point(i * 5, i, i + 1), lambda level, p, ev: persisted.append((level, p, ev)))
    assert [len(t) for t in h.tiers] == [n for _, n in TIERS]  # full, and no more
    assert len(FIELDS) + 2 == len(h.tiers[0][0])
    minute = h.tiers[1][-1]
    # a minute point is the average of its 12 samples, stamped with the last one's time and sequence
    assert minute[1] == sum(range(minute[0] // 5 - 11, minute[0] // 5 + 1)) / 12 and minute[-1] == minute[0] // 5 + 1
    levels = [lv for lv, _, _ in persisted]
    assert levels.count(1) == (24 * 720 + 5) // 12 and levels.count(2) == (24 * 720 + 5) // 120
    assert any(ev is not None for _, _, ev in persisted)  # evicted points are named, so their records go


def test_series_prefers_the_finest_tier():
    h = QueueHistory()
    for i in range(720 * 2):  # two hours
        h.add(point(i * 5, i, i + 1))
    now = (720 * 2 - 1) * 5
    last5 = h.series(300, now)
    assert [p[0] for p in last5][-60:] == list(range(now - 295, now + 1, 5))  # every 5 s sample kept
    assert all(p[0] >= now - 300 for p in last5)
    hour = h.series(3600, now)
    steps = [b[0] - a[0] for a, b in zip(hour, hour[1:], strict=False)]
    assert set(steps[:50]) == {60} and set(steps[-59:]) == {5}  # minute points, then the 5 s ones
    assert hour[0][0] >= now - 3600 and hour[-1][0] == now


def test_arrival_from_sequence_numbers():
    h = QueueHistory()
    for i in range(200):  # seq grows by 10 every 5 s
        h.add(point(1000 + i * 5, 0, 10 * i + 1))
    now = 1000 + 200 * 5
    assert h.arrived(10 * 190 + 3, now) == 1000 + 191 * 5  # the first point that had counted it
    assert h.arrived(5, now) is None or h.arrived(5, now) >= 1000  # older than the finest tier: coarser
    assert h.arrived(10 ** 9, now) == now  # no point has counted it yet: it has just arrived
