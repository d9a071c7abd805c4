"""The recording as a Markdown table for README.md: per step the command line, exit code, the leading
stdout lines (banner and header row of a table, the whole text of a short answer; node names as <node>)
and the leading stderr lines. `python -m interop.ctl_compare summary` prints it."""

from __future__ import annotations

from typing import Any

from .normalise import clean, error_lines, kind_of, text_lines
from .steps import STEPS


def cell(lines: list[str]) -> str:
    text = "<br>".join(line.replace("\t", " ⇥ ") for line in lines)
    return text.replace("|", "\\|").replace("`", "'") or " "


def stdout_head(step: Any, record: dict[str, Any], tmp: str | None) -> list[str]:
    lines = text_lines(clean(record["stdout"], tmp))
    kind = kind_of(step)
    if kind == "table" and record["exit"] == 0:
        head = []
        for line in lines:
            if line.endswith("..."):
                head.append(line)
                continue
            # the header row, or with --no-table-headers just the note that rows follow
            head.append("(rows)" if "--no-table-headers" in step.argv else line)
            break
        else:
            head.append("(nothing more: an empty table has no header row)")
        return head
    if kind == "export" and record.get("files"):
        return lines[:2]
    if kind in ("json", "export", "environment"):
        return [lines[0][:60] + " …"] if lines else []
    if kind in ("status", "memory", "listeners"):
        return lines[:2] + (["…"] if len(lines) > 2 else [])
    return lines[:3] + (["…"] if len(lines) > 3 else [])


def markdown(recording: dict[str, Any]) -> str:
    by_id = {s.id: s for s in STEPS}
    tmp = recording.get("tmp")
    rows = ["| step | command | exit | stdout (first lines) | stderr (first lines) |",
            "|---|---|---|---|---|"]
    for rec in recording["steps"]:
        step = by_id.get(rec["id"])
        if step is None:
            continue
        tool = "rabbitmqctl" if step.tool == "ctl" else "rabbitmq-diagnostics"
        argv = " ".join(a if a and " " not in a else f"'{a}'" for a in step.argv)
        down = " (node down)" if step.down else ""
        exit_ = f"{rec['exit']}" + (f" ({rec['seconds']:.2f} s)" if step.down else "")
        rows.append(f"| {rec['id']} | `{tool}{down} {argv}` | {exit_} | {cell(stdout_head(step, rec, tmp))} | "
                    f"{cell(error_lines(rec['stderr'], step.stderr_lines, tmp))} |")
    return "\n".join(rows)
