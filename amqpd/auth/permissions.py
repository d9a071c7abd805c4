"""Permissions (configure/write/read regexes per user and vhost), topic permissions, and the checks
rabbit_access_control makes, with RabbitMQ's refusal texts.

Checks are cached per connection (``VhostAccess``): a publisher pays one set lookup per message (two
on an exchange with topic permissions for its user). The caches are emptied by ``AccessControl``
whenever a permission changes, so a change applies at once.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import Any

from ..errors import ChannelError, ReplyCode

CONFIGURE, WRITE, READ = "configure", "write", "read"
CACHE_LIMIT = 1024  # distinct resources remembered per connection and permission before starting over


class PermissionError_(ValueError):
    """A permission pattern that is not a valid regular expression."""


def compile_pattern(pattern: str, what: str) -> re.Pattern[str]:
    # rabbit_auth_backend_internal: an empty pattern means "nothing", i.e. ^$.
    try:
        return re.compile(pattern or "^$")
    except re.error as exc:
        raise PermissionError_(f"invalid {what} regular expression '{pattern}': {exc}") from None


@dataclass
class Permission:
    user: str
    vhost: str
    configure: str
    write: str
    read: str
    _res: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for perm in (CONFIGURE, WRITE, READ):
            self._res[perm] = compile_pattern(getattr(self, perm), perm)

    def allows(self, perm: str, name: str) -> bool:
        return self._res[perm].search(name) is not None

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "vhost": self.vhost, "configure": self.configure, "write": self.write,
                "read": self.read}


@dataclass
class TopicPermission:
    user: str
    vhost: str
    exchange: str
    write: str
    read: str

    _res: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # {username} and {vhost} are fixed for one user and vhost, so the patterns are expanded and
        # compiled once (rabbit_auth_backend_internal:expand_topic_permission; values are not
        # regex-escaped there either).
        for perm in (WRITE, READ):
            expanded = getattr(self, perm).replace("{username}", self.user).replace("{vhost}", self.vhost)
            self._res[perm] = compile_pattern(expanded, f"topic {perm}")

    def allows(self, perm: str, routing_key: str) -> bool:
        return self._res[perm].search(routing_key) is not None

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "vhost": self.vhost, "exchange": self.exchange, "write": self.write,
                "read": self.read}


def refused(kind: str, name: str, vhost: str, user: str) -> ChannelError:
    return ChannelError(ReplyCode.ACCESS_REFUSED,
                        f"access to {kind} '{name}' in vhost '{vhost}' refused for user '{user}'")


class AccessControl:
    """Every permission and topic permission of the broker, and the caches that depend on them."""

    def __init__(self) -> None:
        self.permissions: dict[tuple[str, str], Permission] = {}  # (user, vhost)
        self.topic: dict[tuple[str, str], dict[str, TopicPermission]] = {}  # (user, vhost) -> exchange
        self._live: weakref.WeakSet[VhostAccess] = weakref.WeakSet()

    def for_connection(self, user: str, vhost: str) -> VhostAccess:
        access = VhostAccess(self, user, vhost)
        self._live.add(access)
        return access

    def changed(self) -> None:
        for access in list(self._live):
            access.reset()

    def has_access(self, user: str, vhost: str) -> bool:
        return (user, vhost) in self.permissions

    def check(self, user: str, vhost: str, perm: str, kind: str, name: str) -> None:
        """Raise 403 ACCESS_REFUSED unless ``user`` may ``perm`` the resource (uncached; front ends
        other than AMQP call this)."""
        p = self.permissions.get((user, vhost))
        checked = "amq.default" if kind == "exchange" and name == "" else name
        if p is None or not p.allows(perm, checked):
            raise refused(kind, checked, vhost, user)

    def check_topic(self, user: str, vhost: str, perm: str, exchange: str, routing_key: str) -> None:
        tp = self.topic.get((user, vhost), {}).get(exchange)
        if tp is not None and not tp.allows(perm, routing_key):
            raise ChannelError(ReplyCode.ACCESS_REFUSED,
                               f"access to topic '{routing_key}' in exchange '{exchange}' in vhost '{vhost}' "
                               f"refused for user '{user}'")


class VhostAccess:
    """A connection's rights in its vhost, with the answers it has already had."""

    __slots__ = ("control", "user", "vhost", "writable", "_ok", "topic_exchanges", "topic_writable", "_topic_ok",
                 "__weakref__")

    def __init__(self, control: AccessControl, user: str, vhost: str) -> None:
        self.control = control
        self.user = user
        self.vhost = vhost
        self.writable: set[str] = set()  # exchanges this connection may publish to (the hot check)
        self._ok: set[tuple[str, str, str]] = set()
        # exchanges with topic permissions for this user here: only publishes to these pay a topic check
        self.topic_exchanges: frozenset[str] = frozenset()
        # exchange -> routing keys this connection may publish with (the hot topic check, no tuples)
        self.topic_writable: dict[str, set[str]] = {}
        self._topic_ok: set[tuple[str, str, str]] = set()
        self.reset()

    def reset(self) -> None:
        self.writable = set()
        self._ok = set()
        self._topic_ok = set()
        self.topic_exchanges = frozenset(self.control.topic.get((self.user, self.vhost), ()))
        self.topic_writable = {name: set() for name in self.topic_exchanges}

    def check(self, perm: str, kind: str, name: str) -> None:
        key = (perm, kind, name)
        if key in self._ok:
            return
        self.control.check(self.user, self.vhost, perm, kind, name)
        if len(self._ok) >= CACHE_LIMIT:
            self._ok = set()
        self._ok.add(key)

    def check_publish(self, exchange: str) -> None:
        """The per-message check: one set lookup once the exchange has been allowed."""
        if exchange not in self.writable:
            self.control.check(self.user, self.vhost, WRITE, "exchange", exchange)
            if len(self.writable) >= CACHE_LIMIT:
                self.writable = set()
            self.writable.add(exchange)

    def check_topic(self, perm: str, exchange: str, routing_key: str) -> None:
        """Topic permission for a routing key; remembered per connection like the other answers."""
        if exchange not in self.topic_exchanges:
            return
        if perm == WRITE:
            keys = self.topic_writable[exchange]
            if routing_key not in keys:
                self.control.check_topic(self.user, self.vhost, perm, exchange, routing_key)
                if len(keys) >= CACHE_LIMIT:
                    keys.clear()
                keys.add(routing_key)
            return
        key = (perm, exchange, routing_key)
        if key not in self._topic_ok:
            self.control.check_topic(self.user, self.vhost, perm, exchange, routing_key)
            if len(self._topic_ok) >= CACHE_LIMIT:
                self._topic_ok = set()
            self._topic_ok.add(key)
