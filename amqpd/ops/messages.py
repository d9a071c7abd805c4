"""Browsing and moving a queue's ready messages: amqpd's own operations, not AMQP methods.

``peek_messages`` shows the first ready messages in delivery order without taking them: nothing leaves
the queue, no counter moves, no redelivered flag is set and nothing is written to the store, except that
expired heads are dropped (and dead-lettered) exactly as the queue itself would drop them.

``move_messages`` is what RabbitMQ users run a shovel for (replaying a dead-letter queue): ready messages
leave one queue and are published into another queue or through an exchange. Each message moves
atomically: the destination's enqueue and the source's removal are made in the same synchronous step, so
for persistent messages in durable queues they land in the same store batch (store/rocks.py commits
everything written during one loop turn as one WriteBatch), and a crash leaves the message in exactly
one of the two queues. A message that cannot move (routed nowhere, refused by a full destination, not
matching the filters, expired) stays where it was, in its place.

Permissions are those of the equivalent basic.get and basic.publish: read on the source queue, write on
the destination exchange (topic write permission on the keys used), and for a queue destination write
on the default exchange (RabbitMQ's check for a publish to it) and on the queue itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .. import flow
from ..auth.permissions import READ, WRITE
from ..deadletter import header_fields, rewrite_header
from ..errors import AMQPError
from ..message import Message, QEntry, parse_expiration
from ..protocol.properties import parse_header
from ..queue import Queue
from ..ready import FifoReady
from ..router import route
from ..vhost import VHost
from .errors import BadRequest, Missing, NotFound, Refused

PEEK_MAX = 1000
# The dead-letter history RabbitMQ writes (rabbit_dead_letter); stripping x-death alone would leave a
# message that claims a first death but has no deaths.
DEATH_HEADERS = frozenset(("x-death", "x-first-death-reason", "x-first-death-queue", "x-first-death-exchange"))


@dataclass
class PeekResult:
    queue: Queue
    entries: list[QEntry]  # in delivery order; still in the queue

    @property
    def message_count(self) -> int:
        return self.queue.message_count


@dataclass
class MoveResult:
    moved: int = 0
    remaining: int = 0  # ready messages left in the source
    unroutable: int = 0  # routed to no queue by the destination exchange: still in the source
    refused: int = 0  # refused by a full destination (x-overflow reject-publish*): the move stopped there
    destinations: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, int]:
        return {"moved": self.moved, "remaining": self.remaining, "unroutable": self.unroutable,
                "refused": self.refused}


def _count(value: Any, what: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{what} must be a non-negative integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise BadRequest(f"{what} must be at most {maximum}, got {value}")
    return value


def _header_equals(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, (bytes, bytearray)):
        actual = bytes(actual).decode("utf-8", "replace")
    if isinstance(actual, bool) != isinstance(wanted, bool):
        return False  # True == 1 in Python, not in a header table
    return bool(actual == wanted)


def _expired(entry: QEntry, now: float) -> bool:
    return entry.expires is not None and now >= entry.expires


def _loaded(msg: Message) -> Message:
    """An in-memory copy of a queued message (a PagedMessage reads its content back), with id 0: the
    destination stores it as a new message, so the source's removal can delete the old record in the
    same batch whatever else (another queue, a page-out) refers to it."""
    header, body = msg.content()  # names a PagedMessage recovered at boot (exchange, routing keys) too
    copy = Message(msg.exchange, msg.routing_key, header, body, parse_header(header)[3])
    copy.routing_keys = msg.routing_keys
    return copy


def _without_deaths(msg: Message) -> Message:
    fields = header_fields(msg)
    kept = [f for f in fields if f[0] not in DEATH_HEADERS]
    if len(kept) == len(fields):
        return msg
    header = rewrite_header(msg.header_payload, kept or None, False)
    copy = Message(msg.exchange, msg.routing_key, header, msg.body, parse_header(header)[3])
    copy.routing_keys = msg.routing_keys
    return copy


def _republished(msg: Message, exchange: str, keys: list[str]) -> Message:
    new = Message(exchange, keys[0], msg.header_payload, msg.body, msg.props)
    new.routing_keys = keys if len(keys) > 1 else None
    expiration = msg.props.expiration
    if expiration is not None:
        try:
            new.ttl = parse_expiration(expiration)  # counted again from now, as for any publish
        except ValueError:
            new.ttl = None
    return new


def _refuses(q: Queue, msg: Message) -> bool:
    """Would the queue refuse this message (x-overflow reject-publish, reject-publish-dlx)? Asked before
    enqueueing: the queue's own refusal would dead-letter a reject-publish-dlx copy while the message
    also stays in the source."""
    if q.overflow == "drop-head":
        return False
    if q.max_length is not None and len(q.ready) + 1 > q.max_length:
        return True
    return q.max_bytes is not None and q.ready.bytes + msg.body_size > q.max_bytes


def _put_back(q: Queue, entries: list[QEntry]) -> None:
    """Return popped entries to where they were. They were taken from the head, so they go back in
    front of everything still queued (and of anything enqueued meanwhile, which has later seqs)."""
    if not entries:
        return
    ready = q.ready
    if q.quorum:
        # A quorum queue serves its returns first; popped returns were the front of that queue and
        # ReturnsFirstReady.requeue would append them behind the others, so they go back by hand.
        returned = [e for e in entries if e.returned]
        if returned:
            ready._returns.extendleft(reversed(returned))
            ready.bytes += sum(e.msg.body_size for e in returned)
        plain = [e for e in entries if not e.returned]
        if plain:
            FifoReady.requeue(ready, plain)  # by seq, into the main queue
    else:
        ready.requeue(entries)  # classic and priority containers are ordered by seq: back in place


class MessageOps:
    log: Any

    # -- lookups ------------------------------------------------------------------------------------
    @staticmethod
    def _message_source(vh: VHost, name: str, access: Any, conn: Any) -> Queue:
        # as basic.get: the permission first, then the queue
        if access is not None:
            access.check(READ, "queue", name)
        if name not in vh.queues:
            raise NotFound(f"no queue '{name}' in vhost '{vh.name}'")
        try:
            return vh.queue(name, conn)
        except AMQPError as exc:  # another connection's exclusive queue
            raise Refused(exc.text) from None

    # -- peek ---------------------------------------------------------------------------------------
    def peek_messages(self, vh: VHost, queue_name: str, count: int, access: Any = None,
                      conn: Any = None, offset: int | None = None) -> PeekResult:
        """The first ``count`` ready messages (at most PEEK_MAX), left where they are; for a stream,
        ``count`` records from ``offset`` (default: the first one kept)."""
        count = _count(count, "count", PEEK_MAX)
        q = self._message_source(vh, queue_name, access, conn)
        if q.stream:
            start = q.log.first_offset if offset is None else max(_count(offset, "offset"), q.log.first_offset)
            return PeekResult(q, [QEntry(r, r.offset, q) for r in q.log.read(start, count)] if count else [])
        now = time.time()
        if q._expiring:
            q._drop_expired(now)
        entries: list[QEntry] = []
        if count:
            for entry in q.ready:  # delivery order (PriorityReady: highest priority first)
                if _expired(entry, now):
                    continue  # expired behind the head: the queue drops it when it gets there
                entries.append(entry)
                if len(entries) >= count:
                    break
        return PeekResult(q, entries)

    # -- move ---------------------------------------------------------------------------------------
    def move_messages(self, vh: VHost, source: str, destination: str, destination_type: str = "queue",
                      count: int | None = None, routing_key: str | None = None, keep_x_death: bool = True,
                      match_routing_key: str | None = None, match_headers: dict[str, Any] | None = None,
                      access: Any = None, conn: Any = None) -> MoveResult:
        """Move all (or the first ``count`` matching) ready messages of ``source`` to a queue or through
        an exchange. ``routing_key`` replaces the messages' own routing keys; ``keep_x_death=False``
        removes the dead-letter history; ``match_routing_key`` and ``match_headers`` select messages by
        equality (the others stay, in order)."""
        if destination_type not in ("queue", "exchange"):
            raise BadRequest(f"destination_type must be 'queue' or 'exchange', got {destination_type!r}")
        if not isinstance(destination, str):
            raise BadRequest(f"destination must be a string, got {destination!r}")
        if count is not None:
            count = _count(count, "count")
        for what, value in (("routing_key", routing_key), ("match routing_key", match_routing_key)):
            if value is not None and not isinstance(value, str):
                raise BadRequest(f"{what} must be a string, got {value!r}")
        if match_headers is not None and not isinstance(match_headers, dict):
            raise BadRequest(f"match headers must be an object, got {match_headers!r}")
        if destination_type == "queue" and destination == source:
            raise BadRequest(f"cannot move the messages of queue '{source}' in vhost '{vh.name}' onto itself")

        q = self._message_source(vh, source, access, conn)
        resolve = self._destination(vh, destination, destination_type, routing_key, access)
        result = MoveResult()
        if count == 0:
            result.remaining = q.message_count
            return result
        touched: dict[int, Queue] = {}
        now = time.time()
        if q._expiring:
            q._drop_expired(now)
        ready = q.ready
        # Only what is queued now: an exchange may route a moved message back into the source (and a
        # drop-head source then drops heads of its own, hence `ready` in the loop's condition too).
        budget = len(ready)
        kept: list[QEntry] = []  # popped from the head but staying, in their order
        try:
            while budget and ready and (count is None or result.moved < count):
                entry = ready.popleft()
                budget -= 1
                kept.append(entry)  # until it has moved, whatever happens
                if _expired(entry, now):
                    continue
                msg = _loaded(entry.msg)
                if match_routing_key is not None and msg.routing_key != match_routing_key:
                    continue
                if match_headers:
                    headers = msg.headers or {}
                    if not all(k in headers and _header_equals(headers[k], v) for k, v in match_headers.items()):
                        continue
                if not keep_x_death:
                    msg = _without_deaths(msg)
                out, targets = resolve(msg)
                if not targets:
                    result.unroutable += 1
                    continue
                if any(_refuses(t, out) for t in targets):
                    result.refused += 1
                    break  # the destination is full: what follows would be refused too, or jump the queue
                for t in targets:
                    t.enqueue(out)
                    touched[id(t)] = t
                # after the enqueue, in the same loop turn: the removal joins the same store batch
                kept.pop()
                q._drop(entry)
                result.moved += 1
        finally:
            _put_back(q, kept)
            if q._expiring:
                q._drop_expired(time.time())
            if q.throttling:
                flow.check(q)
        for t in touched.values():
            t.schedule_dispatch()
        result.remaining = q.message_count
        result.destinations = sorted(t.name for t in touched.values())
        self.log.info("messages moved", vhost=vh.name, source=source, destination=destination,
                      destination_type=destination_type, moved=result.moved, unroutable=result.unroutable,
                      refused=result.refused, remaining=result.remaining)
        return result

    def _destination(self, vh: VHost, name: str, kind: str, routing_key: str | None, access: Any) -> Any:
        """Checks the destination as a publish to it is checked and returns msg -> (message to enqueue,
        the queues it goes to)."""
        if kind == "queue":
            if access is not None:
                access.check_publish("")  # a publish to a queue goes through the default exchange
                access.check(WRITE, "queue", name)
            dest = vh.queues.get(name)
            if dest is None:
                raise Missing(f"no queue '{name}' in vhost '{vh.name}'")

            def to_queue(msg: Message) -> tuple[Message, list[Queue]]:
                # the message keeps the exchange and keys it was published with: its consumers see
                # where it came from, unless the caller names a routing key
                keys = [routing_key] if routing_key is not None else msg.all_routing_keys()
                return _republished(msg, msg.exchange, keys), [dest]

            return to_queue
        if access is not None:
            access.check_publish(name)
        ex = vh.exchanges.get(name)
        if ex is None:
            raise Missing(f"no exchange '{name}' in vhost '{vh.name}'")
        if ex.internal:
            raise BadRequest(f"cannot publish to internal exchange '{name}' in vhost '{vh.name}'")
        topic = access is not None and ex.type_name == "topic"
        if topic and routing_key is not None:
            access.check_topic(WRITE, name, routing_key)  # before anything moves

        def to_exchange(msg: Message) -> tuple[Message, list[Queue]]:
            keys = [routing_key] if routing_key is not None else msg.all_routing_keys()
            if topic and routing_key is None:
                for key in keys:
                    access.check_topic(WRITE, name, key)
            out = _republished(msg, ex.name, keys)
            queues = list(route(vh.exchanges, ex, keys if len(keys) > 1 else keys[0], out))
            ex.n_in += 1
            ex.n_out += bool(queues)
            return out, queues

        return to_exchange

