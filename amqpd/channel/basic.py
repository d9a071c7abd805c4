"""basic.* methods (basic.publish is on the hot path and handled in the channel itself)."""

from __future__ import annotations

from pamqp import commands

from .. import args as qargs
from ..errors import ChannelError, ConnectionError, ReplyCode
from ..protocol.methods import content_frames, deliver_prefix, encode_method
from ..streams import consume as streams
from . import Channel, generated_tag, handles, replyto


@handles(commands.Basic.Qos)
def qos(ch: Channel, m: commands.Basic.Qos) -> None:
    if m.prefetch_size:
        raise ConnectionError(ReplyCode.NOT_IMPLEMENTED, f"prefetch_size!=0 ({m.prefetch_size})")
    if m.global_:
        ch.prefetch_global = m.prefetch_count
    else:
        # RabbitMQ 3.10 (rabbit_channel): a per-consumer basic.qos also lifts the channel's global limit
        # (rabbit_limiter:unlimit_prefetch); a global one set afterwards applies on top of it.
        ch.prefetch_default = m.prefetch_count
        ch.prefetch_global = 0
    ch.send(commands.Basic.QosOk())
    for c in ch.consumers.values():
        c.queue.schedule_dispatch()


@handles(commands.Basic.Consume)
def consume(ch: Channel, m: commands.Basic.Consume) -> None:
    tag = m.consumer_tag or generated_tag("amq.ctag-")
    if tag in ch.consumers or (ch.reply_consumer is not None and ch.reply_consumer.tag == tag):
        raise ConnectionError(ReplyCode.NOT_ALLOWED, f"attempt to reuse consumer tag '{tag}'")
    limit = ch.conn.config.consumer_max_per_channel
    if limit is not None and len(ch.consumers) + (ch.reply_consumer is not None) >= limit:
        raise ConnectionError(ReplyCode.NOT_ALLOWED, f"reached maximum ({limit}) of consumers per channel")
    if m.queue == replyto.PSEUDO_QUEUE:
        replyto.consume(ch, tag, m.no_ack)
        if not m.nowait:
            ch.send(commands.Basic.ConsumeOk(consumer_tag=tag))
        return
    q = ch.queue_for(m.queue)
    args = m.arguments or {}
    qargs.validate_consume_args(q.name, ch.vhost.name, qargs.queue_type(q.arguments), args)
    if q.stream:
        streams.check_consume(ch, q, m.no_ack, args)
    if q.quorum and ch.prefetch_global:
        # rabbit_quorum_queue:consume refuses a channel whose global limiter is active
        raise ConnectionError(ReplyCode.NOT_IMPLEMENTED,
                              f"queue '{q.name}' in vhost '{ch.vhost.name}' does not support global qos")
    if q.exclusive_consumer is not None or (m.exclusive and (q.consumers or q.single_active)):
        raise ChannelError(ReplyCode.ACCESS_REFUSED,
                           f"queue '{q.name}' in vhost '{ch.vhost.name}' in exclusive use")
    priority = args.get("x-priority", 0) if isinstance(args.get("x-priority"), int) else 0
    consumer = ch.consumer_class(tag, ch, q, m.no_ack, m.exclusive, ch.prefetch_default, args,
                        deliver_prefix(tag), int(priority))
    ch.consumers[tag] = consumer
    # consume-ok must reach the client before the first delivery.
    if not m.nowait:
        ch.send(commands.Basic.ConsumeOk(consumer_tag=tag))
    q.add_consumer(consumer)


@handles(commands.Basic.Cancel)
def cancel(ch: Channel, m: commands.Basic.Cancel) -> None:
    if ch.reply_consumer is not None and ch.reply_consumer.tag == m.consumer_tag:
        replyto.cancel(ch)
    else:
        ch.cancel_consumer(m.consumer_tag)
    if not m.nowait:
        ch.send(commands.Basic.CancelOk(consumer_tag=m.consumer_tag))


@handles(commands.Basic.Get)
def get(ch: Channel, m: commands.Basic.Get) -> None:
    q = ch.queue_for(m.queue)
    if q.stream:
        streams.refuse_get(ch, q)
    entry = q.take()
    if entry is None:
        ch.n_get_empty += 1
        q.n_get_empty += 1
        ch.send(commands.Basic.GetEmpty())
        return
    if entry.redelivered:
        ch.n_redeliver += 1
        q.n_redeliver += 1
    tag = ch.next_tag
    ch.next_tag += 1
    msg = q.with_delivery_count(entry) if q.quorum else entry.msg
    header, body = msg.content()  # first: a paged-out message learns its exchange and key here
    get_ok = commands.Basic.GetOk(delivery_tag=tag, redelivered=entry.redelivered, exchange=msg.exchange,
                                  routing_key=msg.routing_key, message_count=q.message_count)
    ch.conn.write(content_frames(ch.id, encode_method(ch.id, get_ok), header, body, ch.conn.max_body))
    if ch.tracer is not None:
        ch.tracer.tap_out(msg, q.name, entry.redelivered)
    if m.no_ack:
        ch.n_get_no_ack += 1
        q.n_get_no_ack += 1
        q.delivered(entry, True)
    else:
        ch.n_get += 1
        q.n_get += 1
        ch.track_unacked(tag, entry, None)


def _settle(ch: Channel, tag: int, multiple: bool, requeue: bool | None, method: tuple[int, int] = (60, 80)) -> None:
    taken = ch.take_unacked(tag, multiple)
    if requeue is not None:
        streams.refuse_settle(taken, ch.vhost.name, method)
    if ch.tx:
        ch.tx_acks.extend((t, e, c, requeue) for t, e, c in taken)
        return
    ch.settle(taken, requeue)


@handles(commands.Basic.Ack)
def ack(ch: Channel, m: commands.Basic.Ack) -> None:
    _settle(ch, m.delivery_tag, m.multiple, None)


@handles(commands.Basic.Nack)
def nack(ch: Channel, m: commands.Basic.Nack) -> None:
    _settle(ch, m.delivery_tag, m.multiple, bool(m.requeue), (60, 120))


@handles(commands.Basic.Reject)
def reject(ch: Channel, m: commands.Basic.Reject) -> None:
    _settle(ch, m.delivery_tag, False, bool(m.requeue), (60, 90))


@handles(commands.Basic.Recover)
def recover(ch: Channel, m: commands.Basic.Recover) -> None:
    if not m.requeue:
        raise ConnectionError(ReplyCode.NOT_IMPLEMENTED, "requeue=false")
    streams.refuse_recover(ch, (60, 110))
    ch.requeue_all_unacked()
    ch.send(commands.Basic.RecoverOk())


@handles(commands.Basic.RecoverAsync)
def recover_async(ch: Channel, m: commands.Basic.RecoverAsync) -> None:
    if not m.requeue:
        raise ConnectionError(ReplyCode.NOT_IMPLEMENTED, "requeue=false")
    streams.refuse_recover(ch, (60, 100))
    ch.requeue_all_unacked()
