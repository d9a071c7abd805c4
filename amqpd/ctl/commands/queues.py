"""purge_queue, delete_queue, close_connection, close_all_connections; and amqpd's own move_messages
(dead-letter replay) and peek_queue, through the same operations as the HTTP API's."""

from __future__ import annotations

from typing import Any

from ..output import dumps, table_value
from ..registry import EX_UNAVAILABLE, EX_USAGE, Context, CtlError, command

GROUP = "Queues"


def _vhost(ctx: Context) -> Any:
    return ctx.ops.vhosts.get(ctx.vhost)


def _ok(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    """Commands whose success rabbitmqctl shows as a sentence, or {"result":"ok"} in JSON."""
    if ctx["inv"].opts["formatter"] == "json":
        ctx["out"].write(dumps({"node": ctx["node"], "result": "ok"}) + "\n")
    elif result:
        ctx["out"].write(f"{result}\n")
    return 0


@command("purge_queue", tool="rabbitmqctl", group=GROUP, summary="Purges a queue (removes all messages in it)",
         usage="[--vhost <vhost>] <queue>", render=_ok, vhost_scoped=True, extra={"changes": True},
         arguments=lambda p: p.add_argument("queue"),
         banner=lambda a, c: f"Purging queue '{a['queue']}' in vhost '{c['vhost']}' ...")
def purge_queue(ctx: Context, args: dict[str, Any]) -> str:
    vh = _vhost(ctx)
    if vh is None or args["queue"] not in vh.queues:
        raise CtlError(EX_UNAVAILABLE, "Error:\nnot_found")
    ctx.ops.purge_queue(vh, args["queue"])
    return ""


def _delete_args(p: Any) -> None:
    p.add_argument("queue")
    p.add_argument("-e", "--if-empty", action="store_true")
    p.add_argument("-u", "--if-unused", action="store_true")


def _delete_banner(a: dict[str, Any], c: dict[str, Any]) -> str:
    cond = " and ".join(w for w, on in (("if queue is empty", a["if_empty"]), ("if queue is unused", a["if_unused"]))
                        if on)
    return f"Deleting queue '{a['queue']}' on vhost '{c['vhost']}' {cond + ' ' if cond else ''}..."


@command("delete_queue", tool="rabbitmqctl", group=GROUP, summary="Deletes a queue",
         usage="[--vhost <vhost>] <queue_name> [--if-empty|-e] [--if-unused|-u]", arguments=_delete_args,
         vhost_scoped=True, banner=_delete_banner, extra={"changes": True})
def delete_queue(ctx: Context, args: dict[str, Any]) -> str:
    vh = _vhost(ctx)
    q = vh.queues.get(args["queue"]) if vh is not None else None
    if q is None:
        raise CtlError(EX_USAGE, "Error:\nQueue not found")
    if args["if_empty"] and q.message_count:
        raise CtlError(EX_USAGE, "Error:\nQueue is not empty")
    if args["if_unused"] and q.consumers:
        raise CtlError(EX_USAGE, "Error:\nQueue is in use")
    ready = q.message_count
    ctx.ops.delete_queue(vh, q.name, conn=q.exclusive_owner)
    return f"Queue was successfully deleted with {ready} ready messages"


# -- connections ----------------------------------------------------------------------------------------
def _close_args(p: Any) -> None:
    p.add_argument("connection")
    p.add_argument("reason", nargs="?", default="Closed via amqpctl")


@command("close_connection", tool="rabbitmqctl", group="Connections",
         summary="Instructs the broker to close the connection associated with the Erlang process id",
         usage="<connection pid> <explanation>", arguments=_close_args, render=_ok, extra={"changes": True},
         banner=lambda a, c: f"Closing connection {a['connection']}, reason: {a['reason']}...")
def close_connection(ctx: Context, args: dict[str, Any]) -> str:
    """By the pid list_connections shows, or by the connection's name as the HTTP API shows it."""
    from ...errors import ReplyCode
    from ...management.api.connections import conn_name
    from .listing import pid

    wanted = args["connection"]
    for conn in list(ctx.broker.connections):
        if conn.transport is not None and wanted in (pid(1, conn), conn_name(conn)):
            ctx.log.info("closing connection via amqpctl", connection=conn_name(conn), reason=args["reason"])
            conn.close(ReplyCode.CONNECTION_FORCED, args["reason"])
            return ""
    if not (wanted.startswith("<") and wanted.endswith(">")) and " -> " not in wanted:
        raise CtlError(EX_UNAVAILABLE, f'Error:\nError:\n{{:invalid_pid_syntax, "{wanted}"}}')
    return ""  # rabbitmqctl: closing a connection that is gone is not an error


def _close_all_args(p: Any) -> None:
    p.add_argument("reason")
    p.add_argument("--global", dest="all_vhosts", action="store_true")
    p.add_argument("--per-connection-delay", type=int, default=0)
    p.add_argument("--limit", type=int, default=0)


@command("close_all_connections", tool="rabbitmqctl", group="Connections",
         summary="Instructs the broker to close all connections for the specified vhost or entire node",
         usage="[--vhost <vhost> --limit <limit>] [-n <node> --global] [--per-connection-delay <delay>] "
               "<explanation>", arguments=_close_all_args, vhost_scoped=True, extra={"changes": True},
         banner=lambda a, c: (f"Closing all connections to node {c['node']} (across all vhosts), reason: "
                              f"{a['reason']}..." if a["all_vhosts"] else
                              f"Closing all connections in vhost {c['vhost']}, reason: {a['reason']}..."))
def close_all_connections(ctx: Context, args: dict[str, Any]) -> str:
    from ...errors import ReplyCode

    closing = [c for c in list(ctx.broker.connections) if c.transport is not None
               and getattr(c, "vhost", None) is not None and (args["all_vhosts"] or c.vhost.name == ctx.vhost)]
    if args["limit"] > 0:
        closing = closing[:args["limit"]]
    for conn in closing:
        conn.close(ReplyCode.CONNECTION_FORCED, args["reason"])
    ctx.log.info("closing connections via amqpctl", count=len(closing), reason=args["reason"])
    return f"Closed {len(closing)} connections"


# -- amqpd's own: peek and move (dead-letter replay) ----------------------------------------------------
def _peek_args(p: Any) -> None:
    p.add_argument("queue")
    p.add_argument("count", nargs="?", type=int, default=10)
    p.add_argument("--offset", type=int, default=None)  # streams: browse from this offset


def _render_peek(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    out = ctx["out"]
    if ctx["inv"].opts["formatter"] == "json":
        out.write("[\n" + "".join(("," if i else "") + dumps(m) + "\n" for i, m in enumerate(result)) + "]\n")
        return 0
    cols = ("exchange", "routing_key", "redelivered", "payload_bytes", "payload_encoding", "payload")
    if result and not ctx["inv"].opts.get("no_table_headers"):
        out.write("\t".join(cols) + "\n")
    for m in result:
        out.write("\t".join(table_value(m[c]).replace("\n", "\\n").replace("\t", "\\t") for c in cols) + "\n")
    return 0


@command("peek_queue", tool="amqpctl", group=GROUP, usage="[--vhost <vhost>] <queue> [<count>] [--offset <n>]",
         summary="Shows the first messages of a queue without consuming them (amqpd)", arguments=_peek_args,
         render=_render_peek, vhost_scoped=True,
         banner=lambda a, c: f"Peeking at up to {a['count']} messages of queue '{a['queue']}' in vhost "
                             f"'{c['vhost']}' ...")
def peek_queue(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    from ...management.api.topology import API_CONN
    from ...management.api.topology_queues import _message_json
    from ...ops.errors import OpError

    vh = _vhost(ctx)
    if vh is None:
        raise CtlError(65, f"Virtual host '{ctx.vhost}' does not exist")
    try:
        peeked = ctx.ops.peek_messages(vh, args["queue"], args["count"], conn=API_CONN, offset=args.get("offset"))
    except OpError as exc:
        raise CtlError(EX_UNAVAILABLE if exc.status == 404 else EX_USAGE, f"Error:\n{exc.reason}") from None
    return [_message_json(peeked.queue, e, "auto", None) for e in peeked.entries]


def _header(text: str) -> tuple[str, Any]:
    """KEY=VALUE; a VALUE that reads as JSON (1, true, "1") is that value, anything else a string."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CtlError(EX_USAGE, f"Error (argument validation): --match-header wants KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _move_args(p: Any) -> None:
    p.add_argument("source")
    p.add_argument("destination")
    p.add_argument("--count", type=int)
    p.add_argument("--to-exchange", action="store_true", help="the destination is an exchange")
    p.add_argument("--routing-key", help="publish with this routing key instead of each message's own")
    p.add_argument("--strip-x-death", action="store_true", help="remove the dead-letter history")
    p.add_argument("--match-routing-key", help="only messages with this routing key")
    p.add_argument("--match-header", action="append", default=[], help="only messages with header KEY=VALUE")


def _prepare_move(args: dict[str, Any]) -> None:
    args["match_header"] = dict(_header(h) for h in args["match_header"])
    if args["count"] is not None and args["count"] < 0:
        raise CtlError(EX_USAGE, "Error (argument validation): --count must be 0 or more")


def _render_move(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if ctx["inv"].opts["formatter"] == "json":
        ctx["out"].write(dumps(result) + "\n")
    else:
        ctx["out"].write(f"Moved {result['moved']} messages ({result['remaining']} left in the source, "
                         f"{result['unroutable']} unroutable, {result['refused']} refused)\n")
    return 0


@command("move_messages", tool="amqpctl", group=GROUP, arguments=_move_args, prepare=_prepare_move,
         render=_render_move, vhost_scoped=True, extra={"changes": True},
         usage="[--vhost <vhost>] <source> <destination> [--count <n>] [--to-exchange] [--routing-key <key>] "
               "[--strip-x-death] [--match-routing-key <key>] [--match-header <k=v> ...]",
         summary="Moves messages from a queue to another queue or an exchange, one at a time and crash-safe "
                 "(dead-letter replay; amqpd)",
         banner=lambda a, c: (f"Moving {'all' if a['count'] is None else a['count']} messages from queue "
                              f"'{a['source']}' to {'exchange' if a['to_exchange'] else 'queue'} "
                              f"'{a['destination']}' in vhost '{c['vhost']}' ..."))
def move_messages(ctx: Context, args: dict[str, Any]) -> dict[str, int]:
    from ...management.api.topology import API_CONN
    from ...ops.errors import OpError

    vh = _vhost(ctx)
    if vh is None:
        raise CtlError(65, f"Virtual host '{ctx.vhost}' does not exist")
    try:
        result = ctx.ops.move_messages(
            vh, args["source"], args["destination"], "exchange" if args["to_exchange"] else "queue",
            count=args["count"], routing_key=args["routing_key"], keep_x_death=not args["strip_x_death"],
            match_routing_key=args["match_routing_key"], match_headers=args["match_header"] or None, conn=API_CONN)
    except OpError as exc:
        raise CtlError(EX_UNAVAILABLE if exc.status == 404 else EX_USAGE, f"Error:\n{exc.reason}") from None
    return result.to_json()
