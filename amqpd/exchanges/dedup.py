"""x-message-deduplication: the rabbitmq-message-deduplication plugin's exchange type.

It routes as a fanout exchange, except that a message whose x-deduplication-header value it routed
within the cache's time is not routed again (the publisher's confirm is still an ack; a mandatory one is
returned, as anything unroutable is). Arguments: x-cache-size (required: entries kept, the oldest go
first), x-cache-ttl (ms; the message header x-cache-ttl overrides it), x-cache-persistence ("memory", the
default, or "disk": the cache is kept in the store and survives a restart of a durable exchange).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from ..dedup import key_of
from ..errors import ChannelError, ReplyCode
from .base import Destination, HeadersGetter
from .fanout import FanoutExchange

TYPE_NAME = "x-message-deduplication"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (bytes, str)):
        try:
            return int(value)
        except ValueError:
            return None
    return value if isinstance(value, int) else None


class DedupExchange(FanoutExchange):
    type_name = TYPE_NAME
    dedups = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = _int(self.arguments.get("x-cache-size"))
        if size is None or size <= 0:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               "Missing or invalid argument, 'x-cache-size' must be an integer greater than 0")
        raw_ttl = self.arguments.get("x-cache-ttl")
        ttl = _int(raw_ttl) if raw_ttl is not None else None
        if raw_ttl is not None and (ttl is None or ttl <= 0):
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               "Invalid argument, 'x-cache-ttl' must be an integer greater than 0")
        persistence = self.arguments.get("x-cache-persistence", "memory")
        if persistence not in ("memory", "disk"):
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               "Invalid argument, 'x-cache-persistence' must be either 'disk' or 'memory'")
        self.size = size
        self.ttl = ttl
        self.cache: OrderedDict[str, int] = OrderedDict()  # name -> expiry (ms since the epoch; 0: never)
        self.store: Any = None  # set by the vhost when the cache is kept on disk
        self.prefix = b""
        self.persist = persistence == "disk"
        self.dropped = 0  # duplicates not routed

    # -- the cache on disk ----------------------------------------------------------------------------
    def attach(self, store: Any, vhost: str) -> None:
        """A durable exchange with x-cache-persistence disk keeps its cache in the store."""
        if self.persist and self.durable:
            self.store = store
            self.prefix = vhost.encode() + b"\0" + self.name.encode() + b"\0"

    def load(self) -> None:
        if self.store is None:
            return
        now = int(time.time() * 1000)
        end = self.prefix[:-1] + b"\x01"
        for key, value in self.store.scan("dedup", self.prefix, end, self.size * 2):
            expires = int.from_bytes(value, "big")
            name = key[len(self.prefix):].decode()
            if expires and expires <= now:
                self.store.delete("dedup", key)
            else:
                self.cache[name] = expires

    # -- routing ----------------------------------------------------------------------------------
    def route(self, routing_key: str, get_headers: HeadersGetter) -> Iterable[Destination]:
        msg = get_headers
        name = key_of(msg) if getattr(msg, "headers_mention", None) is not None else None
        if name is None:
            return super().route(routing_key, get_headers)
        now = int(time.time() * 1000)
        cache = self.cache
        expires = cache.get(name)
        if expires is not None and (not expires or expires > now):
            self.dropped += 1
            return ()
        ttl = _int((msg.headers or {}).get("x-cache-ttl")) or self.ttl
        expires = now + ttl if ttl else 0
        cache[name] = expires
        cache.move_to_end(name)
        store = self.store
        if store is not None:
            store.put("dedup", self.prefix + name.encode(), expires.to_bytes(8, "big"))
        while len(cache) > self.size:
            old, _ = cache.popitem(last=False)
            if store is not None:
                store.delete("dedup", self.prefix + old.encode())
        return super().route(routing_key, get_headers)
