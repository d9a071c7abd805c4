"""Dead-lettering: republishing a message that died in a queue to that queue's dead-letter exchange.

RabbitMQ 3.10 (rabbit_dead_letter) records each death in the `x-death` header: an array, newest first,
with one table per (queue, reason) whose `count` grows on repeated deaths; the first death also sets
x-first-death-reason/-queue/-exchange (x-last-death-* only appeared in 3.13). The expiration property
is removed (its value is kept as `original-expiration`), and every header table write sorts the table by
key, as rabbit_misc:set_table_value does.

Headers are rewritten at the byte level: fields the broker does not touch are copied verbatim with their
original AMQP types (decoding to Python values and re-encoding would turn a client's 'I' into whatever
the encoder picks), and the fields RabbitMQ writes get RabbitMQ's types (count is a long, time a
timestamp, strings longstr).
"""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING, Any

from .message import Message
from .protocol.properties import F_EXPIRATION, F_HEADERS, parse_header
from .router import route

if TYPE_CHECKING:
    from .queue import Queue

_u32 = struct.Struct(">I")
_i64 = struct.Struct(">q")
_u64 = struct.Struct(">Q")
_u16 = struct.Struct(">H")

# Value sizes of the AMQP 0-9-1 field types as RabbitMQ reads them; the others are u32-length-prefixed.
_FIXED = {ord("t"): 1, ord("b"): 1, ord("B"): 1, ord("s"): 2, ord("u"): 2, ord("I"): 4, ord("i"): 4,
          ord("l"): 8, ord("L"): 8, ord("f"): 4, ord("d"): 8, ord("D"): 5, ord("T"): 8, ord("V"): 0}
_SIGNED_INTS = {ord("b"): ">b", ord("B"): ">B", ord("s"): ">h", ord("u"): ">H", ord("I"): ">i",
                ord("i"): ">I", ord("l"): ">q", ord("L"): ">Q"}

Field = tuple[str, bytes]  # (name, type octet + encoded value)


# -- byte-level field tables -------------------------------------------------------------------------
def _value_end(buf: bytes, pos: int) -> int:
    """End offset of the typed value starting at pos (its type octet)."""
    t = buf[pos]
    size = _FIXED.get(t)
    if size is not None:
        return pos + 1 + size
    return pos + 5 + _u32.unpack_from(buf, pos + 1)[0]


def split_table(body: bytes) -> list[Field]:
    """A field table's content (without its length prefix) as (name, raw typed value) pairs."""
    fields: list[Field] = []
    pos = 0
    while pos < len(body):
        n = body[pos]
        name = body[pos + 1 : pos + 1 + n].decode("utf-8", "replace")
        start = pos + 1 + n
        pos = _value_end(body, start)
        fields.append((name, body[start:pos]))
    return fields


def split_array(body: bytes) -> list[bytes]:
    items: list[bytes] = []
    pos = 0
    while pos < len(body):
        end = _value_end(body, pos)
        items.append(body[pos:end])
        pos = end
    return items


def encode_fields(fields: list[Field]) -> bytes:
    parts = []
    for name, raw in fields:
        key = name.encode("utf-8")
        parts.append(bytes((len(key),)) + key + raw)
    return b"".join(parts)


def longstr(value: str) -> bytes:
    data = value.encode("utf-8")
    return b"S" + _u32.pack(len(data)) + data


def long_(value: int) -> bytes:
    return b"l" + _i64.pack(value)


def table(fields: list[Field]) -> bytes:
    body = encode_fields(fields)
    return b"F" + _u32.pack(len(body)) + body


def array(items: list[bytes]) -> bytes:
    body = b"".join(items)
    return b"A" + _u32.pack(len(body)) + body


def str_value(raw: bytes) -> str | None:
    if raw[:1] == b"S":
        return raw[5:].decode("utf-8", "replace")
    return None


def int_value(raw: bytes) -> int | None:
    fmt = _SIGNED_INTS.get(raw[0]) if raw else None
    return struct.unpack_from(fmt, raw, 1)[0] if fmt else None


def get(fields: list[Field], name: str) -> bytes | None:
    for key, raw in fields:
        if key == name:
            return raw
    return None


def set_field(fields: list[Field], name: str, raw: bytes) -> list[Field]:
    """rabbit_misc:set_table_value: replace in place or append, then sort by key (stable)."""
    out = list(fields)
    for i, (key, _) in enumerate(out):
        if key == name:
            out[i] = (name, raw)
            break
    else:
        out.append((name, raw))
    out.sort(key=lambda f: f[0].encode("utf-8"))
    return out


# -- content header rewriting ------------------------------------------------------------------------
def rewrite_header(payload: bytes, headers: list[Field] | None, drop_expiration: bool) -> bytes:
    """The content header with a new headers table (None: none) and maybe without expiration.

    Every other property is copied byte for byte.
    """
    flags = _u16.unpack_from(payload, 12)[0]
    pos = 14
    segments: dict[int, bytes] = {}
    for bit in (0x8000, 0x4000, 0x2000, 0x1000, 0x0800, 0x0400, 0x0200, 0x0100, 0x0080, 0x0040, 0x0020,
                0x0010, 0x0008, 0x0004):
        if not flags & bit:
            continue
        if bit == F_HEADERS:
            end = pos + 4 + _u32.unpack_from(payload, pos)[0]
        elif bit in (0x1000, 0x0800):  # delivery_mode, priority: octets
            end = pos + 1
        elif bit == 0x0040:  # timestamp
            end = pos + 8
        else:  # short strings
            end = pos + 1 + payload[pos]
        segments[bit] = payload[pos:end]
        pos = end
    if headers:
        body = encode_fields(headers)
        segments[F_HEADERS] = _u32.pack(len(body)) + body
        flags |= F_HEADERS
    else:
        segments.pop(F_HEADERS, None)
        flags &= ~F_HEADERS
    if drop_expiration:
        segments.pop(F_EXPIRATION, None)
        flags &= ~F_EXPIRATION
    ordered = [segments[bit] for bit in sorted(segments, reverse=True)]
    return payload[:12] + _u16.pack(flags) + b"".join(ordered)


def header_fields(msg: Message) -> list[Field]:
    span = msg.props.headers_span
    if span is None:
        return []
    return split_table(msg.header_payload[span[0] + 4 : span[1]])


def with_header(msg: Message, name: str, raw: bytes) -> Message:
    """A copy of msg (same body) with one header set, as rabbit_basic:add_header does."""
    payload = rewrite_header(msg.header_payload, set_field(header_fields(msg), name, raw), False)
    return _derived(msg, msg.exchange, msg.routing_key, payload, msg.routing_keys)


def _derived(msg: Message, exchange: str, routing_key: str, payload: bytes,
             routing_keys: list[str] | None) -> Message:
    new = Message(exchange, routing_key, payload, msg.body, parse_header(payload)[3])
    new.routing_keys = routing_keys
    new.id = msg.id
    return new


# -- x-death -----------------------------------------------------------------------------------------
def _route_values(raw: bytes | None) -> list[str]:
    if raw is None or raw[:1] != b"A":
        return []
    return [s for s in (str_value(item) for item in split_array(raw[5:])) if s is not None]


def _death_key(fields: list[Field]) -> tuple[str | None, str | None]:
    return str_value(get(fields, "queue") or b""), str_value(get(fields, "reason") or b"")


def _grouped(items: list[bytes]) -> list[bytes]:
    """group_by_queue_and_reason: merge entries written before RabbitMQ grouped them (server#78)."""
    tables = [split_table(i[5:]) for i in items if i[:1] == b"F"]
    if len(tables) < 2:
        return items
    seen: set = set()
    out: list[bytes] = []
    for fields in tables:
        key = _death_key(fields)
        if key in seen:
            continue
        seen.add(key)
        matches = sum(1 for f in tables if _death_key(f) == key)
        if get(fields, "count") is None:
            fields = [("count", long_(matches))] + fields
        out.append(table(fields))
    return out


def record_death(msg: Message, reason: str, queue_name: str, dlx_rk: str | None) -> list[Field]:
    """The message's headers after this death (make_msg + update_x_death_header in rabbit_dead_letter)."""
    headers = header_fields(msg)
    keys = msg.all_routing_keys()
    death_keys = [keys[0]] + _route_values(get(headers, "CC")) + _route_values(get(headers, "BCC"))
    info: list[Field] = [
        ("reason", longstr(reason)),
        ("queue", longstr(queue_name)),
        ("time", b"T" + _u64.pack(int(time.time()))),
        ("exchange", longstr(msg.exchange)),
        ("routing-keys", array([longstr(k) for k in death_keys])),
    ]
    if msg.props.expiration is not None:
        info.append(("original-expiration", longstr(msg.props.expiration)))
    existing = get(headers, "x-death")
    if existing is None:
        headers = set_field(headers, "x-first-death-reason", longstr(reason))
        headers = set_field(headers, "x-first-death-queue", longstr(queue_name))
        headers = set_field(headers, "x-first-death-exchange", longstr(msg.exchange))
        headers = set_field(headers, "x-death", array([table([("count", long_(1))] + info)]))
    elif existing[:1] == b"A":
        others = []
        match: list[Field] | None = None
        for item in _grouped(split_array(existing[5:])):
            fields = split_table(item[5:]) if item[:1] == b"F" else None
            if match is None and fields is not None and _death_key(fields) == (queue_name, reason):
                match = fields
            else:
                others.append(item)
        if match is None:
            entry = [("count", long_(1))] + info
        else:
            count = int_value(get(match, "count") or b"")
            entry = set_field(match, "count", long_(1 if count is None else count + 1))
        entry.sort(key=lambda f: f[0].encode("utf-8"))
        headers = set_field(headers, "x-death", array([table(entry)] + others))
    else:  # a client rewrote x-death as something else: RabbitMQ starts the history again
        headers = set_field(headers, "x-death", array([table([("count", long_(1))] + info)]))
    if dlx_rk is not None:
        headers = [f for f in headers if f[0] != "CC"]
    return headers


def is_cycle(queue_name: str, deaths: list[bytes]) -> bool:
    """rabbit_dead_letter:is_cycle: the message already died in queue_name and no death since (that
    one included) was a rejection, so dead-lettering it there again would loop without end."""
    for i, item in enumerate(deaths):
        if item[:1] != b"F":
            continue
        if str_value(get(split_table(item[5:]), "queue") or b"") == queue_name:
            for seen in deaths[: i + 1]:
                if seen[:1] != b"F":
                    return False
                if str_value(get(split_table(seen[5:]), "reason") or b"") == "rejected":
                    return False
            return True
    return False


def make_dead_letter(msg: Message, reason: str, queue_name: str, dlx: str, dlx_rk: str | None) -> Message:
    headers = record_death(msg, reason, queue_name, dlx_rk)
    payload = rewrite_header(msg.header_payload, headers, True)
    keys = [dlx_rk] if dlx_rk is not None else msg.all_routing_keys()
    dl = _derived(msg, dlx, keys[0], payload, keys if len(keys) > 1 else None)
    dl.id = 0  # a new message as far as a store is concerned (RabbitMQ gives it a new guid)
    return dl


def dead_letter(queue: Queue, msgs: list[Message], reason: str) -> None:
    """Republish msgs, which died in queue for reason, through the queue's dead-letter exchange.

    A missing exchange drops them (RabbitMQ checks at the moment of death, not at declare).
    """
    vhost = queue.vhost
    dead = vhost.counters.dead_lettered
    dead[reason] = dead.get(reason, 0) + len(msgs)
    ex = vhost.exchanges.get(queue.dlx)
    if ex is None:
        vhost.log.debug("dead-letter exchange missing; message dropped", queue=queue.name,
                        exchange=queue.dlx, reason=reason, count=len(msgs))
        return
    for msg in msgs:
        dl = make_dead_letter(msg, reason, queue.name, ex.name, queue.dlx_rk)
        targets = route(vhost.exchanges, ex, dl.all_routing_keys(), dl)
        if reason != "rejected" and targets:
            deaths = split_array((get(header_fields(dl), "x-death") or b"A\0\0\0\0")[5:])
            kept = [q for q in targets if not is_cycle(q.name, deaths)]
            if len(kept) != len(targets):
                _log_cycle(vhost, queue, [q.name for q in targets if q not in kept])
            targets = kept
        for q in targets:
            if q.enqueue(dl) is not None:
                q.seq_skip += 1  # RabbitMQ does not count dead-lettered messages as published to q


def _log_cycle(vhost: Any, queue: Any, names: list[str]) -> None:
    key = (queue.name, tuple(names))
    if key in vhost.logged_dl_cycles:
        return
    vhost.logged_dl_cycles.add(key)
    vhost.log.warning("message dropped: dead-letter cycle detected; this cycle will not be reported again",
                      queue=queue.name, cycle=names)
