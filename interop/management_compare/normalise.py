"""How one HTTP answer becomes comparable facets.

A facet is one comparable item: `status`, `body` (empty/json/text), `keys:<path>` (the key set of every
object at that path, lists collapsed to `[]` and unioned over their items), `value:<spec>` (a selected
semantic value) and `header:<name>`. Values that legitimately differ between two brokers (node names,
ports, timestamps, generated hashes, rates) are never selected, or are masked here."""

from __future__ import annotations

import json
import re
from typing import Any

PREFIX = "cmp-"
ABSENT = "<absent>"

# Statistics keys: compared as key sets like everything else, but reported apart because amqpd adds
# them separately (message rates and Erlang process metrics).
STAT_KEYS = frozenset((
    "message_stats", "garbage_collection", "memory", "reductions", "idle_since", "backing_queue_status",
    "recv_oct", "send_oct", "recv_cnt", "send_cnt", "send_pend", "rate", "samples", "avg", "avg_rate",
    "head_message_timestamp", "messages_ram", "messages_ready_ram", "messages_unacknowledged_ram",
    "messages_persistent", "messages_paged_out", "message_bytes", "message_bytes_ram",
    "message_bytes_persistent", "message_bytes_paged_out", "message_bytes_unacknowledged",
    "consumer_capacity", "consumer_utilisation", "incoming", "deliveries", "outgoing", "publishes",
    "metrics_gc_queue_length", "ra_open_file_metrics", "churn_rates", "pending_raft_commands",
    "fd_used", "fd_total", "sockets_used", "sockets_total", "proc_used", "proc_total", "run_queue",
    "uptime", "context_switches", "mem_used", "disk_free", "gc_num", "gc_bytes_reclaimed",
    "disk_reads", "disk_writes",
))
STAT_PATTERNS = re.compile(
    r"(_details$|^io_|^mnesia_|^msg_store_|^queue_index_|^(connection|channel|queue)_(created|closed|"
    r"declared|deleted)$|^reductions|^gc_)")


# Facts about Erlang processes and the Erlang VM (garbage collector, reductions, mnesia, the Ra log, the
# classic queue's internal state, cowboy and socket options) that have no counterpart in a Python broker:
# taken out of key sets on both sides before comparing, and facets inside them are not compared
# (docs/compatibility.md). `python -m interop.management_compare compare --strict` keeps them.
ERLANG_ONLY = frozenset((
    "garbage_collection", "reductions", "reductions_details", "backing_queue_status", "memory",
    "context_switches", "context_switches_details", "gc_num", "gc_num_details", "gc_bytes_reclaimed",
    "gc_bytes_reclaimed_details", "metrics_gc_queue_length", "ra_open_file_metrics", "open_files",
    "cowboy_opts", "socket_opts",
))
ERLANG_PATTERNS = re.compile(r"^(io_|mnesia_|msg_store_|queue_index_)")


def is_erlang_key(key: str) -> bool:
    return key in ERLANG_ONLY or bool(ERLANG_PATTERNS.search(key))


def is_erlang_path(path: str) -> bool:
    return any(is_erlang_key(part) for part in re.split(r"[.\[\]]+", path) if part)


def is_stat_key(key: str) -> bool:
    return key in STAT_KEYS or bool(STAT_PATTERNS.search(key))


def is_stat_path(path: str) -> bool:
    """keys:<path> facets inside a statistics object (message_stats, garbage_collection, ...)."""
    return any(is_stat_key(part) for part in re.split(r"[.\[\]]+", path) if part)


# -- which list items belong to the scenario ---------------------------------------------------------
def owned(item: Any) -> bool:
    """On a shared broker only objects named cmp-... (or living in a cmp-... vhost) are compared."""
    if not isinstance(item, dict):
        return True
    for key in ("vhost", "name", "user", "source", "destination"):
        value = item.get(key)
        if isinstance(value, str) and value.startswith(PREFIX):
            return True
    for key in ("queue", "channel_details", "connection_details"):
        sub = item.get(key)
        if isinstance(sub, dict) and any(isinstance(sub.get(k), str) and sub[k].startswith(PREFIX)
                                         for k in ("vhost", "name", "user")):
            return True
    return False


def keep_owned(body: Any) -> Any:
    """A list, a paginated answer ({"items": [...]}) or a definitions document, cut down to the
    scenario's own objects."""
    if isinstance(body, list):
        return [item for item in body if owned(item)]
    if isinstance(body, dict):
        return {k: keep_owned(v) if isinstance(v, list) and v and isinstance(v[0], dict) else v
                for k, v in body.items()}
    return body


# -- key sets -------------------------------------------------------------------------------------------
# Objects whose own key sets are not compared (their presence in the parent's key set is): a rate is
# always {"rate": ...}, and backing_queue_status is the Erlang queue implementation's internals.
OPAQUE = re.compile(r"(_details|^backing_queue_status)$")


def keysets(body: Any, depth: int, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}

    def walk(node: Any, path: str, level: int) -> None:
        if path in skip:
            return
        if isinstance(node, dict):
            found.setdefault(path or "$", set()).update(mask(k) for k in node)
            if level < depth:
                for key, value in node.items():
                    if not OPAQUE.search(key):
                        walk(value, f"{path}.{key}" if path else key, level + 1)
        elif isinstance(node, list):
            for item in node:
                walk(item, path + "[]", level)

    walk(body, "", 0)
    return {path: sorted(keys) for path, keys in found.items()}


# -- selected values ------------------------------------------------------------------------------------
TOKEN = re.compile(r"\[(\d*)\]|([^.\[\]]+)")
_MAP = object()


def tokens(spec: str) -> list[Any]:
    out: list[Any] = []
    for m in TOKEN.finditer(spec):
        if m.group(2) is not None:
            out.append(m.group(2))
        elif m.group(1) == "":
            out.append(_MAP)
        else:
            out.append(int(m.group(1)))
    return out


def extract(body: Any, spec: str) -> Any:
    """`messages`, `arguments.x-max-length`, `[].name`, `items[].name`, `[0].properties.headers`,
    or `#` (the length of a list); a path that leads nowhere gives <absent>."""
    if spec == "#":
        return len(body) if isinstance(body, list) else ABSENT
    return _walk(body, tokens(spec))


def _walk(node: Any, toks: list[Any]) -> Any:
    for i, tok in enumerate(toks):
        if tok is _MAP:
            if not isinstance(node, list):
                return ABSENT
            return [_walk(item, toks[i + 1:]) for item in node]
        if isinstance(tok, int):
            if not isinstance(node, list) or tok >= len(node):
                return ABSENT
            node = node[tok]
        elif isinstance(node, dict) and tok in node:
            node = node[tok]
        else:
            return ABSENT
    return node


MASKS = [
    # connection and channel names carry ephemeral ports
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}:\d+"), "<ip:port>"),
    (re.compile(r"\[[0-9a-fA-F:.]+\]:\d+"), "<ip:port>"),
    (re.compile(r"\b(?:rabbit|amqpd)@[\w.-]+"), "<node>"),
    (re.compile(r"\bctag\d+\.[0-9a-f]{32}\b"), "ctag<n>.<id>"),
    # a binding's properties key ends in a hash of its arguments (erlang:phash2 in RabbitMQ)
    (re.compile(r"~[A-Za-z0-9_-]{4,}$"), "~<hash>"),
]


def mask(value: Any) -> Any:
    if isinstance(value, str):
        for pattern, repl in MASKS:
            value = pattern.sub(repl, value)
        return value
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items()}
    return value


HEADERS = ("location", "www-authenticate", "allow", "content-disposition")


def facets(reply: Any, values: tuple[str, ...], own: bool, depth: int, skip: tuple[str, ...],
           keys: bool = True, with_errors: bool = True) -> dict[str, Any]:
    body = keep_owned(reply.body) if own else reply.body
    out: dict[str, Any] = {"status": reply.status, "body": reply.kind}
    if keys and reply.kind == "json":
        for path, ks in keysets(body, depth, skip).items():
            out[f"keys:{path}"] = ks
    specs = list(values)
    if with_errors and reply.status >= 400 and isinstance(body, dict):
        specs += [s for s in ("error", "reason") if s not in specs]
    for spec in specs:
        path, _, how = spec.partition("|")
        value = extract(body, path) if reply.kind == "json" else ABSENT
        if how == "sorted" and isinstance(value, list):
            # the API does not promise an order here (definitions, bindings): compare as a set
            value = sorted(value, key=lambda v: json.dumps(v, sort_keys=True))
        out[f"value:{spec}"] = mask(value)
    for name in HEADERS:
        if name in reply.headers:
            out[f"header:{name}"] = mask(reply.headers[name])
    return out
