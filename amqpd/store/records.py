"""Encoding of stored records. Topology records are small JSON documents (with AMQP tables kept as
encoded AMQP bytes, so argument types survive); message records are binary."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from pamqp import encode

from ..protocol.fieldtable import field_table

RECORD_VERSION = 1


def encode_table(table: dict[str, Any] | None) -> str:
    return base64.b64encode(encode.field_table(table or {})).decode()


def decode_table(text: str) -> dict[str, Any]:
    return field_table(base64.b64decode(text))[1]


def encode_record(kind: str, **fields: Any) -> bytes:
    return json.dumps({"v": RECORD_VERSION, "kind": kind, **fields}, separators=(",", ":")).encode()


def decode_record(raw: bytes) -> dict[str, Any]:
    rec = json.loads(raw)
    if not isinstance(rec, dict) or rec.get("v") != RECORD_VERSION:
        raise ValueError(f"unknown record version in {raw[:80]!r}")
    return rec


def encode_message(exchange: str, routing_key: str, header_payload: bytes, body: bytes,
                   routing_keys: list[str] | None = None) -> bytes:
    """routing_keys: every key the message was routed with when CC/BCC added some (dead-lettering
    without x-dead-letter-routing-key routes with all of them, also after a restart)."""
    ex = exchange.encode()
    parts = [bytes((RECORD_VERSION, len(ex))), ex]
    keys = routing_keys if routing_keys else [routing_key]
    parts.append(struct.pack(">H", len(keys)))
    for k in keys:
        kb = k.encode()
        parts.append(bytes((len(kb),)))
        parts.append(kb)
    parts += [struct.pack(">I", len(header_payload)), header_payload, body]
    return b"".join(parts)


def decode_message(raw: bytes) -> tuple[str, str, bytes, bytes, list[str] | None]:
    """(exchange, routing key, content header, body, all routing keys or None when just one)."""
    if not raw or raw[0] != RECORD_VERSION:
        raise ValueError("unknown message record version")
    pos = 1
    n = raw[pos]
    exchange = raw[pos + 1 : pos + 1 + n].decode()
    pos += 1 + n
    count = struct.unpack_from(">H", raw, pos)[0]
    pos += 2
    keys = []
    for _ in range(count):
        n = raw[pos]
        keys.append(raw[pos + 1 : pos + 1 + n].decode())
        pos += 1 + n
    hlen = struct.unpack_from(">I", raw, pos)[0]
    pos += 4
    header = raw[pos : pos + hlen]
    if len(header) != hlen or not keys:
        raise ValueError("truncated message record")
    return exchange, keys[0], header, raw[pos + hlen :], (keys if len(keys) > 1 else None)
