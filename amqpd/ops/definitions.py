"""Definitions: RabbitMQ's JSON format for a broker's topology and access control, exported and
imported as RabbitMQ 3.10 does (GET/POST /api/definitions, load_definitions at boot).

Import is all-or-nothing, where RabbitMQ applies items one by one: the whole document is validated
first (definitions_check.py), so a bad file changes nothing, and importing the same file again changes
nothing either."""

from __future__ import annotations

import datetime
import decimal
import json
from pathlib import Path
from typing import Any

from .. import __version__
from .definitions_check import Checker, Plan
from .errors import BadRequest

# What the export says it is. rabbit_version is what RabbitMQ's importer reads (and only logs), so an
# amqpd export imports into RabbitMQ 3.10 like one of its own.
RABBIT_VERSION = "3.10.8"


def to_json(value: Any) -> Any:
    """An AMQP table value as RabbitMQ's export writes it."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    return value


class DefinitionOps:
    vhosts: dict[str, Any]
    users: dict[str, Any]
    access: Any
    global_parameters: dict[str, Any]
    log: Any

    # -- export -------------------------------------------------------------------------------------
    def export_definitions(self, vhost: str | None = None) -> dict[str, Any]:
        names = [vhost] if vhost is not None else sorted(self.vhosts)
        scoped = vhost is not None
        doc: dict[str, Any] = {"rabbit_version": RABBIT_VERSION}
        if not scoped:
            doc.update({
                "rabbitmq_version": RABBIT_VERSION, "product_name": "amqpd", "product_version": __version__,
                "users": [u.to_json() for _, u in sorted(self.users.items())],
                "vhosts": [self._vhost_json(self.vhosts[n]) for n in names],
                "permissions": [p.to_json() for _, p in sorted(self.access.permissions.items())],
                "topic_permissions": [tp.to_json() for _, by_x in sorted(self.access.topic.items())
                                      for _, tp in sorted(by_x.items())],
            })
        doc["parameters"] = [p for n in names for p in self._parameters(self.vhosts[n])]
        if not scoped:
            doc["global_parameters"] = [{"name": k, "value": v} for k, v in sorted(self.global_parameters.items())]
        doc["policies"] = [p.to_json() for n in names for _, p in sorted(self.vhosts[n].policies.items())]
        doc["queues"], doc["exchanges"], doc["bindings"] = [], [], []
        for n in names:
            self._topology(self.vhosts[n], doc, scoped)
        return doc

    @staticmethod
    def _vhost_json(vh: Any) -> dict[str, Any]:
        # RabbitMQ 3.10's GET /api/definitions keeps the name only (rabbit_mgmt_wm_definitions:rw_state,
        # vhosts: [name]); description, tags and default queue type are not exported (3.11+ export them
        # under "metadata", which the importer reads when present).
        return {"name": vh.name}

    @staticmethod
    def _parameters(vh: Any) -> list[dict[str, Any]]:
        out = []
        for _, p in sorted(vh.operator_policies.items()):
            j = p.to_json()
            out.append({"value": {"pattern": j["pattern"], "definition": j["definition"], "priority": j["priority"],
                                  "apply-to": j["apply-to"]}, "vhost": vh.name, "component": "operator_policy",
                        "name": p.name})
        if vh.limits:
            out.append({"value": dict(vh.limits), "vhost": vh.name, "component": "vhost-limits", "name": "limits"})
        return out

    @staticmethod
    def _topology(vh: Any, doc: dict[str, Any], scoped: bool) -> None:
        # rabbit_mgmt_wm_definitions (3.10.8): every queue without an owner (transient ones too, not
        # exclusive ones), every exchange but the default one and amq.*, every binding whose source is
        # not the default exchange and whose destination is an exported queue or an exchange.
        where = {} if scoped else {"vhost": vh.name}
        for name, q in sorted(vh.queues.items()):
            if q.exclusive_owner is None:
                doc["queues"].append({"name": name, **where, "durable": q.durable, "auto_delete": q.auto_delete,
                                      "arguments": to_json(q.arguments)})
        for name, ex in sorted(vh.exchanges.items()):
            if name and not name.startswith("amq."):
                doc["exchanges"].append({"name": name, **where, "type": ex.type_name, "durable": ex.durable,
                                         "auto_delete": ex.auto_delete, "internal": ex.internal,
                                         "arguments": to_json(ex.arguments)})
        for name, ex in sorted(vh.exchanges.items()):
            if not name:
                continue
            for b in ex.bindings.values():
                d = b.destination
                if getattr(d, "exclusive_owner", None) is not None or (d.is_exchange and not d.name):
                    continue
                doc["bindings"].append({"source": name, **where, "destination": d.name,
                                        "destination_type": "exchange" if d.is_exchange else "queue",
                                        "routing_key": b.routing_key, "arguments": to_json(b.arguments)})
        doc["bindings"].sort(key=lambda b: (b.get("vhost", ""), b["source"], b["destination_type"],
                                            b["destination"], b["routing_key"]))

    # -- import -------------------------------------------------------------------------------------
    def import_definitions(self, doc: Any, vhost: str | None = None, source: str | None = None) -> dict[str, int]:
        """Validate everything, then apply; raises BadRequest naming the item and field."""
        if vhost is not None:
            self.vhost(vhost)  # type: ignore[attr-defined]
        try:
            plan = Checker(self, doc, vhost).check()
        except BadRequest as exc:
            self.log.error("definitions refused", vhost=vhost, source=source, error=exc.reason)
            raise
        for what in plan.skipped:
            self.log.warning("definitions: skipped, as RabbitMQ does (reserved name)", item=what)
        self._apply(plan)
        counts = {k: len(v) for k, v in vars(plan).items()}
        self.log.info("definitions imported", vhost=vhost, source=source, **counts)
        return counts

    def import_definitions_path(self, path: Any) -> dict[str, int]:
        """load_definitions: a file, or a directory whose *.json files are imported in name order (each
        file all-or-nothing, as RabbitMQ's local_filesystem backend reads them one by one)."""
        p = Path(path)
        files = sorted(f for f in p.iterdir() if f.suffix == ".json") if p.is_dir() else [p]
        total: dict[str, int] = {}
        for f in files:
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except OSError as exc:
                raise BadRequest(f"{f}: cannot read definitions: {exc.strerror or exc}") from None
            except (ValueError, UnicodeDecodeError) as exc:
                raise BadRequest(f"{f}: not valid JSON: {exc}") from None
            try:
                counts = self.import_definitions(doc, source=str(f))
            except BadRequest as exc:
                raise BadRequest(f"{f}: {exc.reason}") from None
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
        return total

    def _apply(self, plan: Plan) -> None:
        for v in plan.vhosts:
            vh = self.vhosts.get(v["name"])
            if vh is None or v["description"] is not None or v["tags"] is not None:
                self.add_vhost(v["name"],  # type: ignore[attr-defined]
                               v["description"] if v["description"] is not None else (vh.description if vh else ""),
                               v["tags"] if v["tags"] is not None else (vh.tags if vh else []),
                               v["default_queue_type"])
        for u in plan.users:
            if self._same_user(u):
                continue  # importing the same file again changes nothing (no new salt for a clear password)
            self.put_user(u["name"], password=u.get("password"), password_hash=u.get("password_hash"),  # type: ignore[attr-defined]
                          hashing_algorithm=u["hashing_algorithm"], tags=u["tags"],
                          limits=u["limits"] if u["limits"] is not None else
                          (self.users[u["name"]].limits if u["name"] in self.users else None))
        for p in plan.permissions:
            old = self.access.permissions.get((p["user"], p["vhost"]))
            if old is not None and (old.configure, old.write, old.read) == (p["configure"], p["write"], p["read"]):
                continue
            self.set_permissions(p["user"], p["vhost"], p["configure"], p["write"], p["read"])  # type: ignore[attr-defined]
        for p in plan.topic_permissions:
            old = self.access.topic.get((p["user"], p["vhost"]), {}).get(p["exchange"])
            if old is not None and (old.write, old.read) == (p["write"], p["read"]):
                continue
            self.set_topic_permissions(p["user"], p["vhost"], p["exchange"], p["write"], p["read"])  # type: ignore[attr-defined]
        for vhost, limits in plan.vhost_limits:
            if self.vhosts[vhost].limits == limits:
                continue
            self.set_vhost_limits(vhost, limits)  # type: ignore[attr-defined]
        for name, value in plan.global_parameters:
            if name in self.global_parameters and self.global_parameters[name] == value:
                continue
            self.set_global_parameter(name, value)  # type: ignore[attr-defined]
        for p in plan.policies:
            vh = self.vhosts[p["vhost"]]
            old = (vh.operator_policies if p["operator"] else vh.policies).get(p["name"])
            if old is not None and (old.pattern, old.definition, old.priority, old.apply_to) == (
                    p["pattern"], p["definition"], p["priority"], p["apply_to"]):
                continue
            self.set_policy(p["vhost"], p["name"], p["pattern"], p["definition"], p["priority"],  # type: ignore[attr-defined]
                            p["apply_to"], p["operator"])
        for e in plan.exchanges:
            self.declare_exchange(self.vhosts[e["vhost"]], e["name"], e["type"], durable=e["durable"],  # type: ignore[attr-defined]
                                  auto_delete=e["auto_delete"], internal=e["internal"], arguments=e["arguments"])
        for q in plan.queues:
            self.declare_queue(self.vhosts[q["vhost"]], q["name"], durable=q["durable"],  # type: ignore[attr-defined]
                               auto_delete=q["auto_delete"], arguments=q["arguments"])
        for b in plan.bindings:
            self.bind(self.vhosts[b["vhost"]], b["source"], b["kind"], b["destination"], b["routing_key"],  # type: ignore[attr-defined]
                      b["arguments"])

    def _same_user(self, u: dict[str, Any]) -> bool:
        """The user exists with these credentials, tags and limits (None: limits not in the file)."""
        from ..auth import passwords

        old = self.users.get(u["name"])
        if old is None or old.tags != u["tags"] or (u["limits"] is not None and old.limits != u["limits"]):
            return False
        if u.get("password") is not None:
            return passwords.check_password(u["password"], old.password_hash, old.hashing_algorithm)
        return (old.password_hash, old.hashing_algorithm) == (u.get("password_hash"), u["hashing_algorithm"])
