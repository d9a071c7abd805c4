"""What a queue holds, as RabbitMQ's queue JSON breaks it down: bytes and persistent messages among ready
and unacknowledged, what is in memory and what is paged out to the store, the head's timestamp.

The hot path keeps none of this (only the ready count and bytes): the sampler walks each queue's ready
messages and the channels' unacknowledged ones once per collect_statistics_interval, so these figures,
like RabbitMQ's, are as of the last sample.
"""

from __future__ import annotations

import datetime
from typing import Any

from ..message import PagedMessage
from ..protocol.properties import PropertyError, decode_properties


class Contents:
    __slots__ = ("ready_persistent", "ready_persistent_bytes", "ready_paged", "ready_paged_bytes",
                 "unacked", "unacked_bytes", "unacked_persistent", "unacked_persistent_bytes", "unacked_paged",
                 "unacked_paged_bytes", "head_timestamp")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)
        self.head_timestamp: int | None = None

    def add_unacked(self, msg: Any) -> None:
        size = msg.body_size
        self.unacked += 1
        self.unacked_bytes += size
        if msg.persistent:
            self.unacked_persistent += 1
            self.unacked_persistent_bytes += size
        if isinstance(msg, PagedMessage):
            self.unacked_paged += 1
            self.unacked_paged_bytes += size


def scan_ready(q: Any, into: Contents) -> Contents:
    for entry in q.ready:
        msg = entry.msg
        if msg.persistent:
            into.ready_persistent += 1
            into.ready_persistent_bytes += msg.body_size
        if isinstance(msg, PagedMessage):
            into.ready_paged += 1
            into.ready_paged_bytes += msg.body_size
    if q.ready:
        head = q.ready.peek().msg
        # RabbitMQ knows a head's timestamp only while its content is in memory
        if not isinstance(head, PagedMessage):
            try:
                stamp = decode_properties(head.header_payload).timestamp
            except PropertyError:  # headers nested too deeply to decode: no timestamp to show
                stamp = None
            if stamp is not None:
                into.head_timestamp = int(stamp.replace(tzinfo=stamp.tzinfo or datetime.UTC).timestamp())
    return into


def queue_fields(q: Any, c: Contents | None) -> dict[str, Any]:
    """The keys RabbitMQ 3.10 shows for this queue's type."""
    if q.stream:
        return {}  # a stream's records are in its log, none of these apply
    c = c if c is not None else Contents()
    ready_bytes = q.ready.bytes
    ready = q.message_count
    persistent = c.ready_persistent + c.unacked_persistent
    persistent_bytes = c.ready_persistent_bytes + c.unacked_persistent_bytes
    paged = c.ready_paged + c.unacked_paged
    paged_bytes = c.ready_paged_bytes + c.unacked_paged_bytes
    total_bytes = ready_bytes + c.unacked_bytes
    out: dict[str, Any] = {
        "message_bytes": total_bytes,
        "message_bytes_persistent": persistent_bytes,
        "message_bytes_ram": total_bytes - paged_bytes,
        "message_bytes_unacknowledged": c.unacked_bytes,
        "messages_persistent": persistent,
        "messages_ram": ready + q.unacked - paged,
    }
    if q.quorum:
        # amqpd's quorum queues have no at-least-once dead-lettering: nothing waits in a DLX state
        out.update({"message_bytes_dlx": 0, "messages_dlx": 0})
    else:
        out.update({
            "head_message_timestamp": c.head_timestamp,
            "message_bytes_paged_out": paged_bytes,
            "messages_paged_out": paged,
            "messages_ready_ram": ready - c.ready_paged,
            "messages_unacknowledged_ram": q.unacked - c.unacked_paged,
            "recoverable_slaves": None,  # one node: no mirrors
        })
    return out
