"""Memory high watermark: above it, publishing connections are blocked (connection.blocked).

Like RabbitMQ's vm_memory_high_watermark: the broker's resident memory is checked once a second against
an absolute limit or a fraction of the machine's memory. While the alarm is on, every connection that
publishes stops being read (so its publishes wait in its socket buffers) and, if it announced the
connection.blocked capability, is told so; consumers keep draining queues, which is what brings memory
back down.
"""

from __future__ import annotations

import asyncio
import os
import resource
from typing import Any

CHECK_INTERVAL = 1.0


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


class MemoryMonitor:
    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.limit = memory_limit(broker.config)
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.check()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def check(self) -> None:
        used = rss_bytes()
        alarm = used > self.limit
        if alarm != self.broker.memory_alarm:
            self.broker.log.warning("memory alarm " + ("set" if alarm else "cleared"), used=used, limit=self.limit)
            self.broker.set_memory_alarm(alarm)
        self._handle = self.loop.call_later(CHECK_INTERVAL, self.check)
