"""Comparing a run with a recording: every facet of every step is one item; the ratio of equal items is
the score. Key-set differences made only of statistics keys are counted like any other but reported
apart, so they can be told from shape differences."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .normalise import ABSENT, is_erlang_key, is_erlang_path, is_stat_key, is_stat_path


@dataclass
class Difference:
    step: str
    request: dict[str, Any]
    facet: str
    expected: Any
    got: Any
    category: str          # status, body, keys, stats, value, header, outcome, step

    def render(self) -> str:
        if self.category in ("keys", "stats") and isinstance(self.expected, list) and isinstance(self.got, list):
            missing = sorted(set(self.expected) - set(self.got))
            extra = sorted(set(self.got) - set(self.expected))
            parts = [f"missing {missing}" if missing else "", f"extra {extra}" if extra else ""]
            return f"  {self.facet}: " + "; ".join(p for p in parts if p)
        return f"  {self.facet}: expected {short(self.expected)}\n  {' ' * len(self.facet)}  got      {short(self.got)}"


@dataclass
class Comparison:
    total: int = 0
    matched: int = 0
    steps: int = 0
    erlang: int = 0  # facets not compared: inside an Erlang-only object
    differences: list[Difference] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.matched / self.total if self.total else 1.0

    @property
    def ratio_without_stats(self) -> float:
        stats = sum(1 for d in self.differences if d.category == "stats")
        return (self.matched + stats) / self.total if self.total else 1.0

    def by_step(self) -> dict[str, list[Difference]]:
        out: dict[str, list[Difference]] = {}
        for d in self.differences:
            out.setdefault(d.step, []).append(d)
        return out

    def stat_keys(self) -> dict[str, dict[str, list[str]]]:
        """"<endpoint> <key-set path>" -> {"missing": [...], "extra": [...]}: the statistics keys the
        recording has there and the run has not, and the other way round."""
        out: dict[str, dict[str, set[str]]] = {}
        for d in self.differences:
            if d.category not in ("stats", "keys"):
                continue
            exp = d.expected if isinstance(d.expected, list) else []
            got = d.got if isinstance(d.got, list) else []
            label = f"{endpoint(d.request)} {d.facet}"
            if d.got == ABSENT:
                label += " (whole object missing)"
            elif d.expected == ABSENT:
                label += " (whole object extra)"
            if d.category == "keys":
                # a shape difference can carry statistics keys too: list those here as well
                exp = [k for k in exp if is_stat_key(k)]
                got = [k for k in got if is_stat_key(k)]
                if set(exp) == set(got):
                    continue
            entry = out.setdefault(label, {"missing": set(), "extra": set()})
            entry["missing"].update(set(exp) - set(got))
            entry["extra"].update(set(got) - set(exp))
        return {k: {side: sorted(keys) for side, keys in v.items() if keys} for k, v in sorted(out.items())}


# path segments that are part of the API rather than names
API_WORDS = frozenset(("channels", "bindings", "source", "destination", "get", "contents", "permissions",
                       "topic-permissions", "connections", "e", "q", "publish", "checks", "without-permissions"))


def endpoint(request: dict[str, Any]) -> str:
    """/api/queues/cmp-main/cmp-q1 -> "queues/*/*": the kind of object a step looked at."""
    if "path" not in request:
        return "client"
    parts = request["path"].split("?")[0].split("/")[2:]
    return "/".join([parts[0], *(p if p in API_WORDS else "*" for p in parts[1:])])


def short(value: Any, limit: int = 300) -> str:
    text = value if value == ABSENT else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def category(facet: str, expected: Any, got: Any) -> str:
    kind = facet.split(":", 1)[0]
    if kind != "keys":
        return kind
    path = facet.split(":", 1)[1]
    if is_stat_path(path):
        return "stats"
    if isinstance(expected, list) and isinstance(got, list):
        changed = set(expected) ^ set(got)
        if changed and all(is_stat_key(k) for k in changed):
            return "stats"
    return "keys"


def without_erlang(facet: str, value: Any) -> Any:
    """A keys facet with the Erlang-only keys taken out; None for a facet inside an Erlang-only object."""
    if not facet.startswith("keys:"):
        return value
    if is_erlang_path(facet[5:]):
        return None
    return [k for k in value if not is_erlang_key(k)] if isinstance(value, list) else value


def compare(expected: dict[str, Any], got: dict[str, Any], strict: bool = False) -> Comparison:
    """strict: compare Erlang-only keys too (normalise.ERLANG_ONLY)."""
    result = Comparison()
    runs = {s["id"]: s for s in got["steps"]}
    for want in expected["steps"]:
        result.steps += 1
        have = runs.get(want["id"])
        wf = want["facets"]
        if have is None:
            result.total += len(wf)
            result.differences.append(Difference(want["id"], want["request"], "step", "run", "not run", "step"))
            continue
        hf = have["facets"]
        # facets that differed between recordings of the same broker (statistics timing) say nothing
        unstable = set(want.get("unstable", ()))
        for facet in sorted((set(wf) | set(hf)) - unstable):
            e, g = wf.get(facet, ABSENT), hf.get(facet, ABSENT)
            if not strict:
                e, g = without_erlang(facet, e), without_erlang(facet, g)
                if e is None or g is None:
                    result.erlang += 1
                    continue
            result.total += 1
            if e == g:
                result.matched += 1
            else:
                result.differences.append(Difference(want["id"], have["request"], facet, e, g, category(facet, e, g)))
    return result


def describe(request: dict[str, Any]) -> str:
    if "client" in request:
        return f"client: {request['client']}"
    who = request.get("who")
    suffix = " (no credentials)" if who is None else ("" if who == "admin" else f" as {who}")
    return f"{request['method']} {request['path']}{suffix}"


def report(result: Comparison, threshold: float) -> str:
    lines = []
    for step, diffs in result.by_step().items():
        lines.append(f"[{step}] {describe(diffs[0].request)}")
        lines.extend(d.render() for d in diffs)
    stats = result.stat_keys()
    if stats:
        lines.append("\nstatistics keys that differ (compared as key sets, by endpoint):")
        for label, sides in stats.items():
            lines.extend(f"  {label} {side}: {', '.join(keys)}" for side, keys in sides.items())
    lines.append(
        f"\n{result.matched}/{result.total} comparable items match: {result.ratio:.1%} "
        f"(threshold {threshold:.0%}); {result.ratio_without_stats:.1%} if the statistics keys matched too; "
        f"{result.steps - len(result.by_step())}/{result.steps} steps match entirely"
        + (f"; {result.erlang} facets inside Erlang VM objects not compared" if result.erlang else ""))
    return "\n".join(lines)
