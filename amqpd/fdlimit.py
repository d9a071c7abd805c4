"""File descriptors: the soft limit raised to the hard one at start, and exhaustion watched.

Every connection costs a descriptor. Under the common default soft limit of 1,024 a flood of connections
(or a leak in a client) makes accept() fail with EMFILE. The event loop already keeps serving existing
connections and retries accepting on its own (asyncio after 1 s, uvloop/libuv at once); what it does not do
is say so in our log. The watch below logs one warning when descriptors run out and one line when they
are available again, however many accepts failed meanwhile.
"""

from __future__ import annotations

import errno
import os
import resource
from typing import Any

from .periodic import Periodic

WATCH_INTERVAL = 1.0
RESERVE = 8  # descriptors the broker needs besides connections (store files, a listener's accept)


def _nr_open() -> int:
    try:
        with open("/proc/sys/fs/nr_open") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1048576


def raise_nofile_limit(log: Any) -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard one (an unlimited hard limit: the kernel's nr_open);
    returns the soft limit in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _nr_open() if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the file descriptor limit", soft=soft, hard=hard, error=str(exc))
            return soft
    new = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log.info("file descriptor limit", soft=new, was=soft, hard="unlimited" if hard == resource.RLIM_INFINITY
             else hard)
    return new


def fds_in_use(limit: int) -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError as exc:
        # listing needs a descriptor itself: failing for want of one is the answer
        return limit if exc.errno in (errno.EMFILE, errno.ENFILE) else 0


class FdWatch(Periodic):
    interval = WATCH_INTERVAL

    def __init__(self, log: Any, limit: int) -> None:
        self.log = log
        self.limit = limit
        self.exhausted = False

    def check(self) -> None:
        used = fds_in_use(self.limit)
        if not self.exhausted and used >= self.limit - RESERVE:
            self.exhausted = True
            self.log.warning("file descriptors exhausted: new connections are not accepted until some close", used=used,
                             limit=self.limit)
        elif self.exhausted and used < self.limit - 2 * RESERVE:  # hysteresis: one line per burst
            self.exhausted = False
            self.log.info("file descriptors available again", used=used, limit=self.limit)
