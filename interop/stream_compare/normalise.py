"""Turning what was sent and received into JSON that is the same on every run against the same broker:
the run's random name token is taken out of every string, node names become `<node>`, typed table
values become {"type": tag, "value": v}, bodies become text."""

from __future__ import annotations

import re
import time
from typing import Any

from .wire import Event, Typed, plain

PREFIX = "stream-cmp-"
NODE = re.compile(r"\b[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+\b")
SERVER_NAMED = re.compile(r"amq\.gen-[A-Za-z0-9_-]+")


class Namer:
    """Names are PREFIX + token + "-" + short name on the broker and PREFIX + short name in the
    recording, so that two runs (or two brokers sharing a node) never collide."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.live = f"{PREFIX}{token}-"

    def __call__(self, short: str) -> str:
        return self.live + short

    def text(self, s: str) -> str:
        s = s.replace(self.live, PREFIX)
        return SERVER_NAMED.sub("amq.gen-*", NODE.sub("<node>", s))

    def value(self, v: Any) -> Any:
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {self.text(k): self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        return v


def typed_sent(v: Any, now: float) -> Any:
    """An argument as it was sent: tagged values keep their tag; timestamps close to now are written
    relative to the time of the run (now+24h), so that recordings do not change."""
    if isinstance(v, Typed):
        if v.tag == "T" and abs(v.value - now) < 10 * 86400:
            hours = round((v.value - now) / 3600)
            return {"type": "T", "value": f"now{hours:+d}h"}
        return {"type": v.tag, "value": typed_sent(v.value, now)}
    if isinstance(v, dict):
        return {k: typed_sent(x, now) for k, x in v.items()}
    if isinstance(v, list):
        return [typed_sent(x, now) for x in v]
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"type": "l", "value": v}
    if isinstance(v, float):
        return {"type": "d", "value": v}
    return v


def sent_method(namer: Namer, channel: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    out: dict[str, Any] = {"ch": channel, "method": name}
    for k, v in args.items():
        if k.startswith("reserved"):
            continue
        if k in ("arguments", "properties"):
            out[k] = namer.value(typed_sent(v, now))
        elif isinstance(v, bytes):
            out[k] = v.decode(errors="replace")
        else:
            out[k] = namer.value(v)
    return out


def event(namer: Namer, e: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"ch": e.channel, "method": e.name}
    for k, v in e.fields.items():
        if k.startswith("reserved"):
            continue
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        out[k] = namer.value(plain(v))
    if e.properties is not None:
        out["properties"] = namer.value(plain(e.properties))
    if e.body is not None:
        out["body"] = e.body.decode(errors="replace")
    return out


def offset_of(ev: dict[str, Any]) -> Any:
    """The x-stream-offset header of a normalised delivery: {"type": "l", "value": 3} -> 3."""
    h = (ev.get("properties") or {}).get("headers") or {}
    v = h.get("x-stream-offset")
    return v["value"] if isinstance(v, dict) else v
