#!/usr/bin/env python
"""Delayed messages with pika: an x-delayed-message exchange (rabbitmq-delayed-message-exchange's type).

A message published with the header x-delay: 1000 reaches the queue a second later, its x-delay turned
into -1000; meanwhile the exchange's messages_delayed counts it. One without x-delay is routed at once.
A delayed mandatory publish is returned at once (no queue is found at publish time), as with the plugin,
and still delivered when due."""

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


def api_get(path):
    user, password = urllib.parse.unquote(MGMT.username), urllib.parse.unquote(MGMT.password)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    url = f"{MGMT.scheme}://{MGMT.netloc.rpartition('@')[2]}/api{path}"
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


name = f"delayed-{uuid.uuid4().hex[:8]}"
params = pika.URLParameters(URL)
with pika.BlockingConnection(params) as connection:
    channel = connection.channel()
    channel.confirm_delivery()
    # auto-delete exchange, exclusive queue: nothing is left behind when the connection closes
    channel.exchange_declare(name, "x-delayed-message", auto_delete=True,
                             arguments={"x-delayed-type": "direct"})
    channel.queue_declare(name, exclusive=True)
    channel.queue_bind(name, name, routing_key="jobs")

    sent = time.monotonic()
    channel.basic_publish(name, "jobs", b"in a second", pika.BasicProperties(headers={"x-delay": 1000}))
    channel.basic_publish(name, "jobs", b"right away")  # no x-delay (or <= 0, or malformed): routed now
    try:
        channel.basic_publish(name, "jobs", b"mandatory", pika.BasicProperties(headers={"x-delay": 500}),
                              mandatory=True)
        raise AssertionError("a delayed mandatory publish should be returned")
    except pika.exceptions.UnroutableError:
        print(" [!] the delayed mandatory message was returned at publish time (NO_ROUTE)")
    vhost = urllib.parse.quote(params.virtual_host, safe="")
    waiting = api_get(f"/exchanges/{vhost}/{name}")["messages_delayed"]
    print(f" [*] messages_delayed: {waiting}")
    assert waiting == 2, waiting

    got = []
    for _method, props, body in channel.consume(name, auto_ack=True, inactivity_timeout=5):
        assert body is not None, f"nothing more after {got}"
        got.append(body)
        print(f" [x] {body.decode()!r} after {time.monotonic() - sent:.2f}s, headers {props.headers}")
        if len(got) == 3:
            break
    assert got == [b"right away", b"mandatory", b"in a second"], got
    assert props.headers["x-delay"] == -1000 and time.monotonic() - sent >= 0.99
print("OK")
