"""consumer_timeout: a channel whose oldest unacknowledged delivery is older than the timeout is closed
with RabbitMQ's 406, and its unacked messages are requeued (redelivered).

No timer per delivery and no timestamp per delivery: while a channel has unacked deliveries one
periodic check runs for it. Each check records a mark (next delivery tag, now): every tag below it was
delivered by then. The unacked map is ordered by tag, so its first entry is the oldest delivery, and the
first mark above that tag bounds its delivery time from above. The check fires at most two check
intervals (at most 1 s) after the delivery passed the timeout, never before; RabbitMQ checks once a
minute (channel_tick_interval), so it fires up to 60 s late.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..errors import ChannelError, ReplyCode

if TYPE_CHECKING:
    import asyncio

    from . import Channel

MAX_INTERVAL = 0.5  # seconds between checks (less for short timeouts)


class AckTimer:
    __slots__ = ("ch", "timeout_ms", "timeout", "interval", "marks", "handle")

    def __init__(self, ch: Channel, timeout_ms: int) -> None:
        self.ch = ch
        self.timeout_ms = timeout_ms
        self.timeout = timeout_ms / 1000
        self.interval = min(MAX_INTERVAL, max(0.01, self.timeout / 4))
        self.marks: deque[tuple[int, float]] = deque()  # (next tag, time): lower tags delivered by then
        self.handle: asyncio.TimerHandle | None = None

    def start(self, tag: int) -> None:
        """The channel's first unacked delivery (tag) right now."""
        loop = self.ch.conn.loop
        self.marks.append((tag + 1, loop.time()))
        if self.handle is None:
            self.handle = loop.call_later(self.interval, self.check)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        self.marks.clear()

    def check(self) -> None:
        self.handle = None
        ch = self.ch
        if ch.state != 1 or not ch.unacked:  # 1: OPEN
            self.marks.clear()
            return
        loop = ch.conn.loop
        now = loop.time()
        marks = self.marks
        if not marks or marks[-1][0] < ch.next_tag:
            marks.append((ch.next_tag, now))
        oldest = next(iter(ch.unacked))
        while marks[0][0] <= oldest:  # recorded before the oldest unacked delivery was made
            marks.popleft()
        if now - marks[0][1] >= self.timeout:
            self.expired(oldest)
        else:
            self.handle = loop.call_later(self.interval, self.check)

    def expired(self, tag: int) -> None:
        ch = self.ch
        self.marks.clear()
        consumer = ch.unacked[tag][1]
        ch.log.warning("consumer timed out waiting for delivery acknowledgement", channel=ch.id,
                       consumer_tag=consumer.tag if consumer is not None else None, delivery_tag=tag,
                       timeout_ms=self.timeout_ms)
        ch.conn.channel_error(ch, ChannelError(
            ReplyCode.PRECONDITION_FAILED,
            f"delivery acknowledgement on channel {ch.id} timed out. Timeout value used: {self.timeout_ms} ms. "
            "This timeout value can be configured, see consumers doc guide to learn more"))
