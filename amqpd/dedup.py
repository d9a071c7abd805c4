"""Publisher deduplication, compatible with the rabbitmq-message-deduplication plugin: the message header
x-deduplication-header names a message; a queue declared with x-message-deduplication does not enqueue a
message whose name is already in it, and the x-message-deduplication exchange type (exchanges/dedup.py)
does not route one it saw within its cache's time. Either way the publisher's confirm is an ack.
"""

from __future__ import annotations

from typing import Any

HEADER = "x-deduplication-header"
HEADER_FIELD = b"\x16x-deduplication-header"


def key_of(msg: Any) -> str | None:
    """The message's deduplication name, or None when it has none."""
    if not msg.headers_mention(HEADER_FIELD):  # False too when there are no headers
        return None
    value = (msg.headers or {}).get(HEADER)
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else repr(value)


class QueueDedup:
    """The names of the messages a queue holds (ready or unacknowledged), each counted once."""

    def __init__(self) -> None:
        self.present: dict[str, int] = {}

    def admit(self, msg: Any) -> bool:
        key = key_of(msg)
        if key is None:
            return True
        if key in self.present:
            return False
        self.present[key] = 1
        return True

    def release(self, msg: Any) -> None:
        """The message left the queue (acked, dropped, expired, dead-lettered, purged)."""
        key = key_of(msg)
        if key is not None:
            self.present.pop(key, None)
