"""Policies, operator policies, runtime and global parameters: rabbitmqctl 3.10's "Policies" and
"Parameters" groups, through the operations layer (amqpd/ops/parameters.py), as the HTTP API changes them.

Texts and exit codes are RabbitMQ 3.10.8's: an unknown vhost is 65 ("Virtual host 'x' does not exist")
for the list and set commands, a missing policy or parameter 69 ("Parameter does not exist", whatever
the vhost), a value that is not JSON 69 ("JSON decoding error. Reason: badarg"), a refused policy 69 with
rabbit_policy's "Validation failed" text. Arguments are parsed as rabbitmqctl's OptionParser does:
switches anywhere among the positional arguments, its texts for a wrong count or a bad switch value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ..output import dumps, write_json, write_table
from ..registry import EX_DATAERR, EX_UNAVAILABLE, EX_USAGE, Context, CtlError, command

POLICIES, PARAMETERS = "Policies", "Parameters"
CHANGES = {"changes": True}
POLICY_COLUMNS = ("vhost", "name", "pattern", "apply-to", "definition", "priority")
NO_PARAMETER = "Error:\nParameter does not exist"
BAD_JSON = "Error:\nJSON decoding error. Reason: badarg"


# -- arguments ------------------------------------------------------------------------------------------
def parse_words(words: list[str], switches: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """Elixir's OptionParser (strict): --name value or --name=value anywhere; kinds string, integer,
    boolean. Every bad switch is reported at once, as rabbitmqctl does ("--priority : x")."""
    positional: list[str] = []
    values: dict[str, Any] = {}
    invalid: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            positional += words[i:]
            break
        if not word.startswith("--") or len(word) == 2:
            positional.append(word)
            continue
        name, eq, value = word[2:].partition("=")
        kind = switches.get(name)
        if kind is None:
            invalid.append(("--" + name, value))
            continue
        if kind == "boolean":
            values[name] = value.lower() != "false" if eq else True
            continue
        if not eq:
            if i >= len(words) or words[i].startswith("--"):
                invalid.append(("--" + name, ""))
                continue
            value = words[i]
            i += 1
        if kind == "integer":
            if not re.fullmatch(r"[+-]?[0-9]+", value):
                invalid.append(("--" + name, value))
                continue
            values[name] = int(value)
        else:
            values[name] = value
    if invalid:
        raise CtlError(EX_USAGE, "Error (argument validation): Invalid options for this command:\n"
                       + "\n".join(f"{k} : {v}" for k, v in invalid))
    return positional, values


def spec(names: tuple[str, ...], switches: dict[str, str] | None = None, optional: tuple[str, ...] = (),
         any_count: bool = False, check: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """`arguments` and `prepare` for a command: positional names (then optional ones), switches by kind."""

    def prepare(args: dict[str, Any]) -> None:
        words, values = parse_words(args.pop("words", []), switches or {})
        if not any_count:
            if len(words) < len(names):
                raise CtlError(EX_USAGE, "Error (argument validation): not enough arguments.")
            if len(words) > len(names) + len(optional):
                raise CtlError(EX_USAGE, "Error (argument validation): too many arguments.")
        for i, name in enumerate(names + optional):
            args[name] = words[i] if i < len(words) else None
        for name in switches or {}:
            args[name.replace("-", "_")] = values.get(name)
        if check is not None:
            check(args)

    return {"raw_args": True, "prepare": prepare}


# -- output ---------------------------------------------------------------------------------------------
def is_json(ctx: dict[str, Any]) -> bool:
    return ctx["inv"].opts["formatter"] == "json"


def ok(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    """A change: nothing after the banner, or {"node":...,"result":"ok"} with --formatter json."""
    if is_json(ctx):
        ctx["out"].write(dumps({"node": ctx["node"], "result": "ok"}) + "\n")
    return 0


def rows(*columns: str) -> Callable[[Any, dict[str, Any], dict[str, Any]], int]:
    """rabbitmqctl's table, with an empty line for no rows ("[]" in JSON)."""

    def render(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
        out, items = ctx["out"], result or []
        if is_json(ctx):
            if items:
                write_json(out, list(columns), items)
            else:
                out.write("[]\n")
        elif items:
            write_table(out, list(columns), items, headers=not ctx["inv"].opts.get("no_table_headers"))
        else:
            out.write("\n")
        return 0

    return render


def compact(value: Any) -> str:
    """A JSON value as rabbitmqctl shows one (rabbit_json:encode of the stored map: keys sorted)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def decode(text: str) -> Any:
    """rabbit_json:decode as the set_* commands use it; what it refuses is "badarg"."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        return json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError):
        raise CtlError(EX_UNAVAILABLE, BAD_JSON) from None


def vhost_or_65(ctx: Context) -> Any:
    vh = ctx.ops.vhosts.get(ctx.vhost)
    if vh is None:
        raise CtlError(EX_DATAERR, f"Virtual host '{ctx.vhost}' does not exist")
    return vh


def _refused(exc: Exception) -> CtlError:
    reason = getattr(exc, "reason", str(exc))
    return CtlError(EX_UNAVAILABLE, f"Error:\n{reason}")


# -- policies -------------------------------------------------------------------------------------------
def _policy_rows(vh: Any, operator: bool) -> list[dict[str, Any]]:
    table = vh.operator_policies if operator else vh.policies
    # rabbit_policy:list_formatted sorts by priority, lowest first
    items = sorted(table.values(), key=lambda p: (p.priority, p.name))
    return [{"vhost": p.vhost, "name": p.name, "pattern": p.pattern, "apply-to": p.apply_to,
             "definition": compact(p.definition), "priority": p.priority} for p in items]


def _operator_value(p: Any) -> str:
    """An operator policy as a runtime parameter: the order set_operator_policy stores its keys in."""
    return ('{"pattern":' + json.dumps(p.pattern, ensure_ascii=False) + ',"definition":' + compact(p.definition)
            + f',"priority":{json.dumps(p.priority)},"apply-to":' + json.dumps(p.apply_to) + "}")


LIST_USAGE = "[--vhost <vhost>] [--no-table-headers] [--timeout <timeout>]"
SET_USAGE = "[--vhost <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> <pattern> <definition>"
POLICY_SWITCHES = {"priority": "integer", "apply-to": "string"}


def _set_banner(kind: str) -> Callable[[dict[str, Any], dict[str, Any]], str]:
    return lambda a, c: (f'Setting {kind} "{a["name"]}" for pattern "{a["pattern"]}" to "{a["definition"]}" with '
                         f'priority "{a["priority"] or 0}" for vhost "{c["vhost"]}" ...')


def _set_policy(ctx: Context, args: dict[str, Any], operator: bool) -> None:
    definition = decode(args["definition"])
    vhost_or_65(ctx)
    from ...ops.errors import OpError

    try:
        ctx.ops.set_policy(ctx.vhost, args["name"], args["pattern"], definition, args.get("priority") or 0,
                           args.get("apply_to") or "all", operator)
    except OpError as exc:
        raise _refused(exc) from None


def _clear_policy(ctx: Context, args: dict[str, Any], operator: bool) -> None:
    vh = ctx.ops.vhosts.get(ctx.vhost)
    if vh is None or args["name"] not in (vh.operator_policies if operator else vh.policies):
        raise CtlError(EX_UNAVAILABLE, NO_PARAMETER)
    ctx.ops.clear_policy(ctx.vhost, args["name"], operator)


@command("list_policies", tool="rabbitmqctl", group=POLICIES, summary="Lists all policies in a virtual host",
         usage=LIST_USAGE, render=rows(*POLICY_COLUMNS), vhost_scoped=True, **spec(()),
         banner=lambda a, c: f'Listing policies for vhost "{c["vhost"]}" ...')
def list_policies(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return _policy_rows(vhost_or_65(ctx), False)


@command("list_operator_policies", tool="rabbitmqctl", group=POLICIES,
         summary="Lists operator policy overrides for a virtual host", usage=LIST_USAGE,
         render=rows(*POLICY_COLUMNS), vhost_scoped=True, **spec(()),
         banner=lambda a, c: f'Listing operator policy overrides for vhost "{c["vhost"]}" ...')
def list_operator_policies(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return _policy_rows(vhost_or_65(ctx), True)


@command("set_policy", tool="rabbitmqctl", group=POLICIES, summary="Sets or updates a policy", usage=SET_USAGE,
         render=ok, vhost_scoped=True, extra=CHANGES, banner=_set_banner("policy"),
         **spec(("name", "pattern", "definition"), POLICY_SWITCHES))
def set_policy(ctx: Context, args: dict[str, Any]) -> None:
    _set_policy(ctx, args, False)


@command("set_operator_policy", tool="rabbitmqctl", group=POLICIES,
         summary="Sets an operator policy that overrides a subset of arguments in user policies", usage=SET_USAGE,
         render=ok, vhost_scoped=True, extra=CHANGES, banner=_set_banner("operator policy override"),
         **spec(("name", "pattern", "definition"), POLICY_SWITCHES))
def set_operator_policy(ctx: Context, args: dict[str, Any]) -> None:
    _set_policy(ctx, args, True)


@command("clear_policy", tool="rabbitmqctl", group=POLICIES, summary="Clears (removes) a policy",
         usage="[--vhost <vhost>] <name>", render=ok, vhost_scoped=True, extra=CHANGES, **spec(("name",)),
         banner=lambda a, c: f'Clearing policy "{a["name"]}" on vhost "{c["vhost"]}" ...')
def clear_policy(ctx: Context, args: dict[str, Any]) -> None:
    _clear_policy(ctx, args, False)


@command("clear_operator_policy", tool="rabbitmqctl", group=POLICIES, summary="Clears an operator policy",
         usage="[--vhost <vhost>] <name>", render=ok, vhost_scoped=True, extra=CHANGES, **spec(("name",)),
         banner=lambda a, c: f'Clearing operator policy "{a["name"]}" on vhost "{c["vhost"]}" ...')
def clear_operator_policy(ctx: Context, args: dict[str, Any]) -> None:
    _clear_policy(ctx, args, True)


# -- runtime parameters ---------------------------------------------------------------------------------
def _parameter_rows(vh: Any) -> list[dict[str, Any]]:
    """What rabbitmqctl lists: every runtime parameter of the vhost but policies (amqpd has the
    vhost-limits and operator_policy components)."""
    out = []
    if vh.limits:
        out.append({"component": "vhost-limits", "name": "limits", "value": compact(vh.limits)})
    for _, p in sorted(vh.operator_policies.items()):
        out.append({"component": "operator_policy", "name": p.name, "value": _operator_value(p)})
    return out


# rabbit_policy:operator_policy_validation(): checked in reverse, every failure reported
_OPERATOR_FIELDS = (("definition", True), ("apply-to", False), ("pattern", True), ("priority", True))


def _operator_parameter_errors(name: str, value: Any) -> list[str]:
    """rabbit_parameter_validation:proplist/3 over an operator_policy value, with its texts and order:
    unrecognised keys, then each field's failure or absence."""
    from ... import policy as pol

    if not isinstance(value, dict):
        return []  # make_policy's own answer below
    errors = []
    unknown = sorted(((k, v) for k, v in value.items() if k not in dict(_OPERATOR_FIELDS)),
                     key=lambda kv: kv[0].encode())
    if unknown:
        prefix = "Unrecognised terms "
        errors.append(f"{prefix}{pol.erl_format(pol._proplist(unknown), len(prefix))} in {name}")
    valid = {"definition": {"max-length": 1}, "apply-to": "all", "pattern": "", "priority": 0}
    for field_, mandatory in _OPERATOR_FIELDS:
        if field_ not in value:
            if mandatory:
                errors.append(f'Key "{field_}" not found in {name}')
            continue
        probe = dict(valid, **{field_: value[field_]})
        try:
            pol.make_policy("", name, probe["pattern"], probe["definition"], probe["priority"], probe["apply-to"],
                            operator=True)
        except pol.PolicyError as exc:
            errors.append(str(exc).removeprefix("Validation failed\n\n").rstrip("\n"))
    return errors


@command("list_parameters", tool="rabbitmqctl", group=PARAMETERS,
         summary="Lists runtime parameters for a virtual host", usage=LIST_USAGE,
         render=rows("component", "name", "value"), vhost_scoped=True, **spec(()),
         banner=lambda a, c: f'Listing runtime parameters for vhost "{c["vhost"]}" ...')
def list_parameters(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return _parameter_rows(vhost_or_65(ctx))


@command("set_parameter", tool="rabbitmqctl", group=PARAMETERS, summary="Sets a runtime parameter.",
         usage="[--vhost <vhost>] <component_name> <name> <value>", render=ok, vhost_scoped=True, extra=CHANGES,
         **spec(("component", "name", "value")),
         banner=lambda a, c: (f'Setting runtime parameter "{a["name"]}" for component "{a["component"]}" to '
                              f'"{a["value"]}" in vhost "{c["vhost"]}" ...'))
def set_parameter(ctx: Context, args: dict[str, Any]) -> None:
    value = decode(args["value"])
    vhost_or_65(ctx)
    component, name = args["component"], args["name"]
    if component == "policy":
        raise CtlError(EX_UNAVAILABLE, "Error:\npolicies may not be set using this method")
    if component == "operator_policy":
        errors = _operator_parameter_errors(name, value)
        if errors:
            raise CtlError(EX_UNAVAILABLE, "Error:\nValidation failed\n\n" + "".join(e + "\n" for e in errors))
    from ...ops.errors import OpError

    try:
        ctx.ops.set_parameter(component, ctx.vhost, name, value)
    except OpError as exc:
        raise _refused(exc) from None


@command("clear_parameter", tool="rabbitmqctl", group=PARAMETERS, summary="Clears a runtime parameter.",
         usage="[--vhost <vhost>] <component_name> <name>", render=ok, vhost_scoped=True, extra=CHANGES,
         **spec(("component", "name")),
         banner=lambda a, c: (f'Clearing runtime parameter "{a["name"]}" for component "{a["component"]}" on '
                              f'vhost "{c["vhost"]}" ...'))
def clear_parameter(ctx: Context, args: dict[str, Any]) -> None:
    component, name = args["component"], args["name"]
    if component == "policy":
        raise CtlError(EX_UNAVAILABLE, "Error:\npolicies may not be cleared using this method")
    vh = ctx.ops.vhosts.get(ctx.vhost)
    if vh is None or not any(r["component"] == component and r["name"] == name for r in _parameter_rows(vh)):
        raise CtlError(EX_UNAVAILABLE, NO_PARAMETER)
    ctx.ops.clear_parameter(component, ctx.vhost, name)


# -- global parameters ----------------------------------------------------------------------------------
@command("list_global_parameters", tool="rabbitmqctl", group=PARAMETERS, summary="Lists global runtime parameters",
         usage="[--no-table-headers] [--timeout <timeout>]", render=rows("name", "value"), **spec(()),
         banner=lambda a, c: "Listing global runtime parameters ...")
def list_global_parameters(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": k, "value": compact(v)} for k, v in sorted(ctx.ops.global_parameters.items())]


@command("set_global_parameter", tool="rabbitmqctl", group=PARAMETERS, summary="Sets a runtime parameter.",
         usage="<name> <value>", render=ok, extra=CHANGES, **spec(("name", "value")),
         banner=lambda a, c: f'Setting global runtime parameter "{a["name"]}" to "{a["value"]}" ...')
def set_global_parameter(ctx: Context, args: dict[str, Any]) -> None:
    value = decode(args["value"])
    from ...ops.errors import OpError

    try:
        ctx.ops.set_global_parameter(args["name"], value)
    except OpError as exc:
        raise _refused(exc) from None


@command("clear_global_parameter", tool="rabbitmqctl", group=PARAMETERS, summary="Clears a global runtime parameter",
         usage="<name>", render=ok, extra=CHANGES, **spec(("name",)),
         banner=lambda a, c: f'Clearing global runtime parameter "{a["name"]}" ...')
def clear_global_parameter(ctx: Context, args: dict[str, Any]) -> None:
    if args["name"] not in ctx.ops.global_parameters:
        raise CtlError(EX_UNAVAILABLE, NO_PARAMETER)
    ctx.ops.clear_global_parameter(args["name"])
