"""Users, virtual hosts, permissions, topic permissions and limits: rabbitmqctl 3.10's commands of its
"Users", "Access Control" and "Virtual hosts" groups, through the operations layer (amqpd/ops/).

Texts and exit codes are RabbitMQ 3.10.8's, including its inconsistencies (an unknown user is 67 for
delete_user but 69 with an Erlang term for list_user_permissions; an unknown vhost is 65 for the list
commands and 69 for set_permissions). A password left off the command line is read from stdin, as
rabbitmqctl does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from ..output import dumps, write_json, write_table
from ..registry import (
    EX_DATAERR,
    EX_NOUSER,
    EX_SOFTWARE,
    EX_UNAVAILABLE,
    EX_USAGE,
    Context,
    CtlError,
    command,
)

USERS, ACCESS, VHOSTS = "Users", "Access Control", "Virtual hosts"
CHANGES = {"changes": True}
DONE = ("Done. Don't forget to grant the user permissions to some virtual hosts! See 'rabbitmqctl help "
        "set_permissions' to learn more.")
NO_PASSWORD = "Error:\nPassword is not provided via argument or stdin"
QUEUE_TYPES = ("classic", "quorum", "stream")
VHOST_KEYS = ("cluster_state", "default_queue_type", "description", "name", "tags", "tracing")
BLANK = ("attempted to log in with a blank password, which is prohibited by the internal authN backend. To use "
         "TLS/x509 certificate-based authentication, see the rabbitmq_auth_mechanism_ssl plugin and configure "
         "the client to use the EXTERNAL authentication mechanism. Alternatively change the password for the "
         "user to be non-blank.")


class AccessError(CtlError):
    """A failure that rabbitmqctl reports differently with --formatter json: exit 69 and a JSON document
    on stderr. The alternative travels as "json" next to code and text; the client picks it for json."""

    def __init__(self, code: int, text: str, json_message: str) -> None:
        super().__init__(code, text)
        self.json_message = json_message

    def to_json(self) -> dict[str, Any]:
        from ...connection import default_cluster_name

        doc = super().to_json()
        doc["json"] = {"code": EX_UNAVAILABLE, "text": dumps({"message": self.json_message,
                                                              "node": default_cluster_name(),
                                                              "result": "error"})}
        return doc


# -- arguments ------------------------------------------------------------------------------------------
def _spec(names: tuple[str, ...], optional: tuple[str, ...] = (), rest: str | None = None,
          options: Callable[[Any], None] | None = None, password: bool = False) -> dict[str, Any]:
    """`arguments` and `prepare` for rabbitmqctl's positional arguments: its texts for a wrong count
    (argparse's would differ), and the password read from stdin when it is left off."""

    def arguments(p: Any) -> None:
        p.add_argument("words", nargs="*")
        if options is not None:
            options(p)

    def prepare(args: dict[str, Any]) -> None:
        words = args.pop("words")
        if len(words) < len(names):
            raise CtlError(EX_USAGE, "Error (argument validation): not enough arguments.")
        if rest is None and len(words) > len(names) + len(optional):
            raise CtlError(EX_USAGE, "Error (argument validation): too many arguments.")
        for i, name in enumerate(names + optional):
            args[name] = words[i] if i < len(words) else None
        if rest is not None:
            args[rest] = words[len(names):]
        if password and args["password"] is None:
            args["prompted"] = True
            args["password"] = _read_password()

    return {"arguments": arguments, "prepare": prepare}


def _tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _read_password() -> str | None:
    """rabbitmqctl's "Password: " prompt: the first line of stdin (None at its end)."""
    if sys.stdin is None:
        return None
    if _tty():
        import getpass

        try:
            return getpass.getpass("Password: ")
        except EOFError:
            return None
    line = sys.stdin.readline()
    return line.rstrip("\r\n") if line else None


def _prompt(args: dict[str, Any]) -> str:
    """Piped stdin: the prompt line rabbitmqctl prints after its banner."""
    return "\nPassword: " if args.get("prompted") and not _tty() else ""


# -- output ---------------------------------------------------------------------------------------------
def _json(ctx: dict[str, Any]) -> bool:
    return ctx["inv"].opts["formatter"] == "json"


def _ok(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    """A change: nothing after the banner, or {"node":...,"result":"ok"} with --formatter json."""
    if _json(ctx):
        ctx["out"].write(dumps({"node": ctx["node"], "result": "ok"}) + "\n")
    return 0


def _rows(columns: tuple[str, ...] | None = None, headers: bool = True,
          table: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Callable[..., int]:
    """A list: rabbitmqctl's table (no header over no rows), or its JSON array ("[]" when empty)."""

    def render(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
        cols = list(columns or args["columns"])
        out, rows = ctx["out"], result or []
        if _json(ctx):
            if rows:
                write_json(out, cols, rows)
            else:
                out.write("[]\n")
        elif rows:
            write_table(out, cols, [table(r) for r in rows] if table else rows,
                        headers=headers and not ctx["inv"].opts.get("no_table_headers"))
        return 0

    return render


def _limits_text(limits: dict[str, Any]) -> str:
    """How rabbitmqctl shows a limits map: compact JSON, keys in Erlang's map order (sorted)."""
    return json.dumps(limits, separators=(",", ":"), sort_keys=True)


# -- lookups --------------------------------------------------------------------------------------------
def _no_such_user(name: str) -> CtlError:
    return CtlError(EX_UNAVAILABLE, f'Error:\n{{:no_such_user, "{name}"}}')


def _user_or_67(ctx: Context, name: str, quoted: bool = True) -> Any:
    user = ctx.ops.users.get(name)
    if user is None:
        text = f'Error:\nUser "{name}" does not exist' if quoted else f"Error:\nUser {name} does not exist"
        raise AccessError(EX_NOUSER, text, f"User {name} does not exist{'s' if quoted else ''}")
    return user


def _user_or_69(ctx: Context, name: str) -> Any:
    user = ctx.ops.users.get(name)
    if user is None:
        raise _no_such_user(name)
    return user


def _vhost_or_65(ctx: Context, name: str) -> Any:
    vh = ctx.ops.vhosts.get(name)
    if vh is None:
        raise CtlError(EX_DATAERR, f"Virtual host '{name}' does not exist")
    return vh


def _vhost_or_69(ctx: Context, name: str) -> Any:
    vh = ctx.ops.vhosts.get(name)
    if vh is None:
        raise AccessError(EX_UNAVAILABLE, f"Error:\nVirtual host {name} does not exist",
                          f"Virtual host {name} does not exist")
    return vh


def _check_regexes(values: tuple[str, ...], quote: str) -> None:
    """rabbit_auth_backend_internal refuses a pattern that does not compile (its text is PCRE's)."""
    import re

    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            raise CtlError(EX_UNAVAILABLE, f"Error:\n{{:invalid_regexp, {quote}{value}{quote}, "
                           f"{{'{exc.msg}', {exc.pos or 0}}}}}") from None


def _decode_limits(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise CtlError(EX_UNAVAILABLE, "Error:\nJSON decoding error. Reason: badarg") from None


def _valid_limits(value: Any, known: tuple[str, ...], component: str) -> dict[str, int]:
    from ...ops.errors import OpError
    from ...ops.vhosts import check_limits, erlang_term

    if not isinstance(value, dict):  # RabbitMQ's answers to a JSON document that is not an object
        if component == "limits":
            raise CtlError(EX_UNAVAILABLE, f"Error:\n{{:badmap, {erlang_term(value)}}}")
        if isinstance(value, list):
            terms = ",".join(erlang_term(v) for v in value)
            raise CtlError(EX_UNAVAILABLE, f"Error:\nUnrecognised terms [{terms}] in user-limits")
        raise CtlError(EX_UNAVAILABLE, f"Error:\nuser-limits not a list {erlang_term(value)}")
    try:
        return check_limits(value, known, component)
    except OpError as exc:
        raise CtlError(EX_UNAVAILABLE, f"Error:\n{exc.reason}") from None


def _end_ui_sessions(ctx: Context, name: str) -> None:
    """Management UI sessions opened with a user's old credentials end, as after the HTTP API's changes."""
    runner = getattr(getattr(ctx.broker, "management", None), "runner", None)
    if runner is None:
        return
    from ...management.ui import SESSIONS

    sessions = runner.app.get(SESSIONS)
    if sessions is not None:
        sessions.end_user(name)


# -- vhosts ---------------------------------------------------------------------------------------------
def _vhost_table_row(row: dict[str, Any]) -> dict[str, Any]:
    state = row.get("cluster_state") or {}
    return {**row, "cluster_state": "[" + ", ".join(f"{{{n}, {s}}}" for n, s in state.items()) + "]"}


@command("list_vhosts", tool="rabbitmqctl", group=ACCESS, summary="Lists virtual hosts",
         usage="[--no-table-headers] [<column> ...] [--timeout <timeout>]", info_keys=VHOST_KEYS,
         default_columns=("name",), render=_rows(table=_vhost_table_row),
         banner=lambda a, c: "Listing vhosts ...")
def list_vhosts(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    from ...connection import default_cluster_name

    node = default_cluster_name()
    return [{"name": vh.name, "tracing": vh.tracing, "description": vh.description, "tags": list(vh.tags),
             "default_queue_type": vh.default_queue_type or "undefined", "cluster_state": {node: "running"}}
            for _, vh in sorted(ctx.ops.vhosts.items())]


def _add_vhost_options(p: Any) -> None:
    p.add_argument("--description", default="")
    p.add_argument("--tags", default="")
    p.add_argument("--default-queue-type", dest="default_queue_type", default=None)


@command("add_vhost", tool="rabbitmqctl", group=VHOSTS, summary="Creates a virtual host",
         usage='<vhost> [--description <description> --tags "<tag1>,<tag2>,<...>" --default-queue-type '
               '<quorum|classic|stream>]', render=_ok, extra=CHANGES,
         **_spec(("vhost",), options=_add_vhost_options), banner=lambda a, c: f'Adding vhost "{a["vhost"]}" ...')
def add_vhost(ctx: Context, args: dict[str, Any]) -> None:
    name = args["vhost"]
    if name in ctx.ops.vhosts:
        return  # rabbit_vhost:add leaves an existing vhost (and its metadata) as it is
    qtype = args.get("default_queue_type")
    if qtype is not None and qtype not in QUEUE_TYPES:
        raise CtlError(EX_UNAVAILABLE, "Error:\ninvalid_queue_type")
    tags = [t.strip() for t in (args.get("tags") or "").split(",") if t.strip()]
    ctx.ops.add_vhost(name, args.get("description") or "", tags, qtype)


@command("delete_vhost", tool="rabbitmqctl", group=VHOSTS, summary="Deletes a virtual host", usage="<vhost>",
         render=_ok, extra=CHANGES, **_spec(("vhost",)), banner=lambda a, c: f'Deleting vhost "{a["vhost"]}" ...')
def delete_vhost(ctx: Context, args: dict[str, Any]) -> None:
    _vhost_or_65(ctx, args["vhost"])
    ctx.ops.delete_vhost(args["vhost"])


# -- users ----------------------------------------------------------------------------------------------
@command("list_users", tool="rabbitmqctl", group=USERS, summary="List user names and tags",
         usage="[--no-table-headers] [--timeout <timeout>]", render=_rows(("user", "tags")), **_spec(()),
         banner=lambda a, c: "Listing users ...")
def list_users(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"user": name, "tags": list(u.tags)} for name, u in sorted(ctx.ops.users.items())]


def _render_add_user(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    out = ctx["out"]
    if _json(ctx):
        if _prompt(args) and not ctx["inv"].quiet:
            out.write("Password: \n")
        out.write(dumps({"message": DONE, "node": ctx["node"], "status": "ok"}) + "\n")
    elif not ctx["inv"].quiet:
        out.write(DONE + "\n")
    return 0


@command("add_user", tool="rabbitmqctl", group=USERS,
         summary="Creates a new user in the internal database. This user will have no permissions for any "
                 "virtual hosts by default.", usage="<username> <password>", render=_render_add_user,
         extra=CHANGES, **_spec(("user",), ("password",), password=True),
         banner=lambda a, c: f'Adding user "{a["user"]}" ...{_prompt(a)}')
def add_user(ctx: Context, args: dict[str, Any]) -> None:
    name, password = args["user"], args["password"]
    if password is None:
        raise CtlError(EX_DATAERR, NO_PASSWORD)
    if name in ctx.ops.users:
        raise AccessError(EX_SOFTWARE, f'Error:\nUser "{name}" already exists', f"User {name} already exists")
    if password == "":  # "Use a blank string to disable password-based authentication"
        ctx.ops.put_user(name, password_hash="")
    else:
        ctx.ops.put_user(name, password=password)


@command("delete_user", tool="rabbitmqctl", group=USERS,
         summary="Removes a user from the internal database. Has no effect on users provided by external "
                 "backends such as LDAP", usage="<username>", render=_ok, extra=CHANGES, **_spec(("user",)),
         banner=lambda a, c: f'Deleting user "{a["user"]}" ...')
def delete_user(ctx: Context, args: dict[str, Any]) -> None:
    _user_or_67(ctx, args["user"])
    ctx.ops.delete_user(args["user"])
    _end_ui_sessions(ctx, args["user"])


@command("change_password", tool="rabbitmqctl", group=USERS, summary="Changes the user password",
         usage="<username> <password>", render=_ok, extra=CHANGES,
         **_spec(("user",), ("password",), password=True),
         banner=lambda a, c: f'Changing password for user "{a["user"]}" ...{_prompt(a)}')
def change_password(ctx: Context, args: dict[str, Any]) -> None:
    if args["password"] is None:
        raise CtlError(EX_SOFTWARE, NO_PASSWORD)
    user = _user_or_67(ctx, args["user"])
    ctx.ops.put_user(user.name, password=args["password"], tags=list(user.tags), limits=dict(user.limits))
    _end_ui_sessions(ctx, user.name)


@command("clear_password", tool="rabbitmqctl", group=USERS,
         summary="Clears (resets) password and disables password login for a user", usage="<username>",
         render=_ok, extra=CHANGES, **_spec(("user",)),
         banner=lambda a, c: f'Clearing password for user "{a["user"]}" ...')
def clear_password(ctx: Context, args: dict[str, Any]) -> None:
    user = _user_or_69(ctx, args["user"])
    ctx.ops.put_user(user.name, password_hash="", tags=list(user.tags), limits=dict(user.limits))
    _end_ui_sessions(ctx, user.name)


def _render_auth(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if _json(ctx):
        if _prompt(args) and not ctx["inv"].quiet:
            ctx["out"].write("Password: \n")
        ctx["out"].write(dumps({"message": "Success"}) + "\n")
    else:
        ctx["out"].write("Success\n")
    return 0


@command("authenticate_user", tool="rabbitmqctl", group=USERS,
         summary="Attempts to authenticate a user. Exits with a non-zero code if authentication fails.",
         usage="<username> <password>", render=_render_auth, **_spec(("user",), ("password",), password=True),
         banner=lambda a, c: f'Authenticating user "{a["user"]}" ...{_prompt(a)}')
def authenticate_user(ctx: Context, args: dict[str, Any]) -> None:
    name, password = args["user"], args["password"]
    if password is None:
        raise CtlError(EX_SOFTWARE, NO_PASSWORD)
    failed = f'Error:\nError: failed to authenticate user "{name}"\n'
    if password == "":
        raise CtlError(EX_DATAERR, f"{failed}user '{name}' {BLANK}")
    if ctx.ops.authenticate(name, password) is None:
        raise CtlError(EX_DATAERR, f"{failed}user '{name}' - invalid credentials")


@command("set_user_tags", tool="rabbitmqctl", group=USERS, summary="Sets user tags", usage="<username> <tag> [...]",
         render=_ok, extra=CHANGES, **_spec(("user",), rest="tags"),
         banner=lambda a, c: f'Setting tags for user "{a["user"]}" to [{", ".join(a["tags"])}] ...')
def set_user_tags(ctx: Context, args: dict[str, Any]) -> None:
    user = _user_or_67(ctx, args["user"])
    ctx.ops.put_user(user.name, password_hash=user.password_hash, hashing_algorithm=user.hashing_algorithm,
                     tags=list(args["tags"]), limits=dict(user.limits))


# -- permissions ----------------------------------------------------------------------------------------
PERMISSION_COLUMNS = ("configure", "write", "read")


@command("list_permissions", tool="rabbitmqctl", group=ACCESS, summary="Lists user permissions in a virtual host",
         usage="[--vhost <vhost>] [--no-table-headers] [--timeout <timeout>]", vhost_scoped=True,
         render=_rows(("user",) + PERMISSION_COLUMNS), **_spec(()),
         banner=lambda a, c: f'Listing permissions for vhost "{c["vhost"]}" ...')
def list_permissions(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    _vhost_or_65(ctx, ctx.vhost)
    return [{"user": p.user, "configure": p.configure, "write": p.write, "read": p.read}
            for (user, vhost), p in sorted(ctx.ops.access.permissions.items()) if vhost == ctx.vhost]


@command("list_user_permissions", tool="rabbitmqctl", group=ACCESS,
         summary="Lists permissions of a user across all virtual hosts",
         usage="[--no-table-headers] <username> [--timeout <timeout>]",
         render=_rows(("vhost",) + PERMISSION_COLUMNS), **_spec(("user",)),
         banner=lambda a, c: f'Listing permissions for user "{a["user"]}" ...')
def list_user_permissions(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    name = _user_or_69(ctx, args["user"]).name
    return [{"vhost": p.vhost, "configure": p.configure, "write": p.write, "read": p.read}
            for (user, vhost), p in sorted(ctx.ops.access.permissions.items()) if user == name]


@command("set_permissions", tool="rabbitmqctl", group=ACCESS, summary="Sets user permissions for a vhost",
         usage="[--vhost <vhost>] <username> <conf> <write> <read>", vhost_scoped=True, render=_ok, extra=CHANGES,
         **_spec(("user", "configure", "write", "read")),
         banner=lambda a, c: f'Setting permissions for user "{a["user"]}" in vhost "{c["vhost"]}" ...')
def set_permissions(ctx: Context, args: dict[str, Any]) -> None:
    _user_or_67(ctx, args["user"], quoted=False)
    _vhost_or_69(ctx, ctx.vhost)
    _check_regexes((args["configure"], args["write"], args["read"]), "'")
    ctx.ops.set_permissions(args["user"], ctx.vhost, args["configure"], args["write"], args["read"])


@command("clear_permissions", tool="rabbitmqctl", group=ACCESS, summary="Revokes user permissions for a vhost",
         usage="[--vhost <vhost>] <username>", vhost_scoped=True, render=_ok, extra=CHANGES, **_spec(("user",)),
         banner=lambda a, c: f'Clearing permissions for user "{a["user"]}" in vhost "{c["vhost"]}" ...')
def clear_permissions(ctx: Context, args: dict[str, Any]) -> None:
    _user_or_67(ctx, args["user"], quoted=False)
    _vhost_or_69(ctx, ctx.vhost)
    ctx.ops.clear_permissions(args["user"], ctx.vhost)


# -- topic permissions ----------------------------------------------------------------------------------
def _topic_rows(ctx: Context, keep: Callable[[str, str], bool], first: str) -> list[dict[str, Any]]:
    rows = []
    for (user, vhost), per_exchange in sorted(ctx.ops.access.topic.items()):
        if keep(user, vhost):
            rows += [{first: user if first == "user" else vhost, "exchange": tp.exchange, "write": tp.write,
                      "read": tp.read} for _, tp in sorted(per_exchange.items())]
    return rows


@command("list_topic_permissions", tool="rabbitmqctl", group=ACCESS,
         summary="Lists topic permissions in a virtual host",
         usage="[--vhost <vhost>] [--no-table-headers] [--timeout <timeout>]", vhost_scoped=True,
         render=_rows(("user", "exchange", "write", "read")), **_spec(()),
         banner=lambda a, c: f'Listing topic permissions for vhost "{c["vhost"]}" ...')
def list_topic_permissions(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    _vhost_or_65(ctx, ctx.vhost)
    return _topic_rows(ctx, lambda user, vhost: vhost == ctx.vhost, "user")


@command("list_user_topic_permissions", tool="rabbitmqctl", group=ACCESS, summary="Lists user topic permissions",
         usage="[--no-table-headers] <username> [--timeout <timeout>]",
         # rabbitmqctl 3.10 prints this one without a header row
         render=_rows(("vhost", "exchange", "write", "read"), headers=False), **_spec(("user",)),
         banner=lambda a, c: f'Listing topic permissions for user "{a["user"]}" ...')
def list_user_topic_permissions(ctx: Context, args: dict[str, Any]) -> list[dict[str, Any]]:
    name = _user_or_69(ctx, args["user"]).name
    return _topic_rows(ctx, lambda user, vhost: user == name, "vhost")


@command("set_topic_permissions", tool="rabbitmqctl", group=ACCESS,
         summary="Sets user topic permissions for an exchange",
         usage="[--vhost <vhost>] <username> <exchange> <write> <read>", vhost_scoped=True, render=_ok,
         extra=CHANGES, **_spec(("user", "exchange", "write", "read")),
         banner=lambda a, c: (f'Setting topic permissions on "{a["exchange"]}" for user "{a["user"]}" in vhost '
                              f'"{c["vhost"]}" ...'))
def set_topic_permissions(ctx: Context, args: dict[str, Any]) -> None:
    _user_or_67(ctx, args["user"], quoted=False)
    _vhost_or_69(ctx, ctx.vhost)
    _check_regexes((args["write"], args["read"]), '"')
    ctx.ops.set_topic_permissions(args["user"], ctx.vhost, args["exchange"], args["write"], args["read"])


def _clear_topic_banner(a: dict[str, Any], c: dict[str, Any]) -> str:
    on = f'on "{a["exchange"]}" ' if a.get("exchange") is not None else ""
    return f'Clearing topic permissions {on}for user "{a["user"]}" in vhost "{c["vhost"]}" ...'


@command("clear_topic_permissions", tool="rabbitmqctl", group=ACCESS,
         summary="Clears user topic permissions for a vhost or exchange",
         usage="[--vhost <vhost>] <username> [<exchange>]", vhost_scoped=True, render=_ok, extra=CHANGES,
         **_spec(("user",), ("exchange",)), banner=_clear_topic_banner)
def clear_topic_permissions(ctx: Context, args: dict[str, Any]) -> None:
    _user_or_67(ctx, args["user"], quoted=False)
    _vhost_or_69(ctx, ctx.vhost)
    ctx.ops.clear_topic_permissions(args["user"], ctx.vhost, args.get("exchange"))


# -- vhost limits ---------------------------------------------------------------------------------------
def _has_vhost_limits(ctx: Context, vh: Any) -> bool:
    """The vhost-limits parameter exists (set, possibly to {})."""
    return bool(vh.limits) or ("parameter", "vhost-limits", vh.name, "limits") in ctx.ops.records.ids


@command("set_vhost_limits", tool="rabbitmqctl", group=VHOSTS, summary="Sets virtual host limits",
         usage="[--vhost <vhost>] <definition>", vhost_scoped=True, render=_ok, extra=CHANGES,
         **_spec(("definition",)),
         banner=lambda a, c: f'Setting vhost limits to "{a["definition"]}" for vhost "{c["vhost"]}" ...')
def set_vhost_limits(ctx: Context, args: dict[str, Any]) -> None:
    from ...ops.vhosts import VHOST_LIMITS

    limits = _valid_limits(_decode_limits(args["definition"]), VHOST_LIMITS, "limits")
    _vhost_or_65(ctx, ctx.vhost)
    ctx.ops.set_vhost_limits(ctx.vhost, limits)


@command("clear_vhost_limits", tool="rabbitmqctl", group=VHOSTS, summary="Clears virtual host limits",
         usage="[--vhost <vhost>]", vhost_scoped=True, render=_ok, extra=CHANGES, **_spec(()),
         banner=lambda a, c: f'Clearing vhost "{c["vhost"]}" limits ...')
def clear_vhost_limits(ctx: Context, args: dict[str, Any]) -> None:
    vh = ctx.ops.vhosts.get(ctx.vhost)
    if vh is None or not _has_vhost_limits(ctx, vh):
        raise CtlError(EX_UNAVAILABLE, "Error:\nParameter does not exist")
    ctx.ops.clear_vhost_limit(ctx.vhost)


def _render_vhost_limits(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if args["global"]:
        return _rows(("vhost", "limits"))(result, args, ctx)
    out = ctx["out"]
    if not result:  # no limits: nothing, or an empty list
        if _json(ctx):
            out.write("[]\n")
    elif _json(ctx):
        out.write(dumps({"node": ctx["node"], "result": "ok", "value": result}) + "\n")
    else:
        out.write(result + "\n")
    return 0


@command("list_vhost_limits", tool="rabbitmqctl", group=VHOSTS, summary="Displays configured virtual host limits",
         usage="[--vhost <vhost>] [--global] [--no-table-headers]", vhost_scoped=True, render=_render_vhost_limits,
         **_spec((), options=lambda p: p.add_argument("--global", dest="global", action="store_true")),
         banner=lambda a, c: ("Listing limits for all vhosts ..." if a["global"]
                              else f'Listing limits for vhost "{c["vhost"]}" ...'))
def list_vhost_limits(ctx: Context, args: dict[str, Any]) -> Any:
    if args["global"]:
        return [{"vhost": name, "limits": _limits_text(vh.limits)} for name, vh in sorted(ctx.ops.vhosts.items())
                if _has_vhost_limits(ctx, vh)]
    vh = _vhost_or_65(ctx, ctx.vhost)
    return _limits_text(vh.limits) if vh.limits else None


# -- user limits ----------------------------------------------------------------------------------------
@command("set_user_limits", tool="rabbitmqctl", group=USERS, summary="Sets user limits",
         usage="<username> <definition>", render=_ok, extra=CHANGES, **_spec(("user", "definition")),
         banner=lambda a, c: f'Setting user limits to "{a["definition"]}" for user "{a["user"]}" ...')
def set_user_limits(ctx: Context, args: dict[str, Any]) -> None:
    from ...auth.users import USER_LIMITS

    limits = _valid_limits(_decode_limits(args["definition"]), USER_LIMITS, "user-limits")
    _user_or_69(ctx, args["user"])
    ctx.ops.set_user_limits(args["user"], limits)


@command("clear_user_limits", tool="rabbitmqctl", group=USERS, summary="Clears user connection/channel limits",
         usage="<username> <limit_type> | all", render=_ok, extra=CHANGES, **_spec(("user", "limit")),
         banner=lambda a, c: (f'Clearing all limits for user "{a["user"]}" ...' if a["limit"] == "all"
                              else f'Clearing "{a["limit"]}" limit for user "{a["user"]}" ...'))
def clear_user_limits(ctx: Context, args: dict[str, Any]) -> None:
    _user_or_69(ctx, args["user"])
    ctx.ops.clear_user_limit(args["user"], None if args["limit"] == "all" else args["limit"])


def _user_limits_options(p: Any) -> None:
    p.add_argument("--user", default="guest")  # rabbitmqctl's default
    p.add_argument("--global", dest="global", action="store_true")


def _render_user_limits(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if args["global"]:
        return _rows(("user", "limits"))(result, args, ctx)
    ctx["out"].write((dumps({"message": result}) if _json(ctx) else result) + "\n")
    return 0


@command("list_user_limits", tool="rabbitmqctl", group=USERS, summary="Displays configured user limits",
         usage="[--user <username>] [--global]", render=_render_user_limits,
         **_spec((), options=_user_limits_options),
         banner=lambda a, c: ("Listing limits for all users ..." if a["global"]
                              else f'Listing limits for user "{a["user"]}" ...'))
def list_user_limits(ctx: Context, args: dict[str, Any]) -> Any:
    if args["global"]:
        return [{"user": name, "limits": _limits_text(u.limits)} for name, u in sorted(ctx.ops.users.items())
                if u.limits]
    return _limits_text(_user_or_69(ctx, args["user"]).limits)
