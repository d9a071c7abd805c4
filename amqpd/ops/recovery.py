"""Boot-time recovery: rebuild vhosts, users, permissions, policies, exchanges, queues, bindings and queue
contents from the store's records.

Queues come back in index order (the index key is queue id + sequence, so one forward scan yields every
queue's messages in order). Messages that had been delivered come back redelivered=true. Beyond the
queue's in-memory threshold only index metadata is kept and bodies stay on disk until delivered.
Index entries of queues that no longer exist, and message records nothing points at (both possible
after a crash between a delete and a batch in flight), are removed.
"""

from __future__ import annotations

import time
from typing import Any

from rocksdict import WriteBatch

from ..args import queue_type
from ..auth.passwords import DEFAULT_ALGORITHM
from ..auth.permissions import Permission, TopicPermission
from ..auth.users import User
from ..exchanges import exchange_class
from ..message import Message, PagedMessage, QEntry
from ..policy import make_policy
from ..protocol.properties import parse_header
from ..queue import Queue
from ..store import keys
from ..store.records import decode_message, decode_record, decode_table
from ..streams.queue import StreamQueue
from ..vhost import VHost


def recover_state(ops: Any) -> bool:
    """Vhosts, users, permissions, limits, policies and parameters; False on a first boot (no vhost)."""
    rec = ops.records
    vhost_docs = rec.load("vhosts")
    if not vhost_docs:
        return False
    for doc in vhost_docs:
        vh = ops.vhosts[doc["name"]] = VHost(doc["name"], ops.store, doc.get("description", ""), doc.get("tags"),
                                             doc.get("default_queue_type"), delays=ops.delays)
        vh.tracing = vh.name in ops.config.trace_vhosts
    access_docs = rec.load("access")
    for doc in rec.load("users"):
        ops.users[doc["name"]] = User(doc["name"], doc["password_hash"],
                                      doc.get("hashing_algorithm", DEFAULT_ALGORITHM), list(doc.get("tags", [])),
                                      dict(doc.get("limits", {})))
        if not access_docs:
            # Store format 1 kept "vhosts with full permissions" on the user record.
            for vh in doc.get("vhosts", []):
                if vh in ops.vhosts:
                    ops.set_permissions(doc["name"], vh, ".*", ".*", ".*")
    for doc in access_docs:
        if doc["vhost"] not in ops.vhosts or doc["user"] not in ops.users:
            continue
        if doc["kind"] == "permission":
            ops.access.permissions[(doc["user"], doc["vhost"])] = Permission(
                doc["user"], doc["vhost"], doc["configure"], doc["write"], doc["read"])
        else:
            ops.access.topic.setdefault((doc["user"], doc["vhost"]), {})[doc["exchange"]] = TopicPermission(
                doc["user"], doc["vhost"], doc["exchange"], doc["write"], doc["read"])
    for doc in rec.load("parameters"):
        if doc["kind"] == "global_parameter":
            ops.global_parameters[doc["name"]] = doc["value"]
            continue
        vh = ops.vhosts.get(doc["vhost"])
        if vh is None:
            continue
        value, component = doc["value"], doc["component"]
        if component == "vhost-limits":
            vh.limits = dict(value)
        elif component in ("policy", "operator_policy"):
            p = make_policy(vh.name, doc["name"], value["pattern"], value["definition"], value.get("priority", 0),
                            value.get("apply-to", "all"), component == "operator_policy")
            (vh.operator_policies if p.operator else vh.policies)[p.name] = p
    return True


def recover(ops: Any, threshold: int) -> dict[str, Any]:
    """Queues, exchanges, bindings and messages of the vhosts recover_state brought back."""
    started = time.monotonic()
    store = ops.store
    t = store.tables

    for key, raw in t["exchanges"].items():
        rec = decode_record(raw)
        vh = ops.vhosts.get(rec["vhost"])
        cls = exchange_class(rec["type"])
        if vh is None or cls is None:
            continue
        store.exchange_ids[(vh.name, rec["name"])] = keys.key_id(key)
        if rec["name"] not in vh.exchanges:
            ex = vh.exchanges[rec["name"]] = cls(rec["name"], durable=True, auto_delete=rec["auto_delete"],
                                                 internal=rec["internal"], arguments=decode_table(rec["arguments"]))
            vh.adopt(ex)
            if getattr(ex, "dedups", False):
                ex.load()
            ex.declared_by = rec.get("user", ex.declared_by)  # records of older versions have none

    queues: dict[int, Queue] = {}
    for key, raw in t["queues"].items():
        rec = decode_record(raw)
        vh = ops.vhosts.get(rec["vhost"])
        if vh is None:
            continue
        arguments = decode_table(rec["arguments"])
        cls = StreamQueue if queue_type(arguments) == "stream" else Queue
        q = cls(vh, rec["name"], durable=True, auto_delete=rec["auto_delete"], arguments=arguments)
        q.store_id = keys.key_id(key)
        vh.queues[q.name] = q
        queues[q.store_id] = q

    for key, raw in t["bindings"].items():
        rec = decode_record(raw)
        vh = ops.vhosts.get(rec["vhost"])
        if vh is None:
            continue
        source = vh.exchanges.get(rec["source"])
        dest = (vh.exchanges if rec["dest_kind"] == "exchange" else vh.queues).get(rec["destination"])
        if source is None or dest is None:
            continue
        b = vh.restore_binding(source, dest, rec["routing_key"], decode_table(rec["arguments"]))
        store.binding_ids[store.binding_identity(vh.name, b)] = keys.key_id(key)

    cleanup = WriteBatch(raw_mode=True)
    refs = store.refs
    orphans = missing = total = 0
    loaded: dict[int, Message] = {}
    returns: dict[int, list[QEntry]] = {}
    in_memory: dict[int, int] = {}  # per queue: how many entries got their content loaded
    messages = t["messages"]
    # One forward pass over the index builds the queues directly (no staging of a large backlog's rows).
    for key, value in t["index"].items():
        qid, seq = keys.split_index_key(key)
        q = queues.get(qid)
        if q is None:
            cleanup.delete(key, store.cf["index"])
            orphans += 1
            continue
        mid, flags, prio, expires, size, count, returned = keys.parse_index_value(value)
        n = in_memory.get(qid, 0)
        if n < threshold:
            msg = loaded.get(mid)
            if msg is None:
                raw = messages.get(keys.id_key(mid))
                if raw is None:
                    missing += 1
                    cleanup.delete(key, store.cf["index"])
                    continue
                exchange, rk, header, body, routing_keys = decode_message(raw)
                msg = Message(exchange, rk, header, body, parse_header(header)[3])
                msg.id = mid
                msg.routing_keys = routing_keys
                loaded[mid] = msg
            in_memory[qid] = n + 1
        else:
            msg = PagedMessage(store, mid, None, "", prio, size)
        refs[mid] = refs.get(mid, 0) + 1
        entry = QEntry(msg, seq, q)
        entry.redelivered = bool(flags & keys.FLAG_DELIVERED)
        entry.priority = prio
        entry.delivery_count = count
        if expires:
            entry.expires = expires / 1000
        q.next_seq = seq + 1
        q.seq_skip = seq  # recovered messages were published before this run
        total += 1
        if returned and q.quorum:
            entry.returned = returned
            returns.setdefault(qid, []).append(entry)
        else:
            q.ready.append(entry)
    loaded.clear()
    for qid, entries in returns.items():
        entries.sort(key=lambda e: e.returned)
        queues[qid].ready.requeue(entries)
        queues[qid].next_return = entries[-1].returned + 1

    max_id = 0
    for key in t["messages"].keys():
        mid = keys.key_id(key)
        max_id = max(max_id, mid)
        if mid not in refs:
            cleanup.delete(key, store.cf["messages"])
            orphans += 1
    store.next_msg_id = store.first_msg_id = max_id + 1
    store.refs = {mid: n for mid, n in refs.items() if n > 1}

    for vh in ops.vhosts.values():
        ops.reapply_policies(vh)
    # Only once every queue holds its messages (and knows its next sequence number): expiring
    # messages dead-lettered now must land behind what their target queue already had.
    for q in queues.values():
        q.recovered()
    if orphans or missing:
        store.db.write(cleanup, store._sync)
    stats = {"queues": len(queues), "messages": total, "orphans_removed": orphans,
             "missing_bodies": missing, "seconds": round(time.monotonic() - started, 3)}
    return stats
