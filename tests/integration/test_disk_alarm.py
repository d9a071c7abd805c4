"""The disk alarm (issue 15): free space below disk_free_limit blocks publishers with connection.blocked
"low on disk", consumers keep draining, nothing confirmed is lost, and the alarm shows in the log, the
HTTP API, the metrics and amqpctl. The limit is moved with amqpctl set_disk_free_limit, as an operator
would, instead of filling a disk."""

from __future__ import annotations

import os
import urllib.request

import pika
import pytest
from conftest import start_amqpd
from ctl_helpers import amqpctl, conf_of
from helpers import close_quietly, drain
from mgmt_helpers import Api, wait_for

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")


def test_limit_above_free_space_blocks_publishers_until_lowered(tmp_path):
    # 1000 TB: more than any test machine has free, so the alarm is on from the start
    b = start_amqpd(tmp_path, conf="disk_free_limit.absolute = 1000TB\nheartbeat = 0\n")
    ctl = conf_of(b)
    pub = pika.BlockingConnection(b.pika_params())
    consumer = pika.BlockingConnection(b.pika_params())
    try:
        assert wait_for(lambda: "disk alarm set" in b.log_text())
        api = Api(b.http_port)
        node = api.get("/nodes").body[0]
        assert node["disk_free_alarm"] is True and node["disk_free_limit"] == 1000 * 10**12, node
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{b.metrics_port}/metrics", timeout=5).read().decode()
        assert "rabbitmq_alarms_free_disk_space_watermark 1" in metrics
        r = amqpctl("check_local_alarms", conf=ctl)
        assert r.code == 69 and "Free disk space alarm on node" in r.err, r
        r = amqpctl("-q", "alarms", conf=ctl)
        assert r.out.startswith("Free disk space alarm on node"), r

        blocked: list[str] = []
        pub.add_on_connection_blocked_callback(lambda _c, frame: blocked.append(frame.method.reason))
        pub.add_on_connection_unblocked_callback(lambda _c, frame: blocked.append("unblocked"))
        ch = pub.channel()
        ch.confirm_delivery()
        ch.queue_declare("disk-q", durable=True)
        cch = consumer.channel()
        got: list[bytes] = []
        cch.basic_consume("disk-q", lambda c, m, p, body: got.append(body), auto_ack=True)
        # the first publish marks the connection a publisher: it is blocked before the message's content is
        # read, so the message waits in the socket, unconfirmed, as with RabbitMQ
        pub.channel().basic_publish("", "disk-q", b"first", pika.BasicProperties(delivery_mode=2))
        assert drain(pub, lambda: blocked == ["low on disk"], timeout=5), blocked
        drain(consumer, lambda: bool(got), timeout=1)
        assert got == []
        consumer.channel().queue_declare("other")  # connections that do not publish are served

        r = amqpctl("set_disk_free_limit", "50MB", conf=ctl)
        assert r.code == 0 and r.out.endswith("to 50MB bytes ...\n"), r
        assert drain(pub, lambda: blocked[-1:] == ["unblocked"], timeout=5), blocked
        ch.basic_publish("", "disk-q", b"after", pika.BasicProperties(delivery_mode=2))  # returns once confirmed
        drain(consumer, lambda: len(got) >= 2, timeout=5)
        assert got == [b"first", b"after"]
        assert "disk alarm cleared" in b.log_text()
        assert api.get("/nodes").body[0]["disk_free_alarm"] is False
        assert amqpctl("check_local_alarms", conf=ctl).code == 0

        r = amqpctl("set_disk_free_limit", "mem_relative", "1000000", conf=ctl)  # a million times the RAM
        assert r.code == 0 and "times the total RAM" in r.out, r
        assert drain(pub, lambda: blocked[-1:] == ["low on disk"], timeout=5), blocked
        assert amqpctl("set_disk_free_limit", "lots", conf=ctl).code == 65
    finally:
        amqpctl("set_disk_free_limit", "1", conf=ctl)  # a blocked connection is not read: not even its close
        close_quietly(pub)
        close_quietly(consumer)
        b.stop()


def test_frames_read_with_the_blocking_publish_wait_for_the_alarm_to_clear(tmp_path):
    """The whole message (publish, header, body) arrives in one write, so one read: the publish blocks the
    connection, and the header and body read with it are not handled until the alarm clears, as RabbitMQ
    reads nothing more from a blocked connection. Then the message is enqueued and confirmed."""
    from pamqp import commands as spec
    from pamqp import frame as pframe
    from rawclient import RawClient, encode_properties, header_payload, raw_frame

    b = start_amqpd(tmp_path, conf="disk_free_limit.absolute = 1000TB\nheartbeat = 0\n")
    admin = pika.BlockingConnection(b.pika_params())
    try:
        assert wait_for(lambda: "disk alarm set" in b.log_text())
        admin.channel().queue_declare("held-q")
        c = RawClient(b.host, b.port).connect()
        c.open_channel(1)
        c.send_method(1, spec.Confirm.Select())
        c.wait_method(1, spec.Confirm.SelectOk)
        c.send_raw(pframe.marshal(spec.Basic.Publish(exchange="", routing_key="held-q"), 1)
                   + raw_frame(2, 1, header_payload(4, encode_properties())) + raw_frame(3, 1, b"held"))
        assert wait_for(lambda: "connection blocked" in b.log_text())  # no capability, so no connection.blocked
        drain(admin, lambda: False, timeout=0.5)
        assert admin.channel().queue_declare("held-q", passive=True).method.message_count == 0

        assert amqpctl("set_disk_free_limit", "50MB", conf=conf_of(b)).code == 0
        assert c.wait_method(1, spec.Basic.Ack, timeout=5).delivery_tag == 1
        assert admin.channel().queue_declare("held-q", passive=True).method.message_count == 1
        c.close()
    finally:
        close_quietly(admin)
        b.stop()
