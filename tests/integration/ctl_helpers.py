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
