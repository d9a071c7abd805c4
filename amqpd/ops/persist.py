"""The operations layer's durable records: one small JSON document per object, stored by id.

The store knows ids and bytes; what a record means, and which object it belongs to (its identity:
("vhost", name), ("permission", user, vhost), ("parameter", component, vhost, name), ...), is kept here.
"""

from __future__ import annotations

import json
from typing import Any

RECORD_VERSION = 1
# identity kind -> column family
FAMILIES = {
    "vhost": "vhosts", "user": "users", "permission": "access", "topic_permission": "access",
    "parameter": "parameters", "global_parameter": "parameters",
}


class Records:
    """Callers save or delete a record before they change memory: a write the store refuses
    (StoreWriteError) then leaves the broker as it was, as the answer (500, exit 70) says."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.ids: dict[tuple, int] = {}

    def save(self, identity: tuple, fields: dict[str, Any]) -> None:
        cf = FAMILIES[identity[0]]
        rid = self.ids.get(identity)
        if rid is None:
            rid = self.ids[identity] = self.store.new_record_id()
        doc = {"v": RECORD_VERSION, "kind": identity[0], "key": list(identity[1:]), **fields}
        self.store.put_record(cf, rid, json.dumps(doc, separators=(",", ":")).encode())

    def delete(self, identity: tuple) -> None:
        rid = self.ids.get(identity)
        if rid is not None:
            self.store.delete_record(FAMILIES[identity[0]], rid)
            del self.ids[identity]

    def load(self, cf: str) -> list[dict[str, Any]]:
        """Every record of a column family, registering their ids. Records written by the first store
        format (vhost and user records without a key) get their identity from their name."""
        out = []
        for rid, raw in self.store.records(cf):
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("v") != RECORD_VERSION:
                raise ValueError(f"unknown record version in {cf}: {raw[:80]!r}")
            key = doc.get("key", [doc.get("name")])
            self.ids[(doc["kind"], *key)] = rid
            out.append(doc)
        return out
