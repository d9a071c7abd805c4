"""The Prometheus exposition (prometheus.tcp.port) of a real amqpd, scraped over HTTP while pika drives it:
RabbitMQ 3.10.8's names, types, help texts and labels (compared with its recorded answers), the Grafana
RabbitMQ-Overview dashboard's metric names, and values that follow the queues' and channels' real state."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import time
from pathlib import Path

import pika
import pytest
from mgmt_helpers import Api, http
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

FIXTURES = Path(__file__).parents[1] / "fixtures" / "rabbitmq-3.10" / "prometheus"
DETAILED_FAMILIES = ("connection_churn_metrics", "node_coarse_metrics", "node_metrics", "node_persister_metrics",
                     "auth_attempt_metrics", "auth_attempt_detailed_metrics", "queue_coarse_metrics",
                     "queue_metrics", "queue_consumer_count", "channel_metrics", "channel_exchange_metrics",
                     "channel_queue_metrics", "connection_coarse_metrics", "connection_metrics",
                     "channel_queue_exchange_metrics", "vhost_status", "exchange_bindings", "exchange_names",
                     "ra_metrics")


@pytest.fixture(scope="module")
def amqpd(broker):
    if broker.external:
        pytest.skip("scrapes amqpd's own exposition")
    return broker


def fetch(broker, path: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    return http(f"http://127.0.0.1:{broker.metrics_port}{path}", method, headers)


def scrape(broker, path: str = "/metrics") -> dict:
    status, _, body = fetch(broker, path)
    assert status == 200, (path, status, body[:200])
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def recorded(name: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families((FIXTURES / name).read_text())}


def samples(fams: dict) -> dict:
    """{sample name: [(labels, value)]} over every family."""
    out: dict = {}
    for fam in fams.values():
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(fams: dict, name: str, **labels) -> float:
    matches = [v for lab, v in samples(fams).get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(matches) == 1, (name, labels, matches)
    return matches[0]


def queue_value(broker, name: str, queue: str, vhost: str = "/") -> float:
    return value(scrape(broker, "/metrics/per-object"), name, vhost=vhost, queue=queue)


def connect(broker, vhost: str = "/", name: str = "prom-test") -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, virtual_host=vhost, credentials=pika.PlainCredentials("guest", "guest"),
        heartbeat=0, client_properties={"connection_name": name}))


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    return predicate()


# -- names, types, help texts, labels --------------------------------------------------------------------
def test_every_grafana_overview_metric_resolves(amqpd):
    lines = (FIXTURES / "grafana-overview-metrics.txt").read_text().splitlines()
    assert lines[0].startswith("#") and "RabbitMQ-Overview.json" in lines[0]
    names = [n for n in lines[1:] if n]
    assert len(names) >= 30
    conn = connect(amqpd)  # so that per-object families have rows too
    try:
        present = samples(scrape(amqpd))
        missing = [n for n in names if n not in present]
        assert not missing, missing
        # the dashboard joins everything on identity_info's cluster and node labels
        (labels, one), = present["rabbitmq_identity_info"]
        assert one == 1 and labels["rabbitmq_cluster"] and labels["rabbitmq_node"].startswith("amqpd@")
        assert labels["rabbitmq_cluster_permanent_id"].startswith("rabbitmq-cluster-id-")
        (build, _), = present["rabbitmq_build_info"]
        assert build["rabbitmq_version"] == "3.10.8" and build["erlang_version"].startswith("Python ")
    finally:
        conn.close()


@pytest.mark.parametrize(("path", "fixture", "at_least"), [
    ("/metrics", "metrics.txt", 85),
    ("/metrics/per-object", "per-object.txt", 85),
    ("/metrics/detailed?" + "&".join("family=" + f for f in DETAILED_FAMILIES), "detailed-all.txt", 60),
])
def test_families_are_rabbitmqs(amqpd, path, fixture, at_least):
    conn = connect(amqpd)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"x")
    ch.basic_get(q, auto_ack=False)
    try:
        ours, rabbit = scrape(amqpd, path), recorded(fixture)
    finally:
        conn.close()
    shared = sorted(set(ours) & set(rabbit))
    assert len(shared) >= at_least, shared
    for name in shared:
        assert (ours[name].type, ours[name].documentation) == (rabbit[name].type, rabbit[name].documentation), name
    # no rabbitmq_* family of amqpd's own invention (vhost_status was recorded apart from detailed-all.txt)
    invented = [n for n in ours if n.startswith("rabbitmq_") and n not in rabbit
                and n != "rabbitmq_cluster_vhost_status"]
    assert not invented, invented
    for name in shared:
        ours_labels = {frozenset(s.labels) for s in ours[name].samples}
        rabbit_labels = {frozenset(s.labels) for s in rabbit[name].samples}
        if not ours_labels or not rabbit_labels:
            continue
        if path == "/metrics" or rabbit_labels == {frozenset({"vhost", "queue"})}:
            assert ours_labels == rabbit_labels, name  # aggregated and per queue: exactly RabbitMQ's
        else:
            assert all(o <= r for o in ours_labels for r in rabbit_labels), name


# -- values ------------------------------------------------------------------------------------------------
def test_per_queue_values_follow_the_queue(amqpd, uniq):
    n, m, held = 10, 4, 3
    queue = uniq("prom-q")
    conn = connect(amqpd)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(queue, durable=True)
    for _ in range(n):
        ch.basic_publish("", queue, b"x" * 10, pika.BasicProperties(delivery_mode=2))
    assert queue_value(amqpd, "rabbitmq_queue_messages_ready", queue) == n
    assert queue_value(amqpd, "rabbitmq_queue_messages_ready_bytes", queue) == n * 10
    for _ in range(m):
        method, _, _ = ch.basic_get(queue, auto_ack=False)
        ch.basic_ack(method.delivery_tag)
    fams = scrape(amqpd, "/metrics/per-object")
    assert value(fams, "rabbitmq_queue_messages_ready", vhost="/", queue=queue) == n - m
    assert value(fams, "rabbitmq_queue_messages_unacked", vhost="/", queue=queue) == 0
    assert value(fams, "rabbitmq_queue_messages", vhost="/", queue=queue) == n - m
    assert value(fams, "rabbitmq_queue_consumers", vhost="/", queue=queue) == 0
    assert value(fams, "rabbitmq_queue_messages_published_total", queue_vhost="/", queue=queue) == n

    # a consumer that holds `held` deliveries unacknowledged
    consumer = conn.channel()
    consumer.basic_qos(prefetch_count=held)
    got: list = []
    consumer.basic_consume(queue, lambda c, meth, p, b: got.append(meth.delivery_tag))
    deadline = time.monotonic() + 5
    while len(got) < held and time.monotonic() < deadline:
        conn.process_data_events(0.05)
    fams = scrape(amqpd, "/metrics/per-object")
    assert value(fams, "rabbitmq_queue_messages_ready", vhost="/", queue=queue) == n - m - held
    assert value(fams, "rabbitmq_queue_messages_unacked", vhost="/", queue=queue) == held
    assert value(fams, "rabbitmq_queue_consumers", vhost="/", queue=queue) == 1
    channel_label = next(lab["channel"] for lab, v in samples(fams)["rabbitmq_channel_consumers"] if v == 1)
    assert channel_label.endswith(f" ({consumer.channel_number})")
    assert value(fams, "rabbitmq_channel_messages_unacked", channel=channel_label) == held
    assert value(fams, "rabbitmq_consumer_prefetch", channel=channel_label) == held
    assert value(fams, "rabbitmq_channel_messages_delivered_ack_total", channel=channel_label, vhost="/") == held
    publisher = channel_label[:-len(f"({consumer.channel_number})")] + f"({ch.channel_number})"
    assert value(fams, "rabbitmq_channel_messages_published_total", channel=publisher, vhost="/") == n
    assert value(fams, "rabbitmq_channel_messages_confirmed_total", channel=publisher, vhost="/") == n
    assert value(fams, "rabbitmq_channel_get_ack_total", channel=publisher, vhost="/") == m
    assert value(fams, "rabbitmq_channel_messages_acked_total", channel=publisher, vhost="/") == m

    # the aggregated /metrics sums what per-object lists
    per_object = samples(scrape(amqpd, "/metrics/per-object"))
    aggregated = scrape(amqpd)
    for name in ("rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked", "rabbitmq_queue_consumers"):
        assert value(aggregated, name) == sum(v for _, v in per_object[name]), name
        assert value(aggregated, name) >= queue_value(amqpd, name, queue)
    # acking frees the prefetch window: the rest is delivered, then acked too
    for tag in got[:held]:
        consumer.basic_ack(tag)
    while len(got) < n - m and time.monotonic() < deadline + 5:
        conn.process_data_events(0.05)
    fams = scrape(amqpd, "/metrics/per-object")
    assert value(fams, "rabbitmq_queue_messages_ready", vhost="/", queue=queue) == 0
    assert value(fams, "rabbitmq_queue_messages_unacked", vhost="/", queue=queue) == n - m - held
    for tag in got[held:]:
        consumer.basic_ack(tag)
    conn.process_data_events(0.1)
    assert wait_for(lambda: queue_value(amqpd, "rabbitmq_queue_messages", queue) == 0)
    assert value(scrape(amqpd, "/metrics/per-object"), "rabbitmq_channel_messages_acked_total",
                 channel=channel_label, vhost="/") == n - m
    ch.queue_delete(queue)
    conn.close()


def test_global_counters_move_with_traffic(amqpd, uniq):
    def snapshot() -> dict:
        s = samples(scrape(amqpd))
        return {name: sum(v for lab, v in s[name] if lab.get("queue_type", "rabbit_classic_queue")
                          == "rabbit_classic_queue" and lab.get("dead_letter_strategy", "at_most_once")
                          == "at_most_once")
                for name in s if name.startswith(("rabbitmq_global_", "rabbitmq_connections_", "rabbitmq_channel"))}

    # earlier tests' connections are gone (their close is counted when the socket closes)
    assert wait_for(lambda: value(scrape(amqpd), "rabbitmq_connections") == 0)
    before = snapshot()
    queue, dead = uniq("prom-g"), uniq("prom-dead")
    conn = connect(amqpd)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(dead)
    ch.queue_declare(queue, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead})
    for _ in range(5):
        ch.basic_publish("", queue, b"m")
    ch.basic_publish("amq.direct", uniq("nowhere"), b"dropped")
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("amq.direct", uniq("nowhere"), b"returned", mandatory=True)
    empty = conn.channel()
    assert empty.basic_get(dead, auto_ack=True)[0] is None  # nothing dead-lettered yet: get_empty
    method, _, _ = ch.basic_get(queue, auto_ack=False)
    ch.basic_reject(method.delivery_tag, requeue=False)
    method, _, _ = ch.basic_get(queue, auto_ack=False)
    ch.basic_ack(method.delivery_tag)
    ch.basic_get(queue, auto_ack=True)
    after = snapshot()
    delta = {k: after[k] - before.get(k, 0) for k in after}
    assert delta["rabbitmq_global_messages_received_total"] == 7
    assert delta["rabbitmq_global_messages_received_confirm_total"] == 7
    assert delta["rabbitmq_global_messages_confirmed_total"] == 7
    assert delta["rabbitmq_global_messages_routed_total"] == 5
    assert delta["rabbitmq_global_messages_unroutable_dropped_total"] == 1
    assert delta["rabbitmq_global_messages_unroutable_returned_total"] == 1
    assert delta["rabbitmq_global_messages_delivered_get_manual_ack_total"] == 2
    assert delta["rabbitmq_global_messages_delivered_get_auto_ack_total"] == 1
    assert delta["rabbitmq_global_messages_delivered_total"] == 3
    assert delta["rabbitmq_global_messages_acknowledged_total"] == 1
    assert delta["rabbitmq_global_messages_get_empty_total"] == 1
    assert delta["rabbitmq_global_messages_dead_lettered_rejected_total"] == 1
    assert delta["rabbitmq_connections_opened_total"] == 1
    assert delta["rabbitmq_channels_opened_total"] == 2
    published = after["rabbitmq_channel_messages_published_total"]
    assert delta["rabbitmq_channel_messages_published_total"] == 7
    ch.queue_delete(queue)
    ch.queue_delete(dead)
    conn.close()
    # closed channels keep counting in the aggregated counters: they never go backwards
    final = wait_for(lambda: (s := snapshot())["rabbitmq_connections_closed_total"]
                     > before["rabbitmq_connections_closed_total"] and s)
    assert final["rabbitmq_channel_messages_published_total"] == published
    assert final["rabbitmq_connections_closed_total"] - before["rabbitmq_connections_closed_total"] == 1
    assert final["rabbitmq_channels_closed_total"] - before["rabbitmq_channels_closed_total"] == 2


def test_connection_and_node_figures_are_real(amqpd, uniq):
    tag = uniq("prom-conn")
    conn = connect(amqpd, name=tag)
    ch = conn.channel()
    ch.basic_publish("amq.fanout", "", b"x" * 1000)
    conn.process_data_events(0.2)
    fams = scrape(amqpd, "/metrics/per-object")
    api = next(c for c in Api(amqpd.http_port).get("/connections").body
               if c["client_properties"].get("connection_name") == tag)
    name = api["name"]
    assert value(fams, "rabbitmq_connection_incoming_bytes_total", channel=name) == api["recv_oct"] > 1000
    assert value(fams, "rabbitmq_connection_outgoing_bytes_total", channel=name) == api["send_oct"] > 0
    assert value(fams, "rabbitmq_connection_incoming_packets_total", channel=name) == api["recv_cnt"]
    assert value(fams, "rabbitmq_connection_channels", channel=name) == 1
    conn.close()

    pid = amqpd.proc.pid
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    node = scrape(amqpd)
    assert abs(value(node, "rabbitmq_process_resident_memory_bytes") - rss) < rss * 0.2
    assert abs(value(node, "rabbitmq_process_open_fds") - len(os.listdir(f"/proc/{pid}/fd"))) <= 3
    free = shutil.disk_usage(amqpd.data_dir).free
    assert abs(value(node, "rabbitmq_disk_space_available_bytes") - free) < 2**30
    assert value(node, "rabbitmq_resident_memory_limit_bytes") > 0
    assert value(node, "rabbitmq_erlang_uptime_seconds") > 0
    assert value(node, "rabbitmq_alarms_memory_used_watermark") == 0
    assert value(node, "rabbitmq_auth_attempts_failed_total", protocol="amqp091") == 0
    assert value(node, "rabbitmq_auth_attempts_succeeded_total", protocol="amqp091") >= 1
    assert value(node, "process_start_time_seconds") <= time.time()


# -- /metrics/detailed ---------------------------------------------------------------------------------------
def test_detailed_filters_by_family_and_vhost(amqpd, uniq):
    api = Api(amqpd.http_port)
    vhost = uniq("prom-vh")
    assert api.put("/vhosts/" + vhost).status == 201
    here, there = uniq("prom-here"), uniq("prom-there")
    assert api.put(f"/queues/%2F/{here}", {"durable": False, "auto_delete": False}).status == 201
    assert api.put(f"/queues/{vhost}/{there}", {"durable": False, "auto_delete": False}).status == 201
    assert api.put(f"/exchanges/{vhost}/prom-x", {"type": "topic"}).status == 201
    assert api.post(f"/bindings/{vhost}/e/prom-x/q/{there}", {"routing_key": "a.#"}).status == 201
    try:
        fams = scrape(amqpd, "/metrics/detailed?vhost=%2F&family=queue_coarse_metrics&family=vhost_status")
        assert set(fams) == {"rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_unacked",
                             "rabbitmq_detailed_queue_messages", "rabbitmq_cluster_vhost_status",
                             "rabbitmq_build_info", "rabbitmq_identity_info"}
        queues = {(lab["vhost"], lab["queue"]) for lab, _ in samples(fams)["rabbitmq_detailed_queue_messages_ready"]}
        assert ("/", here) in queues and all(v == "/" for v, _ in queues)
        # vhost_status is not limited by ?vhost=, as in RabbitMQ
        assert {lab["vhost"] for lab, _ in samples(fams)["rabbitmq_cluster_vhost_status"]} >= {"/", vhost}

        fams = scrape(amqpd, f"/metrics/detailed?vhost={vhost}&family=exchange_bindings&family=queue_consumer_count")
        assert value(fams, "rabbitmq_cluster_exchange_bindings", vhost=vhost, exchange="prom-x", type="topic") == 1
        assert value(fams, "rabbitmq_detailed_queue_consumers", vhost=vhost, queue=there) == 0
        assert all(lab["vhost"] == vhost for s in samples(fams).values() for lab, _ in s if "vhost" in lab)

        fams = scrape(amqpd, "/metrics/detailed?family=queue_coarse_metrics")
        queues = {(lab["vhost"], lab["queue"]) for lab, _ in samples(fams)["rabbitmq_detailed_queue_messages"]}
        assert {("/", here), (vhost, there)} <= queues

        # unknown families are ignored; without a known one only the identity remains
        fams = scrape(amqpd, "/metrics/detailed?family=no_such_family&family=ra_metrics")
        assert set(fams) == {"rabbitmq_build_info", "rabbitmq_identity_info"}
    finally:
        api.call("DELETE", f"/queues/%2F/{here}")
        api.call("DELETE", "/vhosts/" + vhost)


# -- HTTP -----------------------------------------------------------------------------------------------------
def test_paths_formats_and_encodings(amqpd):
    for path in ("/", "/foo", "/api/overview", "/metrics//detailed", "/metrics/per-object/x"):
        status, headers, body = fetch(amqpd, path)
        assert (status, body) == (404, b'{"error":"Object Not Found","reason":"Not Found"}'), path
    assert fetch(amqpd, "/metrics/bogus")[::2] == (404, b"Unknown Registry")
    assert fetch(amqpd, "/metrics", method="POST")[0] == 405
    for path in ("/metrics/", "/metrics/default", "/metrics/per-object/", "/metrics/detailed/"):
        assert fetch(amqpd, path)[0] == 200, path

    status, headers, body = fetch(amqpd, "/metrics")
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    status, headers, zipped = fetch(amqpd, "/metrics", {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip"
    assert b"rabbitmq_identity_info{" in gzip.decompress(zipped)
    status, headers, body = fetch(amqpd, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    names = {f.name for f in openmetrics_families(body.decode())}
    assert {"rabbitmq_queue_messages_ready", "rabbitmq_connections_opened", "rabbitmq_identity_info"} <= names


def test_per_object_by_default_and_port_off(broker_factory, uniq, tmp_path):
    per_object = broker_factory("prometheus.return_per_object_metrics = true\n", data_dir=tmp_path / "a")
    queue = uniq("prom-po")
    conn = connect(per_object)
    conn.channel().queue_declare(queue)
    fams = scrape(per_object)
    assert value(fams, "rabbitmq_queue_messages_ready", vhost="/", queue=queue) == 0
    conn.close()

    off = broker_factory(extra_args=["--prometheus-port", "0"], data_dir=tmp_path / "b")
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", off.metrics_port)) != 0
    conn = connect(off)  # the broker itself runs
    conn.close()


def test_queue_contents_as_of_the_last_sample(broker_factory, uniq):
    """Persistent, in-memory and unacknowledged figures come from the statistics sampler (its interval
    here 200 ms), as RabbitMQ's come from its queue statistics."""
    b = broker_factory("collect_statistics_interval = 200\n")
    q = uniq("contents")
    with connect(b) as conn:
        ch = conn.channel()
        ch.queue_declare(q, durable=True)
        for _ in range(4):
            ch.basic_publish("", q, b"p" * 10, pika.BasicProperties(delivery_mode=2, timestamp=1_700_000_000))
        ch.basic_publish("", q, b"t" * 3)
        method, _props, _body = ch.basic_get(q)  # held unacknowledged: 10 bytes, persistent
        assert method is not None
        assert wait_for(lambda: queue_value(b, "rabbitmq_queue_messages_persistent", q) == 4)
        assert queue_value(b, "rabbitmq_queue_messages_bytes", q) == 43
        assert queue_value(b, "rabbitmq_queue_messages_unacked_bytes", q) == 10
        assert queue_value(b, "rabbitmq_queue_messages_ram", q) == 5
        assert queue_value(b, "rabbitmq_queue_head_message_timestamp", q) == 1_700_000_000
        ch.basic_ack(method.delivery_tag)
        assert wait_for(lambda: queue_value(b, "rabbitmq_queue_messages_persistent", q) == 3)
