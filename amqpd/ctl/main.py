"""`amqpctl` entry point: global options, the command's own arguments, the banner, the call, the output."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from typing import Any, TextIO

from . import locate
from .output import write_json, write_table
from .registry import EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE, Command, CtlError, load_all
from .transport import Channel, Unreachable

GLOBAL_VALUES = {"--config": "config", "-n": "node", "--node": "node", "-p": "vhost", "--vhost": "vhost",
                 "--formatter": "formatter", "-t": "timeout", "--timeout": "timeout", "--username": "username",
                 "--password": "password"}
GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "-s": "silent", "--silent": "silent",
                "--no-table-headers": "no_table_headers", "-l": "longnames", "--longnames": "longnames",
                "--online": "online", "--offline": "offline", "--local": "local"}
USAGE = ("amqpctl [--config <file>] [--node <host:port>] [--timeout <timeout>] [--quiet] <command> "
         "[<command options>]")


def node_label(node: str | None) -> str:
    """How messages name the broker: amqpd@<short host name>, as its API names its node."""
    return node or "amqpd@" + (socket.gethostname().split(".")[0] or "localhost")


class Invocation:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.opts: dict[str, Any] = {"formatter": "table", "timeout": None, "vhost": None}
        self.rest: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            name, eq, value = arg.partition("=")
            if arg == "--":
                self.rest += argv[i + 1:]
                break
            if name in GLOBAL_VALUES and name.startswith("--") and eq:
                self.opts[GLOBAL_VALUES[name]] = value
            elif arg in GLOBAL_VALUES:
                if i + 1 >= len(argv):
                    raise CtlError(EX_USAGE, f"Error (argument validation): option {arg} needs a value")
                self.opts[GLOBAL_VALUES[arg]] = argv[i + 1]
                i += 1
            elif arg in GLOBAL_FLAGS:
                self.opts[GLOBAL_FLAGS[arg]] = True
            else:
                self.rest.append(arg)
            i += 1
        if self.opts.get("silent"):  # -s: no banner and no header row
            self.opts["quiet"] = self.opts["no_table_headers"] = True
        if self.opts["formatter"] not in ("table", "json", "pretty_table", "erlang", "csv", "plugins"):
            raise CtlError(EX_USAGE, f"Error (argument validation): {self.opts['formatter']} is not a valid "
                           "formatter (table, json)")
        timeout = self.opts["timeout"]
        try:
            self.timeout = float(timeout) if timeout is not None else 60.0
        except ValueError:
            raise CtlError(EX_USAGE, f"Error (argument validation): invalid timeout {timeout!r}") from None

    @property
    def quiet(self) -> bool:
        return bool(self.opts.get("quiet"))

    def vhost(self, cmd: Command) -> str:
        return self.opts["vhost"] if self.opts["vhost"] is not None else "/"


def usage_error(cmd: Command, text: str, inv: Invocation, err: TextIO, code: int = EX_USAGE) -> int:
    err.write(f"{text}\nArguments given:\n\t{' '.join(inv.argv)}\n\nUsage\n\n"
              f"amqpctl [--config <file>] [--node <host:port>] [--quiet] {cmd.name} {cmd.usage}".rstrip() + "\n")
    return code


def unknown_command(name: str, err: TextIO) -> int:
    from .commands.help import command_list

    err.write(f"\nCommand '{name}' not found. \n\nUsage\n\n{USAGE}\n\nAvailable commands:\n\n{command_list()}\n")
    return EX_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit 2; rabbitmqctl answers 64
        if message.startswith("unrecognized arguments: "):
            opts = [w for w in message.split(": ", 1)[1].split() if w.startswith("-")]
            if opts:
                raise CtlError(EX_USAGE, "Error (argument validation): Invalid options for this command:\n"
                               + "\n".join(f"{o} : " for o in opts))
        raise CtlError(EX_USAGE, f"Error (argument validation): {message}")


def parse_command_args(cmd: Command, words: list[str]) -> dict[str, Any]:
    if cmd.raw_args:
        return {"words": list(words)}
    parser = _Parser(prog=cmd.name, add_help=False)
    if cmd.arguments is not None:
        cmd.arguments(parser)
    elif cmd.info_keys:
        parser.add_argument("columns", nargs="*")
    args = vars(parser.parse_args(words))
    if cmd.info_keys:
        cols = [c.strip() for word in args.get("columns") or [] for c in word.split(",") if c.strip()]
        bad = [c for c in cols if c not in cmd.info_keys]
        if bad:
            raise CtlError(EX_USAGE, f"Error (argument validation): Info key(s) {','.join(bad)} are not supported")
        args["columns"] = cols or list(cmd.default_columns)
    return args


def unreachable(inv: Invocation, cmd: Command, reason: str, err: TextIO) -> int:
    node = node_label(inv.opts.get("node"))
    if cmd.name == "ping" or inv.quiet:
        err.write(f"Error:\nFailed to connect and authenticate to {node} in {int(inv.timeout * 1000)} ms\n")
        return EX_UNAVAILABLE
    conf = locate.config_file(inv.opts.get("config"))
    where = (f"control socket {locate.control_socket(conf)} (conf file {conf or 'none'})"
             if not inv.opts.get("node") else f"management listener {inv.opts['node']}")
    err.write(f"Error: unable to perform an operation on node '{node}'. Please see diagnostics information "
              "and suggestions below.\n\nMost common reasons for this are:\n\n"
              " * Target node is not running\n"
              " * amqpctl was given another conf file than the broker (--config, $AMQPD_CONFIG_FILE)\n"
              " * The broker runs as another user (its control socket is only open to that user)\n\n"
              f"DIAGNOSTICS\n===========\n\nattempted to contact: {where}\n\n{reason}\n")
    return EX_UNAVAILABLE


def channel_for(inv: Invocation) -> Channel:
    node = inv.opts.get("node")
    if node and ":" in node and "@" not in node:
        host, _, port = node.rpartition(":")
        user = inv.opts.get("username") or os.environ.get("AMQPCTL_USERNAME") or "guest"
        password = inv.opts.get("password") or os.environ.get("AMQPCTL_PASSWORD") or "guest"
        return Channel(address=(host.strip("[]") or "127.0.0.1", int(port)), credentials=(user, password),
                       timeout=inv.timeout)
    conf = locate.config_file(inv.opts.get("config"))
    path = locate.control_socket(conf)
    return Channel(socket_path=path, timeout=inv.timeout, refuse=locate.untrusted(path.parent)
                   if path.parent.exists() else None)


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    try:
        inv = Invocation(argv)
    except CtlError as exc:
        err.write(exc.text + "\n")
        return exc.code
    commands = load_all()
    if inv.rest[:1] in (["--help"], ["-h"], ["-?"]):
        return commands["help"].render(None, {}, {"out": out, "err": err}) or 0  # type: ignore[misc]
    if not inv.rest:
        from .commands.help import command_list

        err.write(f"\nUsage\n\n{USAGE}\n\nAvailable commands:\n\n{command_list()}\n")
        return EX_USAGE
    name, words = inv.rest[0], inv.rest[1:]
    cmd = commands.get(name)
    if cmd is None:
        return unknown_command(name, err)
    if {"--help", "-?", "-h"} & set(words):
        return commands["help"].render(None, {"command_name": name}, {"out": out, "err": err}) or 0  # type: ignore[misc]
    try:
        args = parse_command_args(cmd, words)
        if cmd.prepare is not None:
            cmd.prepare(args)
    except CtlError as exc:
        if exc.text.startswith("Error (argument validation)"):  # e.g. 65 for a missing file, with the usage
            return usage_error(cmd, exc.text, inv, err, exc.code)
        err.write(exc.text + "\n")
        return exc.code
    ctx = {"inv": inv, "out": out, "err": err, "vhost": inv.vhost(cmd), "node": node_label(inv.opts.get("node"))}
    if cmd.run is None:  # help, autocomplete: answered here
        assert cmd.render is not None
        return cmd.render(None, args, ctx) or 0
    channel = channel_for(inv)
    started = time.monotonic()
    # rabbitmqctl prints no banner above JSON, so that the output parses; ping's comes before it connects
    show_banner = not inv.quiet and cmd.banner is not None and inv.opts["formatter"] != "json"
    if show_banner and cmd.extra.get("banner_first"):
        out.write(f"{cmd.banner(args, ctx)}\n")  # type: ignore[misc]
        show_banner = False
    try:
        channel.connect()
    except Unreachable as exc:
        out.flush()
        return unreachable(inv, cmd, str(exc), err)
    if show_banner:
        if cmd.timeout_banner:
            out.write(f"Timeout: {inv.timeout:.1f} seconds ...\n")
        line = cmd.banner(args, ctx)  # type: ignore[misc]
        if line:
            out.write(line + "\n")
    out.flush()
    try:
        answer = channel.call(cmd.name, args, ctx["vhost"])
    except Unreachable as exc:
        return unreachable(inv, cmd, str(exc), err)
    ctx["elapsed"] = time.monotonic() - started
    if "error" in answer:
        e = answer["error"]
        # with --formatter json, rabbitmqctl answers some failures with another code and a JSON document
        if inv.opts["formatter"] == "json" and isinstance(e.get("json"), dict):
            e = e["json"]
        err.write(str(e.get("text", "")) + "\n")
        return int(e.get("code", EX_SOFTWARE))
    result = answer["result"]
    if cmd.render is not None:
        return cmd.render(result, args, ctx) or 0
    if cmd.info_keys:
        rows = result if isinstance(result, list) else []
        if inv.opts["formatter"] == "json":
            write_json(out, args["columns"], rows)
        elif rows:  # rabbitmqctl prints no header row over an empty list
            write_table(out, args["columns"], rows, headers=not inv.opts.get("no_table_headers"))
        return 0
    if isinstance(result, str) and result:
        out.write(result + "\n")
    elif isinstance(result, list):
        for line in result:
            out.write(f"{line}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv, sys.stdout, sys.stderr)
    except BrokenPipeError:  # `amqpctl list_queues | head`
        return 0
    except KeyboardInterrupt:
        return 130
