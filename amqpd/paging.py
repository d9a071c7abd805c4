"""Paging under memory pressure: which ready messages keep their content in memory.

While memory is above the paging limit (vm_memory_high_watermark_paging_ratio of the watermark), a queue
keeps in memory the content of its head messages up to a byte budget, and pages the content of the rest
out to the store (a PagedMessage stub stays in the queue and reads it back on delivery). The rule, for a
ready message with ``ahead`` bytes of messages in front of it (paged or not) at position ``i``:

    kept  iff  i < KEEP_MIN  or  ahead < keep

where ``keep`` is the broker's keep budget (KEEP_SHARE of the paging limit) split evenly among the
queues long enough to page. So what all queues keep together is about KEEP_SHARE of the paging limit
(plus KEEP_MIN messages each), whatever the message size: counting messages instead would let a queue of
100 KB messages keep 100 MB.

The costs stay flat: enqueue compares the queue's byte count (kept up to date by the ready container)
with the budget, for the new message only. The memory monitor walks a queue from its head only as far
as unpaged content may lie past the budget: each queue remembers `paged_past`, a byte offset from which
every message (past the first KEEP_MIN) is known to be paged. Delivery from the head keeps that true
(what is left only moves forward), and so does enqueue while paging (it pages past the current budget);
paging starting (what was enqueued before was not paged) and requeues (content put back in front) make
it unknown again. A walk pages at most PAGE_BUDGET messages or budget_bytes() per check across all
queues.
"""

from __future__ import annotations

from typing import Any

from .message import PagedMessage

# Messages at the head of a queue whose content stays in memory whatever their size, so a live consumer
# is fed without a read from the store.
KEEP_MIN = 8
# What the queues keep together, as a fraction of the paging limit.
KEEP_SHARE = 0.25
# Paged per memory check at most: messages (~15 ms of work), and bytes of content. Paging costs memory
# before it frees any: the content is copied into the store's write batch, and again into RocksDB's
# memtable when the batch is written, while the original is held until that write is done. So a check
# pages at most a sixteenth of the room between the paging limit and the watermark (8 MiB with the
# defaults and a 256 MiB watermark); paging everything past the budgets at once, when paging starts with
# 100 MB waiting, took RSS 50 MB past the watermark for a moment.
PAGE_BUDGET = 5_000
PAGE_BUDGET_SHARE = 1 / 16
PAGE_BUDGET_MIN_BYTES = 1024 * 1024


UNKNOWN = float("inf")  # paged_past of a queue whose unpaged content may lie anywhere


def budget_bytes(limit: int, paging_limit: int) -> int:
    """Content paged per memory check at most."""
    return max(PAGE_BUDGET_MIN_BYTES, int((limit - paging_limit) * PAGE_BUDGET_SHARE))


def keep_bytes(paging_limit: int, queues: int) -> int:
    """Each queue's share of the keep budget when `queues` queues are long enough to page."""
    return int(paging_limit * KEEP_SHARE) // max(1, queues)


def past_keep(vhost: Any, ready: Any, depth: int, msg: Any) -> bool:
    """Whether a message just enqueued (the depth-th ready one) lies past its queue's keep budget, judged by
    the bytes ahead of it: enqueue pages it at once. Called only while the vhost pages."""
    return depth > KEEP_MIN and ready.bytes - msg.body_size >= vhost.page_keep


def pageable(queue: Any) -> bool:
    """Long enough for its content to be paged (streams keep their records in the store anyway)."""
    return not queue.stream and len(queue.ready) > KEEP_MIN


def page_queue(queue: Any, keep: int, budget: int, max_bytes: int) -> tuple[int, int]:
    """Page out the content of `queue`'s ready messages past its keep budget, at most `budget` messages and
    about `max_bytes`, walking from the head up to where everything is known to be paged; returns
    (messages, bytes) paged."""
    done = done_bytes = 0
    ahead = 0
    stop = queue.paged_past
    page = queue._page
    for i, entry in enumerate(queue.ready):
        if ahead >= stop and i >= KEEP_MIN:
            break
        msg = entry.msg
        size = msg.body_size
        if ahead >= keep and i >= KEEP_MIN and not isinstance(msg, PagedMessage):
            page(entry)
            done += 1
            done_bytes += size
            if done >= budget or done_bytes >= max_bytes:
                return done, done_bytes  # the rest next time: paged_past stays as it was
        ahead += size
    queue.paged_past = keep
    return done, done_bytes


def page_out(vhosts: Any, paging: bool, paging_limit: int, limit: int) -> tuple[int, bool]:
    """One memory check: tell every vhost whether to page and each queue's keep budget; while paging,
    page out what may lie past the budgets, largest backlogs first. Returns the messages paged, and
    whether the check's budget ran out before all was done."""
    if not paging:
        for v in vhosts:
            v.paging = False
        return 0, False
    queues = [q for v in vhosts for q in v.queues.values() if pageable(q)]
    keep = keep_bytes(paging_limit, len(queues))
    for v in vhosts:
        if not v.paging:
            for q in v.queues.values():
                q.paged_past = UNKNOWN  # enqueued while not paging: unpaged content anywhere
        elif keep > v.page_keep:
            # enqueue now pages only past the larger budget: what is known holds from there on
            for q in v.queues.values():
                if q.paged_past < keep:
                    q.paged_past = keep
        v.page_keep = keep
        v.paging = True
    queues = [q for q in queues if q.paged_past > keep and q.ready.bytes > keep]
    queues.sort(key=lambda q: q.ready.bytes, reverse=True)
    budget, nbytes = PAGE_BUDGET, budget_bytes(limit, paging_limit)
    for q in queues:
        n, paged_bytes = page_queue(q, keep, budget, nbytes)
        budget -= n
        nbytes -= paged_bytes
        if budget <= 0 or nbytes <= 0:
            return PAGE_BUDGET - budget, True
    return PAGE_BUDGET - budget, False
