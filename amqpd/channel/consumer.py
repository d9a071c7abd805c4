"""A basic.consume subscription: what a queue sees of a channel.

Queues never import channel code; they talk to consumers through the small interface this class
implements (queue.ConsumerLike): can it take a delivery now, does it want more at all, deliver this,
you were cancelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.methods import DeliverTemplate

if TYPE_CHECKING:
    from ..message import QEntry
    from . import Channel


class Consumer:
    __slots__ = ("tag", "channel", "conn", "queue", "no_ack", "exclusive", "prefetch", "unacked", "arguments",
                 "template", "priority")

    def __init__(self, tag: str, channel: Channel, queue: Any, no_ack: bool, exclusive: bool,
                 prefetch: int, arguments: dict[str, Any], prefix: bytes, priority: int = 0) -> None:
        self.tag = tag
        self.channel = channel
        self.conn = channel.conn
        self.queue = queue
        self.no_ack = no_ack
        self.exclusive = exclusive
        self.prefetch = prefetch
        self.unacked = 0
        self.arguments = arguments
        self.template = DeliverTemplate(channel.id, prefix)  # basic.deliver, pre-encoded
        self.priority = priority  # x-priority: higher-priority consumers are served first

    def can_take(self) -> bool:
        """A delivery now: its connection's output is below the watermark and prefetch allows it."""
        if not self.conn.writable:
            return False
        return self.no_ack or self.wants_more()

    def wants_more(self) -> bool:
        """Would take deliveries if its socket kept up (it is not waiting for its own acks)."""
        if self.no_ack:
            return True
        if self.prefetch and self.unacked >= self.prefetch:
            return False
        ch = self.channel
        return not (ch.prefetch_global and ch.unacked_count >= ch.prefetch_global)

    def deliver(self, entry: QEntry) -> None:
        ch = self.channel
        tag = ch.next_tag
        ch.next_tag = tag + 1
        msg = entry.msg
        if entry.delivery_count:  # only ever set on quorum queues
            msg = entry.queue.with_delivery_count(entry)
        conn = self.conn
        header, body = msg.content()
        conn.write(self.template.frames(tag, entry.redelivered, msg.tail, header, body, conn.max_body))
        q = entry.queue
        ch.n_deliver += 1
        q.n_deliver += 1
        if entry.redelivered:
            ch.n_redeliver += 1
            q.n_redeliver += 1
        if self.no_ack:
            ch.n_deliver_no_ack += 1
            q.n_deliver_no_ack += 1
            q.delivered(entry, True)
        else:
            self.unacked += 1
            ch.track_unacked(tag, entry, self)

    def cancelled_by_server(self) -> None:
        self.channel.consumer_cancelled_by_server(self)
