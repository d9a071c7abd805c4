"""exchange.* methods: translated into operations-layer calls (ops/topology.py), which check
permissions where RabbitMQ does."""

from __future__ import annotations

from pamqp import commands

from . import Channel, handles


@handles(commands.Exchange.Declare)
def declare(ch: Channel, m: commands.Exchange.Declare) -> None:
    ch.ops.declare_exchange(ch.vhost, m.exchange, m.exchange_type, durable=m.durable, auto_delete=m.auto_delete,
                            internal=m.internal, arguments=m.arguments or {}, passive=m.passive, access=ch.access)
    if not m.nowait:
        ch.send(commands.Exchange.DeclareOk())


@handles(commands.Exchange.Delete)
def delete(ch: Channel, m: commands.Exchange.Delete) -> None:
    ch.ops.delete_exchange(ch.vhost, m.exchange, if_unused=m.if_unused, access=ch.access)
    if not m.nowait:
        ch.send(commands.Exchange.DeleteOk())


@handles(commands.Exchange.Bind)
def bind(ch: Channel, m: commands.Exchange.Bind) -> None:
    ch.ops.bind(ch.vhost, m.source, "exchange", m.destination, m.routing_key, m.arguments or {}, access=ch.access)
    if not m.nowait:
        ch.send(commands.Exchange.BindOk())


@handles(commands.Exchange.Unbind)
def unbind(ch: Channel, m: commands.Exchange.Unbind) -> None:
    ch.ops.unbind(ch.vhost, m.source, "exchange", m.destination, m.routing_key, m.arguments or {},
                  access=ch.access)
    if not m.nowait:
        ch.send(commands.Exchange.UnbindOk())

