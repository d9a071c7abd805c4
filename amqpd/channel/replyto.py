"""Direct reply-to (amq.rabbitmq.reply-to), as RabbitMQ implements it.

An RPC client consumes from the pseudo-queue amq.rabbitmq.reply-to (no-ack only) and publishes requests
with reply_to = amq.rabbitmq.reply-to; the broker rewrites that to amq.rabbitmq.reply-to.<token>, a name
for this channel. A reply published to the default exchange with that routing key goes straight to the
requesting channel's reply consumer: no queue is created, nothing is stored.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Any

from ..errors import ChannelError, ReplyCode
from ..protocol.methods import deliver_prefix
from ..protocol.properties import parse_header, replace_reply_to, reply_to

if TYPE_CHECKING:
    from ..message import Message
    from . import Channel

PSEUDO_QUEUE = "amq.rabbitmq.reply-to"
PREFIX = PSEUDO_QUEUE + "."


class ReplyConsumer:
    __slots__ = ("tag", "prefix", "token")

    def __init__(self, tag: str, token: str) -> None:
        self.tag = tag
        self.prefix = deliver_prefix(tag)
        self.token = token


def consume(ch: Channel, tag: str, no_ack: bool) -> None:
    if not no_ack:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "reply consumer cannot acknowledge")
    if ch.reply_consumer is not None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "reply consumer already set")
    token = base64.urlsafe_b64encode(os.urandom(18)).decode()
    ch.reply_consumer = ReplyConsumer(tag, token)
    ch.vhost.reply_channels[token] = ch


def cancel(ch: Channel) -> None:
    rc = ch.reply_consumer
    if rc is not None:
        ch.vhost.reply_channels.pop(rc.token, None)
        ch.reply_consumer = None


def rewrite_request(ch: Channel, msg: Message) -> None:
    """A request asking for a direct reply: name this channel in its reply_to."""
    if reply_to(msg.header_payload, msg.props) != PSEUDO_QUEUE:
        return
    rc = ch.reply_consumer
    if rc is None:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "fast reply consumer does not exist")
    msg.header_payload = replace_reply_to(msg.header_payload, msg.props, PREFIX + rc.token)
    msg.props = parse_header(msg.header_payload)[3]


def route_reply(vhost: Any, routing_key: str, msg: Message) -> bool:
    """Deliver a reply to its requester's channel; False when that channel is gone (unroutable)."""
    ch = vhost.reply_channels.get(routing_key[len(PREFIX):])
    if ch is None or ch.reply_consumer is None:
        return False
    ch.deliver_reply(msg)
    return True
