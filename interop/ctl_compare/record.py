"""Running the scenario against one broker: RabbitMQ (rabbitmqctl / rabbitmq-diagnostics -n NODE) or amqpd
(python -m amqpd.ctl --config FILE). Every step's argv, exit code, stdout, stderr and elapsed seconds are
kept verbatim; normalising happens only when comparing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .actions import PREFIX, Context
from .steps import STEPS, Step

TIMEOUT = 90


@dataclass
class Target:
    """How to invoke the CLI of one broker."""
    name: str                        # "rabbitmq" or "amqpd"
    up: dict[str, list[str]]         # tool -> the command line before the step's argv
    down: dict[str, list[str]]       # the same for a broker that is not running

    @classmethod
    def rabbitmq(cls, node: str = "rabbit@localhost", down_node: str = "nobody@localhost") -> Target:
        tools = {"ctl": "rabbitmqctl", "diag": "rabbitmq-diagnostics"}
        return cls("rabbitmq", {k: [v, "-n", node] for k, v in tools.items()},
                   {k: [v, "-n", down_node] for k, v in tools.items()})

    @classmethod
    def amqpd(cls, config: str, down_config: str) -> Target:
        base = [sys.executable, "-m", "amqpd.ctl"]
        return cls("amqpd", {k: [*base, "--config", config] for k in ("ctl", "diag")},
                   {k: [*base, "--config", down_config] for k in ("ctl", "diag")})

    def invoke(self, tool: str, argv: list[str], down: bool = False, timeout: float = TIMEOUT) -> dict[str, Any]:
        cmd = [*(self.down if down else self.up)[tool], *argv]
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = "timeout", exc.stdout or b"", exc.stderr or b""
        except OSError as exc:
            code, out, err = "not-run", b"", str(exc).encode()
        return {"exit": code, "stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace"),
                "seconds": round(time.monotonic() - started, 3)}


def run_quiet(target: Target, tool: str, argv: list[str]) -> dict[str, Any]:
    return target.invoke(tool, argv, timeout=30)


def json_rows(target: Target, argv: list[str]) -> list[dict[str, Any]]:
    """A list command's rows through the --formatter json output (empty when it fails)."""
    res = run_quiet(target, "ctl", ["-q", "--formatter", "json", *argv])
    try:
        rows = json.loads(res["stdout"] or "[]")
    except ValueError:
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def sweep(target: Target) -> None:
    """Remove what an earlier (interrupted) run left: ctlcmp- vhosts (with everything in them), users,
    and queues / exchanges / policies in "/". Nothing else on the broker is touched."""
    for row in json_rows(target, ["list_vhosts", "name"]):
        if str(row.get("name", "")).startswith(PREFIX):
            run_quiet(target, "ctl", ["delete_vhost", row["name"]])
    for row in json_rows(target, ["list_users"]):
        if str(row.get("user", "")).startswith(PREFIX):
            run_quiet(target, "ctl", ["delete_user", row["user"]])
    for row in json_rows(target, ["list_queues", "name"]):
        if str(row.get("name", "")).startswith(PREFIX):
            run_quiet(target, "ctl", ["delete_queue", row["name"]])
    for row in json_rows(target, ["list_policies"]):
        if str(row.get("name", "")).startswith(PREFIX):
            run_quiet(target, "ctl", ["clear_policy", row["name"]])
    for row in json_rows(target, ["list_operator_policies"]):
        if str(row.get("name", "")).startswith(PREFIX):
            run_quiet(target, "ctl", ["clear_operator_policy", row["name"]])


PID_ARG = re.compile(r"\{pid:([^}]+)\}")


def expand(target: Target, ctx: Context, argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        arg = arg.replace("{tmp}", str(ctx.tmp))
        m = PID_ARG.fullmatch(arg)
        if m:
            # the table form: what a user would copy (the json one prints Elixir's #PID<...>)
            res = run_quiet(target, "ctl", ["-q", "--no-table-headers", "list_connections", "pid", "user"])
            rows = [line.split("\t") for line in res["stdout"].splitlines()]
            pids = [r[0] for r in rows if len(r) == 2 and r[1] == m.group(1)]
            arg = pids[0] if pids else f"<no connection of {m.group(1)}>"
        out.append(arg)
    return out


def run_steps(target: Target, amqp_host: str, amqp_port: int, steps: list[Step] | None = None,
              progress: Callable[[Step, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    steps = STEPS if steps is None else steps
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="ctlcmp-") as tmp:
        # rabbitmqctl started as root runs as the rabbitmq user: it must read and write files here
        os.chmod(tmp, 0o777)
        ctx = Context(amqp_host, amqp_port, Path(tmp))
        sweep(target)
        try:
            for step in steps:
                record: dict[str, Any] = {"id": step.id, "tool": step.tool}
                setup_errors = []
                for action in step.setup:
                    try:
                        action.run(ctx)
                    except Exception as exc:  # noqa: BLE001 - reported with the step, the run goes on
                        setup_errors.append(f"{type(action).__name__}: {type(exc).__name__}: {exc}")
                argv = expand(target, ctx, step.argv)
                record["argv"] = argv
                if step.down:
                    record["down"] = True
                record.update(target.invoke(step.tool, argv, down=step.down))
                if setup_errors:
                    record["setup_errors"] = setup_errors
                files = {}
                for arg in argv:
                    if arg.startswith(str(ctx.tmp)) and step.kind == "export" and os.path.exists(arg):
                        files[os.path.basename(arg)] = Path(arg).read_text(errors="replace")
                if files:
                    record["files"] = files
                results.append(record)
                if progress is not None:
                    progress(step, record)
        finally:
            ctx.close_all()
            sweep(target)
    return {"broker": target.name, "command": {k: " ".join(v) for k, v in target.up.items()},
            "seconds": round(time.monotonic() - started, 1), "tmp": tmp, "steps": results}
