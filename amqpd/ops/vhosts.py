"""Virtual hosts: create, update, delete (with everything in them), limits."""

from __future__ import annotations

from typing import Any

from ..errors import ReplyCode
from ..vhost import VHost
from .errors import BadRequest, Missing, NotFound

VHOST_LIMITS = ("max-connections", "max-queues")


def erlang_term(value: Any) -> str:
    """How RabbitMQ's validation messages print a JSON value (as the Erlang term it decoded)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '<<"' + value.replace("\\", "\\\\").replace('"', '\\"') + '">>'
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(erlang_term(v) for v in value) + "]"
    if isinstance(value, dict):
        return "#{" + ",".join(f"{erlang_term(k)} => {erlang_term(v)}" for k, v in value.items()) + "}"
    return str(value)


def check_limits(limits: Any, known: tuple[str, ...], component: str) -> dict[str, int]:
    """rabbit_vhost_limit / rabbit_auth_backend_internal validation, with their texts: vhost limits say
    "Validation failed" around them, user limits do not."""
    def fail(text: str) -> BadRequest:
        return BadRequest(f"Validation failed\n\n{text}\n" if component == "limits" else text)

    if not isinstance(limits, dict):
        raise fail(f"{component} must be a JSON object")
    unknown = [(k, v) for k, v in limits.items() if k not in known]
    if unknown:
        terms = ",".join(f"{{{erlang_term(k)},{erlang_term(v)}}}" for k, v in unknown)
        raise fail(f"Unrecognised terms [{terms}] in {component}")
    for name, value in limits.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise fail(f"{name} should be a number, actually was {erlang_term(value)}")
    return dict(limits)


class VhostOps:
    vhosts: dict[str, VHost]
    records: Any
    store: Any
    log: Any
    connections: set[Any]
    access: Any

    def vhost(self, name: str) -> VHost:
        vh = self.vhosts.get(name)
        if vh is None:
            raise NotFound(f"no vhost '{name}'")
        return vh

    def existing_vhost(self, name: str) -> VHost:
        """For a change inside a vhost: RabbitMQ answers 404 vhost_not_found when it does not exist."""
        vh = self.vhosts.get(name)
        if vh is None:
            raise Missing("vhost_not_found")
        return vh

    def add_vhost(self, name: str, description: str = "", tags: list[str] | None = None,
                  default_queue_type: str | None = None) -> VHost:
        """Create a vhost, or update the metadata of an existing one (as a PUT does in RabbitMQ)."""
        if not isinstance(name, str) or not name:
            raise BadRequest("vhost name must be a non-empty string")
        if default_queue_type not in (None, "classic", "quorum", "stream"):
            raise BadRequest(f"unknown default queue type '{default_queue_type}'")
        self._save_vhost(name, description, list(tags or []), default_queue_type)
        vh = self.vhosts.get(name)
        if vh is None:
            vh = VHost(name, self.store, description, tags, default_queue_type, delays=self.delays)
            vh.tracing = name in self.config.trace_vhosts
            self.vhosts[name] = vh
            self.log.info("vhost created", vhost=name)
        else:
            vh.description, vh.tags, vh.default_queue_type = description, list(tags or []), default_queue_type
        return vh

    def set_vhost_tracing(self, name: str, on: bool) -> None:
        """The firehose on or off (RabbitMQ's rabbitmqctl trace_on/trace_off and the API's "tracing"):
        runtime state, not stored, as in RabbitMQ; channels opened from now on follow it."""
        vh = self.vhost(name)
        if vh.tracing != on:
            vh.tracing = on
            self.log.info("tracing " + ("on" if on else "off"), vhost=name)

    def _save_vhost(self, name: str, description: str, tags: list[str], default_queue_type: str | None) -> None:
        self.records.save(("vhost", name), {"name": name, "description": description, "tags": tags,
                                            "default_queue_type": default_queue_type})

    def delete_vhost(self, name: str) -> None:
        vh = self.vhost(name)
        self.records.delete(("vhost", name))  # first: a refused write leaves the vhost whole
        # Clients go first: their exclusive queues and unacked messages go with them.
        for conn in list(self.connections):
            if conn.vhost is vh:
                conn.close(ReplyCode.CONNECTION_FORCED, f"vhost '{name}' is deleted")
        for q in list(vh.queues.values()):
            vh.remove_queue(q)
        for ex in list(vh.exchanges.values()):
            if ex.name and vh.exchanges.get(ex.name) is ex:
                vh._remove_exchange(ex)
        del self.vhosts[name]
        self.stats.vhost_gone(vh, [ch for c in self.connections if c.vhost is vh  # type: ignore[attr-defined]
                                   for ch in c.channels.values()])
        for user, vhost in list(self.access.permissions):
            if vhost == name:
                self.clear_permissions(user, name)  # type: ignore[attr-defined]
        for user, vhost in list(self.access.topic):
            if vhost == name:
                self.clear_topic_permissions(user, name)  # type: ignore[attr-defined]
        for identity in [i for i in self.records.ids if i[0] == "parameter" and i[2] == name]:
            self.records.delete(identity)
        self.log.info("vhost deleted", vhost=name)

    def set_vhost_limits(self, name: str, limits: dict[str, Any]) -> None:
        vh = self.existing_vhost(name)
        new = check_limits(limits, VHOST_LIMITS, "limits")
        self._save_parameter("vhost-limits", name, "limits", dict(new))  # type: ignore[attr-defined]
        vh.limits = new
        self.log.info("vhost limits set", vhost=name, limits=vh.limits)

    def clear_vhost_limit(self, name: str, limit: str | None = None) -> None:
        vh = self.vhost(name)
        new = {} if limit is None else {k: v for k, v in vh.limits.items() if k != limit}
        if new:
            self._save_parameter("vhost-limits", name, "limits", dict(new))  # type: ignore[attr-defined]
        else:
            self.records.delete(("parameter", "vhost-limits", name, "limits"))
        vh.limits = new
        self.log.info("vhost limits cleared", vhost=name, limit=limit or "all")
