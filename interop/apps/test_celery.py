"""A Celery application end to end: a real worker (prefork pool) in a subprocess, tasks sent from here.

Two profiles (see celeryapp.py): Celery's defaults, and the same app configured to declare no queue
arguments, so the task flows are exercised even where a broker refuses queue arguments.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import chain, group
from celery.exceptions import MaxRetriesExceededError  # noqa: F401 - documents what always_fails raises
from celeryapp import make_app

HERE = Path(__file__).resolve().parent
PROFILES = ["default", "no-queue-args"]


def keep_log(log: Path) -> None:
    """Keep the worker's log with the run's results."""
    results_dir = os.environ.get("INTEROP_RESULTS_DIR")
    if results_dir and log.exists():
        Path(results_dir, log.name).write_bytes(log.read_bytes())


class Worker:
    def __init__(self, url: str, profile: str, tmp: Path):
        self.queue = f"interop-celery-{uuid.uuid4().hex[:8]}"
        self.state = tmp / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.log = tmp / f"worker-{profile}.log"
        env = {**os.environ, "INTEROP_BROKER_URL": url, "INTEROP_CELERY_PROFILE": profile,
               "INTEROP_CELERY_QUEUE": self.queue, "INTEROP_CELERY_STATE": str(self.state),
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        args = [sys.executable, "-m", "celery", "-A", "celeryapp:app", "worker", "-P", "prefork", "-c", "2",
                "-Q", self.queue, "-n", f"{self.queue}@%h", "--loglevel=INFO"]
        if profile == "no-queue-args":
            args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.out = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=env, stdout=self.out, stderr=subprocess.STDOUT, cwd=HERE,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while "ready." not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                keep_log(self.log)
                pytest.fail(f"celery worker ({profile}) did not become ready; its log:\n{self.text()[-4000:]}",
                            pytrace=False)
            time.sleep(0.2)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.out.close()


@pytest.fixture(scope="module", params=PROFILES)
def profile(request):
    return request.param


@pytest.fixture(scope="module")
def worker(amqp_url, profile, tmp_path_factory):
    w = Worker(amqp_url, profile, tmp_path_factory.mktemp(f"celery-{profile}"))
    yield w
    w.stop()
    keep_log(w.log)


@pytest.fixture(scope="module")
def app(worker, amqp_url, profile):
    a = make_app(profile, worker.queue, amqp_url)
    yield a
    a.close()


def t(app, name):
    return app.tasks[f"interop.{name}"]


def test_worker_ready(worker):
    assert "ready." in worker.text()
    assert "Traceback" not in worker.text(), worker.text()[-3000:]


def test_delay_get(app):
    assert t(app, "add").delay(2, 3).get(timeout=30) == 5


def test_many_results(app):
    results = [t(app, "add").delay(i, i) for i in range(50)]
    assert [r.get(timeout=60) for r in results] == [2 * i for i in range(50)]


def test_task_exception_propagates(app):
    r = t(app, "boom").delay("expected failure")
    with pytest.raises(ValueError, match="expected failure"):
        r.get(timeout=30)
    assert r.state == "FAILURE"


def test_retry_then_success(app):
    key = uuid.uuid4().hex
    out = t(app, "flaky").delay(key, 2).get(timeout=60)
    assert out == {"attempts": 3, "retries": 2}


def test_autoretry_exhausted(app, worker):
    key = uuid.uuid4().hex
    r = t(app, "always_fails").delay(key)
    with pytest.raises(KeyError):
        r.get(timeout=60)
    assert len(list((worker.state / f"always-{key}").iterdir())) == 3  # first try + 2 retries


def test_countdown(app):
    start = time.monotonic()
    assert t(app, "add").apply_async((1, 1), countdown=1.5).get(timeout=30) == 2
    assert time.monotonic() - start >= 1.4


def test_acks_late(app):
    assert t(app, "late").delay(uuid.uuid4().hex).get(timeout=30) == {"redelivered": False}


def test_acks_late_redelivered_after_worker_lost(app):
    """The pool process dies mid-task: the unacked message comes back (redelivered) and runs again."""
    out = t(app, "crash_once").delay(uuid.uuid4().hex).get(timeout=60)
    assert out["attempts"] == 2
    assert out["redelivered"] is True


def test_chain(app):
    c = chain(t(app, "add").s(1, 2), t(app, "mul").s(10), t(app, "add").s(5))
    assert c.apply_async().get(timeout=60) == 35


def test_group(app):
    g = group(t(app, "mul").s(i, i) for i in range(10))
    assert g.apply_async().get(timeout=60) == [i * i for i in range(10)]


def test_link_callback(app, worker):
    """A linked callback runs in the worker with the parent's result (its own result goes nowhere)."""
    key = uuid.uuid4().hex
    r = t(app, "add").apply_async((2, 2), link=t(app, "mark").s(key))
    assert r.get(timeout=30) == 4
    marker = worker.state / f"mark-{key}-4"
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists()


def test_control_ping(app, profile):
    """Remote control (pidbox broadcast + reply queue): only in the default profile."""
    if profile != "default":
        pytest.skip("remote control is off in this profile")
    replies = app.control.ping(timeout=5)
    assert replies and all(v == {"ok": "pong"} for r in replies for v in r.values()), replies


def test_revoke(app, profile):
    if profile != "default":
        pytest.skip("revoke is a remote-control command, off in this profile")
    r = t(app, "add").apply_async((1, 1), countdown=3)
    r.revoke()
    from celery.exceptions import TaskRevokedError
    with pytest.raises(TaskRevokedError):
        r.get(timeout=30)
