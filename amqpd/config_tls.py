"""rabbitmq.conf keys for TLS listeners, ssl_options.*, SASL mechanisms, the default user's
permissions and tags, and definitions import: parsed and validated into :class:`~amqpd.config.Config`.

Kept apart from config.py, which hands every key :meth:`ExtraKeys.handles` accepts to this module.
Semantics follow RabbitMQ 3.10's rabbit.schema; docs/configuration.md and docs/tls.md describe them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from .config import ConfigError, SSLOptions, _bool, _host, _int_in, _Invalid, _listener, _nonempty, _path

__all__ = ["KNOWN_KEYS", "MECHANISMS", "ExtraKeys"]

# The SASL mechanisms amqpd implements (RabbitMQ: PLAIN and AMQPLAIN built in, EXTERNAL from
# rabbitmq_auth_mechanism_ssl, which amqpd always has).
MECHANISMS = ("PLAIN", "AMQPLAIN", "EXTERNAL")
_VERSIONS = ("tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1")
_LOGIN_FROM = {"distinguished_name": "distinguished_name", "common_name": "common_name",
               "subject_alternative_name": "subject_alternative_name",
               "subject_alt_name": "subject_alternative_name"}
_SAN_TYPES = ("dns", "ip", "email", "uri", "other_name")
_IMPORT_BACKENDS = ("local_filesystem", "local", "rabbitmq_definitions_import_local_filesystem",
                    "rabbit_definitions_import_local_filesystem")
_TAG_RE = re.compile(r"[^\s,]+")

_SSL_PATHS = ("cacertfile", "certfile", "keyfile")
_SSL_BOOLS = ("fail_if_no_peer_cert", "honor_cipher_order", "honor_ecc_order")
# Lists written RabbitMQ's way, one element per key: ssl_options.versions.1 = tlsv1.3
_LISTS = {"ssl_options.versions.": "versions", "ssl_options.ciphers.": "ciphers",
          "auth_mechanisms.": "auth_mechanisms"}

KNOWN_KEYS = (
    "listeners.ssl", "listeners.ssl.default", "ssl_handshake_timeout",
    *(f"ssl_options.{k}" for k in (*_SSL_PATHS, "password", "verify", "depth", *_SSL_BOOLS)),
    "ssl_options.versions.1", "ssl_options.ciphers.1", "auth_mechanisms.1",
    "ssl_cert_login_from", "ssl_cert_login_san_type", "ssl_cert_login_san_index",
    "default_permissions.configure", "default_permissions.write", "default_permissions.read",
    "default_user_tags.administrator", "load_definitions", "definitions.import_backend",
    "definitions.local.path",
    *(f"management.ssl.{k}" for k in ("port", "ip", *_SSL_PATHS, "password", "verify", "fail_if_no_peer_cert")),
)
_EXACT = frozenset(k for k in KNOWN_KEYS if not k.endswith((".1", ".default", ".administrator")))
_PREFIXES = ("listeners.ssl.", *_LISTS, "default_user_tags.")


def _readable(raw: str, base: Path, directory_ok: bool = False) -> Path:
    """An absolute path (relative ones to the conf file's directory) that exists and can be read,
    as RabbitMQ's file_accessible validator wants."""
    p = _path(raw, base)
    if not p.exists():
        raise _Invalid(f"{p}: no such file" + (" or directory" if directory_ok else ""))
    if p.is_dir() and not directory_ok:
        raise _Invalid(f"{p} is a directory, not a file")
    if not os.access(p, os.R_OK | (os.X_OK if p.is_dir() else 0)):
        raise _Invalid(f"{p}: permission denied")
    return p


def _ordered(items: dict[str, str]) -> tuple[str, ...]:
    """List elements ordered by their key suffix: numerically when all are numbers (.1, .2, .10),
    otherwise in the order the keys first appeared; repeated values are kept once."""
    keys = list(items)
    if all(k.isdigit() for k in keys):
        keys.sort(key=int)
    return tuple(dict.fromkeys(items[k] for k in keys))


def _version(raw: str) -> str:
    v = raw.lower()
    if v not in _VERSIONS:
        raise _Invalid(f"must be one of {', '.join(_VERSIONS)}")
    return v


def _mechanism(raw: str) -> str:
    if raw not in MECHANISMS:
        hint = " (names are case-sensitive)" if raw.upper() in MECHANISMS else ""
        raise _Invalid(f"must be one of {', '.join(MECHANISMS)}{hint}")
    return raw


def _cipher(raw: str) -> str:
    name = _nonempty(raw)
    if any(c in name for c in ":, \t"):
        raise _Invalid("one cipher suite per key (ssl_options.ciphers.1, .2, ...)")
    return name


def _enum(choices: tuple[str, ...] | dict[str, str]) -> object:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}")
        return choices[raw] if isinstance(choices, dict) else raw
    return parse


class ExtraKeys:
    """The file state for this module's keys; config._FileState delegates to it."""

    def __init__(self, path: Path, values: dict[str, object]) -> None:
        self.base = path.parent.absolute()
        self.values = values
        self.ssl: dict[str, object] = {}
        self.ssl_listeners: dict[str, tuple[str, int]] = {}
        self.ssl_none = False
        self.lists: dict[str, dict[str, str]] = {name: {} for name in _LISTS.values()}
        self.permissions: dict[str, str] = {}
        self.tags: dict[str, bool] | None = None
        self.where: dict[str, str] = {}  # key (a list's without its .N) -> "file:line" of its last occurrence
        self.first_listener: tuple[str, str] | None = None  # ("file:line", key) of the first TLS listener
        self.mgmt_ssl: dict[str, object] = {}  # management.ssl.*: HTTPS for the management API

    @staticmethod
    def handles(key: str) -> bool:
        return key in _EXACT or any(key.startswith(p) and len(key) > len(p) for p in _PREFIXES)

    def apply(self, key: str, raw: str, where: str) -> None:
        group = key.rsplit(".", 1)[0] + "." if key.startswith(_PREFIXES) else key
        self.where[group[:-1] if group in _LISTS else key] = where
        v = self.values
        if key == "listeners.ssl":
            if raw.lower() != "none":
                raise _Invalid("only 'none' is accepted here; use listeners.ssl.<name> = [HOST:]PORT")
            self.ssl_none = True
        elif key.startswith("listeners.ssl."):
            self.ssl_listeners[key.removeprefix("listeners.ssl.")] = _listener(raw)
            if self.first_listener is None:
                self.first_listener = (where, key)
        elif key == "ssl_handshake_timeout":
            v["ssl_handshake_timeout"] = _int_in(1, 2**31 - 1)(raw)
        elif group in _LISTS:
            parse = {"versions": _version, "ciphers": _cipher, "auth_mechanisms": _mechanism}[_LISTS[group]]
            self.lists[_LISTS[group]][key.removeprefix(group)] = parse(raw)
        elif key.startswith("ssl_options."):
            self._ssl_option(key.removeprefix("ssl_options."), raw)
        elif key == "ssl_cert_login_from":
            v["ssl_cert_login_from"] = _enum(_LOGIN_FROM)(raw)
        elif key == "ssl_cert_login_san_type":
            v["ssl_cert_login_san_type"] = _enum(_SAN_TYPES)(raw)
        elif key == "ssl_cert_login_san_index":
            v["ssl_cert_login_san_index"] = _int_in(0, 2**31 - 1)(raw)
        elif key.startswith("default_permissions."):
            # RabbitMQ takes any string (a regex); amqpd checks it compiles as one.
            try:
                re.compile(raw)
            except re.error as e:
                raise _Invalid(f"not a regular expression: {e}") from None
            self.permissions[key.removeprefix("default_permissions.")] = raw
        elif key.startswith("default_user_tags."):
            # As in RabbitMQ, naming any tag replaces the default [administrator] with the true ones.
            if self.tags is None:
                self.tags = {}
            self.tags[key.removeprefix("default_user_tags.")] = _bool(raw)
        elif key in ("load_definitions", "definitions.local.path"):
            v["load_definitions"] = _readable(raw, self.base, directory_ok=True)
        elif key.startswith("management.ssl."):
            self._management_ssl(key.removeprefix("management.ssl."), raw)
        elif key == "definitions.import_backend":
            if raw not in _IMPORT_BACKENDS:
                raise _Invalid("amqpd imports definitions from the local file system only: "
                               "use local_filesystem (https is not supported)")
        else:
            raise KeyError(key)

    def _ssl_option(self, name: str, raw: str) -> None:
        if name in _SSL_PATHS:
            self.ssl[name] = _readable(raw, self.base)
        elif name in _SSL_BOOLS:
            self.ssl[name] = _bool(raw)
        elif name == "password":
            self.ssl[name] = raw
        elif name == "verify":
            self.ssl[name] = _enum(("verify_peer", "verify_none"))(raw)
        elif name == "depth":
            self.ssl[name] = _int_in(0, 255)(raw)
        else:  # pragma: no cover - handles() lets only the names above through
            raise KeyError(name)

    def _management_ssl(self, name: str, raw: str) -> None:
        if name == "port":
            self.values["management_ssl_port"] = _int_in(1, 65535)(raw)
        elif name == "ip":
            self.values["management_ssl_ip"] = _host(raw)
        elif name in _SSL_PATHS:
            self.mgmt_ssl[name] = _readable(raw, self.base)
        elif name == "fail_if_no_peer_cert":
            self.mgmt_ssl[name] = _bool(raw)
        elif name == "password":
            self.mgmt_ssl[name] = raw
        elif name == "verify":
            self.mgmt_ssl[name] = _enum(("verify_peer", "verify_none"))(raw)
        else:  # pragma: no cover - handles() lets only the names above through
            raise KeyError(name)

    def _error(self, key: str, message: str) -> ConfigError:
        where = self.where.get(key) or self.where.get("ssl_options.certfile", "?")
        return ConfigError(f"{where}: invalid value for key {key!r}: {message}")

    def finish(self) -> None:
        v = self.values
        for name, items in self.lists.items():
            if items:
                if name == "auth_mechanisms":
                    v["auth_mechanisms"] = _ordered(items)
                else:
                    self.ssl[name] = _ordered(items)
        if self.permissions:
            perms = {"configure": ".*", "write": ".*", "read": ".*", **self.permissions}
            v["default_permissions"] = (perms["configure"], perms["write"], perms["read"])
        if self.tags is not None:
            v["default_user_tags"] = tuple(t for t, on in self.tags.items() if on)
        options = dataclasses.replace(v["ssl_options"], **self.ssl)  # type: ignore[type-var]
        v["ssl_options"] = options
        v["ssl_listeners"] = () if self.ssl_none else tuple(dict.fromkeys(self.ssl_listeners.values()))
        if v["ssl_listeners"]:
            self._check_tls(options)
        if self.mgmt_ssl or v.get("management_ssl_port"):
            self._check_management_ssl()

    def _check_management_ssl(self) -> None:
        """management.ssl.port with a certificate: the HTTP API also listens with HTTPS there."""
        where = self.where.get("management.ssl.port") or next(
            w for k, w in self.where.items() if k.startswith("management.ssl."))
        if not self.values.get("management_ssl_port"):
            raise ConfigError(f"{where}: management.ssl.* needs management.ssl.port")
        options = SSLOptions(**self.mgmt_ssl)  # type: ignore[arg-type]
        if options.certfile is None:
            raise ConfigError(f"{where}: management.ssl.port needs management.ssl.certfile")
        from .tls import TLSConfigError, build_context

        try:
            build_context(options)
        except TLSConfigError as e:
            raise ConfigError(f"{where}: management.ssl.{e.key.split('.')[-1]}: {e}") from None
        self.values["management_ssl"] = options

    def _check_tls(self, options: SSLOptions) -> None:
        """A TLS listener needs a certificate and key; build the context once so that a wrong
        password, a key that does not match or an unknown cipher stops the broker at start-up."""
        assert self.first_listener is not None
        where, listener = self.first_listener
        if options.certfile is None:
            raise ConfigError(f"{where}: {listener} needs ssl_options.certfile (and ssl_options.keyfile "
                              "unless the key is in the certificate file)")
        if options.verify == "verify_peer" and options.cacertfile is None:
            raise ConfigError(f"{self.where['ssl_options.verify']}: ssl_options.verify = verify_peer needs "
                              "ssl_options.cacertfile (the CA certificates client certificates are checked "
                              "against)")
        from .tls import TLSConfigError, build_context

        try:
            build_context(options)
        except TLSConfigError as e:
            raise self._error(e.key, str(e)) from None
