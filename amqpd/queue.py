"""Queues own their ready messages and their consumers; channels own the unacked ones.

Dispatch is coalesced: anything that may let a message move (publish, ack, qos, consume, a consumer's
socket draining) only schedules one dispatch pass per queue per loop iteration, and that pass moves as
many messages as the consumers can take, so a burst of publishes read in one socket read becomes one
burst of deliveries in one socket write.

Features cost only the queues that use them: a queue declared without TTL, length limits or priorities
keeps the plain enqueue below, and the per-message checks of the featured path (expiry, overflow, direct
delivery) are bound in only when its arguments ask for them. The semantics follow RabbitMQ 3.10's
rabbit_amqqueue_process: expiry and overflow act on the head of the queue, the head of a priority queue
is its highest non-empty priority, and a message that finds the queue empty and a consumer with capacity
is handed over at once (which is what lets TTL 0 and x-max-length 0 queues feed live consumers).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Protocol

from . import deadletter, flow, paging, retry
from .dedup import QueueDedup
from .message import Message, PagedMessage, QEntry
from .policy import QueueSettings, queue_settings
from .ready import FifoReady, PriorityReady, ReturnsFirstReady

# Deliveries per dispatch pass before yielding to the loop, so a no-ack consumer cannot make one pass
# buffer an unbounded amount of output before the transport gets to push back.
DISPATCH_BATCH = 2048


class ConsumerLike(Protocol):
    """What a queue needs of a consumer (channel/consumer.py implements it)."""

    tag: str
    conn: Any  # the connection it delivers on (a queue never holds a publisher that also consumes it)
    no_ack: bool
    exclusive: bool
    priority: int

    def can_take(self) -> bool: ...  # a delivery now (output below its watermark, prefetch room)

    def wants_more(self) -> bool: ...  # would take deliveries if its socket kept up

    def deliver(self, entry: QEntry) -> None: ...

    def cancelled_by_server(self) -> None: ...


Consumer = ConsumerLike  # the name the rest of this module uses


def _int_arg(args: dict[str, Any], key: str) -> int | None:
    value = args.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Queue:
    is_exchange = False
    stream = False  # streams/queue.py: an append-only log instead of ready/unacked messages
    dedup: QueueDedup | None = None  # x-message-deduplication
    paged_past = paging.UNKNOWN  # bytes ahead from which every ready message's content is paged (paging.py)

    def __init__(self, vhost: Any, name: str, durable: bool = False, exclusive_owner: Any = None,
                 auto_delete: bool = False, arguments: dict[str, Any] | None = None) -> None:
        self.vhost = vhost
        self.name = name
        self.durable = durable
        self.exclusive_owner = exclusive_owner  # the Connection for exclusive queues
        self.auto_delete = auto_delete
        args = dict(arguments or {})
        self.arguments: dict[str, Any] = args
        self.consumers: deque[Consumer] = deque()
        self.exclusive_consumer: Consumer | None = None
        self.unacked = 0
        self.next_seq = 1
        self.seq_skip = 0  # sequence numbers not from a publish (recovered, requeued at the back): stats
        # statistics (amqpd/stats/counters.py)
        self.n_deliver = self.n_deliver_no_ack = self.n_redeliver = self.n_ack = 0
        self.n_get = self.n_get_no_ack = self.n_get_empty = 0
        self.idle_since: float | None = time.time()  # the sampler clears it while the queue is active
        self.had_consumer = False
        self.deleted = False
        self._scheduled = False
        # credit flow (flow.py): behind its consumers, and the publishers it holds (False: exempt)
        self.throttling = False
        self.flow_held: dict[Any, bool] = {}
        self._loop = asyncio.get_event_loop()
        # Only durable, non-exclusive queues write through to the store.
        self.store = vhost.store if durable and exclusive_owner is None else None
        self.store_id = 0
        self.next_return = 1  # quorum queues: order of returned messages, kept across restarts
        self.page_threshold = getattr(vhost, "page_threshold", 0)
        # -- arguments, read once (args.py validated them) --
        self.quorum = args.get("x-queue-type") == "quorum"
        self.queue_type = "stream" if self.stream else "quorum" if self.quorum else "classic"
        self.max_priority = None if self.quorum else _int_arg(args, "x-max-priority")
        self._use(queue_settings(args, None, None))
        self.single_active = args.get("x-single-active-consumer") is True
        if self.quorum:
            self.ready: Any = ReturnsFirstReady()
        elif self.max_priority is not None:
            self.ready = PriorityReady(self.max_priority)
        else:
            self.ready = FifoReady()
        self._expiring = self.ttl is not None  # also switched on by the first message with an expiration
        self._ttl_timer: asyncio.TimerHandle | None = None
        self._ttl_timer_at = 0.0
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._holder: Consumer | None = None  # exclusive consumer or single active consumer
        self._groups: list[tuple[int, deque[Consumer]]] | None = None  # consumers by priority, highest first
        self._bind_enqueue()
        self.touch()

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    # -- settings: arguments + policies (amqpd/policy.py) --------------------------------------------------
    def _use(self, settings: QueueSettings) -> None:
        self.settings = settings
        self.ttl = settings.message_ttl
        self.expires = settings.expires
        self.dlx: str | None = settings.dead_letter_exchange
        self.dlx_rk: str | None = settings.dead_letter_routing_key
        self.max_length = settings.max_length
        self.max_bytes = settings.max_length_bytes
        self.overflow = settings.overflow
        self.delivery_limit = settings.delivery_limit if self.quorum else None
        self._limited = self.max_length is not None or self.max_bytes is not None
        self.retries = "x-retry-delays" in self.arguments or "retry-delays" in settings.effective_definition
        if self.arguments.get("x-message-deduplication") is True and self.dedup is None:
            self.dedup = QueueDedup()  # amqpd/dedup.py: names of the messages it holds
        self._rejects = self._limited and self.overflow != "drop-head"
        self._drops_head = self._limited and self.overflow == "drop-head"

    def _bind_enqueue(self) -> None:
        """The plain enqueue unless TTL, length limits, priorities or deduplication need the featured one."""
        if self._limited or self._expiring or self.max_priority is not None or self.dedup is not None:
            self.enqueue = self._enqueue_featured  # type: ignore[method-assign]
        else:
            self.__dict__.pop("enqueue", None)

    def apply_settings(self, settings: QueueSettings) -> None:
        """Switch to new effective settings at once, as rabbit_amqqueue_process:process_args_policy/1 does
        on policy_changed: the x-expires countdown restarts with the new value (init_exp); the message TTL
        applies to messages enqueued from now on (deadlines are stamped at enqueue and not re-stamped;
        init_ttl only restarts the timer); the length limits drop heads at once (dead-lettered, reason
        maxlen) when the old or the new overflow is drop-head (init_max_length runs before
        init_overflow); the dead-letter settings apply to the next death; expired heads are dropped last
        (drop_expired_msgs)."""
        was_drop_head = self.overflow == "drop-head"
        self._use(settings)
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        self.touch()
        if self._ttl_timer is not None:
            self._ttl_timer.cancel()
            self._ttl_timer = None
        if self.ttl is not None:
            self._expiring = True
        if self._limited and (was_drop_head or self._drops_head) and not self.deleted:
            self._drop_over_limit()
        if self._expiring and not self.deleted:
            self._drop_expired(time.time())
        self._bind_enqueue()
        if self.throttling:
            flow.check(self)
        self.schedule_dispatch()

    # -- publishing -------------------------------------------------------------------------------
    def enqueue(self, msg: Message) -> QEntry | None:
        """Add a message; None when the queue refused it (x-overflow reject-publish*)."""
        if msg.ttl is not None:
            return self._enqueue_featured(msg)
        entry = QEntry(msg, self.next_seq, self)
        self.next_seq += 1
        ready = self.ready
        ready.append(entry)
        depth = len(ready)
        if self.store is not None and (msg.persistent or self.quorum):
            self.store.add_message(self, entry)
            if self.page_threshold and depth > self.page_threshold:
                entry.msg = PagedMessage.from_message(self.store, msg)
        if self.vhost.paging and paging.past_keep(self.vhost, ready, depth, msg):
            self._page(entry)
        if depth > flow.QUEUE_HIGH and self.consumers:
            self.throttling = True
        if self.consumers and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.dispatch)
        return entry

    def _enqueue_featured(self, msg: Message) -> Any:
        ready = self.ready
        if self.dedup is not None and not self.dedup.admit(msg):
            return True  # a duplicate: not enqueued, and still confirmed (an ack, not a nack)
        if self._rejects and self._would_overflow(msg):
            if self.overflow == "reject-publish-dlx" and self.dlx is not None:
                deadletter.dead_letter(self, [msg], "maxlen")
            return None
        entry = QEntry(msg, self.next_seq, self)
        self.next_seq += 1
        if self.max_priority is not None:
            p = msg.props.priority or 0
            entry.priority = p if p <= self.max_priority else self.max_priority
        ttl = self.ttl
        if msg.ttl is not None and (ttl is None or msg.ttl < ttl):
            ttl = msg.ttl
        now = 0.0
        if ttl is not None:
            now = time.time()
            entry.expires = now + ttl / 1000
            self._expiring = True
        if self.store is not None and (msg.persistent or self.quorum):
            self.store.add_message(self, entry)
        if not ready and self.consumers:
            chosen = self._pick()
            if chosen is not None:
                chosen.deliver(entry)
                return entry
        ready.append(entry)
        depth = len(ready)
        if self.vhost.paging and paging.past_keep(self.vhost, ready, depth, msg):
            self._page(entry)
        if depth > flow.QUEUE_HIGH and self.consumers:
            self.throttling = True
        dropped = self._drop_over_limit() if self._drops_head else False
        if self._expiring and (dropped or ready.peek() is entry):
            self._drop_expired(now or time.time())
        self.schedule_dispatch()
        return entry

    # -- paging (memory pressure: paging.py) --------------------------------------------------------
    def _page(self, entry: QEntry) -> None:
        msg = entry.msg
        if isinstance(msg, PagedMessage):
            return
        store = self.vhost.store
        if self.store is None or not (msg.persistent or self.quorum):
            store.page_content(msg)  # not in the store yet (or not for this queue)
            entry.paged = True
        entry.msg = PagedMessage.from_message(store, msg)

    def _would_overflow(self, msg: Message) -> bool:
        if self.max_length is not None and len(self.ready) + 1 > self.max_length:
            return True
        return self.max_bytes is not None and self.ready.bytes + msg.body_size > self.max_bytes

    def _drop_over_limit(self) -> bool:
        """drop-head: remove (and dead-letter, reason maxlen) heads until within the limits."""
        ready = self.ready
        dropped = []
        while ready and ((self.max_length is not None and len(ready) > self.max_length)
                         or (self.max_bytes is not None and ready.bytes > self.max_bytes)):
            entry = ready.popleft()
            self._drop(entry)
            dropped.append(entry.msg)
        if dropped and self.dlx is not None:
            deadletter.dead_letter(self, dropped, "maxlen")
        return bool(dropped)

    @property
    def message_count(self) -> int:
        return len(self.ready)

    # -- expiry -----------------------------------------------------------------------------------
    def _drop_expired(self, now: float) -> None:
        """Remove expired messages from the head, then arm one timer for the new head's deadline."""
        ready = self.ready
        expired = []
        head = ready.peek()
        while head is not None and head.expires is not None and now >= head.expires:
            ready.popleft()
            self._drop(head)
            expired.append(head.msg)
            head = ready.peek()
        if expired and self.dlx is not None:
            deadletter.dead_letter(self, expired, "expired")
        if head is not None and head.expires is not None:
            self._arm_ttl_timer(head.expires)
        elif head is None and self.ttl is None:
            # A queue without x-message-ttl that once held a message with an expiration goes back to
            # the cheaper checks once it is empty (requeue switches them on again if needed).
            self._expiring = False

    def _arm_ttl_timer(self, deadline: float) -> None:
        timer = self._ttl_timer
        if timer is not None:
            if deadline + 0.001 >= self._ttl_timer_at:
                return  # the armed timer fires first (RabbitMQ re-arms only for a deadline 1 ms earlier)
            timer.cancel()
        delay = max(0.0, deadline - time.time()) + 0.001
        self._ttl_timer_at = deadline
        self._ttl_timer = self._loop.call_at(self._loop.time() + delay, self._ttl_fired)

    def _ttl_fired(self) -> None:
        self._ttl_timer = None
        if not self.deleted:
            self._drop_expired(time.time())

    # -- queue expiry (x-expires) -----------------------------------------------------------------
    def touch(self) -> None:
        """Restart the x-expires countdown if the queue is unused (declare, basic.get, last cancel)."""
        if self.expires is None or self.consumers or self.deleted:
            return
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
        self._expiry_timer = self._loop.call_later(self.expires / 1000, self._expiry_fired)

    def _expiry_fired(self) -> None:
        self._expiry_timer = None
        if not self.consumers and not self.deleted:
            self.vhost.log.info("queue expired", queue=self.name, expires=self.expires)
            self.vhost.remove_queue(self)

    def stop_timers(self) -> None:
        for timer in (self._ttl_timer, self._expiry_timer):
            if timer is not None:
                timer.cancel()
        self._ttl_timer = self._expiry_timer = None

    # -- dispatch ---------------------------------------------------------------------------------
    def schedule_dispatch(self) -> None:
        if not self._scheduled and self.consumers and self.ready and not self.deleted:
            self._scheduled = True
            self._loop.call_soon(self.dispatch)

    def dispatch(self) -> None:
        self._scheduled = False
        ready = self.ready
        consumers = self.consumers
        budget = DISPATCH_BATCH
        expiring = self._expiring
        now = time.time() if expiring else 0.0
        holder = self._holder  # delivering never adds or removes consumers, so these hold for the pass
        groups = self._groups
        only = holder if holder is not None else (
            consumers[0] if len(consumers) == 1 and groups is None else None)
        if only is not None and not expiring:
            # One consumer to serve: no choosing, just as many as it can take.
            can_take, deliver, popleft = only.can_take, only.deliver, ready.popleft
            n = len(ready)
            for _ in range(n if n < budget else budget):
                if not can_take():
                    break
                deliver(popleft())
            else:
                if n > budget:
                    self.schedule_dispatch()
            if self.throttling:
                flow.check(self)
            return
        while ready and consumers:
            if expiring:
                self._drop_expired(now)
                if not ready:
                    break
            if holder is not None:
                chosen = holder if holder.can_take() else None
            elif groups is None:
                chosen = None
                for _ in range(len(consumers)):
                    c = consumers[0]
                    consumers.rotate(-1)
                    if c.can_take():
                        chosen = c
                        break
            else:
                chosen = self._pick_by_priority()
            if chosen is None:
                break
            entry = ready.popleft()
            chosen.deliver(entry)
            budget -= 1
            if not budget:
                self.schedule_dispatch()
                break
        if self.throttling:
            flow.check(self)

    def _pick(self) -> Consumer | None:
        holder = self._holder
        if holder is not None:
            return holder if holder.can_take() else None
        if self._groups is not None:
            return self._pick_by_priority()
        consumers = self.consumers
        for _ in range(len(consumers)):
            c = consumers[0]
            consumers.rotate(-1)
            if c.can_take():
                return c
        return None

    def _pick_by_priority(self) -> Consumer | None:
        """Highest priority with capacity wins; round-robin among consumers of equal priority."""
        for _prio, group in self._groups or ():
            for _ in range(len(group)):
                c = group[0]
                group.rotate(-1)
                if c.can_take():
                    return c
        return None

    def take(self) -> QEntry | None:
        """basic.get: the next ready message (never an expired one)."""
        self.touch()
        if self._expiring:
            self._drop_expired(time.time())
        if not self.ready:
            return None
        entry = self.ready.popleft()
        if self.throttling:
            flow.check(self)
        return entry

    # -- settlement ---------------------------------------------------------------------------------
    def delivered(self, entry: QEntry, no_ack: bool) -> None:
        if no_ack:
            self._drop(entry)
        else:
            self.unacked += 1

    def settle(self, entry: QEntry) -> None:
        """An unacked delivery was acked."""
        self.unacked -= 1
        self.n_ack += 1
        self._drop(entry)

    def reject(self, entries: list[QEntry]) -> None:
        """Rejected or nacked without requeue: retried later if x-retry-delays says so (amqpd/retry.py, which
        copies them before their content is released), else gone, and dead-lettered if configured."""
        self.unacked -= len(entries)
        left = retry.retry(self, entries) if self.retries else entries
        for entry in entries:
            self._drop(entry)
        if self.dlx is not None and not self.deleted and left:
            deadletter.dead_letter(self, [e.msg for e in left], "rejected")

    def _drop(self, entry: QEntry) -> None:
        if self.dedup is not None:
            self.dedup.release(entry.msg)
        if self.store is not None and (entry.msg.persistent or self.quorum):
            self.store.remove_message(self, entry)
        elif entry.paged:
            self.vhost.store.release_content(entry.msg.id)

    def delivering(self, entry: QEntry) -> None:
        """First delivery of a stored message: record it so a restart marks it redelivered."""
        if self.store is not None and (entry.msg.persistent or self.quorum) and not entry.redelivered:
            self.store.mark_delivered(self, entry)

    def requeue(self, entries: list[QEntry], consumer_gone: bool = False) -> None:
        """Return unacked entries, marked redelivered. Classic queues put them back at their original
        position. Quorum queues count the return (x-delivery-limit) and, as rabbit_fifo 3.10 does,
        serve them next when their consumer went away or a delivery limit is set, else enqueue them
        again at the back."""
        if self.deleted:
            for entry in entries:
                self._drop(entry)
            return
        self.unacked -= len(entries)
        if self.quorum:
            entries = self._count_returns(entries)
        for entry in entries:
            entry.redelivered = True
            if entry.expires is not None:
                self._expiring = True
        if self.quorum:
            if not consumer_gone and self.delivery_limit is None:
                # back of the queue: a new place in publish order, on disk too
                for entry in entries:
                    old_seq, entry.seq, entry.returned = entry.seq, self.next_seq, 0
                    self.next_seq += 1
                    self.seq_skip += 1
                    if self.store is not None and (entry.msg.persistent or self.quorum):
                        self.store.move(self, entry, old_seq)
                self.ready.append_all(entries)
            else:
                for entry in entries:
                    entry.returned = self.next_return
                    self.next_return += 1
                self.ready.requeue(entries)
        else:
            self.ready.requeue(entries)
        self.paged_past = paging.UNKNOWN  # content back in front of paged messages
        if self.store is not None:
            self.store.mark_redelivered(self, entries)
        if self._drops_head:
            self._drop_over_limit()
        if self._expiring:
            self._drop_expired(time.time())
        self.schedule_dispatch()

    def _count_returns(self, entries: list[QEntry]) -> list[QEntry]:
        kept, dead = [], []
        limit = self.delivery_limit
        for entry in sorted(entries, key=lambda e: e.seq):
            entry.delivery_count += 1
            if limit is not None and entry.delivery_count > limit:
                self._drop(entry)
                dead.append(entry.msg)
                continue
            kept.append(entry)
        if dead and self.dlx is not None:
            deadletter.dead_letter(self, dead, "delivery_limit")
        return kept

    def with_delivery_count(self, entry: QEntry) -> Message:
        """What a quorum queue hands out: the message with x-delivery-count (rabbit_fifo_client adds it
        to consumer deliveries once the message has been returned, and to every basic.get)."""
        return deadletter.with_header(entry.msg, "x-delivery-count", deadletter.long_(entry.delivery_count))

    # -- consumers ----------------------------------------------------------------------------------
    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers.append(consumer)
        if consumer.exclusive:
            self.exclusive_consumer = consumer
        if self.single_active and self._holder is None:
            self._holder = consumer
        elif consumer.exclusive:
            self._holder = consumer
        self._regroup()
        self.had_consumer = True
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        self.schedule_dispatch()

    def remove_consumer(self, consumer: Consumer) -> bool:
        """Remove; True when this was the last consumer of an auto-delete queue (caller deletes it)."""
        try:
            self.consumers.remove(consumer)
        except ValueError:
            return False
        if self.exclusive_consumer is consumer:
            self.exclusive_consumer = None
        if self._holder is consumer:
            self._holder = None
            if self.single_active and self.consumers:
                # The next active consumer: the highest priority one, earliest registered among equals.
                self._holder = max(self.consumers, key=lambda c: c.priority)
        self._regroup()
        if self.throttling:
            flow.check(self)
        if self.auto_delete and not self.consumers and self.had_consumer:
            return True
        self.touch()
        self.schedule_dispatch()
        return False

    def _regroup(self) -> None:
        if all(c.priority == 0 for c in self.consumers):
            self._groups = None
            return
        groups: dict[int, deque[Consumer]] = {}
        for c in self.consumers:
            groups.setdefault(c.priority, deque()).append(c)
        self._groups = sorted(groups.items(), key=lambda kv: kv[0], reverse=True)

    # -- admin --------------------------------------------------------------------------------------
    def purge(self) -> int:
        """Drop every ready message; purged messages are not dead-lettered (RabbitMQ neither)."""
        entries = self.ready.clear()
        flow.release(self)
        for entry in entries:
            self._drop(entry)
        return len(entries)

    def recovered(self) -> None:
        """Boot: the store put messages back; start their expiry clocks (and know their names again)."""
        if self.dedup is not None:
            for entry in self.ready:
                self.dedup.admit(entry.msg)
        if any(e.expires is not None for e in self.ready):
            self._expiring = True
            self._drop_expired(time.time())

    def is_unused(self) -> bool:
        return not self.consumers
