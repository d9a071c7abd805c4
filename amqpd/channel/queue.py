"""queue.* methods."""

from __future__ import annotations

from pamqp import commands

from ..vhost import default_exchange_refused
from . import Channel, handles


@handles(commands.Queue.Declare)
def declare(ch: Channel, m: commands.Queue.Declare) -> None:
    q = ch.vhost.declare_queue(m.queue, ch.conn, m.passive, m.durable, m.exclusive, m.auto_delete,
                               m.arguments or {})
    ch.last_queue = q.name
    if not m.nowait:
        q.touch()  # like RabbitMQ's queue stat, a declare that gets an answer counts as a use (x-expires)
        ch.send(commands.Queue.DeclareOk(queue=q.name, message_count=q.message_count,
                                         consumer_count=len(q.consumers)))


@handles(commands.Queue.Bind)
def bind(ch: Channel, m: commands.Queue.Bind) -> None:
    vh = ch.vhost
    source = vh.exchange(m.exchange)
    q = ch.queue_for(m.queue)
    rk = m.routing_key
    if not m.queue and not rk:
        rk = q.name  # AMQP 0-9-1: empty queue and key means the last queue's name is the key
    vh.bind(source, q, rk, m.arguments or {})
    if not m.nowait:
        ch.send(commands.Queue.BindOk())


@handles(commands.Queue.Unbind)
def unbind(ch: Channel, m: commands.Queue.Unbind) -> None:
    vh = ch.vhost
    if m.exchange == "":
        raise default_exchange_refused()
    # RabbitMQ 3.10 answers unbind-ok when the queue, the exchange or the binding does not exist; only
    # removing a binding that exists is subject to the exclusive-queue lock.
    q = vh.queues.get(ch.resolve_queue_name(m.queue))
    source = vh.exchanges.get(m.exchange)
    if q is not None and source is not None and vh.has_binding(source, q, m.routing_key, m.arguments or {}):
        vh.queue(q.name, ch.conn)
        vh.unbind(source, q, m.routing_key, m.arguments or {})
    ch.send(commands.Queue.UnbindOk())


@handles(commands.Queue.Purge)
def purge(ch: Channel, m: commands.Queue.Purge) -> None:
    count = ch.queue_for(m.queue).purge()
    if not m.nowait:
        ch.send(commands.Queue.PurgeOk(message_count=count))


@handles(commands.Queue.Delete)
def delete(ch: Channel, m: commands.Queue.Delete) -> None:
    name = ch.resolve_queue_name(m.queue)
    q = ch.vhost.queues.get(name)
    count = 0
    if q is not None:
        q = ch.vhost.queue(name, ch.conn)  # exclusivity check
        count = ch.vhost.delete_queue(q, m.if_unused, m.if_empty)
    if not m.nowait:
        ch.send(commands.Queue.DeleteOk(message_count=count))
