"""Fixed-width big-endian binary keys and values. Never names or decimal strings in keys: binary keys
sort numerically, so a queue's messages are one contiguous, ordered key range."""

from __future__ import annotations

import struct

FORMAT_VERSION = 1

_U64 = struct.Struct(">Q")
_U64U64 = struct.Struct(">QQ")
# index value: message id, flags, priority, expiry deadline (ms since epoch, 0 = none), body size,
# delivery count (quorum queues' x-delivery-count), place among a quorum queue's returns (0 = none)
_INDEX = struct.Struct(">QBBQIIQ")

FLAG_DELIVERED = 1


def id_key(entity_id: int) -> bytes:
    return _U64.pack(entity_id)


def key_id(key: bytes) -> int:
    return _U64.unpack(key)[0]


def index_key(queue_id: int, seq: int) -> bytes:
    return _U64U64.pack(queue_id, seq)


def split_index_key(key: bytes) -> tuple[int, int]:
    return _U64U64.unpack(key)


def queue_range(queue_id: int) -> tuple[bytes, bytes]:
    """[start, end) of one queue's index keys."""
    return _U64U64.pack(queue_id, 0), _U64U64.pack(queue_id + 1, 0)


def index_value(msg_id: int, flags: int, priority: int, expires_at: int, body_size: int,
                delivery_count: int = 0, returned: int = 0) -> bytes:
    return _INDEX.pack(msg_id, flags, priority, expires_at, body_size, delivery_count, returned)


def parse_index_value(value: bytes) -> tuple[int, int, int, int, int, int, int]:
    return _INDEX.unpack(value)


def version_value(version: int = FORMAT_VERSION) -> bytes:
    return struct.pack(">I", version)


def parse_version(value: bytes) -> int:
    if len(value) != 4:
        raise ValueError("format marker is not 4 bytes")
    return struct.unpack(">I", value)[0]


# streams (column family "streams"): one stream's records sort together, each kind by number
STREAM_RECORD = 1  # stream id, 1, offset -> timestamp + message
STREAM_SEGMENT = 2  # stream id, 2, first offset -> segment summary
STREAM_READER = 3  # stream id, 3, reader name -> last acknowledged offset
_STREAM = struct.Struct(">QBQ")


def stream_key(stream_id: int, kind: int, number: int) -> bytes:
    return _STREAM.pack(stream_id, kind, number)


def stream_key_number(key: bytes) -> int:
    return _STREAM.unpack_from(key)[2]


def stream_range(stream_id: int, kind: int) -> tuple[bytes, bytes]:
    """[start, end) of one stream's keys of one kind."""
    return _STREAM.pack(stream_id, kind, 0), _STREAM.pack(stream_id, kind + 1, 0)


def stream_reader_key(stream_id: int, name: str) -> bytes:
    return struct.pack(">QB", stream_id, STREAM_READER) + name.encode()


def stream_all(stream_id: int) -> tuple[bytes, bytes]:
    return struct.pack(">Q", stream_id), struct.pack(">Q", stream_id + 1)
