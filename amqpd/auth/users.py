"""Users: name, password hash, tags and per-user limits, in the shape RabbitMQ exports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .passwords import DEFAULT_ALGORITHM

# Tags with a meaning to the management API and the CLI; others are kept and exported as given.
KNOWN_TAGS = ("administrator", "monitoring", "policymaker", "management", "impersonator")
USER_LIMITS = ("max-connections", "max-channels")


@dataclass
class User:
    name: str
    password_hash: str  # "" = no password: cannot log in with one (EXTERNAL still works)
    hashing_algorithm: str = DEFAULT_ALGORITHM
    tags: list[str] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "password_hash": self.password_hash,
                "hashing_algorithm": self.hashing_algorithm, "tags": list(self.tags),
                "limits": dict(self.limits)}

    def limit(self, name: str) -> int | None:
        value = self.limits.get(name)
        return value if isinstance(value, int) and value >= 0 else None


def parse_tags(tags: Any) -> list[str]:
    """RabbitMQ accepts tags as a list or as one comma-separated string (definitions, HTTP API)."""
    if tags is None:
        return []
    if isinstance(tags, str):
        return [t.strip() for t in tags.split(",") if t.strip()]
    if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
        return [t.strip() for t in tags if t.strip()]
    raise ValueError("tags must be a list of strings or a comma-separated string")
