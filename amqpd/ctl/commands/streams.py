"""Streams: stream_status (as rabbitmq-streams names it) and amqpd's list_stream_readers, the readers of a
stream with their position and lag. The status comes from the same StreamQueue.status() the HTTP API
shows."""

from __future__ import annotations

from typing import Any

from ..registry import EX_UNAVAILABLE, Context, CtlError, command

GROUP = "Streams"
STATUS_KEYS = ("role", "node", "epoch", "offset", "committed_offset", "first_offset", "readers", "segments",
               "messages", "bytes")
READER_KEYS = ("consumer_tag", "reader", "offset", "lag", "filter")


def _stream(ctx: Context, name: str) -> Any:
    vh = ctx.ops.vhosts.get(ctx.vhost)
    q = vh.queues.get(name) if vh is not None else None
    if q is None or not q.stream:
        raise CtlError(EX_UNAVAILABLE, f"Error:\nstream '{name}' not found in vhost '{ctx.vhost}'")
    return q


@command("stream_status", tool="rabbitmq-streams", group=GROUP, summary="Displays the status of a stream",
         usage="[--vhost <vhost>] <stream>", info_keys=STATUS_KEYS, default_columns=STATUS_KEYS,
         vhost_scoped=True, arguments=lambda p: p.add_argument("stream"),
         banner=lambda a, c: f"Status of stream {a['stream']} ...")
def stream_status(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    from ...channel.trace import node_name

    s = _stream(ctx, args["stream"]).status()
    return [{"role": "writer", "node": node_name(), "epoch": 1, "offset": s["next_offset"] - 1,
             "committed_offset": s["last_offset"], "first_offset": s["first_offset"], "readers": len(s["readers"]),
             "segments": s["segments"], "messages": s["messages"], "bytes": s["bytes"]}]


@command("list_stream_readers", tool="amqpctl", group=GROUP,
         summary="Lists the consumers reading a stream, with their offset and lag (amqpd)",
         usage="[--vhost <vhost>] <stream> [<column> ...]", info_keys=READER_KEYS, default_columns=READER_KEYS,
         vhost_scoped=True, arguments=lambda p: p.add_argument("stream"),
         banner=lambda a, c: f"Listing readers of stream {a['stream']} in vhost {c['vhost']} ...")
def list_stream_readers(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**r, "reader": r["reader"] or "", "filter": ",".join(r["filter"] or [])}
            for r in _stream(ctx, args["stream"]).status()["readers"]]
