"""The whole scenario in order, and running it against one broker."""

from __future__ import annotations

import time
from typing import Any

from . import scenario_access, scenario_runtime, scenario_topology
from .client import Context, Http, seg
from .normalise import PREFIX

STEPS = [*scenario_access.STEPS, *scenario_topology.STEPS, *scenario_runtime.STEPS, *scenario_runtime.CLEANUP]

_ids = [s.id for s in STEPS]
assert len(_ids) == len(set(_ids)), sorted({i for i in _ids if _ids.count(i) > 1})


def sweep(http: Http) -> None:
    """Remove what an interrupted earlier run left behind: every cmp- vhost, user and global parameter,
    and cmp- queues and exchanges in the default vhost. Nothing else on the broker is touched."""
    for kind, key in (("vhosts", "name"), ("users", "name"), ("global-parameters", "name")):
        reply = http.call("GET", f"/{kind}")
        for item in reply.body if isinstance(reply.body, list) else []:
            name = item.get(key, "")
            if name.startswith(PREFIX):
                http.call("DELETE", f"/{kind}/{seg(name)}")
    for kind in ("queues", "exchanges"):
        reply = http.call("GET", f"/{kind}/%2F")
        for item in reply.body if isinstance(reply.body, list) else []:
            if item.get("name", "").startswith(PREFIX):
                http.call("DELETE", f"/{kind}/%2F/{seg(item['name'])}")


def run(url: str, user: str, password: str, amqp_port: int, amqp_host: str = "127.0.0.1",
        expected: dict[str, Any] | None = None, poll_timeout: float = 15.0,
        progress: Any = None) -> dict[str, Any]:
    """Run every step; `expected` (a recording) lets settling steps stop as soon as they match it."""
    http = Http(url, user, password)
    ctx = Context(http, amqp_host, amqp_port)
    ctx.saved.update({"admin": user, "amqp_port": str(amqp_port)})
    by_id = {s["id"]: s for s in (expected or {}).get("steps", [])}
    overview = http.call("GET", "/overview").body
    started = time.monotonic()
    sweep(http)
    results = []
    try:
        for step in STEPS:
            results.append(step.execute(ctx, by_id.get(step.id), poll_timeout))
            if progress is not None:
                progress(step, results[-1])
    finally:
        ctx.close_all()
        sweep(http)
    product = overview if isinstance(overview, dict) else {}
    return {
        "broker": {"url": url, "product_name": product.get("product_name"),
                   "product_version": product.get("product_version"),
                   "management_version": product.get("management_version")},
        "seconds": round(time.monotonic() - started, 1),
        "steps": results,
    }
