"""The scenario's two kinds of steps: an HTTP request (`Req`, via GET/PUT/POST/DELETE) and a client
action (`Act`, AMQP through pika), and how each runs and turns into facets."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .client import Context, Reply, seg
from .normalise import extract, facets, mask

# RabbitMQ updates queue counts and connection/channel details from statistics events every
# collect_statistics_interval (5 s); a settling step polls until the answer shows the state the
# scenario has reached.
POLL_EVERY = 0.2


class _Quoted(dict):
    # a value an earlier step could not save (that broker answered differently) still gives a request,
    # whose 404 then shows up in the comparison instead of aborting the run
    def __missing__(self, key: str) -> str:
        return "cmp-missing-" + key


@dataclass
class Req:
    id: str
    method: str
    path: str                       # below /api; {name} is replaced by the saved value, percent-encoded
    body: Any = None                # JSON body, or a callable(ctx) giving it
    raw: bytes | None = None        # a body sent as is (bad JSON)
    who: Any = "admin"              # "admin", a cmp- user, None (no auth) or (user, password)
    headers: dict[str, str] | None = None
    values: tuple[str, ...] = ()    # semantic values to compare (paths, see normalise.extract)
    own: bool = False               # keep only the scenario's own list items
    settle: Callable[[Reply], bool] | None = None
    save: dict[str, str | Callable[[Reply], Any]] = field(default_factory=dict)
    depth: int = 4                  # how deep key sets are compared
    skip: tuple[str, ...] = ()      # key-set paths not compared (documented at the step)
    keys: bool = True               # False: status, values and headers only (e.g. a huge or duplicate body)

    def describe(self) -> str:
        who = "" if self.who == "admin" else f" as {self.who if not isinstance(self.who, tuple) else self.who[0]}"
        return f"{self.method} /api{self.path}{who}"

    def execute(self, ctx: Context, expected: dict[str, Any] | None, poll_timeout: float) -> dict[str, Any]:
        path = self.path.format_map(_Quoted({k: seg(str(v)) for k, v in ctx.saved.items()}))
        body = self.body(ctx) if callable(self.body) else self.body
        deadline = time.monotonic() + poll_timeout
        unstable = set((expected or {}).get("unstable", ()))
        want = {k: v for k, v in (expected or {}).get("facets", {}).items() if k not in unstable}
        settled = True
        while True:
            reply = ctx.http.call(self.method, path, body=body, raw=self.raw, who=self.who, headers=self.headers)
            got = facets(reply, self.values, self.own, self.depth, self.skip, self.keys)
            if (self.settle is None or _safe(self.settle, reply)
                    or (want and want == {k: v for k, v in got.items() if k not in unstable})):
                break
            if time.monotonic() >= deadline:
                settled = False
                break
            time.sleep(POLL_EVERY)
        for name, how in self.save.items():
            value = how(reply) if callable(how) else extract(reply.body, how)
            if isinstance(value, str):
                ctx.saved[name] = value
        who = self.who if not isinstance(self.who, tuple) else f"{self.who[0]} (wrong password)"
        record = {"id": self.id, "request": {"method": self.method, "path": "/api" + path, "who": who},
                  "facets": got}
        if not settled:
            record["settled"] = False
        return record


def _safe(pred: Callable[[Reply], bool], reply: Reply) -> bool:
    try:
        return bool(pred(reply))
    except (KeyError, IndexError, TypeError, AttributeError):
        return False


@dataclass
class Act:
    """A client action. Its outcome ("ok", a returned value, or the error it raised) is a facet."""

    id: str
    run: Callable[[Context], Any]
    doc: str = ""

    def describe(self) -> str:
        return f"client: {self.doc or self.id}"

    def execute(self, ctx: Context, expected: dict[str, Any] | None, poll_timeout: float) -> dict[str, Any]:
        try:
            result = self.run(ctx)
            outcome = "ok" if result is None else mask(result)
        except Exception as exc:  # noqa: BLE001 - the refusal itself is what gets compared
            outcome = f"{type(exc).__name__}: {mask(str(exc))}"
        return {"id": self.id, "request": {"client": self.doc or self.id}, "facets": {"outcome": outcome}}


def GET(id: str, path: str, **kw: Any) -> Req:  # noqa: N802 - reads like the HTTP verb
    return Req(id, "GET", path, **kw)


def PUT(id: str, path: str, body: Any = None, **kw: Any) -> Req:  # noqa: N802
    return Req(id, "PUT", path, body={} if body is None and "raw" not in kw else body, **kw)


def POST(id: str, path: str, body: Any = None, **kw: Any) -> Req:  # noqa: N802
    return Req(id, "POST", path, body=body, **kw)


def DELETE(id: str, path: str, **kw: Any) -> Req:  # noqa: N802
    return Req(id, "DELETE", path, **kw)


def has(*keys: str) -> Callable[[Reply], bool]:
    """settle: the object (or every item of a list) has these keys."""
    def pred(reply: Reply) -> bool:
        items = reply.body if isinstance(reply.body, list) else [reply.body]
        return bool(items) and all(isinstance(i, dict) and all(k in i for k in keys) for i in items)
    return pred


def equals(spec: str, value: Any) -> Callable[[Reply], bool]:
    """settle: extract(body, spec) == value."""
    return lambda reply: extract(reply.body, spec) == value


def both(*preds: Callable[[Reply], bool]) -> Callable[[Reply], bool]:
    return lambda reply: all(p(reply) for p in preds)
