"""rabbitmqctl's formatters: the table (tab-separated, header row) and the JSON array, with values
written as RabbitMQ's CLI writes them (booleans in lower case, lists in brackets, queue arguments as
Erlang tuples)."""

from __future__ import annotations

import json
from typing import Any, TextIO


def _scalar(v: Any, quoted: bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "undefined" if quoted else ""
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False) if quoted else v
    if isinstance(v, (list, tuple)):
        return table_value(v)
    if isinstance(v, dict):
        return "#{" + ", ".join(f"{_scalar(k, True)} => {_scalar(x, True)}" for k, x in v.items()) + "}"
    return str(v)


def table_value(v: Any) -> str:
    """One cell. A list of [key, type, value] triples is an AMQP table (queue or binding arguments),
    shown as rabbitmqctl shows it: [{"x-max-length",10}]."""
    if isinstance(v, (list, tuple)):
        parts = []
        for item in v:
            if isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[1], str):
                parts.append("{" + _scalar(item[0], True) + "," + _scalar(item[2], True) + "}")
            else:
                parts.append(_scalar(item, False))
        return "[" + ", ".join(parts) + "]"
    return _scalar(v, False)


def write_table(out: TextIO, columns: list[str], rows: list[dict[str, Any]], headers: bool) -> None:
    if headers:
        out.write("\t".join(columns) + "\n")
    for row in rows:
        out.write("\t".join(table_value(row.get(c)) for c in columns) + "\n")


def dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def write_json(out: TextIO, columns: list[str] | None, rows: list[dict[str, Any]]) -> None:
    """rabbitmqctl --formatter json: one object per line, a leading comma from the second on."""
    out.write("[\n")
    for i, row in enumerate(rows):
        obj = {c: row.get(c) for c in columns} if columns else row
        out.write(("," if i else "") + dumps(obj) + "\n")
    out.write("]\n")
