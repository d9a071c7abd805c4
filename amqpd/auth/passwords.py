"""RabbitMQ's password hashes, so a hash exported from one broker logs in on the other.

Every algorithm is salted the same way (rabbit_password): base64(salt + H(salt + utf8 password)) with a
4-byte random salt; only H differs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

SHA256 = "rabbit_password_hashing_sha256"
SHA512 = "rabbit_password_hashing_sha512"
MD5 = "rabbit_password_hashing_md5"
DEFAULT_ALGORITHM = SHA256
ALGORITHMS = {SHA256: hashlib.sha256, SHA512: hashlib.sha512, MD5: hashlib.md5}
SALT_BYTES = 4


class HashError(ValueError):
    pass


def check_algorithm(name: str) -> str:
    if name not in ALGORITHMS:
        raise HashError(f"unknown hashing algorithm '{name}' (supported: {', '.join(sorted(ALGORITHMS))})")
    return name


def hash_password(password: str, algorithm: str = DEFAULT_ALGORITHM, salt: bytes | None = None) -> str:
    digest = ALGORITHMS[check_algorithm(algorithm)]
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    return base64.b64encode(salt + digest(salt + password.encode("utf-8")).digest()).decode()


def check_hash(password_hash: str, algorithm: str) -> None:
    """Refuse a stored hash that cannot be one of ``algorithm``'s (bad base64 or wrong length)."""
    if password_hash == "":
        return  # a user without a password
    try:
        raw = base64.b64decode(password_hash, validate=True)
    except (binascii.Error, ValueError):
        raise HashError("password_hash is not valid base64") from None
    size = ALGORITHMS[check_algorithm(algorithm)]().digest_size
    if len(raw) != SALT_BYTES + size:
        raise HashError(f"password_hash has {len(raw)} bytes; {algorithm} hashes have {SALT_BYTES + size}")


def check_password(password: str, password_hash: str, algorithm: str = DEFAULT_ALGORITHM) -> bool:
    # rabbit_auth_backend_internal: a user whose hash is empty cannot log in with any password.
    if not password_hash or algorithm not in ALGORITHMS:
        return False
    try:
        raw = base64.b64decode(password_hash, validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hash_password(password, algorithm, raw[:SALT_BYTES])
    return hmac.compare_digest(expected.encode(), password_hash.encode())
