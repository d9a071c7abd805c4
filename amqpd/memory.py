"""Memory high watermark: above it, publishing connections are blocked (connection.blocked); before it,
long queues page message content out to the store (vm_memory_high_watermark_paging_ratio).

Like RabbitMQ's vm_memory_high_watermark: the broker's resident memory is checked against
an absolute limit or a fraction of the machine's memory ten times a second, and up to fifty times while
it climbs fast towards a line or paging has work left (the extra checks only read RSS unless there is
something to do). While the alarm is on, every connection that publishes stops being read (so its
publishes wait in its socket buffers) and, if it announced the connection.blocked capability, is told
so; consumers keep draining queues, which is what brings memory back down.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import time
from typing import Any

from . import paging as pages
from .periodic import Periodic

CHECK_INTERVAL = 0.1
# Checks come this often while memory climbs fast towards the next line (the paging limit, then the
# watermark), while it is close below it, or while paging has more to do: a publisher can bring in
# 60 MB in 0.1 s, more than the room between the lines with a small watermark.
FAST_INTERVAL = 0.02
NEAR = 1 / 8  # of the watermark: "close below" the next line
# Once a second, if the allocator holds this much freed memory (a backlog deleted, purged or drained),
# it is given back to the OS. Under steady traffic freed bodies are reused at once and stay far below it.
RETURN_EVERY = 1.0  # seconds
RETURN_ABOVE = 16 * 1024 * 1024
COLLECT_AFTER = 100  # closed connections before a full garbage collection (checked once a second)
PAGING_OFF = 0.8  # of the paging limit


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def total_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_limit(config: Any) -> int:
    if config.memory_high_watermark_absolute is not None:
        return config.memory_high_watermark_absolute
    return int(total_memory() * config.memory_high_watermark)


def _malloc_trim() -> Any:
    """glibc's malloc_trim: hands freed heap pages back to the OS, so RSS falls once content is paged
    out or consumed (without it the alarm could stay on with the memory free but still mapped)."""
    try:
        # the process's own symbols include libc's (find_library would spawn ldconfig: slow at start-up)
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _malloc_free_bytes() -> Any:
    """glibc's mallinfo2 (2.33+): bytes freed but still held by the allocator, all arenas summed."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    return lambda: mallinfo2().fordblks


class MemoryMonitor(Periodic):
    interval = CHECK_INTERVAL

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.limit = memory_limit(broker.config)
        self.paging_limit = int(self.limit * broker.config.memory_paging_ratio)
        self.paging = False
        self._trim = _malloc_trim()
        self._free = _malloc_free_bytes() if self._trim is not None else None
        self._slow_at = 0.0  # when the once-a-second work is due
        self._regular_at = 0.0  # when the next ten-a-second work is due (paging walk, trim)
        self._more = False  # the last paging walk ran out of budget
        self._last = (0.0, 0)  # (time, RSS) of the last check, after trimming

    def check(self) -> None:
        now = time.monotonic()
        slow = now >= self._slow_at
        if slow:
            self._slow_at = now + RETURN_EVERY
        if slow and getattr(self.broker, "closed_connections", 0) >= COLLECT_AFTER:
            # A closed connection's objects (channels, consumers, transport callbacks) hold reference
            # cycles, and the raised GC thresholds (server.py) make a full collection rare: without this,
            # connection churn would keep ~11 KiB per connection for good.
            self.broker.closed_connections = 0
            gc.collect()
        if slow and self._free is not None and self._free() > RETURN_ABOVE:
            # glibc keeps freed memory mapped (its heap shrinks only from the top): without this, the
            # resident set stays at a deleted backlog's peak until the next alarm
            self._trim(0)
        regular = now >= self._regular_at
        if regular:
            self._regular_at = now + CHECK_INTERVAL * 0.9
        used = seen = rss_bytes()
        # hysteresis: once on, paging goes on until memory is well below the line, so it does not flap
        paging = used > (self.paging_limit * PAGING_OFF if self.paging else self.paging_limit)
        if paging != self.paging:
            self.paging = paging
            regular = True
            self.broker.log.info("paging " + ("started" if paging else "stopped"), used=used,
                                 paging_limit=self.paging_limit)
        if regular or self._more:
            # a walk over the queues: ten times a second, or as often as checks come while it has more
            # to do (enqueue pages new messages itself meanwhile)
            paged, self._more = self.page_out()
            if paged:
                self.broker.log.debug("paged out", messages=paged)
        if (paging or self.broker.memory_alarm) and self._trim is not None and (regular or used > self.limit):
            # Freed memory stays mapped (glibc raises its mmap threshold after large frees, so later
            # bodies come from the heap): without this the alarm could stay on with nothing left in use.
            self._trim(0)
            used = rss_bytes()
        alarm = used > self.limit
        if alarm != self.broker.memory_alarm:
            self.broker.log.warning("memory alarm " + ("set" if alarm else "cleared"), used=used, limit=self.limit)
            self.broker.set_memory_alarm(alarm)
        self.interval = self._next_interval(now, seen, used)

    def _next_interval(self, now: float, seen: int, used: int) -> float:
        """CHECK_INTERVAL, or FAST_INTERVAL while paging has more to do, memory is close below the next
        line, or at the rate it grew since the last check it would cover half the room left before the
        next regular check. A few microseconds each when there is nothing to page."""
        then, before = self._last
        self._last = (now, used)
        if self._more:
            return FAST_INTERVAL
        if self.broker.memory_alarm:
            return CHECK_INTERVAL  # publishers are not read: memory only goes down from here
        room = (self.limit if self.paging else self.paging_limit) - used
        if room < self.limit * NEAR:
            return FAST_INTERVAL
        grown = seen - before
        if grown > 0 and now > then and grown / (now - then) * CHECK_INTERVAL > room / 2:
            return FAST_INTERVAL
        return CHECK_INTERVAL

    def page_out(self) -> tuple[int, bool]:
        """While paging: each queue keeps its head's content up to its share of the keep budget, the rest
        is paged out, a bounded amount per check so the loop never stalls (paging.py)."""
        return pages.page_out(list(self.broker.ops.vhosts.values()), self.paging, self.paging_limit, self.limit)
