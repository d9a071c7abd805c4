#!/usr/bin/env python
"""A queue's history with pika, the management API and Prometheus (amqpd's own, see docs/patterns.md).

Nobody consumes from a queue that gets 5 messages, then one is taken. GET /api/queues/{vhost}/{name}/history
?range=SECONDS answers {"fields": [...], "points": [[...], ...]}: depth, rates and the age of the oldest
ready message (consumer lag), one point per statistics sample (collect_statistics_interval, 5 s by
default, so this can take some seconds). Prometheus shows that age as amqpd_queue_oldest_ready_age_seconds."""

import base64
import json
import os
import time
import urllib.parse
import urllib.request
import uuid

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
MGMT = urllib.parse.urlsplit(os.environ.get("AMQP_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"))
PROMETHEUS = os.environ.get("AMQPD_PROMETHEUS_URL", "http://127.0.0.1:15692")


def api_get(path):
    user, password = urllib.parse.unquote(MGMT.username), urllib.parse.unquote(MGMT.password)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    url = f"{MGMT.scheme}://{MGMT.netloc.rpartition('@')[2]}/api{path}"
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def wait_for_point(path, done):
    """Poll the history until its last point satisfies done; returns the points as dicts."""
    deadline = time.monotonic() + 60
    while True:
        doc = api_get(path)
        points = [dict(zip(doc["fields"], p, strict=True)) for p in doc["points"]]
        if points and done(points[-1]):
            return points
        assert time.monotonic() < deadline, f"no such point in {doc}"
        time.sleep(0.2)


params = pika.URLParameters(URL)
name = f"lagging-{uuid.uuid4().hex[:8]}"
with pika.BlockingConnection(params) as connection:
    channel = connection.channel()
    channel.queue_declare(name, exclusive=True)  # gone, with its history, when the connection closes
    path = f"/queues/{urllib.parse.quote(params.virtual_host, safe='')}/{name}/history?range=300"
    wait_for_point(path, lambda p: True)  # sampled empty first, so the publishes show as a rate
    for i in range(5):
        channel.basic_publish("", name, f"event {i}".encode())
    channel.basic_get(name, auto_ack=True)
    points = wait_for_point(path, lambda p: p["messages"] == 4 and p["oldest_ready_age"] >= 1)
    print(" ".join(f"{field[:13]:>13}" for field in points[0]))  # timestamp: epoch seconds
    for p in points:
        print(" ".join(f"{v:>13}" for v in p.values()))
    assert any(p["publish_rate"] > 0 for p in points) and any(p["deliver_rate"] > 0 for p in points)

    with urllib.request.urlopen(f"{PROMETHEUS}/metrics") as response:
        metrics = response.read().decode().splitlines()
    line = next(x for x in metrics if x.startswith("amqpd_queue_oldest_ready_age_seconds{") and name in x)
    print(f" [*] {line}")
    assert float(line.split()[-1]) >= 1
print("OK")
