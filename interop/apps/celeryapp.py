"""A small Celery application used by test_celery.py: a worker runs it in a subprocess.

make_app(profile, queue) builds the application; the worker gets `celeryapp:app`, built from the
environment: INTEROP_BROKER_URL (the broker), INTEROP_CELERY_STATE (a directory for cross-process
counters), INTEROP_CELERY_QUEUE and INTEROP_CELERY_PROFILE:
  default        -- Celery's defaults: RPC result backend with result expiry (x-expires on the reply queue),
                    remote control (pidbox queues with x-message-ttl/x-expires), mingle and gossip.
  no-queue-args  -- the same application configured so that Celery declares no queue arguments:
                    result_expires=None, remote control off, no mingle/gossip/events.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import Celery

STATE = Path(os.environ.get("INTEROP_CELERY_STATE", "/tmp"))


def _bump(name: str) -> int:
    """A counter shared by the worker's processes (a file per increment, so no locking is needed)."""
    d = STATE / name
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{time.time_ns()}-{os.getpid()}").touch()
    return len(list(d.iterdir()))


def make_app(profile: str, queue: str, broker_url: str | None = None) -> Celery:
    app = Celery("interop", broker=broker_url or os.environ.get("INTEROP_BROKER_URL"), backend="rpc://")
    app.conf.update(
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_persistent=False,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_heartbeat=10,
        task_reject_on_worker_lost=True,
        worker_hijack_root_logger=False,
    )
    if profile == "no-queue-args":
        app.conf.update(result_expires=None, worker_enable_remote_control=False, worker_send_task_events=False)

    @app.task(name="interop.add")
    def add(x, y):
        return x + y

    @app.task(name="interop.mul")
    def mul(x, y):
        return x * y

    @app.task(name="interop.tsum")
    def tsum(values):
        return sum(values)

    @app.task(name="interop.boom")
    def boom(msg):
        raise ValueError(msg)

    @app.task(name="interop.flaky", bind=True, max_retries=5, default_retry_delay=0.2)
    def flaky(self, key, fail_times):
        """Fails fail_times times (self.retry), then returns the number of attempts."""
        n = _bump(f"flaky-{key}")
        if n <= fail_times:
            raise self.retry(exc=RuntimeError(f"attempt {n} fails"), countdown=0.2)
        return {"attempts": n, "retries": self.request.retries}

    @app.task(name="interop.always_fails", bind=True, autoretry_for=(KeyError,),
              retry_kwargs={"max_retries": 2, "countdown": 0.1})
    def always_fails(self, key):
        _bump(f"always-{key}")
        raise KeyError(key)

    @app.task(name="interop.late", bind=True, acks_late=True)
    def late(self, key):
        """acks_late: the message stays unacknowledged until the task returns."""
        _bump(f"late-{key}")
        return {"redelivered": bool(self.request.delivery_info.get("redelivered"))}

    @app.task(name="interop.crash_once", bind=True, acks_late=True)
    def crash_once(self, key):
        """acks_late + the pool process dies on the first attempt: the broker must redeliver the message."""
        n = _bump(f"crash-{key}")
        if n == 1:
            os._exit(1)  # dies without acking; task_reject_on_worker_lost rejects with requeue
        return {"attempts": n, "redelivered": bool(self.request.delivery_info.get("redelivered"))}

    @app.task(name="interop.mark")
    def mark(value, key):
        _bump(f"mark-{key}-{value}")

    @app.task(name="interop.sleepy")
    def sleepy(seconds):
        time.sleep(seconds)
        return seconds

    return app


app = make_app(os.environ.get("INTEROP_CELERY_PROFILE", "default"),
               os.environ.get("INTEROP_CELERY_QUEUE", "interop-celery"))
