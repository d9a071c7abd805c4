"""Routing: from the exchange a message was published to, to the set of queues it reaches.

Exchange-to-exchange bindings form a graph that may have cycles and diamonds, so the walk keeps a seen
set of exchanges and collects queues into an insertion-ordered dict: each queue is reached once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .exchanges import Exchange
from .message import Message


def route(exchanges: dict[str, Exchange], exchange: Exchange, routing_keys: list[str] | str,
          msg: Message) -> Sequence[Any]:
    get_headers = msg  # calling a Message returns its headers
    if routing_keys.__class__ is str:
        # The common case: one key and an exchange whose bindings all lead straight to queues, each
        # once. Its answer is the answer (an exchange's own collection: callers only iterate it).
        if not exchange.to_exchanges and exchange.alternate is None and exchange.routes_unique:
            return exchange.route(routing_keys, get_headers)
        keys: Any = (routing_keys,)
    else:
        keys = routing_keys
    # Fast path: one key, a plain exchange whose bindings all lead straight to queues.
    if len(keys) == 1 and exchange.alternate is None:
        dests = exchange.route(keys[0], get_headers)
        if not dests:
            return []
        if len(dests) == 1:
            d = next(iter(dests))
            if not d.is_exchange:
                return [d]
    queues: dict[int, Any] = {}
    seen = {id(exchange)}
    work = [exchange]
    while work:
        ex = work.pop()
        matched = False
        for rk in keys:
            for d in ex.route(rk, get_headers):
                matched = True
                if d.is_exchange:
                    if id(d) not in seen:
                        seen.add(id(d))
                        work.append(d)
                else:
                    queues.setdefault(id(d), d)
        if not matched:
            ae_name = ex.alternate
            if ae_name is not None:
                ae = exchanges.get(ae_name)
                if ae is not None and id(ae) not in seen:
                    seen.add(id(ae))
                    work.append(ae)
    return list(queues.values())
