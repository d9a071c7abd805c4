"""Expected failures: interop/baseline/<suite>.txt (fails on RabbitMQ 3.10 itself) and
interop/known/<suite>.txt (fails on amqpd only, with a category).

One entry a line, fields separated by ' | ':
    baseline:  PATTERN | reason
    known:     PATTERN | category | reason
PATTERN is a pytest node id in which '*' matches any run of characters (nothing else is special, so
parametrize brackets are literal). '#' starts a comment line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

INTEROP_DIR = Path(__file__).resolve().parents[1]

# Categories for interop/known/*.txt
CATEGORIES = {
    "bug": "an amqpd bug, reported for a fix",
    "missing": "a RabbitMQ 3.10 feature amqpd does not implement yet",
    "unsupported": "a documented amqpd deviation from RabbitMQ",
}


@dataclass
class Expectation:
    pattern: str
    reason: str
    category: str  # "baseline" or one of CATEGORIES
    regex: re.Pattern

    def matches(self, nodeid: str) -> bool:
        return self.regex.fullmatch(nodeid) is not None


def _compile(pattern: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def load(path: Path, known: bool) -> list[Expectation]:
    out: list[Expectation] = []
    if not path.exists():
        return out
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(" | ")]
        if known:
            if len(fields) != 3 or fields[1] not in CATEGORIES:
                raise ValueError(f"{path}:{lineno}: expected 'PATTERN | CATEGORY | reason' with CATEGORY in "
                                 f"{sorted(CATEGORIES)}: {raw!r}")
            out.append(Expectation(fields[0], fields[2], fields[1], _compile(fields[0])))
        else:
            if len(fields) != 2:
                raise ValueError(f"{path}:{lineno}: expected 'PATTERN | reason': {raw!r}")
            out.append(Expectation(fields[0], fields[1], "baseline", _compile(fields[0])))
    return out


class Expectations:
    def __init__(self, suite: str, broker_is_amqpd: bool):
        self.baseline = load(INTEROP_DIR / "baseline" / f"{suite}.txt", known=False)
        self.known = load(INTEROP_DIR / "known" / f"{suite}.txt", known=True) if broker_is_amqpd else []

    def explain(self, nodeid: str) -> Expectation | None:
        """Why this test may fail: a baseline entry first (it fails on RabbitMQ too), then a known one."""
        for e in self.baseline:
            if e.matches(nodeid):
                return e
        for e in self.known:
            if e.matches(nodeid):
                return e
        return None
