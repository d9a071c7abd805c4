"""Running amqpctl against a test broker: a real subprocess, found from the broker's conf file alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


def conf_of(broker) -> Path:
    args = list(broker.proc.args)
    return Path(args[args.index("--config") + 1])


def amqpctl(*args: str, conf: Path | None = None, env: dict | None = None, timeout: float = 30,
            stdin: str | None = None) -> Result:
    argv = [sys.executable, "-m", "amqpd.ctl"] + (["--config", str(conf)] if conf is not None else []) + list(args)
    started = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin,
                       env={**os.environ, **(env or {})})
    return Result(p.returncode, p.stdout, p.stderr, time.monotonic() - started)


def ctl_for(broker):
    """amqpctl bound to this broker's conf file: ctl("list_queues", "-q")."""
    conf = conf_of(broker)
    return lambda *args, **kw: amqpctl(*args, conf=conf, **kw)


def module_broker(tmp_path_factory, name: str):
    """One amqpd with a conf file (heartbeats off) for a test module; a generator for a fixture."""
    from conftest import start_amqpd

    broker = start_amqpd(tmp_path_factory.mktemp(name), conf="heartbeat = 0\n")
    yield broker
    broker.stop()


def check(r: Result, code: int, out: str | None = None, err: str | None = None) -> None:
    assert r.code == code, r
    if out is not None:
        assert r.out == out, r
    if err is not None:
        assert r.err == err, r
