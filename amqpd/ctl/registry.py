"""Command definitions shared by the client and the broker side.

A command is declared once with the decorator below: the client uses its arguments, banner and output
shape; the broker runs its ``run`` function (lazily importing broker modules, so that the client stays
quick to start: `amqpctl -q ping` is a health check run every few seconds).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# sysexits.h, as rabbitmqctl uses them
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75


class CtlError(Exception):
    """A command's failure as rabbitmqctl reports it: exit code and the text on stderr."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text}


@dataclass
class Context:
    """What a command's broker side sees: the broker, the vhost it was given (-p) and a bound logger."""

    broker: Any
    vhost: str
    log: Any

    @property
    def ops(self) -> Any:
        return self.broker.ops


@dataclass
class Command:
    name: str
    tool: str  # "rabbitmqctl", "rabbitmq-diagnostics" or "amqpctl" (amqpd's own)
    summary: str
    usage: str = ""  # what follows the command name in the usage line
    run: Callable[[Context, dict[str, Any]], Any] | None = None  # broker side; None: client only
    arguments: Callable[[argparse.ArgumentParser], None] | None = None
    banner: Callable[[dict[str, Any], dict[str, Any]], str | None] | None = None  # (args, client context)
    # list commands: every info key, and those shown when none are given
    info_keys: tuple[str, ...] = ()
    default_columns: tuple[str, ...] = ()
    # client-side work before the broker is asked (reading a file, checking values); may raise CtlError
    prepare: Callable[[dict[str, Any]], None] | None = None
    # how the answer is shown: table (rows of dicts), lines (text), or a custom function
    render: Callable[[Any, dict[str, Any], Any], int | None] | None = None
    vhost_scoped: bool = False
    raw_args: bool = False  # the words go to prepare() as args["words"], unparsed (rabbitmqctl's own texts)
    group: str = ""
    timeout_banner: bool = False  # list_queues prints "Timeout: 60.0 seconds ..." first
    extra: dict[str, Any] = field(default_factory=dict)


COMMANDS: dict[str, Command] = {}


def command(name: str, **kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the broker side of ``name``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS[name] = Command(name=name, run=fn, **kw)
        return fn

    return register


def client_command(name: str, **kw: Any) -> None:
    """A command the client answers alone (help, autocomplete): it has a render function and no run."""
    COMMANDS[name] = Command(name=name, **kw)


def load_all() -> dict[str, Command]:
    from .commands import (  # noqa: F401
        access,
        definitions,
        diagnostics,
        help,
        listing,
        node,
        policies,
        queues,
        streams,
    )

    return COMMANDS
