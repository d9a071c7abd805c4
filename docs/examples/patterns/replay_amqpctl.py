#!/usr/bin/env python
"""Dead-letter replay with pika and amqpctl (peek_queue, move_messages; see docs/cli.md).

Four jobs of two tenants are rejected into a dead-letter queue. `amqpctl peek_queue` shows them without
taking them; `amqpctl move_messages --match-header tenant=acme --strip-x-death` puts acme's back into the
work queue and leaves the other tenant's where they are. amqpctl reaches the broker through the
management listener (-n HOST:PORT, an administrator's credentials)."""

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import uuid

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
MGMT = urllib.parse.urlsplit(os.environ.get("AMQP_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"))
params = pika.URLParameters(URL)


def amqpctl(*args):
    command = [shutil.which("amqpctl")] if shutil.which("amqpctl") else [sys.executable, "-m", "amqpd.ctl"]
    command += ["-n", MGMT.netloc.rpartition("@")[2], "--username", urllib.parse.unquote(MGMT.username),
                "--password", urllib.parse.unquote(MGMT.password), "-p", params.virtual_host, "-q", *args]
    print(" $ amqpctl", " ".join(args))
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout


work, dlq = f"work-{uuid.uuid4().hex[:8]}", f"work-dlq-{uuid.uuid4().hex[:8]}"
with pika.BlockingConnection(params) as connection:
    channel = connection.channel()
    try:  # not exclusive: amqpctl must reach them; deleted at the end
        channel.queue_declare(dlq)
        channel.queue_declare(work, arguments={"x-dead-letter-exchange": "",
                                               "x-dead-letter-routing-key": dlq})
        for i, tenant in enumerate(["acme", "other", "acme", "other"]):
            props = pika.BasicProperties(headers={"tenant": tenant})
            channel.basic_publish("", work, f"job {i}".encode(), props)
            method, _, _ = channel.basic_get(work)
            channel.basic_reject(method.delivery_tag, requeue=False)
        # a round trip on the channel: the rejects before it are done
        assert channel.queue_declare(dlq, passive=True).method.message_count == 4

        print(amqpctl("peek_queue", dlq, "10"), end="")
        peeked = json.loads(amqpctl("peek_queue", dlq, "10", "--formatter", "json"))
        assert [m["properties"]["headers"]["x-death"][0]["reason"] for m in peeked] == ["rejected"] * 4

        moved = json.loads(amqpctl("move_messages", dlq, work, "--match-header", "tenant=acme",
                                   "--strip-x-death", "--formatter", "json"))
        print(f" [*] {moved}")
        assert moved == {"moved": 2, "remaining": 2, "unroutable": 0, "refused": 0}

        replayed = [channel.basic_get(work, auto_ack=True) for _ in range(3)]
        print(f" [x] replayed: {[body for _, _, body in replayed]}")
        assert [body for _, _, body in replayed] == [b"job 0", b"job 2", None]
        assert all("x-death" not in props.headers for _, props, _ in replayed[:2])
    finally:
        cleanup = connection.channel()  # the one above may have been closed by an error
        cleanup.queue_delete(work)
        cleanup.queue_delete(dlq)
print("OK")
