"""The node's gauges RabbitMQ reports with rates (mem_used, fd_used, sockets_used, proc_used, disk_free):
read by the sampler every interval and by /api/nodes on request."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

from ..memory import rss_bytes

GAUGES = ("mem_used", "fd_used", "sockets_used", "proc_used", "disk_free")


def fd_used() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def disk_free(path: Any) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


def gauges(broker: Any) -> tuple[int, ...]:
    """In GAUGES order; proc_used counts the event loop's tasks (amqpd's processes)."""
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = 0
    return rss_bytes(), fd_used(), len(broker.connections), tasks, disk_free(broker.config.data_dir)
