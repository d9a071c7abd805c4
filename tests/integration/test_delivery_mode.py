"""basic.publish with a delivery_mode other than 1 or 2: RabbitMQ 3.10 closes the channel and drops
the message (rabbit_basic:is_message_persistent); no delivery_mode at all is fine. Checked against
RabbitMQ 3.10.8."""

from __future__ import annotations

import pytest
from pamqp import commands as C
from rawclient import RawClient, encode_properties  # tests/integration is on sys.path

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def c(broker):
    client = RawClient(broker.host, broker.port).connect()
    client.open_channel(1)
    client.open_channel(2)
    yield client
    client.close()


def depth(c: RawClient, q: str) -> int:
    return c.rpc(2, C.Queue.Declare(queue=q, passive=True), C.Queue.DeclareOk).message_count


@pytest.mark.parametrize("mode", [0, 3, 255])
def test_unknown_delivery_mode_closes_channel(c, uniq, mode):
    q = uniq("dm")
    c.declare_queue(2, q)
    c.rpc(1, C.Confirm.Select(), C.Confirm.SelectOk)
    c.publish(1, b"x", "", q, properties=encode_properties(delivery_mode=mode))
    m = c.wait_channel_close(1)
    assert (m.reply_code, m.reply_text, m.class_id, m.method_id) == (
        406, f"PRECONDITION_FAILED - invalid message: {{delivery_mode_unknown,{mode}}}", 60, 40)
    assert depth(c, q) == 0
    c.delete_queue(2, q)


@pytest.mark.parametrize("mode", [None, 1, 2])
def test_known_or_absent_delivery_mode_accepted(c, uniq, mode):
    q = uniq("dm")
    c.declare_queue(2, q)
    props = encode_properties() if mode is None else encode_properties(delivery_mode=mode)
    c.rpc(1, C.Confirm.Select(), C.Confirm.SelectOk)
    c.publish(1, b"x", "", q, properties=props)
    assert c.wait_method(1, C.Basic.Ack).delivery_tag == 1
    assert depth(c, q) == 1
    c.delete_queue(2, q)


def test_missing_exchange_is_reported_first(c):
    c.publish(1, b"x", "no-such-exchange-dm", "k", properties=encode_properties(delivery_mode=3))
    m = c.wait_channel_close(1)
    assert (m.reply_code, m.reply_text) == (404, "NOT_FOUND - no exchange 'no-such-exchange-dm' in vhost '/'")
