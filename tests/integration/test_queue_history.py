"""Per-queue history (issue 17), on a real amqpd sampling every 200 ms: the API serves depth, rates and
the age of the oldest ready message over time, Prometheus shows that age, and the rolled-up points survive
a restart."""

from __future__ import annotations

import os
import time
import urllib.request

import pika
import pytest
from conftest import start_amqpd
from helpers import close_quietly
from mgmt_helpers import Api, wait_for

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")

CONF = "heartbeat = 0\ncollect_statistics_interval = 200\n"


def test_history_api_metric_and_restart(tmp_path):
    b = start_amqpd(tmp_path, conf=CONF)
    try:
        c = pika.BlockingConnection(b.pika_params())
        ch = c.channel()
        ch.queue_declare("hist", durable=True)
        time.sleep(0.5)  # sampled empty first, so the publishes show as a rate
        for _ in range(50):
            ch.basic_publish("", "hist", b"x", pika.BasicProperties(delivery_mode=2))
        api = Api(b.http_port)
        time.sleep(3)  # 15 samples: more than one roll-up into a minute point (every 12)
        doc = api.get("/queues/%2F/hist/history?range=600").body
        fields = doc["fields"]
        assert fields[:4] == ["timestamp", "messages", "messages_ready", "messages_unacknowledged"]
        points = [dict(zip(fields, p, strict=True)) for p in doc["points"]]
        assert len(points) >= 10 and points[-1]["messages"] == 50
        ages = [p["oldest_ready_age"] for p in points]
        assert ages[-1] >= 2.0 and ages == sorted(ages)  # the head has been waiting, and keeps waiting
        assert any(p["publish_rate"] > 0 for p in points)
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{b.metrics_port}/metrics", timeout=5).read().decode()
        line = next(x for x in metrics.splitlines() if x.startswith('amqpd_queue_oldest_ready_age_seconds{queue="hist"'))
        assert float(line.split()[-1]) >= 2.0
        assert api.get("/queues/%2F/hist/history?range=0").status == 400
        ch.basic_get("hist", auto_ack=True)  # the head leaves: the next one is as old
        close_quietly(c)
        b.stop()
        stopped = time.time()
        b = start_amqpd(tmp_path, conf=CONF, data_dir=b.data_dir)
        api = Api(b.http_port)
        assert wait_for(lambda: api.get("/queues/%2F/hist/history?range=600").body["points"])
        points = api.get("/queues/%2F/hist/history?range=600").body["points"]
        kept = [p for p in points if p[0] < stopped]
        assert kept and kept[-1][1] > 0  # minute points from before the restart were read back
    finally:
        b.stop()
