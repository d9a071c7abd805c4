"""A run against a recording, step by step: a step is the same when what was sent and everything that
came back (normalised) are equal. `info` (observations that vary between runs) is never compared."""

from __future__ import annotations

import json
from typing import Any

ABSENT = "<absent>"
COMPARED = ("got", "sent")   # in this order: the first difference reported is in what came back


def first_difference(want: Any, have: Any, path: str = "") -> tuple[str, Any, Any] | None:
    if want == have:
        return None
    if isinstance(want, dict) and isinstance(have, dict):
        for k in list(want) + [k for k in have if k not in want]:
            d = first_difference(want.get(k, ABSENT), have.get(k, ABSENT), f"{path}.{k}")
            if d:
                return d
    if isinstance(want, list) and isinstance(have, list):
        for i in range(max(len(want), len(have))):
            d = first_difference(want[i] if i < len(want) else ABSENT, have[i] if i < len(have) else ABSENT,
                                 f"{path}[{i}]")
            if d:
                return d
    return path or ".", want, have


def compare(expected: dict[str, Any], got: dict[str, Any]) -> list[tuple[str, str, str]]:
    """[(step id, "same" | "DIFFERS" | "missing", detail)] in the recording's order, then steps only
    the run has."""
    have = {s["id"]: s for s in got["steps"]}
    rows = []
    for want in expected["steps"]:
        h = have.pop(want["id"], None)
        if h is None:
            rows.append((want["id"], "missing", "not run"))
            continue
        for facet in COMPARED:
            d = first_difference(want.get(facet), h.get(facet), facet)
            if d:
                rows.append((want["id"], "DIFFERS", describe(d, want.get(facet), h.get(facet), facet)))
                break
        else:
            rows.append((want["id"], "same", ""))
    rows.extend((sid, "extra", "not in the recording") for sid in have)
    return rows


def describe(d: tuple[str, Any, Any], want: Any, have: Any, facet: str) -> str:
    """The first difference; inside a list of events, both whole events in short."""
    path, e, g = d
    prefix = facet + "["
    if path.startswith(prefix) and isinstance(want, list) and isinstance(have, list):
        i = int(path[len(prefix):path.index("]")])
        we = want[i] if i < len(want) else ABSENT
        he = have[i] if i < len(have) else ABSENT
        if isinstance(we, dict) or isinstance(he, dict):
            return f"{path}: expected {event_text(we)} | got {event_text(he)}"
    return f"{path}: expected {short(e)}, got {short(g)}"


def event_text(e: Any) -> str:
    if not isinstance(e, dict) or "method" not in e:
        return short(e)
    m = e["method"]
    if m in ("channel.close", "connection.close"):
        return f"{m} {e.get('reply_code')} {e.get('reply_text')!r} ({e.get('class_id')},{e.get('method_id')}) ch{e['ch']}"
    if m == "basic.deliver":
        off = ((e.get("properties") or {}).get("headers") or {}).get("x-stream-offset")
        return f"deliver ch{e['ch']} {e.get('consumer_tag')} tag={e.get('delivery_tag')} body={e.get('body')!r} " \
               f"x-stream-offset={short(off)}"
    return short(e)


def short(v: Any, limit: int = 160) -> str:
    text = v if v == ABSENT else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def table(rows: list[tuple[str, str, str]]) -> str:
    width = max((len(r[0]) for r in rows), default=4)
    lines = [f"{'step':<{width}}  result   difference", f"{'-' * width}  -------  ----------"]
    lines += [f"{sid:<{width}}  {status:<7}  {detail}".rstrip() for sid, status, detail in rows]
    same = sum(1 for r in rows if r[1] == "same")
    lines.append(f"\n{same}/{len(rows)} steps the same")
    return "\n".join(lines)
