"""x-consistent-hash: the type of the rabbitmq_consistent_hash_exchange plugin, which ships with RabbitMQ.

A binding's routing key is its weight, a positive integer as a string: the destination owns that many
buckets, after those of the destinations bound before it (a second binding to it adds none). A message goes to one destination only: the owner
of the bucket that jump consistent hashing picks for the hash of what the exchange hashes on. That is
the routing key by default (the first one, when CC or BCC add more), or the header named by the exchange
argument hash-header, or the property named by hash-property (correlation_id, message_id, timestamp).

As in RabbitMQ, adding a binding moves only the keys that now land in its buckets, and removing one
renumbers the buckets after it. Unlike RabbitMQ, the hash does not depend on the process: bindings are
recovered in the order they were made, so a key keeps its queue across restarts (RabbitMQ rebuilds its
buckets at boot and may move keys). The hash differs from RabbitMQ's (Erlang's phash2), so a given key
may land in a different queue on each broker; docs/compatibility.md.
"""

from __future__ import annotations

import bisect
import datetime
import hashlib
import re
from typing import Any

from ..errors import ChannelError, ReplyCode
from ..protocol.framing import erl_binary
from ..protocol.properties import decode_properties
from .base import Binding, Destination, Exchange, HeadersGetter, freeze

TYPE_NAME = "x-consistent-hash"
PROPERTIES = ("correlation_id", "message_id", "timestamp")  # what hash-property may name (the plugin's list)
# Erlang's list_to_integer: no spaces, no underscores. At most 255 digits (a routing key's length over
# AMQP; the HTTP API and definitions could send more, and Python refuses to convert over 4,300).
_WEIGHT = re.compile(r"[+-]?[0-9]{1,255}")
_NOTHING = b"\0undefined"  # what a message without the hashed header or property hashes as: one bucket for all
_MASK = (1 << 64) - 1
# Keys whose destination is remembered (a few thousand hot keys route with one dict lookup); the memo is
# dropped when full or when the ring changes, so it never grows with the number of distinct keys.
MEMO_MAX = 4096
MEMO_KEY_MAX = 255  # bytes: a routing key's or property's longest; a long header value is not remembered


def jump_hash(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash: a bucket in [0, buckets) for a 64-bit key. Growing
    `buckets` by one moves a key only into the new bucket, and only 1/buckets of them."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _MASK
        j = int((b + 1) * (2147483648.0 / ((key >> 33) + 1)))
    return b


def stable_hash(data: bytes) -> int:
    """The same 64 bits in every process (Python's hash() of a str is salted per process)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _value_bytes(value: Any) -> bytes:
    if value is None:
        return _NOTHING
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, datetime.datetime):
        return str(int(value.timestamp())).encode()  # seconds, as the plugin hashes a timestamp
    return repr(freeze(value)).encode()


class ConsistentHashExchange(Exchange):
    type_name = TYPE_NAME

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        header = self.arguments.get("hash-header")
        prop = self.arguments.get("hash-property")
        for name, value in (("hash-header", header), ("hash-property", prop)):
            if value is not None and not isinstance(value, str):
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"{name} must be a string")
        if header is not None and prop is not None:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, "hash-header and hash-property are mutually exclusive")
        if prop is not None and prop not in PROPERTIES:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"Unsupported property: {prop}")
        self.hash_header: str | None = header
        self._header_names = frozenset((header,)) if header is not None else frozenset()
        self.hash_property: str | None = prop
        # The ring, rebuilt on the first publish after a change: each binding's last bucket + 1 (in
        # binding order) and its destination.
        self._ends: list[int] | None = []
        self._owners: list[Destination] = []
        self._memo: dict[bytes, Destination] = {}

    @staticmethod
    def weight(routing_key: str) -> int:
        return int(routing_key) if _WEIGHT.fullmatch(routing_key) else 0

    def validate_binding(self, routing_key: str, arguments: dict[str, Any]) -> None:
        if not _WEIGHT.fullmatch(routing_key):
            key = erl_binary(routing_key.encode("utf-8", "surrogateescape"))
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"The binding key must be an integer: {key}")
        if int(routing_key) < 1:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, "The binding key must be greater than 0")

    def _index_add(self, binding: Binding) -> None:
        self._ends = None
        self._memo.clear()

    def _index_remove(self, binding: Binding) -> None:
        self._ends = None
        self._memo.clear()

    def ring(self) -> tuple[list[int], list[Destination]]:
        """(each destination's last bucket + 1, the destination), in the order of their first bindings.
        A destination bound twice is in the ring once, with its first binding's weight: RabbitMQ 3.10
        ignores a second binding to a destination too."""
        if self._ends is None:
            ends: list[int] = []
            owners: list[Destination] = []
            seen: set[int] = set()
            total = 0
            for b in self.bindings.values():
                if id(b.destination) in seen:
                    continue
                seen.add(id(b.destination))
                total += self.weight(b.routing_key)
                ends.append(total)
                owners.append(b.destination)
            self._ends, self._owners = ends, owners
        return self._ends, self._owners

    def hashed(self, routing_key: str, msg: Any) -> bytes:
        """What the message is hashed on."""
        if self.hash_header is not None:
            headers = msg.headers_subset(self._header_names)
            return _value_bytes((headers or {}).get(self.hash_header))
        if self.hash_property is not None:
            return _value_bytes(getattr(decode_properties(msg.header_payload), self.hash_property))
        return routing_key.encode()

    def route(self, routing_key: str, get_headers: HeadersGetter) -> tuple[Destination, ...]:
        ends, owners = self.ring()
        if not ends:
            return ()
        msg: Any = get_headers  # the router passes the Message, which is its own headers getter
        keys = getattr(msg, "routing_keys", None)
        if keys is not None and routing_key != keys[0]:
            return ()  # CC and BCC keys: the plugin hashes the first routing key only, once
        hashed = self.hashed(routing_key, msg)
        memo = self._memo
        owner = memo.get(hashed)
        if owner is None:
            owner = owners[bisect.bisect_right(ends, jump_hash(stable_hash(hashed), ends[-1]))]
            if len(hashed) <= MEMO_KEY_MAX:
                if len(memo) >= MEMO_MAX:
                    memo.clear()
                memo[hashed] = owner
        return (owner,)
