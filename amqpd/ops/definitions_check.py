"""Validation of a definitions document before anything is applied: every item's fields, references
(users, vhosts, exchanges, queues that must exist in the broker or earlier in the file), password hashes,
policies, limits, queue and exchange arguments, and equivalence with what already exists. The result is a
plan that definitions.py applies; an error names the item and the field."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from pamqp import encode as amqp_encode

from .. import args as qargs
from .. import policy as pol
from ..auth import passwords
from ..auth.permissions import Permission, PermissionError_, TopicPermission
from ..auth.users import USER_LIMITS, parse_tags
from ..errors import AMQPError
from ..exchanges import exchange_class
from ..vhost import STANDARD_EXCHANGES, TRACE_EXCHANGE
from .errors import BadRequest
from .vhosts import VHOST_LIMITS, check_limits

SYSTEM_EXCHANGES = {name: type_ for name, type_ in STANDARD_EXCHANGES} | {TRACE_EXCHANGE: "topic"}


@dataclass
class Plan:
    vhosts: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    permissions: list[dict] = field(default_factory=list)
    topic_permissions: list[dict] = field(default_factory=list)
    vhost_limits: list[tuple[str, dict]] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)  # regular and operator
    global_parameters: list[tuple[str, Any]] = field(default_factory=list)
    exchanges: list[dict] = field(default_factory=list)
    queues: list[dict] = field(default_factory=list)
    bindings: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # amq.* queues and exchanges, which RabbitMQ skips


class Checker:
    def __init__(self, ops: Any, doc: Any, vhost: str | None) -> None:
        if not isinstance(doc, dict):
            raise BadRequest("definitions must be a JSON object")
        self.ops, self.doc, self.scope = ops, doc, vhost
        self.plan = Plan()
        self.vhosts = set(ops.vhosts)
        self.users = set(ops.users)
        self.exchanges: dict[tuple[str, str], dict] = {}  # from the file: (vhost, name) -> item
        self.queues: dict[tuple[str, str], dict] = {}
        self.limits: dict[str, dict] = {}  # vhost-limits set by the file
        version = doc.get("rabbitmq_version", doc.get("rabbit_version"))
        self.version = version if isinstance(version, str) else ""

    # -- item access --------------------------------------------------------------------------------
    def items(self, section: str) -> list[tuple[str, dict]]:
        value = self.doc.get(section, [])
        if value is None:
            return []
        if not isinstance(value, list):
            raise BadRequest(f"{section}: must be a list")
        out = []
        for i, item in enumerate(value):
            where = f"{section}[{i}]"
            if not isinstance(item, dict):
                raise BadRequest(f"{where}: must be a JSON object")
            out.append((where, item))
        return out

    @staticmethod
    def text(where: str, item: dict, key: str, default: Any = None, empty: bool = True) -> str:
        value = item.get(key, default)
        if not isinstance(value, str) or (not empty and not value):
            raise BadRequest(f"{where}: field '{key}' must be a {'non-empty ' if not empty else ''}string, "
                             f"got {value!r}")
        return value

    @staticmethod
    def flag(where: str, item: dict, key: str, default: bool) -> bool:
        value = item.get(key, default)
        if not isinstance(value, bool):
            raise BadRequest(f"{where}: field '{key}' must be true or false, got {value!r}")
        return value

    @staticmethod
    def table(where: str, item: dict, key: str = "arguments") -> dict:
        value = item.get(key, {})
        if value is None:
            return {}
        if value == []:
            return {}  # rabbit_definitions:args([]) as RabbitMQ 2.x exported empty tables
        if not isinstance(value, dict):
            raise BadRequest(f"{where}: field '{key}' must be a JSON object, got {value!r}")
        try:
            amqp_encode.field_table(value)  # what cannot be stored or sent as an AMQP table is refused now
        except (TypeError, ValueError, OverflowError, struct.error) as exc:
            raise BadRequest(f"{where}: field '{key}': not representable as an AMQP table: {exc}") from None
        return value

    def named(self, where: str, kind: str, item: dict, key: str = "name") -> str:
        """The item's label for errors: its index, kind, name and vhost as given."""
        vhost = self.scope if self.scope is not None else item.get("vhost")
        return f"{where} ({kind} '{item.get(key)}' in vhost '{vhost}')"

    def vhost_of(self, where: str, item: dict) -> str:
        if self.scope is not None:
            return self.scope
        name = self.text(where, item, "vhost")
        if name not in self.vhosts:
            raise BadRequest(f"{where}: field 'vhost': no vhost '{name}' in the broker or the file")
        return name

    # -- sections -----------------------------------------------------------------------------------
    def check(self) -> Plan:
        if self.scope is None:
            self.check_vhosts()
            self.check_users()
            self.check_permissions()
        self.check_parameters()
        if self.scope is None:
            self.check_global_parameters()
        self.check_policies()
        self.check_exchanges()
        self.check_queues()
        self.check_bindings()
        self.check_queue_limits()
        return self.plan

    def check_queue_limits(self) -> None:
        """rabbit_definitions:validate_limits: the file's new queues must fit under the vhost's max-queues
        (the file's own vhost-limits if it sets them, as they are applied before the queues)."""
        new: dict[str, set[str]] = {}
        for q in self.plan.queues:
            vh = self.ops.vhosts.get(q["vhost"])
            if vh is None or q["name"] not in vh.queues:
                new.setdefault(q["vhost"], set()).add(q["name"])
        for vhost, names in new.items():
            vh = self.ops.vhosts.get(vhost)
            limit = self.limits.get(vhost, vh.limits if vh is not None else {}).get("max-queues")
            current = len(vh.queues) if vh is not None else 0
            if isinstance(limit, int) and limit >= 0 and current + len(names) > limit:
                raise BadRequest(f"queues: adding {len(names)} queue(s) to vhost '{vhost}' would exceed its limit "
                                 f"of {limit} queue(s) (it has {current}); nothing was imported")

    def check_vhosts(self) -> None:
        for where, item in self.items("vhosts"):
            name = self.text(where, item, "name", empty=False)
            meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            description = item.get("description", meta.get("description"))
            tags = item.get("tags", meta.get("tags"))
            qtype = item.get("default_queue_type", meta.get("default_queue_type"))
            if description is not None and not isinstance(description, str):
                raise BadRequest(f"{where} (vhost '{name}'): field 'description' must be a string")
            try:
                tag_list = parse_tags(tags) if tags is not None else None
            except ValueError as exc:
                raise BadRequest(f"{where} (vhost '{name}'): field 'tags': {exc}") from None
            if qtype not in (None, "undefined", "classic", "quorum", "stream"):
                raise BadRequest(f"{where} (vhost '{name}'): field 'default_queue_type': unknown type {qtype!r}")
            self.vhosts.add(name)
            self.plan.vhosts.append({"name": name, "description": description, "tags": tag_list,
                                     "default_queue_type": None if qtype == "undefined" else qtype})

    def check_users(self) -> None:
        for where, item in self.items("users"):
            name = self.text(where, item, "name", empty=False)
            at = f"{where} (user '{name}')"
            # rabbit_auth_backend_internal:hashing_algorithm/2: without the field, md5 for files of
            # RabbitMQ 3.0-3.5 (rabbitmq_version, else rabbit_version), the default (sha256) otherwise
            md5_era = self.version.startswith(("3.0.", "3.1.", "3.2.", "3.3.", "3.4.", "3.5."))
            algorithm = item.get("hashing_algorithm") or (passwords.MD5 if md5_era else passwords.DEFAULT_ALGORITHM)
            entry: dict[str, Any] = {"name": name, "hashing_algorithm": algorithm}
            if item.get("password") is not None and item.get("password_hash") is not None:
                raise BadRequest(f"{at}: both 'password' and 'password_hash' are given "
                                 "(RabbitMQ: both_password_and_password_hash_are_provided)")
            try:
                if not isinstance(algorithm, str):
                    raise passwords.HashError(f"field 'hashing_algorithm' must be a string, got {algorithm!r}")
                passwords.check_algorithm(algorithm)
                if item.get("password") is not None:
                    entry["password"] = self.text(at, item, "password")
                else:
                    entry["password_hash"] = self.text(at, item, "password_hash", "")
                    passwords.check_hash(entry["password_hash"], algorithm)
            except passwords.HashError as exc:
                field_ = "hashing_algorithm" if "algorithm" in str(exc) and "bytes" not in str(exc) else "password_hash"
                raise BadRequest(f"{at}: field '{field_}': {exc}") from None
            try:
                entry["tags"] = parse_tags(item.get("tags"))
            except ValueError as exc:
                raise BadRequest(f"{at}: field 'tags': {exc}") from None
            try:
                limits = item.get("limits")
                entry["limits"] = None if limits is None else check_limits(limits, USER_LIMITS, "user-limits")
            except BadRequest as exc:
                raise BadRequest(f"{at}: field 'limits': {exc.reason}") from None
            self.users.add(name)
            self.plan.users.append(entry)

    def _user(self, where: str, item: dict) -> str:
        user = self.text(where, item, "user")
        if user not in self.users:
            raise BadRequest(f"{where}: field 'user': no user '{user}' in the broker or the file")
        return user

    def check_permissions(self) -> None:
        for where, item in self.items("permissions"):
            user, vhost = self._user(where, item), self.vhost_of(where, item)
            values = {k: self.text(where, item, k) for k in ("configure", "write", "read")}
            try:
                Permission(user, vhost, **values)
            except PermissionError_ as exc:
                raise BadRequest(f"{where}: {exc}") from None
            self.plan.permissions.append({"user": user, "vhost": vhost, **values})
        for where, item in self.items("topic_permissions"):
            user, vhost = self._user(where, item), self.vhost_of(where, item)
            values = {k: self.text(where, item, k) for k in ("exchange", "write", "read")}
            try:
                TopicPermission(user, vhost, **values)
            except PermissionError_ as exc:
                raise BadRequest(f"{where}: {exc}") from None
            self.plan.topic_permissions.append({"user": user, "vhost": vhost, **values})

    def _policy(self, where: str, vhost: str, name: str, value: dict, operator: bool) -> None:
        try:
            pol.make_policy(vhost, name, value.get("pattern"), value.get("definition"), value.get("priority", 0),
                            value.get("apply-to", "all"), operator)
        except pol.PolicyError as exc:
            raise BadRequest(f"{where} ({'operator ' if operator else ''}policy '{name}' in vhost '{vhost}'): "
                             f"{exc}") from None
        self.plan.policies.append({"vhost": vhost, "name": name, "pattern": value.get("pattern"),
                                   "definition": value.get("definition"), "priority": value.get("priority", 0),
                                   "apply_to": value.get("apply-to", "all"), "operator": operator})

    def check_parameters(self) -> None:
        for where, item in self.items("parameters"):
            component = self.text(where, item, "component")
            vhost, name = self.vhost_of(where, item), self.text(where, item, "name")
            value = item.get("value")
            if component == "vhost-limits":
                try:
                    limits = check_limits(value, VHOST_LIMITS, "limits")
                except BadRequest as exc:
                    raise BadRequest(f"{where} (vhost-limits of '{vhost}'): field 'value': {exc.reason}") from None
                self.plan.vhost_limits.append((vhost, limits))
                self.limits[vhost] = limits
            elif component == "operator_policy":
                if not isinstance(value, dict):
                    raise BadRequest(f"{where}: field 'value' must be a JSON object")
                self._policy(where, vhost, name, value, True)
            else:
                raise BadRequest(f"{where}: field 'component': component {component} not found (amqpd has no "
                                 "federation or shovel)")

    def check_global_parameters(self) -> None:
        for where, item in self.items("global_parameters"):
            self.plan.global_parameters.append((self.text(where, item, "name", empty=False), item.get("value")))

    def check_policies(self) -> None:
        for where, item in self.items("policies"):
            at = self.named(where, "policy", item)
            vhost, name = self.vhost_of(at, item), self.text(at, item, "name", empty=False)
            self._policy(where, vhost, name, item, False)

    def _fail(self, at: str, exc: AMQPError) -> BadRequest:
        text = exc.reply_text.split(" - ", 1)[-1]
        return BadRequest(f"{at}: {text}")

    def check_exchanges(self) -> None:
        for where, item in self.items("exchanges"):
            at = self.named(where, "exchange", item)
            name, vhost = self.text(at, item, "name"), self.vhost_of(at, item)
            if name == "" or name.startswith("amq."):
                # rabbit_definitions:add_exchange_int: "Not importing the default exchange" / "Skipping
                # import of an exchange whose name begins with 'amq.'"
                self.plan.skipped.append(at)
                continue
            type_ = self.text(at, item, "type")
            if exchange_class(type_) is None:
                raise BadRequest(f"{at}: field 'type': unknown exchange type '{type_}'")
            ex = {"vhost": vhost, "name": name, "type": type_, "durable": self.flag(at, item, "durable", True),
                  "auto_delete": self.flag(at, item, "auto_delete", False),
                  "internal": self.flag(at, item, "internal", False), "arguments": self.table(at, item)}
            try:
                qargs.validate_exchange_args(name, vhost, ex["arguments"])
                vh = self.ops.vhosts.get(vhost)
                existing = vh.exchanges.get(name) if vh is not None else None
                if existing is None:  # the type's own argument checks (x-delayed-type, x-cache-size)
                    exchange_class(type_)(name, arguments=ex["arguments"])
                if existing is not None:
                    rn = ("exchange", name, vhost)
                    qargs.assert_flag_equivalent(*rn, "type", existing.type_name, type_)
                    qargs.assert_flag_equivalent(*rn, "durable", existing.durable, ex["durable"])
                    qargs.assert_flag_equivalent(*rn, "auto_delete", existing.auto_delete, ex["auto_delete"])
                    qargs.assert_flag_equivalent(*rn, "internal", existing.internal, ex["internal"])
                    qargs.assert_args_equivalent(*rn, existing.arguments, ex["arguments"], ("alternate-exchange",))
            except AMQPError as exc:
                raise self._fail(at, exc) from None
            self._once(self.exchanges, (vhost, name), ex, at)
            self.plan.exchanges.append(ex)

    def check_queues(self) -> None:
        for where, item in self.items("queues"):
            at = self.named(where, "queue", item)
            name, vhost = self.text(at, item, "name", empty=False), self.vhost_of(at, item)
            q = {"vhost": vhost, "name": name, "durable": self.flag(at, item, "durable", True),
                 "auto_delete": self.flag(at, item, "auto_delete", False), "arguments": self.table(at, item)}
            if name.startswith("amq."):
                # rabbit_definitions:add_queue_int: "Skipping import of a queue whose name begins with 'amq.'"
                self.plan.skipped.append(at)
                continue
            try:
                qargs.validate_queue_args(name, vhost, q["arguments"], q["durable"], False, q["auto_delete"])
                vh = self.ops.vhosts.get(vhost)
                existing = vh.queues.get(name) if vh is not None else None
                if existing is not None:
                    rn = ("queue", name, vhost)
                    if existing.exclusive_owner is not None:
                        raise BadRequest(f"{at}: an exclusive queue of that name exists")
                    qargs.assert_flag_equivalent(*rn, "durable", existing.durable, q["durable"])
                    qargs.assert_flag_equivalent(*rn, "auto_delete", existing.auto_delete, q["auto_delete"])
                    qargs.assert_args_equivalent(*rn, existing.arguments, q["arguments"],
                                                 qargs.TYPE_ARGS[qargs.queue_type(existing.arguments)])
            except AMQPError as exc:
                raise self._fail(at, exc) from None
            self._once(self.queues, (vhost, name), q, at)
            self.plan.queues.append(q)

    @staticmethod
    def _once(seen: dict, key: tuple, item: dict, at: str) -> None:
        previous = seen.get(key)
        if previous is not None and previous != item:
            raise BadRequest(f"{at}: declared twice in the file with different properties")
        seen[key] = item

    def _args_of(self, vhost: str, name: str) -> dict[str, Any]:
        vh = self.ops.vhosts.get(vhost)
        ex = vh.exchanges.get(name) if vh is not None else None
        return dict(ex.arguments) if ex is not None else {}

    def _exchange_type(self, vhost: str, name: str) -> str | None:
        if name in SYSTEM_EXCHANGES:
            return SYSTEM_EXCHANGES[name]
        item = self.exchanges.get((vhost, name))
        if item is not None:
            return item["type"]
        vh = self.ops.vhosts.get(vhost)
        ex = vh.exchanges.get(name) if vh is not None else None
        return ex.type_name if ex is not None else None

    def check_bindings(self) -> None:
        for where, item in self.items("bindings"):
            vhost = self.vhost_of(self.named(where, "binding from exchange", item, "source"), item)
            source, dest = self.text(where, item, "source"), self.text(where, item, "destination")
            kind = self.text(where, item, "destination_type")
            at = f"{where} (binding '{source}' -> {kind} '{dest}' in vhost '{vhost}')"
            if kind not in ("queue", "exchange"):
                raise BadRequest(f"{at}: field 'destination_type' must be queue or exchange")
            rk, arguments = self.text(at, item, "routing_key", ""), self.table(at, item)
            stype = self._exchange_type(vhost, source)
            if not source or stype is None:
                raise BadRequest(f"{at}: field 'source': no exchange '{source}' in the broker or the file")
            if kind == "exchange":
                found = dest and self._exchange_type(vhost, dest) is not None
            else:
                vh = self.ops.vhosts.get(vhost)
                found = (vhost, dest) in self.queues or (vh is not None and dest in vh.queues)
            if not found:
                raise BadRequest(f"{at}: field 'destination': no {kind} '{dest}' in the broker or the file")
            try:
                declared = self.exchanges.get((vhost, source))
                exchange_class(stype)(source, arguments=declared["arguments"] if declared else self._args_of(
                    vhost, source)).validate_binding(rk, arguments)
            except AMQPError as exc:
                raise self._fail(at, exc) from None
            self.plan.bindings.append({"vhost": vhost, "source": source, "kind": kind, "destination": dest,
                                       "routing_key": rk, "arguments": arguments})
