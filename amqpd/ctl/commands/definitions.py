"""export_definitions, import_definitions (rabbitmqctl 3.10's "Definitions" group) and trace_on /
trace_off (the firehose, in its "Virtual hosts" group).

The document exported is ops.export_definitions' in the shape rabbitmqctl gives it (cli_shape), written as
rabbitmqctl writes it: compact JSON with sorted keys and no final newline, or compressed Erlang external
term format with --format erlang. Import goes through ops.import_definitions: validated as a whole,
then applied, so a bad file changes nothing. The file is read (and decoded) by the client, as rabbitmqctl
reads it; a failure to read it is reported after the banner, as rabbitmqctl does.
"""

from __future__ import annotations

import json
import os
import re
import struct
import sys
import zlib
from typing import Any

from ..output import dumps
from ..registry import EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE, Context, CtlError, command
from .policies import spec

DEFINITIONS = "Definitions"
FORMATS = {"json": "JSON", "erlang": "Erlang term format"}
STARTED = "Successfully started definition import. This process is asynchronous and can take some time."
BAD_ETF = ('"errors were found at the given arguments:\\n\\n  * 1st argument: invalid external representation '
           'of a term\\n"')


# -- Erlang external term format (term_to_binary(Term, [compressed]) / binary_to_term) -------------------
def etf_encode(value: Any, atom_keys: bool = False) -> bytes:
    """Definitions as RabbitMQ's `export_definitions --format erlang` writes them: a map whose top-level
    keys are atoms, binaries for strings and keys below, true/false/null atoms."""
    body = _enc(value, atom_keys)
    return b"\x83P" + struct.pack(">I", len(body)) + zlib.compress(body, 9)


def _atom(name: str) -> bytes:
    data = name.encode()
    return (b"w" + bytes([len(data)]) if len(data) < 256 else b"v" + struct.pack(">H", len(data))) + data


def _enc(v: Any, atom_keys: bool = False) -> bytes:
    if v is True or v is False or v is None:
        return _atom({True: "true", False: "false", None: "null"}[v])
    if isinstance(v, int):
        if 0 <= v < 256:
            return b"a" + bytes([v])
        if -(2**31) <= v < 2**31:
            return b"b" + struct.pack(">i", v)
        digits = abs(v).to_bytes((abs(v).bit_length() + 7) // 8, "little")
        return b"n" + bytes([len(digits), v < 0]) + digits
    if isinstance(v, float):
        return b"F" + struct.pack(">d", v)
    if isinstance(v, str):
        data = v.encode()
        return b"m" + struct.pack(">I", len(data)) + data
    if isinstance(v, dict):
        return b"t" + struct.pack(">I", len(v)) + b"".join(
            (_atom(k) if atom_keys else _enc(str(k))) + _enc(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        if not v:
            return b"j"
        return b"l" + struct.pack(">I", len(v)) + b"".join(_enc(x) for x in v) + b"j"
    return _enc(str(v))


def etf_decode(data: bytes) -> Any:
    """binary_to_term for what a definitions export holds; atoms become strings (true, false, null and
    undefined: JSON's), tuples lists. ValueError for anything else."""
    if data[:1] != b"\x83":
        raise ValueError("no version byte")
    if data[1:2] == b"P":
        size = struct.unpack(">I", data[2:6])[0]
        body = zlib.decompress(data[6:])
        if len(body) != size:
            raise ValueError("bad size")
    else:
        body = data[1:]
    value, pos = _dec(body, 0)
    if pos != len(body):
        raise ValueError("trailing bytes")
    return value


_ATOMS: dict[str, Any] = {"true": True, "false": False, "null": None, "undefined": None}


def _dec(b: bytes, pos: int) -> tuple[Any, int]:  # one branch per tag
    tag = b[pos]
    pos += 1
    if tag == 97:  # SMALL_INTEGER
        return b[pos], pos + 1
    if tag == 98:  # INTEGER
        return struct.unpack_from(">i", b, pos)[0], pos + 4
    if tag in (110, 111):  # SMALL_BIG, LARGE_BIG
        n, pos = (b[pos], pos + 1) if tag == 110 else (struct.unpack_from(">I", b, pos)[0], pos + 4)
        sign, digits = b[pos], b[pos + 1:pos + 1 + n]
        if len(digits) != n:
            raise ValueError("short big integer")
        value = int.from_bytes(digits, "little")
        return (-value if sign else value), pos + 1 + n
    if tag == 70:  # NEW_FLOAT
        return struct.unpack_from(">d", b, pos)[0], pos + 8
    if tag in (100, 115, 118, 119):  # ATOM, SMALL_ATOM, ATOM_UTF8, SMALL_ATOM_UTF8
        n, pos = (b[pos], pos + 1) if tag in (115, 119) else (struct.unpack_from(">H", b, pos)[0], pos + 2)
        name = b[pos:pos + n].decode("utf-8" if tag in (118, 119) else "latin-1")
        return _ATOMS.get(name, name), pos + n
    if tag == 109:  # BINARY
        n = struct.unpack_from(">I", b, pos)[0]
        if pos + 4 + n > len(b):
            raise ValueError("short binary")
        return b[pos + 4:pos + 4 + n].decode("utf-8", "replace"), pos + 4 + n
    if tag == 107:  # STRING (a list of bytes)
        n = struct.unpack_from(">H", b, pos)[0]
        return list(b[pos + 2:pos + 2 + n]), pos + 2 + n
    if tag == 106:  # NIL
        return [], pos
    if tag in (104, 105, 108):  # SMALL_TUPLE, LARGE_TUPLE, LIST
        n, pos = (b[pos], pos + 1) if tag == 104 else (struct.unpack_from(">I", b, pos)[0], pos + 4)
        items = []
        for _ in range(n):
            item, pos = _dec(b, pos)
            items.append(item)
        if tag == 108:
            tail, pos = _dec(b, pos)
            if tail != []:
                raise ValueError("improper list")
        return items, pos
    if tag == 116:  # MAP
        n = struct.unpack_from(">I", b, pos)[0]
        pos += 4
        out = {}
        for _ in range(n):
            k, pos = _dec(b, pos)
            v, pos = _dec(b, pos)
            out[k if isinstance(k, str) else json.dumps(k)] = v
        return out, pos
    raise ValueError(f"unsupported term tag {tag}")


# -- export ---------------------------------------------------------------------------------------------
def _format(args: dict[str, Any]) -> None:
    fmt = (args.get("format") or "json").lower()
    if fmt not in FORMATS:
        raise CtlError(EX_DATAERR, "Error (argument validation): Bad argument: Format should be either json or "
                       "erlang")
    args["format"] = fmt


def _check_export(args: dict[str, Any]) -> None:
    _format(args)
    path = args["path"]
    if path != "-":
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            raise CtlError(EX_DATAERR, f"Error (argument validation): Bad argument: Directory {directory} does not "
                           "exist")


def serialise(doc: Any, fmt: str) -> bytes:
    if fmt == "erlang":
        return etf_encode(doc, atom_keys=True)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def _write_error(path: str, exc: OSError) -> str:
    """ExportDefinitionsCommand's texts for File.write's errors."""
    import errno

    return {errno.EISDIR: f"Path {path} is a directory",
            errno.EACCES: f"No permissions to write to file {path} or its parent directory",
            errno.EPERM: f"No permissions to write to file {path} or its parent directory",
            errno.ENOENT: f"Parent directory or file {path} does not exist",
            errno.ENOTDIR: f"Parent directory of file {path} is not a directory",
            errno.ENOSPC: f"No space left on device hosting {path}",
            }.get(exc.errno or 0, f"Could not write to file {path}: {exc.strerror or exc}")


def _render_export(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    data, path, out = serialise(result, args["format"]), args["path"], ctx["out"]
    if path != "-":
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            ctx["err"].write(f"Error:\n{_write_error(path, exc)}\n")
            return EX_DATAERR
        return 0
    if ctx["inv"].opts["formatter"] == "json" and args["format"] == "json":
        out.write(dumps({"message": data.decode()}))  # no newline after it, as rabbitmqctl
    elif hasattr(out, "buffer"):
        out.flush()
        out.buffer.write(data)
    else:  # a text stream (tests): JSON as text, the term format byte for byte
        out.write(data.decode() if args["format"] == "json" else data.decode("latin-1"))
    return 0


def _export_banner(a: dict[str, Any], c: dict[str, Any]) -> str | None:
    if a["path"] == "-":
        return None  # the document alone on stdout
    return f'Exporting definitions in {FORMATS[a["format"]]} to a file at "{a["path"]}" ...'


@command("export_definitions", tool="rabbitmqctl", group=DEFINITIONS,
         summary="Exports definitions in JSON or compressed Erlang Term Format.",
         usage='<file_path | "-"> [--format <json | erlang>] [--timeout <timeout>]', render=_render_export,
         banner=_export_banner, **spec(("path",), {"format": "string"}, check=_check_export))
def export_definitions(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    return cli_shape(ctx.ops.export_definitions(), ctx.ops)


def cli_shape(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    """rabbitmqctl's export is not the HTTP API's: no product keys, queues carry their "type", vhosts their
    limits and metadata, exchanges no "internal" key. RabbitMQ leaves internal exchanges out (while keeping
    their bindings, which makes its own export fail to import); amqpd keeps them, with "internal": true."""
    doc = {k: v for k, v in doc.items() if k not in ("product_name", "product_version")}
    for ex in doc.get("exchanges", []):
        if not ex.get("internal"):
            ex.pop("internal", None)
    for q in doc.get("queues", []):
        q["type"] = (q.get("arguments") or {}).get("x-queue-type", "classic")
    for v in doc.get("vhosts", []):
        vh = ops.vhosts.get(v["name"])
        if vh is None:
            continue
        v["limits"] = [[k, n] for k, n in sorted(vh.limits.items())]
        v["metadata"] = {"description": vh.description, "tags": list(vh.tags) if vh.tags else ""}
    return doc


# -- import ---------------------------------------------------------------------------------------------
def _read_error(path: str, exc: OSError) -> str:
    import errno

    return {errno.EISDIR: f"Path {path} is a directory",
            errno.EACCES: f"No permissions to read from file {path} or its parent directory",
            errno.EPERM: f"No permissions to read from file {path} or its parent directory",
            errno.ENOENT: f"Parent directory or file {path} does not exist",
            errno.ENOTDIR: f"Parent directory of file {path} is not a directory",
            }.get(exc.errno or 0, f"Could not read from file {path}: {exc.strerror or exc}")


def _json_failure(text: str, exc: json.JSONDecodeError) -> str:
    """The JSON parser's complaint as the CLI's (Jason's) shows it: the end of the input, or the token."""
    rest = text[exc.pos:].strip()
    if not rest or exc.msg.startswith("Unterminated string"):
        return ":unexpected_end_of_buffer"
    return "{:unexpected_token, " + json.dumps(rest, ensure_ascii=False) + "}"


def parse_document(data: bytes, fmt: str) -> Any:
    """The decoded document, or CtlError with rabbitmqctl's "Failed to deserialise input" text."""
    fail = f"Error:\nFailed to deserialise input (format: {FORMATS[fmt]}) (error: "
    if fmt == "erlang":
        try:
            return etf_decode(data)
        except (ValueError, IndexError, struct.error, zlib.error, RecursionError):
            raise CtlError(EX_DATAERR, fail + BAD_ETF + ")") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CtlError(EX_DATAERR, fail + "{:invalid_byte, " + hex(data[exc.start]) + "})") from None

    def refuse(constant: str) -> Any:
        raise json.JSONDecodeError("Expecting value", text, text.find(constant))

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise CtlError(EX_DATAERR, fail + _json_failure(text, exc) + ")") from None
    except RecursionError:
        raise CtlError(EX_DATAERR, fail + ":nesting_too_deep)") from None


def _read_definitions(args: dict[str, Any]) -> None:
    """Client side: read and decode the file (or stdin: no path, or "-"). A missing file is an argument
    error; what fails later travels to the broker side as "failure", to be reported after the banner."""
    _format(args)
    path = args["path"]
    if path == "-":
        path = args["path"] = None
    if path is not None and not os.path.exists(path):
        raise CtlError(EX_DATAERR, f"Error (argument validation): Bad argument: File {path} does not exist")
    try:
        if path is None:
            data = sys.stdin.buffer.read() if sys.stdin is not None and hasattr(sys.stdin, "buffer") else b""
        else:
            with open(path, "rb") as f:
                data = f.read()
            if not data:
                raise CtlError(EX_DATAERR, f"Error:\nFile {path} is zero-sized")
        args["definitions"] = parse_document(data, args["format"])
    except OSError as exc:
        args["failure"] = CtlError(EX_DATAERR, f"Error:\n{_read_error(path or '-', exc)}").to_json()
    except CtlError as exc:
        args["failure"] = exc.to_json()


def _inspect(value: Any) -> str:
    """Elixir's inspect of a decoded JSON value, for the {:badmap, ...} crash of a non-object document."""
    if value is None:
        return ":null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_inspect(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _render_import(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if ctx["inv"].opts["formatter"] == "json":
        ctx["out"].write(dumps({"node": ctx["node"], "result": "ok"}))  # no newline, as rabbitmqctl
    elif not ctx["inv"].quiet:
        ctx["out"].write(STARTED + "\n")
    return 0


def _import_banner(a: dict[str, Any], c: dict[str, Any]) -> str:
    what = FORMATS[a["format"]]
    if a["path"] is None:
        return f"Importing definitions in {what} from standard input ..."
    return f'Importing definitions in {what} from a file at "{a["path"]}" ...'


NO_VHOST = re.compile(r"field 'vhost': no vhost '(.*)' in the broker or the file$", re.S)


@command("import_definitions", tool="rabbitmqctl", group=DEFINITIONS,
         summary="Imports definitions in JSON or compressed Erlang Term Format.",
         usage='<file_path | "-"> [--format <json | erlang>] [--skip-if-unchanged] [--timeout <timeout>]',
         render=_render_import, banner=_import_banner, extra={"changes": True},
         **spec((), {"format": "string", "skip-if-unchanged": "boolean"}, optional=("path",),
                check=_read_definitions))
def import_definitions(ctx: Context, args: dict[str, Any]) -> None:
    failure = args.get("failure")
    if failure:
        raise CtlError(int(failure["code"]), str(failure["text"]))
    doc = args.get("definitions")
    if not isinstance(doc, dict):
        raise CtlError(EX_SOFTWARE, f"Error:\n{{:badmap, {_inspect(doc)}}}\n")
    from ...ops.errors import OpError

    try:
        ctx.ops.import_definitions(doc, source="amqpctl import_definitions " + (args.get("path") or "(stdin)"))
    except OpError as exc:
        reason = str(getattr(exc, "reason", exc))
        missing = NO_VHOST.search(reason)
        if missing:
            raise CtlError(EX_DATAERR, f"Virtual host '{missing.group(1)}' does not exist") from None
        raise CtlError(EX_UNAVAILABLE, f"Error:\n{reason}") from None


# -- tracing --------------------------------------------------------------------------------------------
def _render_trace(result: Any, args: dict[str, Any], ctx: dict[str, Any]) -> int:
    if ctx["inv"].opts["formatter"] == "json":
        ctx["out"].write(dumps({"node": ctx["node"], "result": "ok", "value": result}) + "\n")
    else:
        ctx["out"].write(f"{result}\n")
    return 0


def _trace(ctx: Context, on: bool) -> str:
    from ...ops.errors import NotFound

    try:
        ctx.ops.set_vhost_tracing(ctx.vhost, on)
    except NotFound:
        pass  # rabbit_trace:start/stop on a vhost that does not exist: RabbitMQ reports success too
    return f"Trace {'enabled' if on else 'disabled'} for vhost {ctx.vhost}"


@command("trace_on", tool="rabbitmqctl", group="Virtual hosts",
         summary="Starts the firehose: copies of every message published and delivered in the vhost go to "
                 "amq.rabbitmq.trace", usage="[--vhost <vhost>]", render=_render_trace, vhost_scoped=True,
         extra={"changes": True}, **spec((), any_count=True),
         banner=lambda a, c: f'Starting tracing for vhost "{c["vhost"]}" ...')
def trace_on(ctx: Context, args: dict[str, Any]) -> str:
    return _trace(ctx, True)


@command("trace_off", tool="rabbitmqctl", group="Virtual hosts", summary="Stops the firehose for the vhost",
         usage="[--vhost <vhost>]", render=_render_trace, vhost_scoped=True, extra={"changes": True},
         **spec((), any_count=True), banner=lambda a, c: f'Stopping tracing for vhost "{c["vhost"]}" ...')
def trace_off(ctx: Context, args: dict[str, Any]) -> str:
    return _trace(ctx, False)

