"""Comparing a run with the recording step by step: every facet (normalise.py) of a step must be equal;
a step that differs is a failure unless the step documents the difference (Step.deviation)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .normalise import facets
from .steps import Step

ABSENT = "<absent>"


@dataclass
class StepResult:
    step: Step
    argv: list[str]
    differences: list[tuple[str, Any, Any]]   # (facet, expected, got)

    @property
    def status(self) -> str:
        if not self.differences:
            return "same"
        return "deviation" if self.step.deviation else "DIFFERS"


@dataclass
class Comparison:
    results: list[StepResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def ok(self) -> bool:
        return self.count("DIFFERS") == 0

    @property
    def ratio(self) -> float:
        return self.count("same") / len(self.results) if self.results else 1.0


def compare(expected: dict[str, Any], got: dict[str, Any], steps: list[Step]) -> Comparison:
    """The steps given (all of steps.py, or a subset) against the recording and the run."""
    want = {s["id"]: s for s in expected["steps"]}
    have = {s["id"]: s for s in got["steps"]}
    result = Comparison()
    for step in steps:
        w, h = want.get(step.id), have.get(step.id)
        if w is None or h is None:
            result.results.append(StepResult(step, step.argv, [("step", "recorded" if w else "not recorded",
                                                                  "run" if h else "not run")]))
            continue
        wf = facets(step, w, expected.get("tmp"))
        hf = facets(step, h, got.get("tmp"))
        diffs = differences(wf, hf)
        result.results.append(StepResult(step, h["argv"], diffs))
    return result


def differences(wf: dict[str, Any], hf: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Differing facets; a facet whose value is a dict on both sides (status labels, export items per
    kind) is compared key by key, so the report names the part that differs."""
    out = []
    for k in sorted(set(wf) | set(hf)):
        e, g = wf.get(k, ABSENT), hf.get(k, ABSENT)
        if e == g:
            continue
        if isinstance(e, dict) and isinstance(g, dict):
            out.extend(differences(e, g, f"{prefix}{k}."))
        else:
            out.append((prefix + k, e, g))
    return out


def render(facet: str, exp: Any, got: Any) -> list[str]:
    pad = " " * len(facet)
    if (isinstance(exp, list) and isinstance(got, list) and len(exp) + len(got) > 2
            and all(isinstance(x, str) for x in exp + got)):
        missing = [x for x in exp if x not in got]
        extra = [x for x in got if x not in exp]
        if missing or extra:
            return [f"  {facet}: missing {short(missing, 1500)}", f"  {pad}  extra   {short(extra, 1500)}"]
    return [f"  {facet}: expected {short(exp)}", f"  {pad}  got      {short(got)}"]


def short(value: Any, limit: int = 400) -> str:
    text = value if value == ABSENT else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def report(result: Comparison, verbose: bool = False) -> str:
    lines = []
    for r in result.results:
        if r.status == "same" and not verbose:
            continue
        lines.append(f"[{r.status}] {r.step.id}: {r.step.describe()}")
        if r.status == "deviation":
            lines.append(f"  accepted: {r.step.deviation}")
        for facet, exp, got in r.differences:
            lines.extend(render(facet, exp, got))
    n = len(result.results)
    lines.append(f"\n{result.count('same')}/{n} steps same as RabbitMQ 3.10 ({result.ratio:.1%}); "
                 f"{result.count('deviation')} documented deviations; {result.count('DIFFERS')} differ")
    return "\n".join(lines)
