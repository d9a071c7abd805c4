"""The broker's watchers (memory, disk, file descriptors) run on the event loop's timer, not in threads:
what they read (queues, connections) is only touched from the loop."""

from __future__ import annotations

import asyncio


class Periodic:
    interval = 1.0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._tick()

    def stop(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self._handle.cancel()  # type: ignore[union-attr]

    def _tick(self) -> None:
        self.check()
        self._handle = self.loop.call_later(self.interval, self._tick)

    def check(self) -> None:
        raise NotImplementedError
