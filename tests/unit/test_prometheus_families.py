"""The Prometheus family table against RabbitMQ 3.10.8's recorded answers, and the rendering helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from amqpd.management.prometheus import families as F
from amqpd.management.prometheus.collector import Monotonic, render

FIXTURES = Path(__file__).parents[1] / "fixtures" / "rabbitmq-3.10" / "prometheus"
# recorded from RabbitMQ 3.10.8 separately (detailed-all.txt was taken without this family)
VHOST_STATUS = ("rabbitmq_cluster_vhost_status", "gauge", "Whether a given vhost is running")


def recorded(name: str) -> dict[str, tuple[str, str]]:
    """{sample family name: (type, help)} as prometheus_client parses RabbitMQ's text."""
    text = (FIXTURES / name).read_text()
    return {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(text)}


def parsed_name(name: str, kind: str) -> str:
    # the parser names a counter's family without its _total suffix
    return name[:-6] if kind == F.C and name.endswith("_total") else name


def kind_of(kind: str) -> str:
    return "unknown" if kind == F.U else kind


def test_every_detailed_family_is_rabbitmqs():
    rabbit = recorded("detailed-all.txt")
    rabbit[VHOST_STATUS[0]] = VHOST_STATUS[1:]
    checked = 0
    for family in F.DETAILED.values():
        prefix = "rabbitmq_" if family.cluster else "rabbitmq_detailed_"
        for name, kind, help_text in family.metrics:
            key = parsed_name(prefix + name, kind)
            assert key in rabbit, f"{prefix + name} ({family.id}) is not one of RabbitMQ's"
            assert rabbit[key] == (kind_of(kind), help_text), key
            checked += 1
    assert checked >= 60


def test_every_metrics_family_is_rabbitmqs():
    rabbit = recorded("metrics.txt")
    tables = [m for f in F.CORE for m in f.metrics] + list(F.ALARMS) + list(F.OBJECT_TOTALS) + [
        F.BUILD_INFO, F.IDENTITY_INFO] + [m for m, _, _ in F.GLOBAL]
    for name, kind, help_text in tables:
        key = parsed_name("rabbitmq_" + name, kind)
        assert rabbit.get(key) == (kind_of(kind), help_text), key


def test_global_rows_are_rabbitmqs_label_sets():
    """The global counters carry exactly the label combinations RabbitMQ 3.10.8 answers with."""
    text = (FIXTURES / "metrics.txt").read_text()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for (name, kind, _), labels, rows in F.GLOBAL:
        family = fams[parsed_name("rabbitmq_" + name, kind)]
        want = sorted(tuple(sorted(s.labels.items())) for s in family.samples)
        got = sorted(tuple(sorted(zip(labels, values, strict=True))) for values, _ in rows)
        assert got == want, name


def test_families_keep_a_subset_of_rabbitmqs_labels():
    fams = {f.name: f for f in text_string_to_metric_families((FIXTURES / "per-object.txt").read_text())}
    for family in F.CORE:
        if not family.per_object:
            continue
        for name, kind, _ in family.metrics:
            rabbit = fams[parsed_name("rabbitmq_" + name, kind)]
            if rabbit.samples:
                assert set(family.labels) <= set(rabbit.samples[0].labels), name


def test_monotonic_never_goes_back():
    m = Monotonic()
    assert m("a", 5) == 5
    assert m("a", 3) == 5
    assert m("a", 8) == 8
    assert m("b", 0) == 0


CONTENTS = (0,) * 10  # ram, ram bytes, ready ram, unacked ram, persistent, ..., paged out bytes


@pytest.mark.parametrize("summed", [None, [7, 2.0, 2.0, 30, *CONTENTS, 0]])
def test_render_rows_and_sums(summed):
    rows = [(("/", "a"), (3, 1.0, 1.0, 10, *CONTENTS, 1_700_000_000)), (("/", "b"), (4, 0, 0, 20, *CONTENTS, None))]
    out = {m.name: m for m in render(F.QUEUE, "rabbitmq_", rows, summed)}
    assert list(out)[:4] == ["rabbitmq_queue_consumers", "rabbitmq_queue_consumer_capacity",
                             "rabbitmq_queue_consumer_utilisation", "rabbitmq_queue_messages_ready_bytes"]
    stamps = out["rabbitmq_queue_head_message_timestamp"].samples
    # a queue without a head timestamp has no sample; the aggregate has none at all (as RabbitMQ)
    assert [s.value for s in stamps] == ([1_700_000_000] if summed is None else [])
    if summed is None:
        assert [(s.labels, s.value) for s in out["rabbitmq_queue_consumers"].samples] == [
            ({"vhost": "/", "queue": "a"}, 3), ({"vhost": "/", "queue": "b"}, 4)]
    else:
        assert [(s.labels, s.value) for s in out["rabbitmq_queue_consumers"].samples] == [({}, 7)]
        assert out["rabbitmq_queue_consumer_capacity"].samples == []  # RabbitMQ does not sum it
