"""A virtual host owns exchanges, queues and bindings, and applies RabbitMQ's declare/delete rules."""

from __future__ import annotations

import base64
import os
from typing import Any

from . import args as qargs
from .delays import QUEUE as QUEUE_TARGET
from .errors import ChannelError, ConnectionError, ReplyCode
from .exchanges import Binding, Exchange, exchange_class
from .exchanges.default import DefaultExchange
from .log import get_logger
from .queue import Queue
from .stats import VhostCounters
from .streams.queue import StreamQueue

STANDARD_EXCHANGES = (
    ("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
    ("amq.headers", "headers"), ("amq.match", "headers"),
)


# The firehose's exchange (channel/trace.py): topic, durable, internal, in every vhost, as RabbitMQ.
TRACE_EXCHANGE = "amq.rabbitmq.trace"
SYSTEM_EXCHANGES = frozenset([*(name for name, _ in STANDARD_EXCHANGES), TRACE_EXCHANGE])


def default_exchange_refused() -> ChannelError:
    return ChannelError(ReplyCode.ACCESS_REFUSED, "operation not permitted on the default exchange")


def _stored(destination: Any) -> bool:
    # Exclusive queues die with their connection, so neither they nor their bindings reach the disk.
    return destination.durable and getattr(destination, "exclusive_owner", None) is None


def server_named_queue() -> str:
    # RabbitMQ's form: amq.gen- followed by 22 url-safe base64 characters (16 random bytes).
    return "amq.gen-" + base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


class VHost:
    def __init__(self, name: str, store: Any, description: str = "", tags: list[str] | None = None,
                 default_queue_type: str | None = None, delays: Any = None) -> None:
        self.name = name
        self.store = store
        self.delays = delays  # the broker's schedule for x-delayed-message exchanges (amqpd/delays.py)
        # metadata, limits and policies: set and persisted by ops/ (the operations layer)
        self.description = description
        self.tags: list[str] = list(tags or [])
        self.default_queue_type = default_queue_type
        self.limits: dict[str, int] = {}
        self.policies: dict[str, Any] = {}
        self.operator_policies: dict[str, Any] = {}
        # Durable queues keep at most this many ready messages' content in memory (0 = no limit).
        self.page_threshold = getattr(store, "page_threshold", 0)
        # Memory is above the paging ratio: long queues keep only their heads' content in memory.
        self.paging = False
        self.page_keep = 0  # while paging: bytes of content each queue keeps in memory (paging.py sets it)
        self.log = get_logger(vhost=name)
        self.logged_dl_cycles: set[tuple] = set()  # dead-letter cycles are logged once each
        self.counters = VhostCounters()  # what closed channels counted, dead-lettering, queue churn
        self.tracing = False  # firehose (channel/trace.py) for channels opened from now on
        self.queues: dict[str, Queue] = {}
        self.reply_channels: dict[str, Any] = {}  # direct reply-to tokens -> requesting channel
        self.exchanges: dict[str, Exchange] = {"": DefaultExchange("", lookup=self.queues.get)}
        # Reverse index: destination id -> bindings that point at it, so deleting a queue or an exchange
        # costs its own bindings, not a scan of every exchange.
        self._to: dict[int, dict[tuple, Binding]] = {}
        for name_, type_ in STANDARD_EXCHANGES:
            self.exchanges[name_] = exchange_class(type_)(name_, durable=True)
        self.exchanges[TRACE_EXCHANGE] = exchange_class("topic")(TRACE_EXCHANGE, durable=True, internal=True)

    # -- lookups ----------------------------------------------------------------------------------
    def exchange(self, name: str) -> Exchange:
        ex = self.exchanges.get(name)
        if ex is None:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no exchange '{name}' in vhost '{self.name}'")
        return ex

    def queue(self, name: str, conn: Any = None) -> Queue:
        q = self.queues.get(name)
        if q is None:
            raise ChannelError(ReplyCode.NOT_FOUND, f"no queue '{name}' in vhost '{self.name}'")
        if conn is not None and q.exclusive_owner is not None and q.exclusive_owner is not conn:
            raise self._locked(name)
        return q

    def _locked(self, name: str) -> ChannelError:
        return ChannelError(
            ReplyCode.RESOURCE_LOCKED,
            f"cannot obtain exclusive access to locked queue '{name}' in vhost '{self.name}'. It could be "
            "originally declared on another connection or the exclusive property value does not match "
            "that of the original declaration.",
        )

    # -- exchanges --------------------------------------------------------------------------------
    def declare_exchange(self, name: str, type_: str, passive: bool, durable: bool, auto_delete: bool,
                         internal: bool, arguments: dict[str, Any],
                         authorize: Any = None, authorize_new: Any = None, user: str | None = None) -> Exchange:
        """authorize(name): the configure check, where RabbitMQ makes it; authorize_new(name): the
        checks for a new exchange only (its alternate exchange)."""
        if name == "":
            raise default_exchange_refused()
        if passive:
            return self.exchange(name)
        if authorize is not None:
            authorize(name)
        if name.startswith("amq.") and name not in self.exchanges:
            # Redeclaring a standard exchange with its own settings is allowed, as in RabbitMQ.
            raise ChannelError(ReplyCode.ACCESS_REFUSED, f"exchange name '{name}' contains reserved prefix 'amq.*'")
        cls = exchange_class(type_)
        if cls is None:
            raise ConnectionError(ReplyCode.COMMAND_INVALID, f"unknown exchange type '{type_}'")
        existing = self.exchanges.get(name)
        if existing is not None:
            rn = ("exchange", name, self.name)
            qargs.assert_flag_equivalent(*rn, "type", existing.type_name, type_)
            qargs.assert_flag_equivalent(*rn, "durable", existing.durable, durable)
            qargs.assert_flag_equivalent(*rn, "auto_delete", existing.auto_delete, auto_delete)
            qargs.assert_flag_equivalent(*rn, "internal", existing.internal, internal)
            qargs.assert_args_equivalent(*rn, existing.arguments, arguments, ("alternate-exchange",))
            return existing
        if authorize_new is not None:
            authorize_new(name)
        qargs.validate_exchange_args(name, self.name, arguments)
        ex = cls(name, durable=durable, auto_delete=auto_delete, internal=internal, arguments=arguments)
        self.adopt(ex)
        if user is not None:
            ex.declared_by = user
        if durable:  # first: a write the store refuses must leave no exchange behind
            self.store.add_exchange(self.name, ex)
        self.exchanges[name] = ex
        return ex

    def adopt(self, ex: Exchange) -> None:
        """An x-delayed-message exchange hands what it delays to the broker's schedule; an
        x-message-deduplication exchange may keep its cache in the store."""
        if getattr(ex, "delays_messages", False):
            ex.scheduler = self.delays  # type: ignore[attr-defined]
            ex.vhost_name = self.name  # type: ignore[attr-defined]
        if getattr(ex, "dedups", False):
            ex.attach(self.store, self.name)  # type: ignore[attr-defined]

    def delete_exchange(self, name: str, if_unused: bool) -> None:
        if name == "":
            raise default_exchange_refused()
        ex = self.exchanges.get(name)
        if ex is None:
            return  # RabbitMQ 3.10: deleting a missing exchange succeeds
        if name in SYSTEM_EXCHANGES:
            raise ChannelError(ReplyCode.ACCESS_REFUSED,
                               f"deletion of system exchange '{name}' in vhost '{self.name}' not allowed")
        if if_unused and ex.has_bindings():
            raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                               f"exchange '{name}' in vhost '{self.name}' in use")
        self._remove_exchange(ex)

    def _remove_exchange(self, ex: Exchange) -> None:
        del self.exchanges[ex.name]
        for b in list(ex.bindings.values()):
            ex.unbind(b)
            self._forget(b)
            if ex.durable and _stored(b.destination):
                self.store.remove_binding(self.name, b)
        self._remove_bindings_to(ex)
        if ex.durable:
            self.store.delete_exchange(self.name, ex)
        if self.delays is not None and getattr(ex, "delays_messages", False):
            self.delays.forget(0, self.name, ex.name)

    # -- bindings ---------------------------------------------------------------------------------
    def bind(self, source: Exchange, destination: Any, routing_key: str, arguments: dict[str, Any]) -> None:
        if source.name == "" or destination.name == "" and destination.is_exchange:
            raise default_exchange_refused()
        source.validate_binding(routing_key, arguments)
        b = Binding(source.name, destination, routing_key, arguments)
        if b.key in source.bindings:
            return
        if source.durable and _stored(destination):  # first: a refused write must leave no binding behind
            self.store.add_binding(self.name, b)
        source.bind(b)
        self._to.setdefault(id(destination), {})[(source.name, b.key)] = b

    def restore_binding(self, source: Exchange, destination: Any, routing_key: str,
                        arguments: dict[str, Any]) -> Binding:
        """Recreate a stored binding at boot (no store write)."""
        b = Binding(source.name, destination, routing_key, arguments)
        if source.bind(b):
            self._to.setdefault(id(destination), {})[(source.name, b.key)] = b
        return b

    def unbind(self, source: Exchange, destination: Any, routing_key: str, arguments: dict[str, Any]) -> None:
        if source.name == "" or destination.name == "" and destination.is_exchange:
            raise default_exchange_refused()
        removed = source.unbind(Binding(source.name, destination, routing_key, arguments))
        if removed is not None:
            self._forget(removed)
            if source.durable and _stored(destination):
                self.store.remove_binding(self.name, removed)
            self._maybe_auto_delete(source)

    def has_binding(self, source: Exchange, destination: Any, routing_key: str, arguments: dict[str, Any]) -> bool:
        return Binding(source.name, destination, routing_key, arguments).key in source.bindings

    def _forget(self, b: Binding) -> None:
        by_dest = self._to.get(id(b.destination))
        if by_dest is not None:
            by_dest.pop((b.source, b.key), None)
            if not by_dest:
                del self._to[id(b.destination)]

    def _remove_bindings_to(self, destination: Any) -> None:
        for (src_name, _), b in list(self._to.pop(id(destination), {}).items()):
            src = self.exchanges.get(src_name)
            if src is None:
                continue
            src.unbind(b)
            if src.durable and _stored(destination):
                self.store.remove_binding(self.name, b)
            self._maybe_auto_delete(src)

    def _maybe_auto_delete(self, ex: Exchange) -> None:
        if ex.auto_delete and not ex.has_bindings() and self.exchanges.get(ex.name) is ex:
            self._remove_exchange(ex)

    # -- queues -----------------------------------------------------------------------------------
    def declare_queue(self, name: str, conn: Any, passive: bool, durable: bool, exclusive: bool,
                      auto_delete: bool, arguments: dict[str, Any]) -> Queue:
        """``name`` has been through ops (server-named, reserved prefix, permissions, limits)."""
        if passive:
            if not name:
                raise ChannelError(ReplyCode.NOT_FOUND, f"no queue '' in vhost '{self.name}'")
            return self.queue(name, conn)
        self.counters.queue_declared += 1
        existing = self.queues.get(name)
        if existing is not None:
            # RabbitMQ's check_exclusive_access: another connection's exclusive queue, or a redeclare
            # with a different exclusive flag (even by the owner), is locked.
            owner = existing.exclusive_owner
            if (owner is not None and owner is not conn) or (owner is None) == exclusive:
                raise self._locked(name)
            rn = ("queue", name, self.name)
            qargs.assert_flag_equivalent(*rn, "durable", existing.durable, durable)
            qargs.assert_flag_equivalent(*rn, "auto_delete", existing.auto_delete, auto_delete)
            qargs.assert_args_equivalent(*rn, existing.arguments, arguments,
                                         qargs.TYPE_ARGS[qargs.queue_type(existing.arguments)])
            return existing
        qargs.validate_queue_args(name, self.name, arguments, durable, exclusive, auto_delete)
        cls = StreamQueue if qargs.queue_type(arguments) == "stream" else Queue
        q = cls(self, name, durable=durable, exclusive_owner=conn if exclusive else None,
                auto_delete=auto_delete, arguments=arguments)
        if durable and not exclusive:  # first: a write the store refuses must leave no queue behind
            self.store.add_queue(q)
        self.queues[name] = q
        self.counters.queue_created += 1
        if exclusive:
            conn.exclusive_queues.add(q)
        return q

    def delete_queue(self, q: Queue, if_unused: bool = False, if_empty: bool = False) -> int:
        if q.stream:  # RabbitMQ 3.10 ignores if-unused and if-empty for a stream and reports 0 messages
            self.remove_queue(q)
            return 0
        if if_empty and q.message_count:
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"queue '{q.name}' in vhost '{self.name}' not empty")
        if if_unused and not q.is_unused():
            raise ChannelError(ReplyCode.PRECONDITION_FAILED, f"queue '{q.name}' in vhost '{self.name}' in use")
        return self.remove_queue(q)

    def remove_queue(self, q: Queue) -> int:
        """Delete unconditionally: cancel its consumers, drop its bindings and messages."""
        if q.deleted or self.queues.get(q.name) is not q:
            return 0
        q.deleted = True
        self.counters.queue_deleted += 1
        q.stop_timers()
        del self.queues[q.name]
        count = q.purge()
        for consumer in list(q.consumers):
            consumer.cancelled_by_server()
        q.consumers.clear()
        self._remove_bindings_to(q)
        if q.exclusive_owner is not None:
            q.exclusive_owner.exclusive_queues.discard(q)
        if q.durable and q.exclusive_owner is None:
            self.store.delete_queue(q)
        if self.delays is not None:  # its retries waiting in the schedule
            self.delays.forget(QUEUE_TARGET, self.name, q.name)
        return count
