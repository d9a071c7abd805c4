"""pytest plugin (loaded with `-p harness.report`): one JSON line per finished test in $INTEROP_REPORT.

Outcome per test: passed, failed (the test body or a fixture teardown failed), error (setup failed),
skipped (including xfail marks of the suite itself), with the crash message and phase.
"""

from __future__ import annotations

import json
import os
import time

import pytest

_path = os.environ.get("INTEROP_REPORT")
_state: dict[str, dict] = {}


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return f"{crash.message.splitlines()[0] if crash.message else ''} ({os.path.basename(crash.path)}:{crash.lineno})"
    if isinstance(report.longrepr, tuple):  # skip: (file, line, reason)
        return str(report.longrepr[2])
    text = str(report.longrepr or "").strip().splitlines()
    return text[-1] if text else ""


def _write(entry: dict) -> None:
    if _path:
        with open(_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    _write({"event": "sessionstart", "time": time.time()})


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _write({"nodeid": report.nodeid, "outcome": "error", "phase": "collect", "message": _message(report),
                "duration": 0.0})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    st = _state.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "phase": "",
                                           "message": "", "duration": 0.0})
    st["duration"] += report.duration
    if report.when == "call" and hasattr(report, "wasxfail"):
        st["outcome"], st["phase"] = ("skipped", "call") if report.skipped else ("passed", "call")
        st["message"] = f"xfail: {report.wasxfail}"
    elif report.failed and st["outcome"] in ("passed", "skipped"):
        st["outcome"] = "error" if report.when == "setup" else "failed"
        st["phase"], st["message"] = report.when, _message(report)
    elif report.skipped and st["outcome"] == "passed":
        st["outcome"], st["phase"], st["message"] = "skipped", report.when, _message(report)
    if report.when == "teardown":
        _write(_state.pop(report.nodeid))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for st in _state.values():  # a test interrupted before its teardown report
        st["outcome"], st["message"] = "failed", st["message"] or "interrupted"
        _write(st)
    _write({"event": "sessionfinish", "exitstatus": int(exitstatus), "time": time.time()})
