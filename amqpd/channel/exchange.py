"""exchange.* methods."""

from __future__ import annotations

from pamqp import commands

from ..vhost import default_exchange_refused
from . import Channel, handles


@handles(commands.Exchange.Declare)
def declare(ch: Channel, m: commands.Exchange.Declare) -> None:
    ch.vhost.declare_exchange(m.exchange, m.exchange_type, m.passive, m.durable, m.auto_delete, m.internal,
                              m.arguments or {})
    if not m.nowait:
        ch.send(commands.Exchange.DeclareOk())


@handles(commands.Exchange.Delete)
def delete(ch: Channel, m: commands.Exchange.Delete) -> None:
    ch.vhost.delete_exchange(m.exchange, m.if_unused)
    if not m.nowait:
        ch.send(commands.Exchange.DeleteOk())


@handles(commands.Exchange.Bind)
def bind(ch: Channel, m: commands.Exchange.Bind) -> None:
    vh = ch.vhost
    if m.source == "" or m.destination == "":
        raise default_exchange_refused()
    source = vh.exchange(m.source)
    destination = vh.exchange(m.destination)
    vh.bind(source, destination, m.routing_key, m.arguments or {})
    if not m.nowait:
        ch.send(commands.Exchange.BindOk())


@handles(commands.Exchange.Unbind)
def unbind(ch: Channel, m: commands.Exchange.Unbind) -> None:
    vh = ch.vhost
    if m.source == "" or m.destination == "":
        raise default_exchange_refused()
    destination = vh.exchanges.get(m.destination)
    source = vh.exchanges.get(m.source)
    # RabbitMQ 3.10 answers unbind-ok for bindings (or ends) that do not exist.
    if destination is not None and source is not None:
        vh.unbind(source, destination, m.routing_key, m.arguments or {})
    if not m.nowait:
        ch.send(commands.Exchange.UnbindOk())
