"""Message statistics in the management API: RabbitMQ's counts and shapes, rates that move with traffic,
totals that outlive channels and vhosts, churn, and an API that answers while publishers saturate the
broker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pika
import pytest
import stats_scenario
from mgmt_helpers import Api, wait_for

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "rabbitmq-3.10" / "stats_shapes.json").read_text())
FAST = "collect_statistics_interval = 200\n"


def counts(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if not k.endswith("_details")}


@pytest.fixture
def fast_broker(broker_factory):
    return broker_factory(FAST)


def test_counts_and_shapes_match_rabbitmq(fast_broker):
    api = Api(fast_broker.http_port)
    conn = stats_scenario.run("127.0.0.1", fast_broker.port)
    try:
        time.sleep(0.5)  # a couple of sampling intervals, as the recording waited one
        ours = {key: api.get(path).body for key, path in stats_scenario.PATHS.items()}
    finally:
        stats_scenario.cleanup(conn)
    for kind in ("queue", "exchange"):
        assert counts(ours[kind]["message_stats"]) == counts(FIXTURE[kind]["message_stats"]), kind
        assert set(ours[kind]["message_stats"]) == set(FIXTURE[kind]["message_stats"]), kind
    theirs = sorted((counts(c["message_stats"]) for c in FIXTURE["channels"]), key=sorted)
    assert sorted((counts(c["message_stats"]) for c in ours["channels"]), key=sorted) == theirs
    # RabbitMQ's overview and vhost had seen other traffic: same keys; ours equal the channels' sums
    for kind in ("overview", "vhost"):
        assert set(ours[kind]["message_stats"]) >= set(FIXTURE[kind]["message_stats"]) - {"disk_reads_details"}, kind
        total = {}
        for c in theirs:
            for k, v in c.items():
                total[k] = total.get(k, 0) + v
        assert {k: ours[kind]["message_stats"][k] for k in total} == total, kind
    assert set(ours["overview"]["churn_rates"]) == set(FIXTURE["overview"]["churn_rates"])
    assert set(ours["overview"]["queue_totals"]) == set(FIXTURE["overview"]["queue_totals"])
    for kind in ("queue", "vhost"):
        for key in ("messages_details", "messages_ready_details", "messages_unacknowledged_details"):
            assert set(ours[kind][key]) == {"rate"}, (kind, key)
    conn_doc = ours["connections"][0]
    assert conn_doc["recv_oct"] > 0 and conn_doc["send_oct"] > 0 and conn_doc["recv_cnt"] > 0
    assert set(conn_doc["recv_oct_details"]) == {"rate"}
    node = ours["node"][0]
    assert node["connection_created"] == 1 and node["channel_created"] >= 2
    assert set(FIXTURE["node"][0]["connection_created_details"]) == set(node["connection_created_details"])
    for gauge in ("mem_used", "fd_used", "sockets_used", "proc_used", "disk_free"):
        assert f"{gauge}_details" in FIXTURE["node"][0] and set(node[f"{gauge}_details"]) == {"rate"}, gauge


def test_message_stats_appear_by_group(broker, uniq):
    api = Api(broker.http_port)
    q, x = uniq("q"), uniq("x")
    with pika.BlockingConnection(broker.pika_params()) as conn:
        ch = conn.channel()
        ch.queue_declare(q)
        ch.exchange_declare(x, "fanout")
        assert "message_stats" not in api.get(f"/queues/%2F/{q}").body  # nothing happened to it yet
        assert "message_stats" not in api.get(f"/exchanges/%2F/{x}").body
        ch.basic_publish("", q, b"m")
        doc = wait_for(lambda: api.get(f"/queues/%2F/{q}").body.get("message_stats"))
        assert counts(doc) == {"publish": 1}
        ch.basic_publish(x, "", b"unroutable")
        doc = api.get(f"/exchanges/%2F/{x}").body["message_stats"]
        assert counts(doc) == {"publish_in": 1, "publish_out": 0}
        ch.queue_delete(q)
        ch.exchange_delete(x)


def test_rates_follow_traffic(fast_broker):
    api = Api(fast_broker.http_port)
    stop = threading.Event()

    def publish():
        with pika.BlockingConnection(fast_broker.pika_params()) as conn:
            ch = conn.channel()
            ch.queue_declare("rates")
            while not stop.is_set():
                for _ in range(50):
                    ch.basic_publish("", "rates", b"r")
                conn.process_data_events(0)
                time.sleep(0.01)

    t = threading.Thread(target=publish)
    t.start()
    try:
        assert wait_for(lambda: api.get("/overview").body["message_stats"]["publish_details"]["rate"] > 0)
        assert wait_for(lambda: api.get("/queues/%2F/rates").body["message_stats"]["publish_details"]["rate"] > 0)
        assert wait_for(lambda: api.get("/queues/%2F/rates").body["messages_details"]["rate"] > 0)
        assert wait_for(lambda: api.get("/exchanges/%2F/amq.default").body["message_stats"]
                        ["publish_in_details"]["rate"] > 0)
        assert wait_for(lambda: api.get("/vhosts/%2F").body["message_stats"]["publish_details"]["rate"] > 0)
    finally:
        stop.set()
        t.join(10)
    # traffic stopped: the rates fall back to zero, the counts stay
    assert wait_for(lambda: api.get("/overview").body["message_stats"]["publish_details"]["rate"] == 0)
    doc = api.get("/overview").body
    assert doc["message_stats"]["publish"] == doc["queue_totals"]["messages"] > 0


def test_totals_outlive_channels_and_vhosts(fast_broker):
    api = Api(fast_broker.http_port)
    assert api.put("/vhosts/gone").status == 201
    assert api.get("/permissions/gone/guest").status == 200  # its creator may use it, as in RabbitMQ
    params = pika.ConnectionParameters("127.0.0.1", fast_broker.port, "gone", heartbeat=0)
    with pika.BlockingConnection(params) as conn:
        ch = conn.channel()
        ch.queue_declare("dl-target")
        ch.queue_declare("dying", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dl-target"})
        for _ in range(3):
            ch.basic_publish("", "dying", b"d")
        for _ in range(3):
            method, _p, _b = ch.basic_get("dying")
            ch.basic_reject(method.delivery_tag, requeue=False)
        ch.close()  # a closed channel's counts stay in the vhost's totals
        doc = api.get("/vhosts/gone").body["message_stats"]
        assert doc["publish"] == 3 and doc["get"] == 3
    before = api.get("/overview").body
    assert before["message_stats"]["publish"] >= 3
    assert before["churn_rates"]["queue_created"] >= 2
    assert api.delete("/vhosts/gone").status == 204
    after = api.get("/overview").body
    assert after["message_stats"]["publish"] == before["message_stats"]["publish"]  # never goes backwards
    assert after["churn_rates"]["queue_deleted"] >= before["churn_rates"]["queue_deleted"] + 2
    assert after["churn_rates"]["connection_closed"] >= 1


def test_churn_counts(broker, uniq):
    api = Api(broker.http_port)
    before = api.get("/overview").body["churn_rates"]
    with pika.BlockingConnection(broker.pika_params()) as conn:
        ch = conn.channel()
        q = ch.queue_declare(uniq("churn"), exclusive=True).method.queue
        ch.queue_declare(q, passive=True)  # passive: not a declaration
        ch.queue_declare(q, exclusive=True)
        ch.close()
    after = wait_for(lambda: (doc := api.get("/overview").body["churn_rates"])["connection_closed"]
                     > before["connection_closed"] and doc)
    assert after["connection_created"] == before["connection_created"] + 1
    assert after["channel_created"] == before["channel_created"] + 1
    assert after["channel_closed"] == before["channel_closed"] + 1
    assert after["queue_declared"] == before["queue_declared"] + 2
    assert after["queue_created"] == before["queue_created"] + 1
    assert after["queue_deleted"] == before["queue_deleted"] + 1  # the exclusive queue went with its owner


def test_api_answers_while_publishers_saturate_the_broker(fast_broker):
    """Four unthrottled publishers (no confirms) keep the broker's loop busy; the API still answers every
    request (each within the client's 10 s timeout) and its counts keep moving."""
    api = Api(fast_broker.http_port)
    stop = threading.Event()
    published = [0] * 4

    def flood(i: int) -> None:
        with pika.BlockingConnection(fast_broker.pika_params()) as conn:
            ch = conn.channel()
            ch.queue_declare(f"flood-{i}", arguments={"x-max-length": 1000})
            body = b"f" * 256
            while not stop.is_set():
                for _ in range(200):
                    ch.basic_publish("", f"flood-{i}", body)
                published[i] += 200
                conn.process_data_events(0)

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        assert wait_for(lambda: sum(published) > 2000)
        seen = []
        for path in ("/overview", "/queues", "/connections", "/channels", "/nodes", "/overview"):
            r = api.get(path)
            assert r.status == 200, path
            if path == "/overview":
                seen.append(r.body["message_stats"]["publish"])
        assert all(t.is_alive() for t in threads)  # the flood was on while the API answered
        assert seen[1] > seen[0]
    finally:
        stop.set()
        for t in threads:
            t.join(15)


def test_overview_history_samples(fast_broker):
    api = Api(fast_broker.http_port)
    with pika.BlockingConnection(fast_broker.pika_params()) as conn:
        ch = conn.channel()
        ch.queue_declare("history")
        for _ in range(4):  # more than the 3 s asked for: every boundary has a reading at or before it
            for _ in range(10):
                ch.basic_publish("", "history", b"h")
            time.sleep(1.1)
        doc = api.get("/overview?msg_rates_age=3&msg_rates_incr=1&lengths_age=3&lengths_incr=1").body
        publish = doc["message_stats"]["publish_details"]
        points = publish["samples"]
        assert len(points) == 4 and set(publish) == {"rate", "samples", "avg_rate", "avg"}
        stamps = [p["timestamp"] for p in points]
        assert stamps == sorted(stamps, reverse=True) and all(s % 1000 == 0 for s in stamps)
        assert points[0]["sample"] >= points[-1]["sample"] + 10  # newest first, counts grew
        assert publish["avg_rate"] > 0
        depth = doc["queue_totals"]["messages_details"]["samples"]
        assert depth[0]["sample"] == 40 > depth[-1]["sample"]
        assert "samples" not in api.get("/overview").body["message_stats"]["publish_details"]
        ch.queue_delete("history")
