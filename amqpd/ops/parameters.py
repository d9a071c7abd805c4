"""Policies, operator policies, runtime and global parameters, and applying policies to queues and
exchanges: at declare, at boot, and at once to every existing object when a policy changes."""

from __future__ import annotations

from typing import Any

from .. import policy as pol
from .errors import BadRequest, NotFound

# Runtime-parameter components amqpd implements (policies and limits have their own operations).
COMPONENTS = ("policy", "operator_policy", "vhost-limits")


class ParameterOps:
    vhosts: dict[str, Any]
    records: Any
    log: Any
    global_parameters: dict[str, Any]

    def _save_parameter(self, component: str, vhost: str, name: str, value: Any) -> None:
        self.records.save(("parameter", component, vhost, name),
                          {"component": component, "vhost": vhost, "name": name, "value": value})

    # -- policies ---------------------------------------------------------------------------------
    def set_policy(self, vhost: str, name: str, pattern: str, definition: dict[str, Any], priority: int = 0,
                   apply_to: str = "all", operator: bool = False) -> Any:
        vh = self.existing_vhost(vhost)  # type: ignore[attr-defined]
        try:
            p = pol.make_policy(vhost, name, pattern, definition, priority, apply_to, operator)
        except pol.PolicyError as exc:
            raise BadRequest(str(exc)) from None
        value = {"pattern": pattern, "definition": definition, "priority": priority, "apply-to": apply_to}
        self._save_parameter("operator_policy" if operator else "policy", vhost, name, value)
        (vh.operator_policies if operator else vh.policies)[name] = p
        self.log.info("operator policy set" if operator else "policy set", vhost=vhost, policy=name,
                      pattern=pattern, apply_to=apply_to, priority=priority)
        self.reapply_policies(vh)
        return p

    def clear_policy(self, vhost: str, name: str, operator: bool = False) -> None:
        vh = self.vhost(name=vhost)  # type: ignore[attr-defined]
        table = vh.operator_policies if operator else vh.policies
        if name not in table:
            raise NotFound(f"no policy '{name}' in vhost '{vhost}'")
        self.records.delete(("parameter", "operator_policy" if operator else "policy", vhost, name))
        del table[name]
        self.log.info("policy cleared", vhost=vhost, policy=name, operator=operator)
        self.reapply_policies(vh)

    def apply_policy_to_queue(self, vh: Any, q: Any) -> None:
        qtype = q.queue_type
        p = pol.pick(vh.policies.values(), q.name, "queue", qtype)
        op = pol.pick(vh.operator_policies.values(), q.name, "queue", qtype)
        settings = pol.queue_settings(q.arguments, p, op)
        if settings != q.settings:
            q.apply_settings(settings)

    def apply_policy_to_exchange(self, vh: Any, ex: Any) -> None:
        if not ex.name:
            return
        ex.apply_policy(pol.pick(vh.policies.values(), ex.name, "exchange"))

    def reapply_policies(self, vh: Any) -> None:
        for q in list(vh.queues.values()):
            self.apply_policy_to_queue(vh, q)
        for ex in list(vh.exchanges.values()):
            self.apply_policy_to_exchange(vh, ex)

    # -- runtime and global parameters ------------------------------------------------------------
    def set_parameter(self, component: str, vhost: str, name: str, value: Any) -> None:
        if component == "vhost-limits":
            self.set_vhost_limits(vhost, value)  # type: ignore[attr-defined]
            return
        if component in ("policy", "operator_policy"):
            if not isinstance(value, dict):
                raise BadRequest("Validation failed\n\npolicy value must be a JSON object")
            self.set_policy(vhost, name, value.get("pattern"), value.get("definition"),
                            value.get("priority", 0), value.get("apply-to", "all"), component == "operator_policy")
            return
        raise BadRequest(f"Validation failed\n\ncomponent {component} not found\n")

    def clear_parameter(self, component: str, vhost: str, name: str) -> None:
        if component == "vhost-limits":
            self.clear_vhost_limit(vhost)  # type: ignore[attr-defined]
        elif component in ("policy", "operator_policy"):
            self.clear_policy(vhost, name, component == "operator_policy")
        else:
            raise NotFound(f"no parameter '{name}' of component '{component}' in vhost '{vhost}'")

    def set_global_parameter(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or not name:
            raise BadRequest("global parameter name must be a non-empty string")
        self.records.save(("global_parameter", name), {"name": name, "value": value})
        self.global_parameters[name] = value
        self.log.info("global parameter set", name=name)

    def clear_global_parameter(self, name: str) -> None:
        if name not in self.global_parameters:  # a parameter set to JSON null exists too
            raise NotFound(f"no global parameter '{name}'")
        self.records.delete(("global_parameter", name))
        del self.global_parameters[name]
