"""confirm.select and tx.* methods, plus channel.flow (channel-class methods are in connection.py)."""

from __future__ import annotations

from pamqp import commands

from ..errors import ChannelError, ConnectionError, ReplyCode
from . import Channel, handles


@handles(commands.Confirm.Select)
def confirm_select(ch: Channel, m: commands.Confirm.Select) -> None:
    if ch.tx:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "cannot switch from tx to confirm mode")
    ch.confirm = True
    if not m.nowait:
        ch.send(commands.Confirm.SelectOk())


@handles(commands.Tx.Select)
def tx_select(ch: Channel, m: commands.Tx.Select) -> None:
    if ch.confirm:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "cannot switch from confirm to tx mode")
    ch.tx = True
    ch.send(commands.Tx.SelectOk())


@handles(commands.Tx.Commit)
def tx_commit(ch: Channel, m: commands.Tx.Commit) -> None:
    if not ch.tx:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "channel is not transactional")
    publishes, ch.tx_publishes = ch.tx_publishes, []
    acks, ch.tx_acks = ch.tx_acks, []
    stored = False
    for pub, msg in publishes:
        ex = ch.vhost.exchanges.get(pub.exchange)
        if ex is not None:
            stored = ch._route_and_enqueue(pub, ex, msg) or stored
    for tag, entry, consumer, requeue in acks:
        ch.settle([(tag, entry, consumer)], requeue)
    if stored:
        # commit-ok promises the persistent messages are safe: send it once their batch is synced
        ch.commit_ok_after_sync()
    else:
        ch.send(commands.Tx.CommitOk())


@handles(commands.Tx.Rollback)
def tx_rollback(ch: Channel, m: commands.Tx.Rollback) -> None:
    if not ch.tx:
        raise ChannelError(ReplyCode.PRECONDITION_FAILED, "channel is not transactional")
    ch.tx_publishes = []
    if ch.tx_acks:
        ch.restore_unacked([(t, e, c) for t, e, c, _ in ch.tx_acks])
        ch.tx_acks = []
    ch.send(commands.Tx.RollbackOk())


@handles(commands.Channel.Flow)
def flow(ch: Channel, m: commands.Channel.Flow) -> None:
    if not m.active:
        raise ConnectionError(ReplyCode.NOT_IMPLEMENTED, "active=false")
    ch.send(commands.Channel.FlowOk(active=True))
