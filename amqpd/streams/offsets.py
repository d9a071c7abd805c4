"""The text and value forms streams accept: x-max-age ("7D", "12h"), and where a consumer starts
(x-stream-offset: first, last, next, an offset, a timestamp, or an interval back from now).

Pure functions: the stream (streams/log.py) resolves a parsed start against what it holds.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

# rabbit_amqqueue:check_max_age: an integer and one unit, no space
_UNITS = {"Y": 365 * 86400, "M": 30 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}
_AGE = re.compile(r"([0-9]+)([YMDhms])")


def parse_age(text: Any) -> int | None:
    """Seconds for "7D", "12h", "30m", "90s", "1M", "1Y"; None when it is not such a text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        return None
    m = _AGE.fullmatch(text)
    if m is None:
        return None
    return int(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class Start:
    """Where a consumer starts: kind is first, last, next, offset or timestamp (seconds since epoch)."""

    kind: str
    value: float = 0


NEXT = Start("next")


def parse_start(value: Any, now: float) -> Start:
    """The x-stream-offset consumer argument; ValueError with the text of the refusal."""
    if value is None:
        return NEXT
    if isinstance(value, bool):
        raise ValueError(f"invalid x-stream-offset {value!r}: expected first, last, next, an offset, "
                         "a timestamp or an interval such as 1h")
    if isinstance(value, int):
        # negative offsets: RabbitMQ 3.10 starts such a reader at the stream's first offset
        return Start("offset", max(value, 0))
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return Start("timestamp", value.timestamp())
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if value in ("first", "last", "next"):
            return Start(value)
        age = parse_age(value)
        if age is not None:
            return Start("timestamp", now - age)
        raise ValueError(f"invalid x-stream-offset '{value}': expected first, last, next, an offset, "
                         "a timestamp or an interval such as 1h")
    raise ValueError(f"invalid x-stream-offset of type {type(value).__name__}: expected first, last, next, "
                     "an offset, a timestamp or an interval such as 1h")
