"""Users, password hashes and SASL mechanisms (PLAIN, AMQPLAIN)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from pamqp import decode


def hash_password(password: str, salt: bytes | None = None) -> str:
    # RabbitMQ's rabbit_password_hashing_sha256 layout: base64(salt(4) + sha256(salt + password)),
    # so definitions exported from one broker import into the other.
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode("utf-8")).digest()).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        raw = base64.b64decode(password_hash)
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, raw[:4]), password_hash)


@dataclass
class User:
    name: str
    password_hash: str
    tags: list[str] = field(default_factory=list)
    vhosts: set[str] = field(default_factory=set)  # vhosts with full permissions


class UserDB:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    def add(self, name: str, password: str, tags: list[str] | None = None, vhosts: set[str] | None = None) -> User:
        user = User(name, hash_password(password), list(tags or []), set(vhosts or ()))
        self.users[name] = user
        return user

    def authenticate(self, name: str, password: str) -> User | None:
        user = self.users.get(name)
        if user is None or not check_password(password, user.password_hash):
            return None
        return user


class SASLError(ValueError):
    pass


def parse_response(mechanism: str, response: bytes | str) -> tuple[str, str]:
    """(username, password) from a start-ok response."""
    raw = response.encode("utf-8") if isinstance(response, str) else bytes(response)
    if mechanism == "PLAIN":
        parts = raw.split(b"\x00")
        if len(parts) != 3:
            raise SASLError("malformed PLAIN response")
        return parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
    if mechanism == "AMQPLAIN":
        # A field table without its 4-byte length prefix.
        try:
            _, table = decode.field_table(len(raw).to_bytes(4, "big") + raw)
        except ValueError as exc:
            raise SASLError("malformed AMQPLAIN response") from exc
        login, password = table.get("LOGIN"), table.get("PASSWORD")
        if not isinstance(login, (str, bytes)) or not isinstance(password, (str, bytes)):
            raise SASLError("AMQPLAIN response lacks LOGIN or PASSWORD")
        return _text(login), _text(password)
    raise SASLError(f"unsupported mechanism {mechanism!r}")


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


MECHANISMS = ("PLAIN", "AMQPLAIN")
