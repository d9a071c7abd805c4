"""amqpd.stats without a broker: rates from readings, idle tracking, RabbitMQ's sample series."""

from __future__ import annotations

from amqpd.stats import views
from amqpd.stats.counters import CHANNEL_FIELDS
from amqpd.stats.sampler import Reading, rates_of, track_idle, update


def test_rates_are_differences_per_second():
    r = Reading()
    update(r, (10, 0), 100.0)
    assert rates_of(r, 2) == (0.0, 0.0)  # one reading: no rate yet
    update(r, (60, 5), 105.0)
    assert rates_of(r, 2) == (10.0, 1.0)
    update(r, (60, 5), 105.0)  # no time passed: no division by zero
    assert rates_of(r, 2) == (0.0, 0.0)
    assert rates_of(r, 3) == (0.0, 0.0, 0.0)  # asked for another shape: zeros, not a crash


def test_idle_since_set_once_and_cleared_by_activity():
    r = type("Sampled", (), {})()  # queues and channels carry idle_since from their constructor
    r.idle_since = 5.0
    track_idle(r, (1,))
    assert r.idle_since == 5.0  # first reading: still idle since it was made
    update(r, (1,), 1.0)
    track_idle(r, (2,))
    assert r.idle_since is None  # it moved
    update(r, (2,), 2.0)
    track_idle(r, (2,))
    first = r.idle_since
    assert first is not None
    update(r, (2,), 3.0)
    track_idle(r, (2,))
    assert r.idle_since == first  # still idle since the same moment
    assert views.idle_text(None) == {}
    assert views.idle_text(0.25) == {"idle_since": "1970-01-01T00:00:00.250+00:00"}


def test_render_adds_deliver_get_and_details():
    counts = dict.fromkeys(CHANNEL_FIELDS, 0) | {"deliver": 3, "deliver_no_ack": 1, "get": 2, "get_no_ack": 4}
    doc = views.render(CHANNEL_FIELDS, [counts[k] for k in CHANNEL_FIELDS], [1.0] * len(CHANNEL_FIELDS),
                       ("deliver", "deliver_no_ack", "get", "get_no_ack"))
    assert doc["deliver_get"] == 10 and doc["deliver_get_details"] == {"rate": 4.0}
    assert doc["get_details"] == {"rate": 1.0}
    assert list(doc) == sorted(doc)


def test_history_samples_newest_first_on_boundaries():
    n = len(CHANNEL_FIELDS) + 3
    publish = CHANNEL_FIELDS.index("publish")
    history = []
    for second in range(10):  # one reading a second, publish count = 10 * second
        values = [0] * n
        values[publish] = 10 * second
        history.append((1_000_000 + second * 1000 + 500, tuple(values)))
    doc = {"publish": 90, "publish_details": {"rate": 10.0}, "unknown_details": {"rate": 0.0}}
    views.add_history(doc, history, 4, 2, now_ms=1_009_900)
    series = doc["publish_details"]["samples"]
    assert [p["timestamp"] for p in series] == [1_008_000, 1_006_000, 1_004_000]
    assert [p["sample"] for p in series] == [70, 50, 30]  # the last reading at or before each boundary
    assert doc["publish_details"]["avg_rate"] == 10.0 and doc["publish_details"]["avg"] == 50.0
    assert "samples" not in doc["unknown_details"]
    empty = {"publish_details": {"rate": 0.0}}
    views.add_history(empty, [], 60, 5, now_ms=1_000_000)
    assert empty["publish_details"]["samples"] == [] and empty["publish_details"]["avg"] == 0.0
