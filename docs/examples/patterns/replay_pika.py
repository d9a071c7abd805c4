#!/usr/bin/env python
"""Dead-letter replay with pika and the management API (amqpd's own endpoints, see docs/messages.md).

Three jobs are rejected into a dead-letter queue. GET /api/queues/{vhost}/{dlq}/messages shows them
without taking them (x-death included); POST /api/queues/{vhost}/{dlq}/move puts them back into the
work queue, here without their x-death history, where basic.get finds them again."""

import base64
import json
import os
import urllib.parse
import urllib.request
import uuid

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
MGMT = urllib.parse.urlsplit(os.environ.get("AMQP_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"))


def api(method, path, body=None):
    user, password = urllib.parse.unquote(MGMT.username), urllib.parse.unquote(MGMT.password)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    url = f"{MGMT.scheme}://{MGMT.netloc.rpartition('@')[2]}/api{path}"
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method)) as response:
        return json.load(response)


params = pika.URLParameters(URL)
vhost = urllib.parse.quote(params.virtual_host, safe="")
work, dlq = f"work-{uuid.uuid4().hex[:8]}", f"work-dlq-{uuid.uuid4().hex[:8]}"
with pika.BlockingConnection(params) as connection:
    channel = connection.channel()
    try:  # not exclusive: the management API must reach them; deleted at the end
        channel.queue_declare(dlq)
        channel.queue_declare(work, arguments={"x-dead-letter-exchange": "",
                                               "x-dead-letter-routing-key": dlq})
        for i in range(3):
            channel.basic_publish("", work, f"job {i}".encode(), pika.BasicProperties(delivery_mode=2))
            method, _, _ = channel.basic_get(work)
            channel.basic_reject(method.delivery_tag, requeue=False)  # the consumer gave up: dead-lettered
        # a round trip on the channel: the rejects before it are done
        assert channel.queue_declare(dlq, passive=True).method.message_count == 3

        peeked = api("GET", f"/queues/{vhost}/{dlq}/messages?count=10")
        for m in peeked:
            death = m["properties"]["headers"]["x-death"][0]
            print(f" [*] peek: {m['payload']!r} dead-lettered from {death['queue']!r} ({death['reason']})")
        assert [m["payload"] for m in peeked] == ["job 0", "job 1", "job 2"]
        assert api("GET", f"/queues/{vhost}/{dlq}")["messages"] == 3  # peeking took nothing

        result = api("POST", f"/queues/{vhost}/{dlq}/move", {"destination": work, "keep_x_death": False})
        print(f" [*] move: {result}")
        assert result == {"moved": 3, "remaining": 0, "unroutable": 0, "refused": 0}

        replayed = [channel.basic_get(work, auto_ack=True) for _ in range(4)]
        print(f" [x] the work queue again: {[body for _, _, body in replayed]}")
        assert [body for _, _, body in replayed] == [b"job 0", b"job 1", b"job 2", None]
        assert all(props.headers is None for _, props, _ in replayed[:3])  # no x-death any more
    finally:
        cleanup = connection.channel()  # the one above may have been closed by an error
        cleanup.queue_delete(work)
        cleanup.queue_delete(dlq)
print("OK")
