"""The disk alarm: free space on the data dir's filesystem below disk_free_limit blocks publishers, as
RabbitMQ's disk monitor does (consumers keep draining, which is what frees space).

A store write that fails anyway (the disk filled faster than the check, a read-only remount, an I/O
error) raises the same alarm (Broker.store_failed); this monitor reopens the store once the disk looks
writable again."""

from __future__ import annotations

import os
import shutil
from typing import Any

from .memory import total_memory
from .periodic import Periodic

CHECK_INTERVAL = 1.0  # a statvfs a second; RabbitMQ checks every 1-10 s depending on how close it is


def free_bytes(path: Any) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


class DiskMonitor(Periodic):
    interval = CHECK_INTERVAL

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        cfg = broker.config
        self.limit = (int(cfg.disk_free_limit_relative * total_memory()) if cfg.disk_free_limit_relative is not None
                      else cfg.disk_free_limit)
        self.free: int | None = None

    def set_limit(self, limit: int) -> None:
        """amqpctl set_disk_free_limit: takes effect at once."""
        self.limit = limit
        self.check()

    def check(self) -> None:
        free = free_bytes(self.broker.config.data_dir)
        if free is not None:  # an unreadable filesystem keeps the last state rather than guessing
            self.free = free
            alarm = free < self.limit
            if alarm != self.broker.disk_low:
                self.broker.log.warning("disk alarm " + ("set" if alarm else "cleared"), free=free, limit=self.limit,
                                        data_dir=str(self.broker.config.data_dir))
                self.broker.set_disk_alarm(alarm)
        store = self.broker.store
        if getattr(store, "error", None) is not None and self._looks_writable(free):
            store.reopen()

    def _looks_writable(self, free: int | None) -> bool:
        """Worth reopening the store after a write error: space above the limit and a directory that
        takes writes (os.access sees a read-only mount, even for root)."""
        return (free is not None and free >= self.limit
                and os.access(self.broker.config.data_dir, os.W_OK))
