"""queue.* methods: translated into operations-layer calls (ops/topology.py), which check permissions
and limits where RabbitMQ does."""

from __future__ import annotations

from pamqp import commands

from ..streams.consume import refuse_purge
from . import Channel, handles


@handles(commands.Queue.Declare)
def declare(ch: Channel, m: commands.Queue.Declare) -> None:
    q = ch.ops.declare_queue(ch.vhost, m.queue, durable=m.durable, exclusive=m.exclusive,
                             auto_delete=m.auto_delete, arguments=m.arguments or {}, passive=m.passive,
                             conn=ch.conn, access=ch.access)
    ch.last_queue = q.name
    if not m.nowait:
        q.touch()  # like RabbitMQ's queue stat, a declare that gets an answer counts as a use (x-expires)
        # RabbitMQ 3.10 counts no consumers on a stream (its readers are not queue consumers)
        ch.send(commands.Queue.DeclareOk(queue=q.name, message_count=q.message_count,
                                         consumer_count=0 if q.stream else len(q.consumers)))


def _binding(ch: Channel, m: commands.Queue.Bind | commands.Queue.Unbind) -> tuple[str, str]:
    name = ch.resolve_queue_name(m.queue)
    rk = m.routing_key
    if not m.queue and not rk and isinstance(m, commands.Queue.Bind):
        rk = name  # AMQP 0-9-1: empty queue and key means the last queue's name is the key
    return name, rk


@handles(commands.Queue.Bind)
def bind(ch: Channel, m: commands.Queue.Bind) -> None:
    name, rk = _binding(ch, m)
    ch.ops.bind(ch.vhost, m.exchange, "queue", name, rk, m.arguments or {}, conn=ch.conn, access=ch.access)
    if not m.nowait:
        ch.send(commands.Queue.BindOk())


@handles(commands.Queue.Unbind)
def unbind(ch: Channel, m: commands.Queue.Unbind) -> None:
    name, rk = _binding(ch, m)
    ch.ops.unbind(ch.vhost, m.exchange, "queue", name, rk, m.arguments or {}, conn=ch.conn, access=ch.access)
    ch.send(commands.Queue.UnbindOk())


@handles(commands.Queue.Purge)
def purge(ch: Channel, m: commands.Queue.Purge) -> None:
    q = ch.queue_for(m.queue)
    if q.stream:
        refuse_purge(q, ch.vhost.name)
    count = q.purge()
    if not m.nowait:
        ch.send(commands.Queue.PurgeOk(message_count=count))


@handles(commands.Queue.Delete)
def delete(ch: Channel, m: commands.Queue.Delete) -> None:
    count = ch.ops.delete_queue(ch.vhost, ch.resolve_queue_name(m.queue), if_unused=m.if_unused,
                                if_empty=m.if_empty, conn=ch.conn, access=ch.access)
    if not m.nowait:
        ch.send(commands.Queue.DeleteOk(message_count=count))
