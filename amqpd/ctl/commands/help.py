"""help, autocomplete and shell completion: answered by the client alone."""

from __future__ import annotations

from typing import Any

from ..registry import COMMANDS, EX_USAGE, client_command


def command_list() -> str:
    groups: dict[str, list[str]] = {}
    for c in sorted(COMMANDS.values(), key=lambda c: c.name):
        name = c.name.ljust(30) if len(c.name) < 30 else c.name + "    "  # as rabbitmq-diagnostics pads its longest
        groups.setdefault(c.group or "Other", []).append(f"   {name}{c.summary}")
    return "\n\n".join(f"{g}:\n\n" + "\n".join(lines) for g, lines in sorted(groups.items()))


def _help(_: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    name = args.get("command_name")
    out = ctx["out"]
    if not name:
        out.write("\nUsage\n\namqpctl [--config <file>] [--node <host:port>] [--timeout <timeout>] [--quiet] "
                  "<command> [<command options>]\n\nAvailable commands:\n\n" + command_list() + "\n\n"
                  "Use 'amqpctl help <command>' to learn more about a specific command\n")
        return 0
    cmd = COMMANDS.get(name)
    if cmd is None:
        ctx["err"].write(f"\nCommand '{name}' not found. \n")
        return EX_USAGE
    out.write(f"\nUsage\n\namqpctl [--config <file>] [--node <host:port>] [--quiet] {cmd.name} {cmd.usage}"
              .rstrip() + f"\n\n{cmd.summary}\n")
    if cmd.info_keys:
        out.write("\nInfo keys (columns):\n\n" + "\n".join(f"   {k}" for k in cmd.info_keys)
                  + f"\n\nDefault columns: {', '.join(cmd.default_columns)}\n")
    if cmd.extra.get("details"):
        out.write("\n" + cmd.extra["details"].strip() + "\n")
    return 0


def _help_args(p: Any) -> None:
    p.add_argument("command_name", nargs="?")
    p.add_argument("-l", "--list-commands", action="store_true")


client_command("help", tool="rabbitmqctl", group="Help", summary="Displays usage information for a command",
               usage="[-l] [<command>]", arguments=_help_args, render=_help)

_BASH = """# amqpctl completion for bash: eval "$(amqpctl completion bash)"
_amqpctl() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    COMPREPLY=( $(amqpctl autocomplete "$cur" 2>/dev/null) )
}
complete -F _amqpctl amqpctl
"""
_ZSH = """# amqpctl completion for zsh: eval "$(amqpctl completion zsh)"
_amqpctl() { compadd -- $(amqpctl autocomplete "${words[CURRENT]}" 2>/dev/null) }
compdef _amqpctl amqpctl
"""


def _autocomplete(_: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    prefix = args.get("prefix") or ""
    for name in sorted(COMMANDS):
        if name.startswith(prefix):
            ctx["out"].write(name + "\n")
    return 0


def _completion(_: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    ctx["out"].write(_ZSH if args.get("shell") == "zsh" else _BASH)
    return 0


client_command("autocomplete", tool="rabbitmqctl", group="Help",
               summary="Provides command name autocomplete variants", usage="[prefix]",
               arguments=lambda p: p.add_argument("prefix", nargs="?"), render=_autocomplete)
client_command("completion", tool="amqpctl", group="Help", summary="Prints a shell completion script (bash or zsh)",
               usage="[bash|zsh]", arguments=lambda p: p.add_argument("shell", nargs="?", choices=("bash", "zsh")),
               render=_completion)
