"""How one recorded CLI run becomes comparable facets.

A facet is one comparable item: `exit`, `stderr` (the leading error lines), and for stdout, by the step's
kind:
- table: `banner` (the info lines before the header: "Timeout: 60.0 seconds ...", "Listing queues for
  vhost / ..."), `header` (the header row), `rows` (every kept row: its column count and its stable
  values; sorted, since row order is the broker's hash order), `columns` (column count of every row)
- json: `json.count`, `json.keys` (the key set of every kept row), `json.rows` (stable values, sorted)
- text: `stdout` (every line)
- export: `banner`, `export.keys` (top-level keys), `export.own` (the scenario's own items, password
  hashes masked) -- from the file written or from stdout with "-"
- status / environment / memory / listeners: see the functions below; only the structure that is not
  about the Erlang VM (README.md lists what is compared)

Everywhere: ANSI codes are removed, trailing blanks stripped, node names (`rabbit@localhost`,
`amqpd@host`) become `<node>`, Erlang pids `<rabbit@localhost.1.2.0>` / `#PID<1.2.0>` become `<pid>`, the
run's temporary directory becomes `{tmp}`."""

from __future__ import annotations

import json
import re
from typing import Any

from .actions import PREFIX
from .steps import Step

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PID = re.compile(r"(#PID)?<[^<>\s]*\d+\.\d+\.\d+>")
NODE = re.compile(r"\b[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]*[A-Za-z0-9_-]")
# the rows a shared broker has anyway, kept by the "own" filter besides ctlcmp- ones
DEFAULTS = frozenset(("guest", "/", ""))

# columns whose values are never compared: process ids, ports, times, byte counts, generated names
UNSTABLE = frozenset((
    "pid", "channel_pid", "connection", "peer_port", "port", "connected_at", "memory", "timestamp", "node",
    "recv_oct", "send_oct", "recv_cnt", "send_cnt", "send_pend", "reductions", "idle_since",
    "client_properties", "garbage_collection", "slave_pids", "synchronised_slave_pids", "leader", "members",
    "online", "exclusive_consumer_pid", "owner_pid", "message_bytes", "message_bytes_ram",
    "message_bytes_persistent", "head_message_timestamp", "consumer_utilisation", "consumer_capacity",
    "password_hash",
))
# per command: columns that are unstable there only (a connection's "name" is "host:port -> host:port")
UNSTABLE_IN = {"list_connections": {"name"}, "list_channels": {"name"}}

DEFAULT_COLUMNS = {
    "list_queues": ["name", "messages"],
    "list_exchanges": ["name", "type"],
    "list_bindings": ["source_name", "source_kind", "destination_name", "destination_kind", "routing_key",
                      "arguments"],
    "list_connections": ["user", "peer_host", "peer_port", "state"],
    "list_channels": ["pid", "user", "consumer_count", "messages_unacknowledged"],
    "list_consumers": ["queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
                       "arguments"],
    "list_vhosts": ["name"],
    "list_users": ["user", "tags"],
    "list_permissions": ["user", "configure", "write", "read"],
    "list_user_permissions": ["vhost", "configure", "write", "read"],
    "list_topic_permissions": ["user", "exchange", "write", "read"],
    "list_policies": ["vhost", "name", "pattern", "apply-to", "definition", "priority"],
    "list_operator_policies": ["vhost", "name", "pattern", "apply-to", "definition", "priority"],
}
VALUE_OPTIONS = frozenset(("-p", "--vhost", "--formatter", "-t", "--timeout", "--user", "--apply-to",
                           "--priority"))
USAGE_MARKERS = ("Arguments given:", "Usage")
CUT_MARKERS = (*USAGE_MARKERS, "DIAGNOSTICS", "Available commands:")

# status sections and labels that describe the Erlang VM; left out of the comparison
ERLANG_LABELS = frozenset(("Erlang configuration", "Erlang processes", "Crypto library", "Scheduler run queue",
                           "Cluster heartbeat timeout (net_ticktime)", "Raft data directory",
                           "Enabled plugin file", "Calculation strategy"))


def clean(text: str, tmp: str | None = None) -> list[str]:
    """Text -> lines with ANSI codes, pids, node names and the temporary directory normalised."""
    text = ANSI.sub("", text)
    if tmp:
        text = text.replace(tmp, "{tmp}")
    text = PID.sub("<pid>", text)
    text = NODE.sub("<node>", text)
    lines = [line.rstrip(" \r") for line in text.split("\n")]  # not tabs: an empty last cell counts
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def error_lines(text: str, limit: int, tmp: str | None) -> list[str]:
    """The leading lines of an error: a usage error (one that prints "Arguments given:" and the Usage
    block) is its first line only; the Usage block, the help listing and the diagnostics are never
    compared."""
    lines = clean(text, tmp)
    if any(line.strip() in USAGE_MARKERS for line in lines):
        limit = 1
    return text_lines(lines)[:limit]


def text_lines(lines: list[str]) -> list[str]:
    """Lines up to a Usage block / help listing / diagnostics section."""
    out = []
    for line in lines:
        if line.strip() in CUT_MARKERS:
            break
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def flags(argv: list[str]) -> tuple[bool, bool, list[str]]:
    """(quiet, no headers, the columns named on the command line)."""
    quiet = any(a in ("-q", "--quiet", "-s", "--silent") for a in argv)
    noheaders = any(a in ("--no-table-headers", "-s", "--silent") for a in argv)
    words, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    return quiet, noheaders, words[1:]


def row_filter(step: Step) -> str:
    if step.rows:
        return step.rows
    argv = step.argv
    for i, arg in enumerate(argv[:-1]):
        if arg in ("-p", "--vhost") and argv[i + 1].startswith(PREFIX):
            return "all"
    return "own"


def keep(values: list[str], mode: str) -> bool:
    if mode == "all":
        return True
    if any(v.startswith(PREFIX) for v in values):
        return True
    return mode == "own" and bool(values) and (values[0] in DEFAULTS or values[0].startswith("amq."))


def unstable(command: str) -> set[str]:
    return set(UNSTABLE) | UNSTABLE_IN.get(command, set())


def table_facets(step: Step, lines: list[str]) -> dict[str, Any]:
    quiet, noheaders, named = flags(step.argv)
    out: dict[str, Any] = {}
    i = 0
    banner = []
    while i < len(lines) and lines[i].endswith("...") and "\t" not in lines[i]:
        banner.append(lines[i])
        i += 1
    out["banner"] = banner
    columns = named or DEFAULT_COLUMNS.get(step.command, [])
    if not noheaders and i < len(lines):
        out["header"] = lines[i]
        columns = lines[i].split("\t")
        i += 1
    skip = unstable(step.command)
    mode = row_filter(step)
    rows = []
    for line in lines[i:]:
        cells = line.split("\t")
        if not keep(cells, mode):
            continue
        rows.append([len(cells), *("*" if c in skip else v for c, v in zip(columns, cells, strict=False))])
    out["rows"] = sorted(rows, key=json.dumps)
    return out


def json_facets(step: Step, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {"json": "not JSON: " + text[:200]}
    if not isinstance(data, list):
        return {"json.keys": sorted(data) if isinstance(data, dict) else type(data).__name__}
    mode = row_filter(step)
    skip = unstable(step.command)
    # the first value stands for the row's name, as the first column does in a table
    kept = [r for r in data if not isinstance(r, dict)
            or keep([str(next(iter(r.values()), ""))] + [v for v in r.values() if isinstance(v, str)], mode)]
    return {
        "json.count": len(kept),
        "json.keys": sorted(sorted(r) if isinstance(r, dict) else type(r).__name__ for r in kept),
        "json.rows": sorted((json.dumps({k: ("*" if k in skip else mask_value(v)) for k, v in r.items()},
                                        sort_keys=True) if isinstance(r, dict) else json.dumps(r)) for r in kept),
    }


def mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return NODE.sub("<node>", PID.sub("<pid>", value))
    return value


def own(item: Any) -> bool:
    return isinstance(item, dict) and any(isinstance(v, str) and v.startswith(PREFIX) for v in item.values())


def export_facets(record: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    files = record.get("files") or {}
    text = next(iter(files.values())) if files else "\n".join(lines)
    banner = [line for line in lines if line.endswith("...")] if files else []
    try:
        data = json.loads(text)
    except ValueError:
        return {"banner": banner, "export": "not JSON: " + text[:200]}
    if not isinstance(data, dict):
        return {"banner": banner, "export": type(data).__name__}
    items = {}
    for key, value in sorted(data.items()):
        if isinstance(value, list):
            items[key] = sorted(json.dumps({k: ("*" if k in UNSTABLE else v) for k, v in item.items()},
                                           sort_keys=True) for item in value if own(item))
    return {"banner": banner, "export.keys": sorted(data), "export.own": items}


def sections(lines: list[str], raw: str) -> tuple[list[str], dict[str, list[str]]]:
    """status: section headings are the bold lines (ANSI 1m) after the banner."""
    bold = {ANSI.sub("", m) for m in re.findall(r"\x1b\[1m(.*?)\x1b\[0m", raw)}
    heads: list[str] = []
    body: dict[str, list[str]] = {}
    for line in lines[1:]:
        if line in bold or (line and not line.startswith(" ") and ":" not in line and not bold):
            heads.append(line)
            body[line] = []
        elif heads and line:
            body[heads[-1]].append(line)
    return heads, body


def status_facets(record: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    """Banner, the ordered section headings, and per section the labels of its "Label: value" lines
    (not their values, not the Erlang VM ones, not the memory categories, not the bullet lists); the
    Alarms section whole."""
    heads, body = sections(lines, record["stdout"])
    labels = {}
    for head in heads:
        keys = []
        for line in body[head]:
            if line.startswith((" ", "*")) or ":" not in line:
                continue
            label = line.split(":", 1)[0]
            if head == "Memory" and re.fullmatch(r"[a-z_]+", label):
                continue  # the per-category breakdown: Erlang allocator categories
            if head == "Listeners" or label in ERLANG_LABELS:
                continue
            keys.append(label)
        labels[head] = keys
    amqp = [re.sub(r"port: \d+", "port: <port>", line) for line in body.get("Listeners", [])
            if "protocol: amqp," in line]
    return {"banner": lines[:1], "sections": heads, "labels": labels,
            "alarms": body.get("Alarms", []), "listeners.amqp": amqp}


LISTENER = re.compile(r"Interface: \S+, port: \d+, protocol: [\w/.-]+, purpose: .+")
MEMORY = re.compile(r"[a-z_]+: \d+(\.\d+)? [a-z]+ \(\d+(\.\d+)? ?%\)")


def structure_facets(kind: str, record: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    if kind == "status":
        return status_facets(record, lines)
    if kind == "environment":
        body = "\n".join(lines[1:])
        return {"banner": lines[:1], "shape": "erlang proplist" if body.startswith("[{") and body.endswith("]")
                else "other"}
    if kind == "memory":
        return {"banner": lines[:1], "format": all(MEMORY.fullmatch(line) for line in lines[1:] if line),
                "nonempty": len([line for line in lines[1:] if line]) > 0}
    if kind == "listeners":
        return {"banner": lines[:1], "format": all(LISTENER.fullmatch(line) for line in lines[1:]),
                "amqp": [re.sub(r"port: \d+", "port: <port>", line) for line in lines[1:]
                         if "protocol: amqp," in line]}
    raise ValueError(kind)


def kind_of(step: Step) -> str:
    if step.kind:
        return step.kind
    argv = step.argv
    if "--formatter" in argv and argv[argv.index("--formatter") + 1:][:1] == ["json"]:
        return "json"
    if step.command.startswith("list_") and step.command in DEFAULT_COLUMNS:
        return "table"
    return "text"


def facets(step: Step, record: dict[str, Any], tmp: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"exit": record["exit"]}
    stdout_lines = clean(record["stdout"], tmp)
    out["stderr"] = error_lines(record["stderr"], step.stderr_lines, tmp)
    kind = kind_of(step)
    if record["exit"] != 0 and kind != "text":
        # a failed list or export: its stdout is a banner at most
        kind = "text"
    if kind == "table":
        out.update(table_facets(step, stdout_lines))
    elif kind == "json":
        out.update(json_facets(step, "\n".join(stdout_lines)))
    elif kind == "export":
        out.update(export_facets(record, stdout_lines))
    elif kind in ("status", "environment", "memory", "listeners"):
        out.update(structure_facets(kind, record, stdout_lines))
    else:
        out["stdout"] = [re.sub(r"ports [\d, ]+", "ports <ports> ", line) if step.command ==
                         "check_port_connectivity" else line for line in text_lines(stdout_lines)]
    if step.within is not None:
        out["within"] = f"<= {step.within} s" if record["seconds"] <= step.within else f"{record['seconds']} s"
    if record.get("setup_errors"):
        out["setup"] = record["setup_errors"]
    return out
