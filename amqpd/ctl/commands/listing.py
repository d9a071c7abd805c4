"""list_queues, list_exchanges, list_bindings, list_connections, list_channels, list_consumers.

Rows carry rabbitmqctl's info keys; the values come from the same builders the HTTP API uses, so the two
never disagree. Processes are Erlang's; where rabbitmqctl prints a pid, amqpd prints a stable id of the
same shape (<node.kind.id.0>) that close_connection accepts back.
"""

from __future__ import annotations

from typing import Any

from ..registry import Context, command

GROUP = "Monitoring, observability and health checks"
QUEUE_KEYS = ("arguments", "auto_delete", "consumer_capacity", "consumer_utilisation", "consumers", "disk_reads",
              "disk_writes", "durable", "exclusive", "exclusive_consumer_pid", "exclusive_consumer_tag",
              "head_message_timestamp", "leader", "members", "memory", "message_bytes", "message_bytes_persistent",
              "message_bytes_ram", "message_bytes_ready", "message_bytes_unacknowledged", "messages",
              "messages_persistent", "messages_ram", "messages_ready", "messages_ready_ram",
              "messages_unacknowledged", "messages_unacknowledged_ram", "name", "online", "owner_pid", "pid",
              "policy", "slave_pids", "state", "synchronised_slave_pids", "type")
EXCHANGE_KEYS = ("arguments", "auto_delete", "durable", "internal", "name", "policy", "type")
BINDING_KEYS = ("source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments")
CONNECTION_KEYS = ("auth_mechanism", "channel_max", "channels", "client_properties", "connected_at", "frame_max",
                   "host", "name", "peer_cert_issuer", "peer_cert_subject", "peer_cert_validity", "peer_host",
                   "peer_port", "pid", "port", "protocol", "recv_cnt", "recv_oct", "send_cnt", "send_oct",
                   "send_pend", "ssl", "ssl_cipher", "ssl_hash", "ssl_key_exchange", "ssl_protocol", "state",
                   "timeout", "user", "vhost")
CHANNEL_KEYS = ("acks_uncommitted", "confirm", "connection", "consumer_count", "global_prefetch_count",
                "messages_unacknowledged", "messages_uncommitted", "messages_unconfirmed", "name", "number", "pid",
                "prefetch_count", "transactional", "user", "vhost")
CONSUMER_KEYS = ("ack_required", "active", "activity_status", "arguments", "channel_pid", "consumer_tag",
                 "prefetch_count", "queue_name")


def table(args: dict[str, Any] | None) -> list[list[Any]]:
    """An AMQP table as rabbitmqctl's JSON shows it: [[key, type, value], ...]."""
    from ...args import amqp_type
    from ...management.api.connections import jsonable

    return [[k, amqp_type(v), table(v) if isinstance(v, dict) else jsonable(v)] for k, v in (args or {}).items()]


def pid(kind: int, obj: Any) -> str:
    from ...connection import default_cluster_name

    return f"<{default_cluster_name()}.{kind}.{id(obj) & 0xFFFFFFF}.0>"


def _blank(v: Any) -> Any:
    return "" if v is None else v


def _vhost(ctx: Context) -> Any:
    return ctx.ops.vhosts.get(ctx.vhost)  # rabbitmqctl lists nothing (exit 0) for an unknown vhost


def queue_row(q: Any) -> dict[str, Any]:
    from ...management.api.topology_queues import queue_json

    doc = queue_json(q)
    owner = q.exclusive_owner
    ex = None if q.quorum else q.exclusive_consumer
    row = {k: _blank(doc.get(k)) for k in QUEUE_KEYS}
    row.update({
        "arguments": table(q.arguments), "pid": pid(2, q), "owner_pid": pid(1, owner) if owner is not None else "",
        "exclusive_consumer_pid": pid(3, ex.channel) if ex is not None else "",
        "exclusive_consumer_tag": ex.tag if ex is not None else "",
        "message_bytes_ready": q.ready.bytes, "disk_reads": 0, "disk_writes": 0,
        "memory": 0, "slave_pids": "", "synchronised_slave_pids": "",
        "consumer_utilisation": doc.get("consumer_utilisation") or "",
    })
    if not q.quorum and not q.stream:
        row.update({"leader": "", "members": "", "online": ""})
    return row


@command("list_queues", tool="rabbitmqctl", group=GROUP, summary="Lists queues and their properties",
         usage="[--vhost <vhost>] [--online] [--offline] [--local] [--no-table-headers] [<column>, ...]",
         info_keys=QUEUE_KEYS, default_columns=("name", "messages"), timeout_banner=True, vhost_scoped=True,
         banner=lambda a, c: f"Listing queues for vhost {c['vhost']} ...")
def list_queues(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    vh = _vhost(ctx)
    return [queue_row(q) for q in vh.queues.values()] if vh is not None else []


@command("list_exchanges", tool="rabbitmqctl", group=GROUP, summary="Lists exchanges",
         usage="[--vhost <vhost>] [--no-table-headers] [<column> ...]", info_keys=EXCHANGE_KEYS,
         default_columns=("name", "type"), vhost_scoped=True,
         banner=lambda a, c: f"Listing exchanges for vhost {c['vhost']} ...")
def list_exchanges(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    vh = _vhost(ctx)
    if vh is None:
        return []
    return [{"name": ex.name, "type": ex.type_name, "durable": ex.durable, "auto_delete": ex.auto_delete,
             "internal": ex.internal, "arguments": table(ex.arguments), "policy": ex.policy or ""}
            for ex in vh.exchanges.values()]


@command("list_bindings", tool="rabbitmqctl", group=GROUP, summary="Lists all bindings on a vhost",
         usage="[--vhost <vhost>] [--no-table-headers] [<column> ...]", info_keys=BINDING_KEYS,
         default_columns=BINDING_KEYS, vhost_scoped=True,
         banner=lambda a, c: f"Listing bindings for vhost {c['vhost']}...")
def list_bindings(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    vh = _vhost(ctx)
    if vh is None:
        return []
    rows = [{"source_name": "", "source_kind": "exchange", "destination_name": q.name,
             "destination_kind": "queue", "routing_key": q.name, "arguments": []} for q in vh.queues.values()]
    for ex in vh.exchanges.values():
        if ex.name == "":
            continue
        for b in ex.bindings.values():
            d = b.destination
            rows.append({"source_name": ex.name, "source_kind": "exchange", "destination_name": d.name,
                         "destination_kind": "exchange" if d.is_exchange else "queue",
                         "routing_key": b.routing_key, "arguments": table(b.arguments)})
    return rows


def connection_row(conn: Any) -> dict[str, Any]:
    from ...management.api.connections import connection_json

    doc = connection_json(conn)
    row = {k: _blank(doc.get(k)) for k in CONNECTION_KEYS}
    row["pid"] = pid(1, conn)
    row["protocol"] = "{0,9,1}"  # rabbitmqctl shows the protocol version tuple
    row["client_properties"] = table(conn.client_properties)
    return row


def _live(ctx: Context) -> list[Any]:
    return [c for c in list(ctx.broker.connections) if getattr(c, "vhost", None) is not None
            and c.transport is not None]


@command("list_connections", tool="rabbitmqctl", group=GROUP, summary="Lists AMQP 0.9.1 connections for the node",
         usage="[--no-table-headers] [<column> ...]", info_keys=CONNECTION_KEYS,
         default_columns=("user", "peer_host", "peer_port", "state"),
         banner=lambda a, c: "Listing connections ...")
def list_connections(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return [connection_row(c) for c in _live(ctx)]


@command("list_channels", tool="rabbitmqctl", group=GROUP, summary="Lists all channels in the node",
         usage="[--no-table-headers] [<column> ...]", info_keys=CHANNEL_KEYS,
         default_columns=("pid", "user", "consumer_count", "messages_unacknowledged"),
         banner=lambda a, c: "Listing channels ...")
def list_channels(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    from ...management.api.connections import channel_json

    rows = []
    for conn in _live(ctx):
        for ch in list(conn.channels.values()):
            doc = channel_json(ch)
            row = {k: _blank(doc.get(k)) for k in CHANNEL_KEYS}
            row.update({"pid": pid(3, ch), "connection": pid(1, conn)})
            rows.append(row)
    return rows


@command("list_consumers", tool="rabbitmqctl", group=GROUP, summary="Lists all consumers for a vhost",
         usage="[--vhost <vhost>] [--no-table-headers] [<column> ...]", info_keys=CONSUMER_KEYS,
         default_columns=("queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
                          "arguments"), vhost_scoped=True,
         banner=lambda a, c: f"Listing consumers in vhost {c['vhost']} ...")
def list_consumers(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    from ...management.api.connections import consumer_json

    vh = _vhost(ctx)
    if vh is None:
        return []
    rows = []
    for q in vh.queues.values():
        for c in list(q.consumers):
            doc = consumer_json(c)
            rows.append({"queue_name": q.name, "channel_pid": pid(3, c.channel), "consumer_tag": c.tag,
                         "ack_required": doc["ack_required"], "prefetch_count": doc["prefetch_count"],
                         "active": doc["active"], "activity_status": doc["activity_status"],
                         "arguments": table(c.arguments)})
    return rows
