"""Confirm RabbitMQ's password hash layouts and record them in tests/fixtures/rabbitmq-3.10/hashes.json.

Usage:
    python interop/rabbitmq_access/record_hashes.py

Layout under test: base64(4-byte salt + H(salt + utf-8 password)). For sha256 the hashes RabbitMQ itself
stored (definitions.json, made from passwords.json) are checked against it. For sha256, sha512 and md5,
users are imported with hashes computed here (fixed salts) and then log in with pika; an unknown
`hashing_algorithm` and a user without the field are tried too. Scratch vhost `hashes`, users `hash-*`;
both are deleted at the end. (`rabbitmqctl hash_password` does not exist in 3.10.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import pika
import pika.exceptions as pe

sys.path.insert(0, str(Path(__file__).resolve().parent))

from setup_rabbitmq import FIXTURES, call  # noqa: E402

OUT = FIXTURES / "hashes.json"
VHOST = "hashes"
PASSWORDS = ["secret", "pässwörd", ""]
SALT = bytes.fromhex("908dc60a")
ALGORITHMS = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}


def rabbit_hash(hash_fn, password: str, salt: bytes = SALT) -> str:
    return base64.b64encode(salt + hash_fn(salt + password.encode()).digest()).decode()


def verify(hash_fn, stored: str, password: str) -> bool:
    raw = base64.b64decode(stored)
    return hash_fn(raw[:4] + password.encode()).digest() == raw[4:]


def login(user: str, password: str) -> str | dict:
    params = pika.ConnectionParameters(
        "127.0.0.1",
        5672,
        VHOST,
        pika.PlainCredentials(user, password),
        connection_attempts=1,
        socket_timeout=5,
        stack_timeout=8,
    )
    try:
        pika.BlockingConnection(params).close()
        return "ok"
    except pe.AMQPConnectionError as exc:
        return {"exception": type(exc).__name__, "detail": str(exc.args[0]) if exc.args else ""}


def main() -> int:
    definitions = json.loads((FIXTURES / "definitions.json").read_text())
    passwords = json.loads((FIXTURES / "passwords.json").read_text())
    exported = []
    for user in definitions["users"]:
        if user["name"] in ("shop-admin", "orders-svc", "reporter"):
            fn = ALGORITHMS[user["hashing_algorithm"]]
            exported.append(
                {
                    "user": user["name"],
                    "password": passwords[user["name"]],
                    "hashing_algorithm": user["hashing_algorithm"],
                    "password_hash": user["password_hash"],
                    "layout_confirmed": verify(fn, user["password_hash"], passwords[user["name"]]),
                }
            )

    users, expected = [], {}
    for algo, fn in ALGORITHMS.items():
        short = algo.rsplit("_", 1)[1]
        for i, password in enumerate(PASSWORDS):
            name = f"hash-{short}-{i}"
            users.append(
                {
                    "name": name,
                    "password_hash": rabbit_hash(fn, password),
                    "hashing_algorithm": algo,
                    "tags": "",
                }
            )
            expected[name] = (algo, password)
    users.append(
        {
            "name": "hash-unknown-algo",
            "password_hash": rabbit_hash(hashlib.sha256, "secret"),
            "hashing_algorithm": "rabbit_password_hashing_nope",
            "tags": "",
        }
    )
    expected["hash-unknown-algo"] = ("rabbit_password_hashing_nope", "secret")
    users.append(
        {"name": "hash-no-algo-field", "password_hash": rabbit_hash(hashlib.sha256, "secret"), "tags": ""}
    )
    expected["hash-no-algo-field"] = (None, "secret")
    users.append(
        {"name": "hash-no-algo-field-md5", "password_hash": rabbit_hash(hashlib.md5, "secret"), "tags": ""}
    )
    expected["hash-no-algo-field-md5"] = (None, "secret (md5 layout)")

    call("DELETE", f"/vhosts/{VHOST}", ok=(204, 404))
    call("PUT", f"/vhosts/{VHOST}", {})
    try:
        status, body = call(
            "POST",
            "/definitions",
            {
                "users": users,
                "permissions": [
                    {"user": u["name"], "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"}
                    for u in users
                ],
            },
            ok=None,
        )
        _, all_users = call("GET", "/users")
        stored = {u["name"]: u for u in all_users}
        imported = []
        for user in users:
            name = user["name"]
            algo, password = expected[name]
            plain = password.split(" ")[0] if name.endswith("-md5") else password
            imported.append(
                {
                    "user": name,
                    "password": plain,
                    "hashing_algorithm_imported": algo,
                    "password_hash_imported": user["password_hash"],
                    "stored": {
                        k: stored.get(name, {}).get(k) for k in ("hashing_algorithm", "password_hash")
                    },
                    "login_right_password": login(name, plain),
                    "login_wrong_password": login(name, plain + "x"),
                }
            )
    finally:
        call("DELETE", f"/vhosts/{VHOST}", ok=(204, 404))
        for user in users:
            call("DELETE", f"/users/{user['name']}", ok=(204, 404))

    result = {
        "layout": "base64(salt[4] + H(salt + utf8(password)))",
        "salt_hex_used_for_imports": SALT.hex(),
        "exported_by_rabbitmq": exported,
        "import_status": {"status": status, "body": body},
        "imported": imported,
    }
    OUT.write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    for row in imported:
        print(
            row["user"],
            row["stored"]["hashing_algorithm"],
            row["login_right_password"],
            "wrong:",
            row["login_wrong_password"] if row["login_wrong_password"] == "ok" else "refused",
        )
    print("exported sha256 layout confirmed:", [e["layout_confirmed"] for e in exported])
    return 0


if __name__ == "__main__":
    sys.exit(main())
