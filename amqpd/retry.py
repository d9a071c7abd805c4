"""Retries with backoff (amqpd's queue arguments x-retry-delays and x-retry-limit, policy keys retry-delays
and retry-limit).

A message a consumer rejects or nacks without requeue goes back into its queue after a delay instead of
being dropped or dead-lettered, with the count in its x-retry-count header; the delay grows with the
count. Once the count reaches the limit, the next rejection dead-letters it as before (with the x-death
history it has). This replaces the "one retry queue per delay, with a message TTL and a dead-letter
exchange back to the work queue" construction (docs/patterns.md shows the two side by side). The wait
is kept by the broker's schedule (amqpd/delays.py): in the store, surviving restarts for persistent
messages of durable queues.

x-retry-delays is a list of milliseconds (the last one repeats) or a table {"base": ms, "factor": n,
"max": ms}: base × factor^count, at most max. x-retry-limit defaults to the length of the list, or 10 for
the table form.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import deadletter

COUNT_HEADER = "x-retry-count"
TABLE_DEFAULT_LIMIT = 10
MAX_DELAY = 4294967295  # ms, as for x-delay


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def delays_error(value: Any) -> str | None:
    """Why an x-retry-delays / retry-delays value is refused, or None."""
    if isinstance(value, list):
        if value and all(_int(v) and 0 <= v <= MAX_DELAY for v in value):
            return None
        return "expected a non-empty array of delays in ms (integers from 0 to 4294967295)"
    if isinstance(value, dict):
        base, factor, top = value.get("base"), value.get("factor", 2), value.get("max", MAX_DELAY)
        if set(value) - {"base", "factor", "max"}:
            return "expected a table with base, factor and max only"
        if not (_int(base) and 0 < base <= MAX_DELAY):
            return "base must be an integer number of ms above 0"
        if isinstance(factor, bool) or not isinstance(factor, (int, float, Decimal)) or factor < 1:
            return "factor must be a number of at least 1"
        if not (_int(top) and base <= top <= MAX_DELAY):
            return "max must be an integer number of ms at least base"
        return None
    return "expected an array of delays in ms or a table {base, factor, max}"


def limit_error(value: Any) -> str | None:
    return None if _int(value) and value >= 0 else "expected a non-negative integer"


def settings(queue: Any) -> tuple[Any, int] | None:
    """(delays, limit) for this queue: the argument wins over the policy, as for the dead-letter keys."""
    args = queue.arguments
    policy = queue.settings.effective_definition
    delays = args.get("x-retry-delays", policy.get("retry-delays"))
    if delays is None or delays_error(delays) is not None:
        return None
    limit = args.get("x-retry-limit", policy.get("retry-limit"))
    if limit is None or limit_error(limit) is not None:
        limit = len(delays) if isinstance(delays, list) else TABLE_DEFAULT_LIMIT
    return delays, limit


def delay_for(delays: Any, count: int) -> int:
    """The wait before retry number count + 1."""
    if isinstance(delays, list):
        return delays[min(count, len(delays) - 1)]
    base, factor, top = delays["base"], delays.get("factor", 2), delays.get("max", MAX_DELAY)
    return int(min(base * float(factor) ** count, top))


def retry(queue: Any, entries: list[Any]) -> list[Any]:
    """Schedule the retries of rejected entries; returns those past their limit (to dead-letter)."""
    found = settings(queue)
    scheduler = getattr(queue.vhost, "delays", None)
    if found is None or scheduler is None or queue.deleted:
        return entries
    delays, limit = found
    left = []
    for entry in entries:
        msg = entry.msg
        count = (msg.headers or {}).get(COUNT_HEADER, 0)  # headers is None, not decoded, without any
        count = count if _int(count) and count >= 0 else 0
        if count >= limit:
            left.append(entry)
            continue
        again = deadletter.with_header(msg, COUNT_HEADER, deadletter.long_(count + 1))
        again.persistent = msg.persistent
        scheduler.delay_to_queue(queue, again, delay_for(delays, count))
    return left
