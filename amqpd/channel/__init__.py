"""A channel: content assembly, deliveries, the unacked map, QoS, confirms and transactions.

Method handlers live in one module per AMQP class (exchange.py, queue.py, basic.py, txconfirm.py) and
register themselves in HANDLERS by pamqp method index; this module holds the state they share.
"""

from __future__ import annotations

import base64
import os
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pamqp import commands

from .. import flow
from ..errors import ChannelError, ConnectionError, ReplyCode
from ..message import Message, QEntry, parse_expiration
from ..protocol.framing import FRAME_BODY, FRAME_HEADER, FRAME_METHOD, erl_binary, unexpected_frame
from ..protocol.methods import (
    Publish,
    ack_frame,
    class_method,
    content_frames,
    decode_method,
    deliver_frames,
    encode_method,
)
from ..protocol.properties import F_DELIVERY_MODE, PropertyError, parse_header
from ..queue import Queue
from ..router import route
from .acktimeout import AckTimer
from .consumer import Consumer

if TYPE_CHECKING:
    from ..connection import Connection

Handler = Callable[["Channel", Any], None]
HANDLERS: dict[int, Handler] = {}


def handles(method_cls: type) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[method_cls.index] = fn
        return fn
    return register


def generated_tag(prefix: str) -> str:
    return prefix + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


# OPEN: in use. CLOSING: we sent channel.close and wait for close-ok (frames other than close/close-ok
# are dropped). CLOSED: released; the number may already belong to a new Channel, so nothing may be
# sent for this object any more (late store syncs, timers and confirm flushes check the state).
OPEN, CLOSING, CLOSED = 1, 2, 3
DECODE_CACHE_SIZE = 64  # distinct publish / content header frames remembered per channel
_PUBLISH_INDEX = Publish.index


class Channel:
    def __init__(self, conn: Connection, channel_id: int) -> None:
        self.conn = conn
        self.id = channel_id
        self.vhost = conn.vhost
        self.access = conn.access  # permissions (auth/permissions.py), checked where RabbitMQ checks them
        self.ops = conn.broker.ops
        self.log = conn.log.bind(channel=channel_id)
        self.state = OPEN
        # content assembly
        # Publishers repeat themselves: the same basic.publish and content header bytes, message after
        # message. Both decode to values nothing mutates, so each distinct frame is decoded once.
        self._publish_cache: dict[bytes, Publish] = {}
        self._header_cache: dict[bytes, tuple] = {}
        self._publish: Publish | None = None
        self._header: bytes | None = None
        self._props: Any = None
        self._body_size = 0
        self._body_parts: list[bytes] = []
        self._body_len = 0
        # deliveries
        self.next_tag = 1
        self.unacked: OrderedDict[int, tuple[QEntry, Consumer | None]] = OrderedDict()
        self.unacked_count = 0
        self.consumers: dict[str, Consumer] = {}
        self.prefetch_default = 0  # basic.qos global=false: applies to consumers created afterwards
        self.prefetch_global = 0  # basic.qos global=true: shared by all consumers of the channel
        self.last_queue: str | None = None
        self.reply_consumer: Any = None  # direct reply-to (replyto.py)
        # publisher confirms and transactions
        self.confirm = False
        self.publish_seq = 0
        self._confirmed_upto = 0  # highest seq whose ack has been sent
        self._confirm_ready = 0  # highest seq that may be acked
        # confirms that wait for a store sync, and any that follow them, in publish order; batch 0 = no wait
        self._confirm_wait: deque[tuple[int, int, bool]] = deque()  # (seq, batch, nack)
        self._commit_wait: deque[int] = deque()  # store batches tx.commit-oks wait for
        self.tx = False
        self.tx_publishes: list[tuple[Publish, Message]] = []
        self.tx_acks: list[tuple[int, QEntry, Consumer | None, bool]] = []  # (tag, entry, consumer, requeue?)
        self.ack_timer = AckTimer(self, conn.config.consumer_timeout)  # consumer_timeout (acktimeout.py)
        # firehose (trace.py): set up only on channels of a traced vhost
        self.tracer: Any = None
        self.consumer_class: type[Consumer] = Consumer
        # statistics (amqpd/stats/): plain counters, read by the sampler and the management API
        self.n_publish = self.n_return = self.n_drop = 0
        self.n_deliver = self.n_deliver_no_ack = self.n_redeliver = self.n_ack = 0
        self.n_get = self.n_get_no_ack = self.n_get_empty = 0
        conn.stats.channel_created += 1
        self.idle_since: float | None = time.time()  # the sampler clears it while the channel is active
        self._counted = False
        if self.vhost.tracing:
            trace.install(self)

    # -- frame intake -----------------------------------------------------------------------------
    def handle_frame(self, ftype: int, payload: bytes) -> None:
        if ftype == FRAME_METHOD:
            if self._publish is not None:
                raise self._unexpected_in_content()
            cache = self._publish_cache
            method = cache.get(payload)
            if method is None:
                method = decode_method(payload)
                if method.index == _PUBLISH_INDEX:
                    if len(cache) >= DECODE_CACHE_SIZE:
                        cache.clear()
                    cache[payload] = method
            if self.state == CLOSING:
                self._while_closing(method)
                return
            if method.index == _PUBLISH_INDEX:
                self._start_publish(method)
                return
            handler = HANDLERS.get(method.index)
            if handler is None:
                cid, mid = class_method(method)
                if cid == 10:
                    raise ConnectionError(ReplyCode.COMMAND_INVALID,
                                          f"connection method {method.name} on channel {self.id}", cid, mid)
                # what is left are the server's own methods (deliver, declare-ok, ...): rabbit_channel's
                # catch-all. For the content-carrying ones RabbitMQ first waits for a content header.
                raise ConnectionError(ReplyCode.COMMAND_INVALID, "unimplemented method", cid, mid)
            try:
                handler(self, method)
            except (ChannelError, ConnectionError) as exc:
                if not exc.class_id:
                    exc.class_id, exc.method_id = class_method(method)
                raise
        elif ftype == FRAME_HEADER:
            self._content_header(payload)
        elif ftype == FRAME_BODY:
            self._content_body(payload)
        else:
            raise unexpected_frame(ftype, payload)

    def _unexpected_in_content(self) -> ConnectionError:
        if self._header is None:
            text = "expected content header for class 60, got non content header frame instead"
        else:
            text = "expected content body, got non content body frame instead"
        return ConnectionError(ReplyCode.UNEXPECTED_FRAME, text, 60, 40)

    def _while_closing(self, method: Any) -> None:
        # After we sent channel.close everything but close/close-ok is discarded (AMQP 0-9-1 §2.2.4).
        # A channel.close that crossed ours is answered, but the channel ends only with the close-ok
        # owed for ours (RabbitMQ's rabbit_channel in state closing).
        if isinstance(method, commands.Channel.CloseOk):
            self.state = CLOSED
            self.conn.channel_closed(self)
        elif isinstance(method, commands.Channel.Close):
            self.send(commands.Channel.CloseOk())

    def _start_publish(self, pub: Publish) -> None:
        if pub.immediate:
            raise ConnectionError(ReplyCode.NOT_IMPLEMENTED, "immediate=true", 60, 40)
        if not self.conn.publisher:
            flow.first_publish(self.conn, self.conn.broker.alarm_reason)
        self._publish = pub
        self._header = None
        self._body_parts = []
        self._body_len = 0

    def _content_header(self, payload: bytes) -> None:
        if self._publish is None:
            if self.state == CLOSING:
                return
            raise ConnectionError(ReplyCode.UNEXPECTED_FRAME, "expected method frame, got non method frame instead")
        if self._header is not None:
            raise self._unexpected_in_content()
        cache = self._header_cache
        parsed = cache.get(payload)
        if parsed is None:
            try:
                parsed = parse_header(payload)
            except PropertyError as exc:
                raise ConnectionError(ReplyCode.FRAME_ERROR, f"cannot decode {erl_binary(payload)}", 60, 40) from exc
            if len(cache) >= DECODE_CACHE_SIZE:
                cache.clear()
            cache[payload] = parsed
        class_id, weight, body_size, props = parsed
        if weight != 0:
            # rabbit_command_assembler only takes a weight-0 header for a header: whatever its class
            raise self._unexpected_in_content()
        if class_id != 60:
            raise ConnectionError(ReplyCode.UNEXPECTED_FRAME,
                                  f"expected content header for class 60, got one for class {class_id} instead",
                                  60, 40)
        max_size = self.conn.config.max_message_size
        if body_size > max_size:
            self._publish = None
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"message size {body_size} is larger than configured max size {max_size}", 60, 40)
        self._header = payload
        self._props = props
        self._body_size = body_size
        if body_size == 0:
            self._complete(b"")

    def _content_body(self, payload: bytes) -> None:
        if self._header is None:
            if self.state == CLOSING:
                return
            if self._publish is not None:
                raise self._unexpected_in_content()
            raise ConnectionError(ReplyCode.UNEXPECTED_FRAME, "expected method frame, got non method frame instead")
        self._body_len += len(payload)
        if self._body_len > self._body_size:
            raise ConnectionError(ReplyCode.FRAME_ERROR,
                                  f"received {self._body_len} bytes of content, header declared {self._body_size}")
        if self._body_len == self._body_size:
            if self._body_parts:
                self._body_parts.append(payload)
                body = b"".join(self._body_parts)
                self._body_parts = []
            else:
                body = payload
            self._complete(body)
        else:
            self._body_parts.append(payload)

    def _complete(self, body: bytes) -> None:
        pub = self._publish
        header = self._header
        props = self._props
        self._publish = self._header = None
        try:
            self.publish(pub, Message(pub.exchange, pub.routing_key, header, body, props, pub.tail))
        except ChannelError as exc:
            exc.class_id, exc.method_id = 60, 40
            raise

    # -- publish ----------------------------------------------------------------------------------
    def publish(self, pub: Publish, msg: Message) -> None:
        # rabbit_channel's order: write permission, existence, internal, topic permission
        access = self.access
        if pub.exchange not in access.writable:
            access.check_publish(pub.exchange)
        ex = self.vhost.exchanges.get(pub.exchange)
        if ex is None:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no exchange '{pub.exchange}' in vhost '{self.vhost.name}'")
        if ex.internal:
            raise ChannelError(ReplyCode.ACCESS_REFUSED,
                               f"cannot publish to internal exchange '{pub.exchange}' in vhost '{self.vhost.name}'")
        if pub.exchange in access.topic_exchanges and ex.type_name == "topic" and \
                pub.routing_key not in access.topic_writable[pub.exchange]:
            access.check_topic("write", pub.exchange, pub.routing_key)
        user_id = msg.props.user_id
        if user_id is not None and user_id != self.conn.user:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"user_id property set to '{user_id}' but authenticated user was '{self.conn.user}'")
        expiration = msg.props.expiration
        if expiration is not None:
            try:
                msg.ttl = parse_expiration(expiration)
            except ValueError as exc:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                                   f"invalid expiration '{expiration}': {exc}") from None
        props = msg.props
        if props.delivery_mode > 2 or (not props.delivery_mode and props.flags & F_DELIVERY_MODE):
            # rabbit_basic:is_message_persistent accepts 1, 2 and no delivery_mode at all
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"invalid message: {{delivery_mode_unknown,{props.delivery_mode}}}")
        if props.reply_to_span is not None:
            replyto.rewrite_request(self, msg)
        if self.tx:
            self.tx_publishes.append((pub, msg))
            return
        self._route_and_enqueue(pub, ex, msg)

    def _route_and_enqueue(self, pub: Publish, ex: Any, msg: Message) -> bool:
        """Route and enqueue; in confirm or tx mode, whether the store must sync before the promise."""
        if self.confirm:
            self.publish_seq += 1
        keys: Any = pub.routing_key
        try:
            if msg.props.headers_span is not None and (msg.headers_mention(b"\x02CC")
                                                       or msg.headers_mention(b"\x03BCC")):
                keys = _cc_keys(pub.routing_key, msg.headers)
                if len(keys) > 1:
                    msg.routing_keys = keys
                if "BCC" in (msg.headers or {}):
                    msg.drop_header("BCC")
            queues = route(self.vhost.exchanges, ex, keys, msg)
        except PropertyError as exc:
            # headers are decoded only when routing needs them (a headers exchange, CC/BCC)
            raise ConnectionError(ReplyCode.FRAME_ERROR, f"cannot decode content header properties: {exc}",
                                  60, 40) from None
        if self.tracer is not None:
            self.tracer.tap_in(msg, queues)
        rejected = False
        for q in queues:
            if q.enqueue(msg) is None:
                rejected = True
            elif q.throttling:
                flow.hold(self.conn, q)
        self.n_publish += 1
        ex.n_in += 1
        if queues:
            ex.n_out += 1
        elif self._direct_reply(pub, msg):
            ex.n_out += 1
        elif pub.mandatory:
            self.n_return += 1
            self.send_content(commands.Basic.Return(reply_code=312, reply_text="NO_ROUTE",
                                                    exchange=pub.exchange, routing_key=pub.routing_key), msg)
        else:
            self.n_drop += 1
        if self.confirm or self.tx:
            # Written to the store in the batch being filled (a persistent message, or any message a
            # stream appended): confirm (or commit) only after that batch's sync.
            stored = bool(msg.id or any(q.stream for q in queues) or (
                not queues and self.vhost.delays is not None and self.vhost.delays.last is msg))  # delayed
            if self.confirm:
                self._confirm(self.publish_seq, self.vhost.store.batch_no if stored and not rejected else 0,
                              rejected)
            return stored
        return False

    def _direct_reply(self, pub: Publish, msg: Message) -> bool:
        """An otherwise unroutable message may be a direct reply-to reply (default exchange only)."""
        return (not pub.exchange and pub.routing_key.startswith(replyto.PREFIX)
                and replyto.route_reply(self.vhost, pub.routing_key, msg))

    def _confirm(self, seq: int, batch: int, nack: bool) -> None:
        """Acks and nacks go out in publish order; a seq waiting for a sync holds back later ones."""
        if self._confirm_wait or batch:
            self._confirm_wait.append((seq, batch, nack))
            if batch:
                self.vhost.store.waiters.add(self)
        elif nack:
            self._send_acks()
            self._send_nack(seq)
        else:
            self._confirm_ready = seq
        self.conn.want_confirm_flush(self)

    def _send_nack(self, seq: int) -> None:
        """A queue refused the message (x-overflow reject-publish*) or its store write failed."""
        if self.state == OPEN:
            self.send(commands.Basic.Nack(delivery_tag=seq, multiple=False, requeue=True))  # RabbitMQ's default bit
        self._confirmed_upto = self._confirm_ready = seq

    def commit_ok_after_sync(self) -> None:
        store = self.vhost.store
        self._commit_wait.append(store.batch_no)
        store.waiters.add(self)
        self.conn.want_confirm_flush(self)

    def _flush_commits(self) -> None:
        store = self.vhost.store
        wait = self._commit_wait
        while wait and wait[0] <= store.synced_no:
            if wait.popleft() in store.failed:
                raise ChannelError(ReplyCode.INTERNAL_ERROR, "tx.commit failed: the store could not write")
            self.send(commands.Tx.CommitOk())
        if wait:
            store.waiters.add(self)

    def flush_confirms(self) -> None:
        if self.state != OPEN:
            return
        if self._commit_wait:
            try:
                self._flush_commits()
            except ChannelError as exc:
                exc.class_id, exc.method_id = 90, 20
                self.conn.channel_error(self, exc)
                return
        wait = self._confirm_wait
        if wait:
            store = self.vhost.store
            synced = getattr(store, "synced_no", 0)
            while wait and wait[0][1] <= synced:
                seq, batch, nack = wait.popleft()
                if nack or (batch and batch in store.failed):
                    self._send_acks()
                    self._send_nack(seq)
                else:
                    self._confirm_ready = seq
            if wait:
                store.waiters.add(self)
        self._send_acks()

    def _send_acks(self) -> None:
        upto = self._confirm_ready
        if upto > self._confirmed_upto:
            multiple = upto - self._confirmed_upto > 1
            self.conn.write(ack_frame(self.id, upto, multiple))
            self._confirmed_upto = upto

    # -- output -----------------------------------------------------------------------------------
    def send(self, method: Any) -> None:
        self.conn.write(encode_method(self.id, method))

    def send_content(self, method: Any, msg: Message) -> None:
        header, body = msg.content()
        self.conn.write(content_frames(self.id, encode_method(self.id, method), header, body, self.conn.max_body))

    def track_unacked(self, tag: int, entry: QEntry, consumer: Consumer | None) -> None:
        """A delivery (or basic.get-ok) that waits for its ack; consumer None for basic.get."""
        q = entry.queue
        if q.store is not None:
            q.delivering(entry)
        if not self.unacked:
            self.ack_timer.start(tag)
        self.unacked[tag] = (entry, consumer)
        self.unacked_count += 1
        q.unacked += 1

    def deliver_reply(self, msg: Message) -> None:
        """A direct reply-to reply for this channel's reply consumer (always no-ack)."""
        rc = self.reply_consumer
        tag = self.next_tag
        self.next_tag = tag + 1
        header, body = msg.content()
        self.conn.write(deliver_frames(self.id, rc.prefix, tag, False, msg.tail, header, body, self.conn.max_body))

    # -- acknowledgements -------------------------------------------------------------------------
    def take_unacked(self, tag: int, multiple: bool) -> list[tuple[int, QEntry, Consumer | None]]:
        """Remove and return the deliveries an ack/nack/reject names, RabbitMQ's way."""
        unacked = self.unacked
        if multiple:
            if tag == 0:
                taken = [(t, e, c) for t, (e, c) in unacked.items()]
                unacked.clear()
            elif tag not in unacked:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"unknown delivery tag {tag}")
            else:
                taken = []
                while True:
                    t, (e, c) = unacked.popitem(last=False)
                    taken.append((t, e, c))
                    if t == tag:
                        break
        else:
            item = unacked.pop(tag, None)
            if item is None:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"unknown delivery tag {tag}")
            taken = [(tag, item[0], item[1])]
        return taken

    def settle(self, taken: list[tuple[int, QEntry, Consumer | None]], requeue: bool | None,
               consumer_gone: bool = False) -> None:
        """requeue None = ack; True = back to the queue; False = drop (dead-letter if configured).

        consumer_gone: the requeue comes from the channel going away, not from a nack (quorum queues
        treat the two differently)."""
        woken: set[int] = set()
        by_queue: dict[int, list[QEntry]] = {}
        for _tag, entry, consumer in taken:
            self.unacked_count -= 1
            if consumer is not None:
                consumer.unacked -= 1
            q = entry.queue
            if requeue is None:
                q.settle(entry)
            else:
                by_queue.setdefault(id(q), []).append(entry)
            if id(q) not in woken:
                woken.add(id(q))
                q.schedule_dispatch()
        if requeue is None:
            self.n_ack += len(taken)
        for entries in by_queue.values():
            if requeue:
                entries[0].queue.requeue(entries, consumer_gone)
            else:
                entries[0].queue.reject(entries)
        if self.prefetch_global or self.consumers:
            for c in self.consumers.values():
                c.queue.schedule_dispatch()

    def restore_unacked(self, taken: list[tuple[int, QEntry, Consumer | None]]) -> None:
        """tx.rollback: acks made inside the transaction are undone."""
        if taken and not self.unacked:
            self.ack_timer.start(max(t for t, _, _ in taken))
        for tag, entry, consumer in taken:
            self.unacked[tag] = (entry, consumer)
        self.unacked = OrderedDict(sorted(self.unacked.items()))

    def requeue_all_unacked(self, consumer_gone: bool = False) -> None:
        if self.unacked:
            taken = [(t, e, c) for t, (e, c) in self.unacked.items()]
            self.unacked.clear()
            self.settle(taken, requeue=True, consumer_gone=consumer_gone)

    # -- consumers --------------------------------------------------------------------------------
    def cancel_consumer(self, tag: str) -> Consumer | None:
        consumer = self.consumers.pop(tag, None)
        if consumer is not None and consumer.queue.remove_consumer(consumer):
            self.vhost.remove_queue(consumer.queue)
        return consumer

    def consumer_cancelled_by_server(self, consumer: Consumer) -> None:
        """The queue went away: tell clients that asked to be told (consumer_cancel_notify)."""
        if self.consumers.pop(consumer.tag, None) is None:
            return
        if self.conn.capabilities.get("consumer_cancel_notify") and self.state == OPEN:
            self.send(commands.Basic.Cancel(consumer_tag=consumer.tag, nowait=True))

    def resolve_queue_name(self, name: str) -> str:
        if name:
            return name
        if self.last_queue is None:
            raise ChannelError(ReplyCode.NOT_FOUND, "no previously declared queue")
        return self.last_queue

    def queue_for(self, name: str, perm: str = "read") -> Queue:
        """The queue a consume, get or purge names, once the read permission is checked."""
        return self.ops.lookup_queue(self.vhost, self.resolve_queue_name(name), perm, self.conn, self.access)

    # -- closing ----------------------------------------------------------------------------------
    def release(self) -> None:
        """The channel is going away: consumers cancelled, unacked requeued (in that order, as RabbitMQ,
        so requeued messages are not pushed straight back at this channel's consumers)."""
        for tag in list(self.consumers):
            self.cancel_consumer(tag)
        replyto.cancel(self)
        self.tx_publishes.clear()
        if self.tx_acks:
            self.restore_unacked([(t, e, c) for t, e, c, _ in self.tx_acks])
            self.tx_acks.clear()
        self.requeue_all_unacked(consumer_gone=True)
        self._publish = self._header = None
        self._body_parts = []
        self.ack_timer.stop()
        self.state = CLOSED
        if not self._counted:  # its counts stay in the vhost's totals
            self._counted = True
            self.vhost.counters.channel_closed(self)
            self.conn.stats.channel_closed += 1


def _cc_keys(routing_key: str, headers: dict | None) -> list[str]:
    keys = [routing_key]
    if headers:
        for name in ("CC", "BCC"):
            extra = headers.get(name)
            if isinstance(extra, list):
                keys.extend(k for k in extra if isinstance(k, str) and k not in keys)
    return keys


# Register the handlers (import for side effects, after Channel exists).
from . import basic, exchange, queue, replyto, trace, txconfirm  # noqa: E402,F401
