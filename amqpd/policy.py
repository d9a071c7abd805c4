"""Policies and operator policies, as RabbitMQ 3.10 validates, matches and applies them (pure, no I/O).

Sources (RabbitMQ v3.10.8, the reference broker): rabbit_policy (validation order, matching, priority,
merging with operator policies), rabbit_policies (the built-in keys and their texts), rabbit_parameter_validation
(priority and pattern), rabbit_mirror_queue_misc + rabbit_mirror_queue_mode_* (ha-*),
rabbit_queue_location_validator (queue-master-locator), rabbit_runtime_parameters:format_error (the
"Validation failed" text), rabbit_queue_type:is_policy_applicable with each queue type's capabilities(),
rabbit_amqqueue_process:process_args_policy and rabbit_quorum_queue:ra_machine_config (argument vs policy).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

APPLY_TO = ("all", "exchanges", "queues")  # rabbit_policy:apply_to_validation (3.10 has no *_queues)
MAX_STREAM_MAX_SEGMENT_SIZE = 3_000_000_000  # rabbit.hrl
LINE_LENGTH = 80  # io_lib:format's ~p


class PolicyError(ValueError):
    """A policy RabbitMQ would refuse; str() is RabbitMQ's text ("Validation failed\\n\\n...\\n")."""


# -- Erlang ~p of decoded JSON values -------------------------------------------------------------------
# JSON strings are binaries, objects maps (rabbit_json), true/false/null atoms. Enough of io_lib_pretty
# for these terms: flat when it fits in 80 columns, else lists of atomic terms filled, others one per line.
class _Tuple(tuple):
    pass


def _is_printable_latin1(data: bytes) -> bool:
    return all(32 <= b <= 126 or b >= 160 or b in (8, 9, 10, 11, 12, 13, 27) for b in data)


_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 8: "\\b",
            12: "\\f", 27: "\\e"}


def _quote(chars: str) -> str:
    return '"' + "".join(_ESCAPES.get(ord(c), c) for c in chars) + '"'


def _float(value: float) -> str:
    """Erlang's shortest round-trip float text: fixed or scientific, whichever is shorter (fixed on ties)."""
    if value == 0:
        return "-0.0" if math.copysign(1, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    mant, _, e = repr(abs(value)).partition("e")  # repr gives the shortest round-trip digits
    intpart, _, frac = mant.partition(".")
    all_digits = intpart + frac
    stripped = all_digits.lstrip("0")
    point = len(intpart) + (int(e) if e else 0) - (len(all_digits) - len(stripped))
    digits = stripped.rstrip("0") or "0"
    if point <= 0:
        fixed = "0." + "0" * -point + digits
    elif point >= len(digits):
        fixed = digits + "0" * (point - len(digits)) + ".0"
    else:
        fixed = digits[:point] + "." + digits[point:]
    sci = digits[0] + "." + (digits[1:] or "0") + "e" + str(point - 1)
    return sign + (fixed if len(fixed) <= len(sci) else sci)


def _atomic(term: Any) -> bool:
    return not isinstance(term, (list, tuple, dict)) or _flat(term).startswith('"')


def _flat(term: Any) -> str:
    if term is None:
        return "null"
    if term is True:
        return "true"
    if term is False:
        return "false"
    if isinstance(term, int):
        return str(term)
    if isinstance(term, float):
        return _float(term)
    if isinstance(term, str):
        data = term.encode()
        if _is_printable_latin1(data):
            return "<<" + _quote(term) + ">>"
        return "<<" + ",".join(str(b) for b in data) + ">>"
    if isinstance(term, _Tuple):
        return "{" + ",".join(_flat(t) for t in term) + "}"
    if isinstance(term, list):
        if term and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t <= 255 for t in term) \
                and _is_printable_latin1(bytes(term)):
            return _quote(bytes(term).decode("latin-1"))
        return "[" + ",".join(_flat(t) for t in term) + "]"
    if isinstance(term, dict):
        return "#{" + ",".join(f"{_flat(k)} => {_flat(v)}" for k, v in _map_items(term)) + "}"
    return str(term)


def _map_items(term: dict) -> list[tuple[Any, Any]]:
    return sorted(term.items(), key=lambda kv: _sort_key(kv[0]))


def _sort_key(key: Any) -> Any:
    return key.encode() if isinstance(key, str) else key


def erl_format(term: Any, col: int = 0) -> str:
    """io_lib:format("~p", [Term]) starting at column col."""
    flat = _flat(term)
    # io_lib_pretty (OTP 25), as measured: a list fits in 80 columns, a tuple in 78
    limit = LINE_LENGTH - 2 if isinstance(term, _Tuple) else LINE_LENGTH
    if col + len(flat) <= limit or _atomic(term) or flat.startswith('"'):
        return flat
    if isinstance(term, dict):
        items = [(k, v) for k, v in _map_items(term)]
        ind = col + 2
        parts = []
        for i, (k, v) in enumerate(items):
            key = _flat(k) + " => "
            c = ind if i else col + 2
            parts.append(key + erl_format(v, c + len(key)))
        return "#{" + (",\n" + " " * ind).join(parts) + "}"
    elems = list(term)
    ind = col + 1
    opener, closer = ("{", "}") if isinstance(term, _Tuple) else ("[", "]")
    if all(_atomic(e) for e in elems):
        out, pos = opener, ind
        for i, e in enumerate(elems):
            s = _flat(e)
            last = i == len(elems) - 1
            need = len(s) + 1  # the comma or the closing bracket
            if i and pos + need > LINE_LENGTH - 2:
                out += "\n" + " " * ind
                pos = ind
            out += s + ("" if last else ",")
            pos += need
        return out + closer
    return opener + (",\n" + " " * ind).join(erl_format(e, ind) for e in elems) + closer


def _col(prefix: str) -> int:
    # the column io_lib:format lays out a ~p that follows prefix at
    return len(prefix)


def _proplist(items: Iterable[tuple[str, Any]]) -> list:
    return [_Tuple((k, v)) for k, v in items]


# -- definition validators ------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int_at_least(lo: int, text: str):
    def check(v: Any) -> str | None:
        return None if _is_int(v) and v >= lo else f"{erl_format(v)} {text}"
    return check


def _one_of(allowed: tuple, text: str):
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) and v in allowed else f"{erl_format(v)} {text}"
    return check


def _binary(text: str):
    def check(v: Any) -> str | None:
        return None if isinstance(v, str) else f"{erl_format(v)} {text}"
    return check


def _max_age(v: Any) -> str | None:
    # rabbit_amqqueue:check_max_age (a non-binary value crashes RabbitMQ's validator; refused here)
    m = re.fullmatch(r"([0-9]+)(Y|M|D|h|m|s)", v) if isinstance(v, str) else None
    if m is None or int(m.group(1)) <= 0:
        return f"{erl_format(v)} is not a valid max age"
    return None


def _segment_size(v: Any) -> str | None:
    if _is_int(v) and 0 <= v <= MAX_STREAM_MAX_SEGMENT_SIZE:
        return None
    return f"{erl_format(v)} is not a valid segment size"


# rabbit_policies:register/0 + validate_policy0/2; min-merged with operator policies (merge_policy_value)
POLICY_KEYS: dict[str, Any] = {
    "alternate-exchange": _binary("is not a valid alternate exchange name"),
    "dead-letter-exchange": _binary("is not a valid dead letter exchange name"),
    "dead-letter-routing-key": _binary("is not a valid dead letter routing key"),
    "dead-letter-strategy": _one_of(("at-most-once", "at-least-once"), "is not a valid dead letter strategy"),
    "message-ttl": _int_at_least(0, "is not a valid message TTL"),
    "expires": _int_at_least(1, "is not a valid queue expiry"),
    "max-length": _int_at_least(0, "is not a valid maximum length"),
    "max-length-bytes": _int_at_least(0, "is not a valid maximum length in bytes"),
    "max-in-memory-length": _int_at_least(0, "is not a valid maximum memory in bytes"),
    "max-in-memory-bytes": _int_at_least(0, "is not a valid maximum memory in bytes"),
    "queue-mode": _one_of(("default", "lazy"), "is not a valid queue-mode value"),
    "queue-version": lambda v: None if _is_int(v) and v in (1, 2) else f"{erl_format(v)} is not a valid queue-version value",
    "overflow": _one_of(("drop-head", "reject-publish", "reject-publish-dlx"), "is not a valid overflow value"),
    "delivery-limit": _int_at_least(0, "is not a valid delivery limit"),
    "max-age": _max_age,
    "queue-leader-locator": _one_of(("client-local", "balanced", "random", "least-leaders"),
                                    "is not a valid queue leader locator value"),
    "initial-cluster-size": _int_at_least(0, "is not a valid cluster size"),
    "stream-max-segment-size-bytes": _segment_size,
    # amqpd's own (amqpd/retry.py)
    "retry-delays": lambda v: _retry_error("delays_error", v),
    "retry-limit": lambda v: _retry_error("limit_error", v),
}


def _retry_error(check: str, value: Any) -> str | None:
    from . import retry

    err = getattr(retry, check)(value)
    return None if err is None else f"{erl_format(value)} is not a valid retry setting: {err}"
OPERATOR_KEYS = ("expires", "message-ttl", "max-length", "max-length-bytes", "max-in-memory-length",
                 "max-in-memory-bytes", "delivery-limit")
MIN_MERGED = frozenset(OPERATOR_KEYS)
HA_KEYS = ("ha-mode", "ha-params", "ha-sync-mode", "ha-sync-batch-size", "ha-promote-on-shutdown",
           "ha-promote-on-failure")
QUEUE_MASTER_LOCATORS = ("min-masters", "client-local", "random")


def _validate_rabbit_policies(scope: list[tuple[str, Any]]) -> str | None:
    for key, value in scope:  # first error wins (lists:foldl in validate_policy/1)
        err = POLICY_KEYS[key](value)
        if err is not None:
            return err
    return None


def _validate_location(scope: list[tuple[str, Any]]) -> str | None:
    value = dict(scope)["queue-master-locator"]
    if isinstance(value, str) and value in QUEUE_MASTER_LOCATORS:
        return None
    return f"{erl_format(value)} invalid queue-master-locator value"


_NONE = object()


def _ha_params(mode: str, params: Any) -> str | None:
    if mode == "all":
        return None if params is _NONE else 'ha-mode="all" does not take parameters'
    if mode == "exactly":
        if _is_int(params) and params > 0:
            return None
        return f'ha-mode="exactly" takes an integer, {"none" if params is _NONE else erl_format(params)} given'
    # nodes
    if isinstance(params, list):
        if not params:
            return 'ha-mode="nodes" list must be non-empty'
        bad = [p for p in params if not isinstance(p, str)]
        if bad:
            prefix = 'ha-mode="nodes" takes a list of strings, '
            return f"{prefix}{erl_format(bad, _col(prefix))} was not a string"
        return None
    return f'ha-mode="nodes" takes a list, {"none" if params is _NONE else erl_format(params)} given'


def _validate_ha(scope: list[tuple[str, Any]]) -> str | None:
    """rabbit_mirror_queue_misc:validate_policy/1."""
    d = dict(scope)
    get = lambda k: d.get(k, _NONE)  # noqa: E731
    mode = get("ha-mode")
    if mode is _NONE:
        return "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
    if mode not in ("all", "exactly", "nodes"):  # a non-binary mode crashes RabbitMQ's validator
        return f"{erl_format(mode)} is not a valid ha-mode value"
    err = _ha_params(mode, get("ha-params"))
    if err:
        return err
    sync = get("ha-sync-mode")
    if sync is not _NONE and sync not in ("automatic", "manual"):
        return f'ha-sync-mode must be "manual" or "automatic", got {erl_format(sync)}'
    batch = get("ha-sync-batch-size")
    if batch is not _NONE and not (_is_int(batch) and batch > 0):
        return f"ha-sync-batch-size takes an integer greater than 0, {erl_format(batch)} given"
    for key in ("ha-promote-on-shutdown", "ha-promote-on-failure"):
        v = get(key)
        if v is not _NONE and v not in ("always", "when-synced"):
            return f'{key} must be "always" or "when-synced", got {erl_format(v)}'
    return None


# Validator modules in the order RabbitMQ 3.10.8 consults them (observed: location, built-ins, mirroring).
_POLICY_VALIDATORS = ((("queue-master-locator",), _validate_location),
                      (tuple(POLICY_KEYS), _validate_rabbit_policies),
                      (HA_KEYS, _validate_ha))
_OPERATOR_VALIDATORS = ((OPERATOR_KEYS, _validate_rabbit_policies),)


def _validate_definition(definition: Any, operator: bool) -> str | None:
    """rabbit_policy:validation/3."""
    if not isinstance(definition, dict):
        prefix = "definition must be a dictionary: "
        return prefix + erl_format(definition, _col(prefix))
    if not definition:
        return "no policy provided"
    terms = sorted(definition.items(), key=lambda kv: kv[0].encode())  # maps:to_list order
    left = terms
    for keys, check in (_OPERATOR_VALIDATORS if operator else _POLICY_VALIDATORS):
        scope = [t for t in left if t[0] in keys]
        if scope:
            err = check(scope)
            if err is not None:
                return err
            left = [t for t in left if t[0] not in keys]
    if left:
        return f"{erl_format(_proplist(left))} are not recognised policy settings"
    return None


# -- patterns: Erlang re (PCRE, bytes, not unicode) on top of Python's bytes regexes ------------------------
_POSIX = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
          "space": r" \t\n\r\f\v", "xdigit": "0-9A-Fa-f", "word": r"\w", "punct": r"!-/:-@\[-`{-~",
          "blank": r" \t", "cntrl": r"\x00-\x1f\x7f", "print": r" -~", "graph": "!-~"}


def _translate(pattern: str) -> str:
    """The cheap PCRE-isms: (?<name>, \\k<name>, \\z, \\Z, [:class:]."""
    out = pattern.replace("(?<=", "\0LB=").replace("(?<!", "\0LB!")
    out = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", out).replace("\0LB=", "(?<=").replace("\0LB!", "(?<!")
    out = re.sub(r"\\k[<{']([A-Za-z_]\w*)[>}']", r"(?P=\1)", out)
    out = re.sub(r"\[:(\w+):\]", lambda m: _POSIX.get(m.group(1), m.group(0)), out)
    out = re.sub(r"(?<!\\)((?:\\\\)*)\\Z", r"\1(?=\\n?\\Z)", out)
    return re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", out)


# Python's re.error messages mapped to PCRE's ({Text, Offset} of re:compile)
_RE_ERRORS = (
    ("missing ), unterminated subpattern", "missing )", "end"),
    ("unterminated character set", "missing terminating ] for character class", "end"),
    ("unbalanced parenthesis", "unmatched parentheses", 0),
    ("nothing to repeat", "nothing to repeat", 0),
    ("multiple repeat", "nothing to repeat", 0),
    ("min repeat greater than max repeat", "numbers out of order in {} quantifier", 3),
    ("bad escape (end of pattern)", "\\ at end of pattern", "end"),
    ("bad character range", "range out of order in character class", 2),
    ("invalid group reference", "reference to non-existent subpattern", 1),
    ("unknown extension", "unrecognized character after (? or (?-", 1),
    ("unexpected end of pattern", "unrecognized character after (? or (?-", 1),
)


def compile_pattern(pattern: str) -> re.Pattern[bytes]:
    """Compile as Erlang's re does; re.error's msg and pos are PCRE's ({Text, Offset} of re:compile)."""
    try:
        return re.compile(_translate(pattern).encode())
    except re.error as e:
        msg, pos = str(e.msg), e.pos or 0
        for prefix, text, where in _RE_ERRORS:
            if msg.startswith(prefix):
                offset = len(pattern.encode()) if where == "end" else pos + where
                raise re.error(text, pattern, offset) from None
        raise re.error(msg, pattern, pos) from None


# -- the policy itself ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    vhost: str
    name: str
    pattern: str
    apply_to: str
    definition: dict[str, Any] = field(hash=False)
    priority: int | float = 0
    operator: bool = False
    regex: re.Pattern[bytes] = field(default=None, compare=False, hash=False, repr=False)  # type: ignore[assignment]

    def matches(self, name: str) -> bool:
        """re:run(Name, Pattern, [{capture, none}]) =:= match (on the name's UTF-8 bytes)."""
        return self.regex.search(name.encode()) is not None

    def to_json(self) -> dict[str, Any]:
        """/api/policies and /api/operator-policies shape (rabbit_policy:p/2)."""
        return {"vhost": self.vhost, "name": self.name, "pattern": self.pattern, "apply-to": self.apply_to,
                "definition": dict(self.definition), "priority": self.priority}


def make_policy(vhost: str, name: str, pattern: Any, definition: Any, priority: Any = 0,
                apply_to: Any = "all", operator: bool = False) -> Policy:
    """Validate as rabbit_policy:validate/5 (via rabbit_parameter_validation:proplist/3): every failing
    field is reported, in the order definition, apply-to, pattern, priority."""
    errors = []
    err = _validate_definition(definition, operator)
    if err:
        errors.append(err)
    if apply_to not in APPLY_TO:
        errors.append(f"apply-to '{apply_to}' unrecognised; should be 'queues', 'exchanges' or 'all'")
    regex = None
    if not isinstance(pattern, str):
        prefix = "pattern should be a binary but was "
        errors.append(prefix + erl_format(pattern, _col(prefix)))
    else:
        try:
            regex = compile_pattern(pattern)
        except re.error as e:
            text, offset = e.msg, e.pos or 0
            prefix = "pattern should be regular expression but is invalid: "
            errors.append(prefix + erl_format(_Tuple((list(text.encode()), offset)), _col(prefix)))
    if isinstance(priority, bool) or not isinstance(priority, (int, float)):
        prefix = "priority should be a number, actually was "
        errors.append(prefix + erl_format(priority, _col(prefix)))
    if errors:
        raise PolicyError("Validation failed\n\n" + "".join(e + "\n" for e in errors))
    return Policy(vhost, name, pattern, apply_to, dict(definition), priority, operator, regex)


# Keys that make a policy not applicable to a queue of that type: rabbit_queue_type:is_policy_applicable
# with {classic,quorum,stream}:capabilities() unsupported_policies (3.10.8).
_HA_ETC = ("ha-mode", "ha-params", "ha-sync-mode", "ha-promote-on-shutdown", "ha-promote-on-failure",
           "queue-master-locator")
UNSUPPORTED_POLICIES: dict[str, frozenset[str]] = {
    "classic": frozenset(("max-age", "stream-max-segment-size-bytes", "queue-leader-locator",
                          "initial-cluster-size", "delivery-limit", "dead-letter-strategy")),
    "quorum": frozenset(("max-priority", "queue-mode", "single-active-consumer", *_HA_ETC, "max-age",
                         "stream-max-segment-size-bytes", "initial-cluster-size")),
    "stream": frozenset(("expires", "message-ttl", "dead-letter-exchange", "dead-letter-routing-key",
                         "max-length", "max-in-memory-length", "max-in-memory-bytes", "max-priority",
                         "overflow", "queue-mode", "single-active-consumer", "delivery-limit", *_HA_ETC,
                         "dead-letter-strategy", "retry-delays", "retry-limit")),
}


def applies(policy: Policy, name: str, kind: str, queue_type: str = "classic") -> bool:
    """rabbit_policy:matches/2. No special case for exclusive queues, amq.* or the default exchange:
    RabbitMQ 3.10 applies policies to them like to any other."""
    if policy.apply_to != "all" and policy.apply_to != kind + "s":
        return False
    if kind == "queue":
        unsupported = UNSUPPORTED_POLICIES.get(queue_type, frozenset())
        if any(k in unsupported for k in policy.definition):
            return False
    return policy.matches(name)


def pick(policies: Iterable[Policy], name: str, kind: str, queue_type: str = "classic") -> Policy | None:
    """The policy for a queue ("queue") or exchange ("exchange") named name: among those that apply, the
    highest priority (rabbit_policy:match/2 sorts by priority_comparator, A >= B, stably). RabbitMQ breaks
    ties by the order of its runtime-parameters table (a hash order); amqpd by name, to be deterministic."""
    best: Policy | None = None
    for p in policies:
        if not applies(p, name, kind, queue_type):
            continue
        if best is None or p.priority > best.priority or (p.priority == best.priority and p.name < best.name):
            best = p
    return best


def effective_definition(policy: Policy | None, operator_policy: Policy | None) -> dict[str, Any]:
    """rabbit_policy:merge_operator_definitions/2: keys of both, the lower value for the numeric limits
    (rabbit_policies:merge_policy_value), the operator's for booleans."""
    pdef = policy.definition if policy is not None else {}
    odef = operator_policy.definition if operator_policy is not None else {}
    merged: dict[str, Any] = {}
    for key in sorted(set(pdef) | set(odef), key=lambda k: k.encode()):
        if key in pdef and key in odef:
            v, ov = pdef[key], odef[key]
            merged[key] = min(v, ov) if key in MIN_MERGED else ov
        else:
            merged[key] = pdef[key] if key in pdef else odef[key]
    return merged


# -- what a queue runs with -------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueSettings:
    message_ttl: int | None = None
    expires: int | None = None
    max_length: int | None = None
    max_length_bytes: int | None = None
    overflow: str = "drop-head"
    dead_letter_exchange: str | None = None
    dead_letter_routing_key: str | None = None
    delivery_limit: int | None = None
    queue_mode: str | None = None
    policy: str | None = None
    operator_policy: str | None = None
    effective_definition: dict[str, Any] = field(default_factory=dict, hash=False)


def _arg(args: dict[str, Any], key: str, kind: type) -> Any:
    v = args.get(key)
    if kind is int:
        return v if _is_int(v) else None
    return v if isinstance(v, kind) else None


def _min(a: Any, b: Any) -> Any:  # res_min, with undefined meaning "not set"
    if a is None:
        return b
    return a if b is None else min(a, b)


def _first(a: Any, b: Any) -> Any:
    return b if a is None else a


def queue_settings(arguments: dict[str, Any] | None, policy: Policy | None = None,
                   operator_policy: Policy | None = None) -> QueueSettings:
    """Arguments and policies resolved as rabbit_queue_type_util:args_policy_lookup/3 with the resolve
    functions of rabbit_amqqueue_process:process_args_policy/1 (classic: min for expires, message-ttl,
    max-length, max-length-bytes; the argument wins for dead-letter-exchange/-routing-key, overflow,
    queue-mode) or rabbit_quorum_queue:ra_machine_config/1 (quorum: min for max-length(-bytes),
    delivery-limit, message-ttl; the policy wins for overflow and expires; the argument for the
    dead-letter keys; overflow reject-publish-dlx is not supported and means drop-head)."""
    args = arguments or {}
    d = effective_definition(policy, operator_policy)
    quorum = args.get("x-queue-type") == "quorum"

    def pol(key: str, kind: type) -> Any:
        v = d.get(key)
        if kind is int:
            return v if _is_int(v) else None
        return v if isinstance(v, kind) else None

    ttl = _min(_arg(args, "x-message-ttl", int), pol("message-ttl", int))
    max_length = _min(_arg(args, "x-max-length", int), pol("max-length", int))
    max_bytes = _min(_arg(args, "x-max-length-bytes", int), pol("max-length-bytes", int))
    dlx = _first(_arg(args, "x-dead-letter-exchange", str), pol("dead-letter-exchange", str))
    dlx_rk = _first(_arg(args, "x-dead-letter-routing-key", str), pol("dead-letter-routing-key", str))
    if quorum:
        expires = _first(pol("expires", int), _arg(args, "x-expires", int))
        overflow = _first(pol("overflow", str), _arg(args, "x-overflow", str))
        if overflow == "reject-publish-dlx":  # rabbit_quorum_queue:overflow/3 falls back to the default
            overflow = "drop-head"
        delivery_limit = _min(_arg(args, "x-delivery-limit", int), pol("delivery-limit", int))
        queue_mode = None
    else:
        expires = _min(_arg(args, "x-expires", int), pol("expires", int))
        overflow = _first(_arg(args, "x-overflow", str), pol("overflow", str))
        delivery_limit = None
        queue_mode = _first(_arg(args, "x-queue-mode", str), pol("queue-mode", str))
    return QueueSettings(
        message_ttl=ttl, expires=expires, max_length=max_length, max_length_bytes=max_bytes,
        overflow=overflow or "drop-head", dead_letter_exchange=dlx, dead_letter_routing_key=dlx_rk,
        delivery_limit=delivery_limit, queue_mode=queue_mode,
        policy=policy.name if policy is not None else None,
        operator_policy=operator_policy.name if operator_policy is not None else None,
        effective_definition=d)


def exchange_alternate(arguments: dict[str, Any] | None, policy: Policy | None) -> str | None:
    """rabbit_exchange (rabbit_policy:get_arg/3): the alternate-exchange argument, else the policy's."""
    ae = (arguments or {}).get("alternate-exchange")
    if isinstance(ae, str):
        return ae
    if policy is not None:
        ae = policy.definition.get("alternate-exchange")
        if isinstance(ae, str):
            return ae
    return None
