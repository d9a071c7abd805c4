"""Users, permissions, topic permissions and user limits."""

from __future__ import annotations

from typing import Any

from ..auth import passwords
from ..auth.permissions import AccessControl, Permission, PermissionError_, TopicPermission
from ..auth.users import USER_LIMITS, User, parse_tags
from ..errors import ReplyCode
from .errors import BadRequest, NotFound
from .vhosts import check_limits


class UserOps:
    users: dict[str, User]
    connections: set[Any]
    access: AccessControl
    records: Any
    log: Any
    vhosts: dict[str, Any]

    def user(self, name: str) -> User:
        u = self.users.get(name)
        if u is None:
            raise NotFound(f"no user '{name}'")
        return u

    def authenticate(self, name: str, password: str) -> User | None:
        user = self.users.get(name)
        # rabbit_auth_backend_internal refuses an empty password even when the hash would match
        if user is None or not password or not passwords.check_password(password, user.password_hash, user.hashing_algorithm):
            return None
        return user

    def put_user(self, name: str, *, password: str | None = None, password_hash: str | None = None,
                 hashing_algorithm: str | None = None, tags: Any = None,
                 limits: dict[str, Any] | None = None) -> User:
        """Create or replace a user. ``password`` is hashed here (sha256 unless an algorithm is named);
        ``password_hash`` is taken as exported by RabbitMQ ("" = no password)."""
        if not isinstance(name, str) or not name:
            raise BadRequest("user name must be a non-empty string")
        algorithm = hashing_algorithm or passwords.DEFAULT_ALGORITHM
        try:
            passwords.check_algorithm(algorithm)
            if password is not None:
                if not isinstance(password, str):
                    raise BadRequest("password must be a string")
                password_hash = passwords.hash_password(password, algorithm)
            elif password_hash is None:
                password_hash = ""  # as RabbitMQ's PUT /api/users: a user that cannot log in with a password
            elif not isinstance(password_hash, str):
                raise BadRequest("password_hash must be a string")
            else:
                passwords.check_hash(password_hash, algorithm)
            tag_list = parse_tags(tags)
        except (passwords.HashError, ValueError) as exc:
            raise BadRequest(str(exc)) from None
        user_limits = check_limits(limits or {}, USER_LIMITS, "user-limits")
        existed = name in self.users
        user = User(name, password_hash, algorithm, tag_list, user_limits)
        self._save_user(user)
        self.users[name] = user
        self.log.info("user updated" if existed else "user created", user=name, tags=tag_list)
        return user

    def _save_user(self, user: User) -> None:
        self.records.save(("user", user.name), user.to_json())

    def delete_user(self, name: str) -> None:
        self.user(name)
        for conn in list(self.connections):
            if conn.user == name and conn.vhost is not None:
                conn.close(ReplyCode.CONNECTION_FORCED, f"user '{name}' is deleted")
        self.records.delete(("user", name))
        del self.users[name]
        for user, vhost in list(self.access.permissions):
            if user == name:
                self.clear_permissions(user, vhost)
        for user, vhost in list(self.access.topic):
            if user == name:
                self.clear_topic_permissions(user, vhost)
        self.log.info("user deleted", user=name)

    def set_user_limits(self, name: str, limits: dict[str, Any]) -> None:
        user = self.users.get(name)
        if user is None:
            raise BadRequest(["no_such_user", name])
        new = {**user.limits, **check_limits(limits, USER_LIMITS, "user-limits")}
        self.records.save(("user", name), {**user.to_json(), "limits": new})
        user.limits = new
        self.log.info("user limits set", user=name, limits=user.limits)

    def clear_user_limit(self, name: str, limit: str | None = None) -> None:
        user = self.user(name)
        new = {} if limit is None else {k: v for k, v in user.limits.items() if k != limit}
        self.records.save(("user", name), {**user.to_json(), "limits": new})
        user.limits = new

    # -- permissions ------------------------------------------------------------------------------
    def set_permissions(self, user: str, vhost: str, configure: str, write: str, read: str) -> Permission:
        self.user(user)
        if vhost not in self.vhosts:
            raise NotFound(f"no vhost '{vhost}'")
        for what, value in (("configure", configure), ("write", write), ("read", read)):
            if not isinstance(value, str):
                raise BadRequest(f"{what} must be a string")
        try:
            perm = Permission(user, vhost, configure, write, read)
        except PermissionError_ as exc:
            raise BadRequest(str(exc)) from None
        self.records.save(("permission", user, vhost), perm.to_json())
        self.access.permissions[(user, vhost)] = perm
        self.access.changed()
        self.log.info("permissions set", user=user, vhost=vhost, configure=configure, write=write, read=read)
        return perm

    def clear_permissions(self, user: str, vhost: str) -> None:
        if (user, vhost) in self.access.permissions:
            self.records.delete(("permission", user, vhost))
            del self.access.permissions[(user, vhost)]
            self.access.changed()
            self.log.info("permissions cleared", user=user, vhost=vhost)

    def set_topic_permissions(self, user: str, vhost: str, exchange: str, write: str, read: str) -> TopicPermission:
        self.user(user)
        if vhost not in self.vhosts:
            raise NotFound(f"no vhost '{vhost}'")
        for what, value in (("exchange", exchange), ("write", write), ("read", read)):
            if not isinstance(value, str):
                raise BadRequest(f"{what} must be a string")
        try:
            tp = TopicPermission(user, vhost, exchange, write, read)
        except PermissionError_ as exc:
            raise BadRequest(str(exc)) from None
        self.records.save(("topic_permission", user, vhost, exchange), tp.to_json())
        self.access.topic.setdefault((user, vhost), {})[exchange] = tp
        self.access.changed()
        self.log.info("topic permissions set", user=user, vhost=vhost, exchange=exchange, write=write, read=read)
        return tp

    def clear_topic_permissions(self, user: str, vhost: str, exchange: str | None = None) -> None:
        per_exchange = self.access.topic.get((user, vhost), {})
        for name in [exchange] if exchange is not None else list(per_exchange):
            if name in per_exchange:
                self.records.delete(("topic_permission", user, vhost, name))
                del per_exchange[name]
        if not per_exchange:
            self.access.topic.pop((user, vhost), None)
        self.access.changed()
        self.log.info("topic permissions cleared", user=user, vhost=vhost, exchange=exchange or "all")
