#!/usr/bin/env python
"""Retries with backoff with pika: a work queue with x-retry-delays [200, 400, 800].

The consumer rejects every delivery (requeue=False). Each rejection brings the message back into the
same queue after the next delay, counted in its x-retry-count header; while it waits, the queue's
amqpd_retrying (management API) counts it. The fourth rejection (x-retry-limit defaults to the number of
delays, 3) dead-letters it to the queue's dead-letter exchange as before, with x-death."""

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
DELAYS = [200, 400, 800]


def api_get(path):
    user, password = urllib.parse.unquote(MGMT.username), urllib.parse.unquote(MGMT.password)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    url = f"{MGMT.scheme}://{MGMT.netloc.rpartition('@')[2]}/api{path}"
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


work, parked = f"work-{uuid.uuid4().hex[:8]}", f"parked-{uuid.uuid4().hex[:8]}"
params = pika.URLParameters(URL)
with pika.BlockingConnection(params) as connection:
    channel = connection.channel()
    channel.queue_declare(parked, exclusive=True)  # exclusive: gone when the connection closes
    channel.queue_declare(work, exclusive=True, arguments={
        "x-retry-delays": DELAYS, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": parked})
    channel.basic_publish("", work, b"flaky job", pika.BasicProperties(delivery_mode=2))

    seen = []
    for method, props, body in channel.consume(work, inactivity_timeout=5):
        assert method is not None, f"no retry came back after {seen}"
        count = (props.headers or {}).get("x-retry-count", 0)
        seen.append((time.monotonic(), count))
        print(f" [x] {body.decode()!r} attempt {count + 1} (x-retry-count={count}): failing, reject")
        channel.basic_reject(method.delivery_tag, requeue=False)
        if count == 0:
            queue = api_get(f"/queues/{urllib.parse.quote(params.virtual_host, safe='')}/{work}")
            print(f" [*] messages={queue['messages']} amqpd_retrying={queue['amqpd_retrying']}")
            assert (queue["messages"], queue["amqpd_retrying"]) == (0, 1), queue
        if count == len(DELAYS):
            break  # past the limit: that rejection dead-lettered it
    assert [count for _, count in seen] == [0, 1, 2, 3], seen
    gaps = [round((b - a) * 1000) for (a, _), (b, _) in zip(seen, seen[1:], strict=False)]
    print(f" [*] waits between attempts: {gaps} ms (x-retry-delays {DELAYS})")
    assert all(gap >= delay - 10 for gap, delay in zip(gaps, DELAYS, strict=True)), gaps

    method, props, body = channel.basic_get(parked, auto_ack=True)
    death = props.headers["x-death"][0]
    print(f" [x] dead-lettered: {body!r} x-retry-count={props.headers['x-retry-count']},"
          f" x-death from {death['queue']!r}, reason {death['reason']!r}")
    assert props.headers["x-retry-count"] == 3 and (death["queue"], death["reason"]) == (work, "rejected")
print("OK")
