"""Queues, exchanges and bindings: the checks RabbitMQ makes around a declare, delete, bind or purge
(permissions, reserved names, vhost limits, dead-letter and alternate exchanges), in RabbitMQ's order,
then the change itself (vhost.py) and the policy that applies to a new object.

``access`` is the caller's VhostAccess (AMQP connection, HTTP user); None means the broker itself
(definitions import, boot), which is not subject to permissions.
"""

from __future__ import annotations

from typing import Any

from .. import args as qargs
from ..auth.permissions import CONFIGURE, READ, WRITE
from ..errors import ChannelError, ReplyCode
from ..exchanges import Exchange
from ..queue import Queue
from ..vhost import VHost, default_exchange_refused, server_named_queue
from .errors import BadRequest


def _check(access: Any, perm: str, kind: str, name: str) -> None:
    if access is not None:
        access.check(perm, kind, name)


class TopologyOps:
    log: Any

    # -- queues -----------------------------------------------------------------------------------
    def declare_queue(self, vh: VHost, name: str, *, durable: bool = True, exclusive: bool = False,
                      auto_delete: bool = False, arguments: dict[str, Any] | None = None, passive: bool = False,
                      conn: Any = None, access: Any = None) -> Queue:
        arguments = arguments or {}
        # RabbitMQ 3.10 makes every exclusive queue transient, so redeclaring one with another durable
        # flag is no inequivalence (it lives no longer than its connection either way)
        durable = durable and not exclusive
        if passive:
            # rabbit_channel makes no permission check for a passive declare
            return vh.declare_queue(name, conn, True, durable, exclusive, auto_delete, arguments)
        if not name:
            qargs.check_server_named(arguments)
            name = server_named_queue()
        elif name.startswith("amq."):
            raise ChannelError(ReplyCode.ACCESS_REFUSED, f"queue name '{name}' contains reserved prefix 'amq.*'")
        _check(access, CONFIGURE, "queue", name)
        if name not in vh.queues:
            # only a new queue counts against the limit, and only a new one has its DLX checked
            # Limits bind clients (RabbitMQ checks them in the channel), not the broker's own imports.
            limit = vh.limits.get("max-queues") if access is not None else None
            if limit is not None and limit >= 0 and len(vh.queues) >= limit:
                raise ChannelError(ReplyCode.PRECONDITION_FAILED,
                                   f"cannot declare queue '{name}': queue limit in vhost '{vh.name}' ({limit}) "
                                   "is reached")
            dlx = arguments.get("x-dead-letter-exchange")
            if isinstance(dlx, str) and access is not None:
                access.check(READ, "queue", name)
                access.check(WRITE, "exchange", dlx)
        known = name in vh.queues
        q = vh.declare_queue(name, conn, False, durable, exclusive, auto_delete, arguments)
        if not known:
            self.apply_policy_to_queue(vh, q)  # type: ignore[attr-defined]
            self.log.debug("queue declared", vhost=vh.name, queue=name, durable=durable)
        return q

    def lookup_queue(self, vh: VHost, name: str, perm: str, conn: Any = None, access: Any = None) -> Queue:
        """A queue for consume, get or purge (read) or delete (configure): permission first, as RabbitMQ."""
        _check(access, perm, "queue", name)
        return vh.queue(name, conn)

    def purge_queue(self, vh: VHost, name: str, conn: Any = None, access: Any = None) -> int:
        q = self.lookup_queue(vh, name, READ, conn, access)
        if q.stream:
            raise BadRequest(f"queue.purge not supported by stream queues queue '{name}' in vhost '{vh.name}'")
        return q.purge()

    def delete_queue(self, vh: VHost, name: str, *, if_unused: bool = False, if_empty: bool = False,
                     conn: Any = None, access: Any = None) -> int:
        _check(access, CONFIGURE, "queue", name)
        q = vh.queues.get(name)
        if q is None:
            return 0  # RabbitMQ 3.10: deleting a missing queue succeeds
        q = vh.queue(name, conn)  # exclusivity
        count = vh.delete_queue(q, if_unused, if_empty)
        self.log.debug("queue deleted", vhost=vh.name, queue=name)
        return count

    # -- exchanges --------------------------------------------------------------------------------
    def declare_exchange(self, vh: VHost, name: str, type_: str, *, durable: bool = True,
                         auto_delete: bool = False, internal: bool = False, arguments: dict[str, Any] | None = None,
                         passive: bool = False, access: Any = None) -> Exchange:
        arguments = arguments or {}
        authorize = authorize_new = None
        if access is not None:
            def authorize(n: str) -> None:
                access.check(CONFIGURE, "exchange", n)

            def authorize_new(n: str) -> None:
                ae = arguments.get("alternate-exchange")
                if isinstance(ae, str):
                    access.check(READ, "exchange", n)
                    access.check(WRITE, "exchange", ae)
        known = name in vh.exchanges
        ex = vh.declare_exchange(name, type_, passive, durable, auto_delete, internal, arguments,
                                 authorize, authorize_new, user=access.user if access is not None else None)
        if not known and not passive:
            self.apply_policy_to_exchange(vh, ex)  # type: ignore[attr-defined]
            self.log.debug("exchange declared", vhost=vh.name, exchange=name, type=type_)
        return ex

    def delete_exchange(self, vh: VHost, name: str, *, if_unused: bool = False, access: Any = None) -> None:
        if name == "":
            raise default_exchange_refused()
        _check(access, CONFIGURE, "exchange", name)
        vh.delete_exchange(name, if_unused)

    # -- bindings ---------------------------------------------------------------------------------
    def _binding_ends(self, vh: VHost, source: str, dest_kind: str, destination: str, routing_key: str,
                      conn: Any, access: Any) -> tuple[Exchange | None, Any]:
        # rabbit_channel:binding_action: write on the destination, the default exchange refused, read
        # on the source, topic read permission on the key; only then do the ends have to exist.
        _check(access, WRITE, dest_kind, destination)
        if source == "" or (dest_kind == "exchange" and destination == ""):
            raise default_exchange_refused()
        _check(access, READ, "exchange", source)
        src = vh.exchanges.get(source)
        if src is not None and access is not None and src.type_name == "topic":
            access.check_topic(READ, source, routing_key)
        dest = (vh.exchanges if dest_kind == "exchange" else vh.queues).get(destination)
        return src, dest

    def bind(self, vh: VHost, source: str, dest_kind: str, destination: str, routing_key: str,
             arguments: dict[str, Any] | None = None, *, conn: Any = None, access: Any = None) -> None:
        arguments = arguments or {}
        src, dest = self._binding_ends(vh, source, dest_kind, destination, routing_key, conn, access)
        if src is None:
            vh.exchange(source)  # 404 for the source first, as RabbitMQ
        if dest is None:
            dest = vh.exchange(destination) if dest_kind == "exchange" else vh.queue(destination)
        if dest_kind == "queue":
            vh.queue(destination, conn)  # exclusive queues of other connections are locked
        vh.bind(src, dest, routing_key, arguments)

    def unbind(self, vh: VHost, source: str, dest_kind: str, destination: str, routing_key: str,
               arguments: dict[str, Any] | None = None, *, conn: Any = None, access: Any = None) -> None:
        arguments = arguments or {}
        src, dest = self._binding_ends(vh, source, dest_kind, destination, routing_key, conn, access)
        # RabbitMQ 3.10 answers unbind-ok when an end or the binding does not exist; only removing a
        # binding that exists is subject to the exclusive-queue lock.
        if src is None or dest is None or not vh.has_binding(src, dest, routing_key, arguments):
            return
        if dest_kind == "queue":
            vh.queue(destination, conn)
        vh.unbind(src, dest, routing_key, arguments)
