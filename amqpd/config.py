"""Broker configuration: a rabbitmq.conf-style file, environment variables and CLI flags.

Precedence, highest first: CLI flags (``overrides``) > environment > configuration file > defaults.
Everything ends up in one frozen :class:`Config`, so the rest of the broker never looks at the
environment or the file again. See docs/configuration.md for the user-facing description.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Config", "ConfigError", "SSLOptions", "default_data_dir", "load_config"]


class ConfigError(Exception):
    """An invalid configuration; the message names where it came from (file:line, variable or flag)."""


def default_data_dir(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "amqpd"
    return Path.cwd() / "amqpd-data"


@dataclass(frozen=True, slots=True)
class SSLOptions:
    """RabbitMQ's ssl_options.* for the AMQP TLS listeners (paths absolute; see amqpd/tls.py)."""

    cacertfile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None  # None: the key is in certfile, as Erlang's ssl defaults it
    password: str | None = None  # of an encrypted keyfile
    verify: str = "verify_none"  # or verify_peer
    fail_if_no_peer_cert: bool = False
    versions: tuple[str, ...] = ()  # "tlsv1.3", "tlsv1.2", ...; empty: OpenSSL's defaults (1.2 and 1.3)
    depth: int | None = None  # accepted and validated, not enforced (see docs/tls.md)
    honor_cipher_order: bool = False
    honor_ecc_order: bool = False
    ciphers: tuple[str, ...] = ()  # OpenSSL names, in preference order; empty: OpenSSL's defaults


@dataclass(frozen=True, slots=True)
class Config:
    listeners: tuple[tuple[str, int], ...] = (("127.0.0.1", 5672),)
    default_user: str = "guest"
    default_pass: str = "guest"
    default_vhost: str = "/"
    loopback_users: frozenset[str] = frozenset({"guest"})
    heartbeat: int = 60
    frame_max: int = 131072
    # Raw value: 0 means "no limit" (65535) during tuning, which is the connection code's business.
    channel_max: int = 2047
    max_message_size: int = 134217728
    handshake_timeout: int = 10000
    log_level: str = "info"
    log_format: str = "plaintext"
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ))
    config_file: Path | None = None
    memory_high_watermark: float = 0.4
    # When set it wins over the relative watermark, as vm_memory_high_watermark.absolute does in RabbitMQ.
    memory_high_watermark_absolute: int | None = None
    # Above this fraction of the watermark, long queues page message content out to the store.
    # disk_free_limit.absolute (bytes) / .relative (times total RAM); whichever the file names last wins
    disk_free_limit: int = 50_000_000
    connection_max: int | None = None  # open connections the node accepts; None: infinity
    consumer_max_per_channel: int | None = None  # RabbitMQ 3.12's key; None: infinity
    send_timeout: int = 15000  # ms a full output may go unread before the connection is dropped
    disk_free_limit_relative: float | None = None
    memory_paging_ratio: float = 0.5
    queue_index_threshold: int = 100000
    # Reported in connection.start's server properties; "" means amqpd@<short host name>.
    cluster_name: str = ""
    # amqpd.server_properties.product: "amqpd" (honest) or "rabbitmq" (product RabbitMQ, version 3.10.8).
    server_product: str = "amqpd"
    # ms an unacknowledged delivery may wait before its channel is closed (406), as RabbitMQ 3.10
    consumer_timeout: int = 1800000
    # vhosts whose publishes and deliveries are copied to amq.rabbitmq.trace (the firehose)
    trace_vhosts: frozenset[str] = frozenset()
    # AMQP over TLS (listeners.ssl.*, ssl_options.*; amqpd/config_tls.py parses them, amqpd/tls.py uses them)
    ssl_listeners: tuple[tuple[str, int], ...] = ()
    ssl_options: SSLOptions = SSLOptions()
    ssl_handshake_timeout: int = 5000  # ms
    # SASL mechanisms offered in connection.start, in this order (EXTERNAL only on TLS connections)
    auth_mechanisms: tuple[str, ...] = ("PLAIN", "AMQPLAIN")
    # how EXTERNAL derives the user name from the client certificate
    ssl_cert_login_from: str = "distinguished_name"
    ssl_cert_login_san_type: str = "dns"
    ssl_cert_login_san_index: int = 0
    # the default user's permissions in the default vhost (configure, write, read) and its tags
    default_permissions: tuple[str, str, str] = (".*", ".*", ".*")
    default_user_tags: tuple[str, ...] = ("administrator",)
    # definitions (JSON file or directory of files) imported at boot
    load_definitions: Path | None = None
    # the management HTTP API (management/): management.tcp.ip/port; port 0 or
    # amqpd.management.enabled = false switch it off
    management_enabled: bool = True
    management_ip: str = "127.0.0.1"
    management_port: int = 15672
    # management.ssl.*: the HTTP API over HTTPS as well (port 0: no HTTPS listener)
    management_ssl_port: int = 0
    management_ssl_ip: str = "127.0.0.1"
    management_ssl: SSLOptions | None = None
    # statistics (amqpd/stats/): how often rates are sampled, in ms
    collect_statistics_interval: int = 5000
    # Prometheus exposition (management/prometheus.py): prometheus.tcp.ip/port; port 0 switches it off
    prometheus_ip: str = "127.0.0.1"
    prometheus_port: int = 15692
    prometheus_per_object: bool = False  # prometheus.return_per_object_metrics: /metrics as /metrics/per-object


class _Invalid(Exception):
    """A value problem without location; the caller knows where the value came from."""


_INT_RE = re.compile(r"[+-]?[0-9]+")
_MAX_INT32 = 2**31 - 1


def _int(raw: str) -> int:
    # Stricter than int(), which would also take "1_000" and surrounding whitespace.
    if not _INT_RE.fullmatch(raw):
        raise _Invalid("not an integer")
    return int(raw)


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        n = _int(raw)
        if not lo <= n <= hi:
            raise _Invalid(f"must be between {lo} and {hi}")
        return n

    return parse


def _frame_max(raw: str) -> int:
    # AMQP 0-9-1 forbids a frame_max below 4096 except 0, which means "no limit".
    n = _int(raw)
    if n != 0 and not 4096 <= n <= _MAX_INT32:
        raise _Invalid(f"must be 0 or between 4096 and {_MAX_INT32}")
    return n


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise _Invalid("must be true or false")
    return lowered == "true"


def _nonempty(raw: str) -> str:
    if not raw:
        raise _Invalid("must not be empty")
    return raw


# RabbitMQ's extra syslog-style levels are folded onto ours so a rabbitmq.conf keeps loading.
_LOG_LEVELS = {
    "debug": "debug", "info": "info", "notice": "info", "warning": "warning", "warn": "warning",
    "error": "error", "critical": "critical", "alert": "critical", "emergency": "critical", "none": "none",
}
_LOG_FORMATS = ("plaintext", "json")


_PRODUCTS = ("amqpd", "rabbitmq")


def _product(raw: str) -> str:
    if raw.lower() not in _PRODUCTS:
        raise _Invalid("must be one of amqpd, rabbitmq")
    return raw.lower()


def _vhost_list(raw: str) -> frozenset[str]:
    # "none" or vhost names separated by commas ("/, staging")
    if raw.strip().lower() == "none":
        return frozenset()
    names = [n.strip() for n in raw.split(",")]
    if not all(names):
        raise _Invalid("expected vhost names separated by commas, or none")
    return frozenset(names)


def _log_level(raw: str) -> str:
    try:
        return _LOG_LEVELS[raw.lower()]
    except KeyError:
        raise _Invalid("must be one of debug, info, warning, error, critical, none") from None


def _log_format(raw: str) -> str:
    if raw.lower() not in _LOG_FORMATS:
        raise _Invalid("must be one of plaintext, json")
    return raw.lower()


def _relative_watermark(raw: str) -> float:
    try:
        x = float(raw)
    except ValueError:
        raise _Invalid("not a number") from None
    if not (math.isfinite(x) and 0 < x <= 1):
        raise _Invalid("must be greater than 0 and at most 1")
    return x


def _paging_ratio(raw: str) -> float:
    try:
        x = float(raw)
    except ValueError:
        raise _Invalid("not a number") from None
    if not (math.isfinite(x) and x > 0):
        raise _Invalid("must be a number greater than 0 (1 or more: never page before the alarm)")
    return x


# RabbitMQ's information units: the *B forms are decimal, the bare and *iB forms binary.
_UNITS = {
    "": 1, "b": 1,
    "k": 2**10, "kib": 2**10, "kb": 10**3,
    "m": 2**20, "mib": 2**20, "mb": 10**6,
    "g": 2**30, "gib": 2**30, "gb": 10**9,
    "t": 2**40, "tib": 2**40, "tb": 10**12,
}
_SIZE_RE = re.compile(r"([0-9]+)\s*([A-Za-z]*)")


def _byte_size(raw: str) -> int:
    m = _SIZE_RE.fullmatch(raw)
    if not m:
        raise _Invalid("not a size (expected e.g. 1073741824, 1GB or 512MiB)")
    unit = _UNITS.get(m.group(2).lower())
    if unit is None:
        raise _Invalid(f"unknown unit {m.group(2)!r} (use kB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    n = int(m.group(1)) * unit
    if n <= 0:
        raise _Invalid("must be greater than 0")
    return n


def _relative_disk_limit(raw: str) -> float:
    try:
        x = float(raw)
    except ValueError:
        raise _Invalid("not a number (a multiple of the total memory, e.g. 1.0 or 2.0)") from None
    if not (math.isfinite(x) and x >= 0):
        raise _Invalid("must be 0 or more")
    return x


def _host(raw: str) -> str:
    host = raw[1:-1] if raw.startswith("[") and raw.endswith("]") else raw
    if not host or any(c.isspace() or c in "[]/" for c in host):
        raise _Invalid("not a host name or IP address")
    if ":" in host:
        # Only an IPv6 address may contain colons; anything else is a mistyped HOST:PORT.
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _Invalid("not a valid IPv6 address") from None
    return host


_port = _int_in(1, 65535)


def _listener(raw: str) -> tuple[str, int]:
    # RabbitMQ accepts "5672", "host:5672", "[::1]:5672" and also an unbracketed "::1:5672".
    host, sep, port = raw.rpartition(":")
    if not sep:
        # A bare port means every interface in RabbitMQ; we bind IPv4 0.0.0.0 only.
        return "0.0.0.0", _port(raw)
    return _host(host), _port(port)


def _path(raw: str, base: Path | None = None) -> Path:
    p = Path(_nonempty(raw)).expanduser()
    if not p.is_absolute():
        # Absolute so a later chdir cannot move the data; relative to the file when it came from one.
        p = (base if base is not None else Path.cwd()) / p
    return p


# key -> (Config field, parser); keys needing more than "parse and assign" are handled in _FileState.
_SIMPLE_KEYS: dict[str, tuple[str, Callable[[str], object]]] = {
    "default_user": ("default_user", _nonempty),
    "default_pass": ("default_pass", _nonempty),
    "default_vhost": ("default_vhost", _nonempty),
    "heartbeat": ("heartbeat", _int_in(0, 65535)),
    "frame_max": ("frame_max", _frame_max),
    "channel_max": ("channel_max", _int_in(0, 65535)),
    "max_message_size": ("max_message_size", _int_in(1, 536870912)),
    "handshake_timeout": ("handshake_timeout", _int_in(1, _MAX_INT32)),
    "log.console.level": ("log_level", _log_level),
    "log.console.formatter": ("log_format", _log_format),
    "log.console.format": ("log_format", _log_format),
    "amqpd.queue.index_threshold": ("queue_index_threshold", _int_in(0, _MAX_INT32)),
    "vm_memory_high_watermark_paging_ratio": ("memory_paging_ratio", _paging_ratio),
    "cluster_name": ("cluster_name", _nonempty),
    "amqpd.server_properties.product": ("server_product", _product),
    "amqpd.trace.vhosts": ("trace_vhosts", _vhost_list),
    "consumer_timeout": ("consumer_timeout", _int_in(1, 2**53)),
    "management.tcp.port": ("management_port", _int_in(0, 65535)),
    "collect_statistics_interval": ("collect_statistics_interval", _int_in(100, _MAX_INT32)),
    "prometheus.tcp.port": ("prometheus_port", _int_in(0, 65535)),
    "management.tcp.ip": ("management_ip", _host),
    "amqpd.management.enabled": ("management_enabled", _bool),
    "prometheus.tcp.ip": ("prometheus_ip", _host),
    "prometheus.return_per_object_metrics": ("prometheus_per_object", _bool),
    "tcp_listen_options.send_timeout": ("send_timeout", _int_in(1, _MAX_INT32)),
}
_OTHER_KEYS = (
    "listeners.tcp", "loopback_users", "log.console", "vm_memory_high_watermark.relative",
    "vm_memory_high_watermark.absolute", "amqpd.data_dir", "disk_free_limit.absolute", "disk_free_limit.relative",
    "connection_max", "consumer_max_per_channel",
)
_KNOWN_KEYS = (*_SIMPLE_KEYS, *_OTHER_KEYS, "listeners.tcp.default")

_KEY_RE = re.compile(r"[^\s=#]+")
# A "#" starts a comment only at the start of the value or after whitespace, so "pa#ss" stays intact.
_COMMENT_RE = re.compile(r"(?:^|\s)#")


def _split_line(line: str) -> tuple[str, str] | None:
    """Return (key, value) or None when the line is not ``key = value``."""
    key, sep, rest = line.partition("=")
    key = key.strip()
    if not sep or not _KEY_RE.fullmatch(key):
        return None
    rest = rest.strip()
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            return None
        tail = rest[end + 1:].strip()
        if tail and not tail.startswith("#"):
            return None
        return key, rest[1:end]
    m = _COMMENT_RE.search(rest)
    return key, (rest[: m.start()] if m else rest).strip()


class _FileState:
    def __init__(self, path: Path, values: dict[str, object]) -> None:
        self.path = path
        self.values = values
        # Named listeners, ordered by first appearance; redefining a name replaces it in place.
        self.listeners: dict[str, tuple[str, int]] = {}
        self.console_enabled = True
        from .config_tls import ExtraKeys  # here, not at the top: config_tls imports this module

        self.extra = ExtraKeys(path, values)

    def apply(self, key: str, raw: str, where: str = "") -> None:
        v = self.values
        if self.extra.handles(key):
            self.extra.apply(key, raw, where)
        elif key in _SIMPLE_KEYS:
            name, parse = _SIMPLE_KEYS[key]
            v[name] = parse(raw)
        elif key == "listeners.tcp":
            if raw.lower() == "none":
                raise _Invalid("amqpd needs at least one TCP listener; 'none' is not supported")
            raise _Invalid("set listeners with listeners.tcp.<name> = [HOST:]PORT")
        elif key.startswith("listeners.tcp.") and key != "listeners.tcp.":
            self.listeners[key.removeprefix("listeners.tcp.")] = _listener(raw)
        elif key == "loopback_users":
            if raw.lower() != "none":
                raise _Invalid("only 'none' is accepted here; use loopback_users.<username> = true|false")
            v["loopback_users"] = frozenset()
        elif key.startswith("loopback_users.") and key != "loopback_users.":
            user = key.removeprefix("loopback_users.")
            users = set(v["loopback_users"])  # type: ignore[arg-type]
            (users.add if _bool(raw) else users.discard)(user)
            v["loopback_users"] = frozenset(users)
        elif key == "log.console":
            self.console_enabled = _bool(raw)
        elif key == "vm_memory_high_watermark.relative":
            # Both forms set the one watermark in RabbitMQ, so whichever comes last wins.
            v["memory_high_watermark"] = _relative_watermark(raw)
            v["memory_high_watermark_absolute"] = None
        elif key == "vm_memory_high_watermark.absolute":
            v["memory_high_watermark_absolute"] = _byte_size(raw)
        elif key in ("connection_max", "consumer_max_per_channel"):
            v[key] = None if raw == "infinity" else _int_in(0, _MAX_INT32)(raw)
        elif key == "disk_free_limit.absolute":
            v["disk_free_limit"], v["disk_free_limit_relative"] = _byte_size(raw), None
        elif key == "disk_free_limit.relative":
            v["disk_free_limit_relative"] = _relative_disk_limit(raw)
        elif key == "amqpd.data_dir":
            v["data_dir"] = _path(raw, base=self.path.parent.absolute())
        else:
            raise KeyError(key)

    def finish(self) -> None:
        if self.listeners:
            self.values["listeners"] = tuple(dict.fromkeys(self.listeners.values()))
        if not self.console_enabled:
            # A disabled console wins over any level, wherever it appears in the file.
            self.values["log_level"] = "none"
        self.extra.finish()


def _unknown_key_message(key: str) -> str:
    from .config_tls import KNOWN_KEYS

    msg = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, (*_KNOWN_KEYS, *KNOWN_KEYS), n=1)
    return f"{msg} (did you mean {close[0]!r}?)" if close else msg


def _read_file(path: Path, values: dict[str, object]) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read configuration file: {e}") from None
    state = _FileState(path, values)
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        parts = _split_line(stripped)
        if parts is None:
            raise ConfigError(f"{where}: malformed line, expected 'key = value': {stripped!r}")
        key, raw = parts
        try:
            state.apply(key, raw, where)
        except KeyError:
            raise ConfigError(f"{where}: {_unknown_key_message(key)}") from None
        except _Invalid as e:
            raise ConfigError(f"{where}: invalid value {raw!r} for key {key!r}: {e}") from None
    state.finish()


_ENV_VARS: dict[str, tuple[str, Callable[[str], object]]] = {
    # RabbitMQ's names first: when both are set the AMQPD_ variable, applied later, wins.
    "RABBITMQ_DEFAULT_USER": ("default_user", _nonempty),
    "RABBITMQ_DEFAULT_PASS": ("default_pass", _nonempty),
    "RABBITMQ_DEFAULT_VHOST": ("default_vhost", _nonempty),
    "AMQPD_BIND": ("bind", _host),
    "AMQPD_PORT": ("port", _port),
    "AMQPD_DATA_DIR": ("data_dir", _path),
    "AMQPD_LOG_LEVEL": ("log_level", _log_level),
    "AMQPD_LOG_FORMAT": ("log_format", _log_format),
    "AMQPD_DEFAULT_USER": ("default_user", _nonempty),
    "AMQPD_DEFAULT_PASS": ("default_pass", _nonempty),
    "AMQPD_MANAGEMENT_PORT": ("management_port", _int_in(0, 65535)),
    "AMQPD_PROMETHEUS_PORT": ("prometheus_port", _int_in(0, 65535)),
}
_FLAGS: dict[str, Callable[[str], object]] = {
    "bind": _host,
    "port": _port,
    "data_dir": _path,
    "log_level": _log_level,
    "log_format": _log_format,
    "management_port": _int_in(0, 65535),
    "prometheus_port": _int_in(0, 65535),
}


def _apply_single(values: dict[str, object], settings: dict[str, object]) -> None:
    """Assign parsed env/flag settings; bind and port collapse the listeners into one."""
    bind, port = settings.pop("bind", None), settings.pop("port", None)
    if bind is not None or port is not None:
        listeners: tuple[tuple[str, int], ...] = values["listeners"]  # type: ignore[assignment]
        first_host, first_port = listeners[0] if listeners else ("127.0.0.1", 5672)
        values["listeners"] = ((bind if bind is not None else first_host, port if port is not None else first_port),)
    values.update(settings)


def _from_env(env: Mapping[str, str]) -> dict[str, object]:
    settings: dict[str, object] = {}
    for var, (name, parse) in _ENV_VARS.items():
        raw = env.get(var, "").strip()
        if not raw:
            # An empty variable counts as unset, as "AMQPD_PORT= amqpd" in a shell suggests.
            continue
        try:
            settings[name] = parse(raw)
        except _Invalid as e:
            raise ConfigError(f"environment variable {var}: invalid value {raw!r}: {e}") from None
    return settings


def _from_overrides(overrides: Mapping[str, object]) -> dict[str, object]:
    settings: dict[str, object] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in _FLAGS:
            raise ConfigError(f"unknown override {name!r}")
        flag = "--" + name.replace("_", "-")
        raw = str(value).strip()
        try:
            settings[name] = _FLAGS[name](raw)
        except _Invalid as e:
            raise ConfigError(f"{flag}: invalid value {raw!r}: {e}") from None
    return settings


def load_config(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Build the effective configuration; raises ConfigError naming the offending source."""
    if env is None:
        env = os.environ
    values = {f.name: f.default for f in dataclasses.fields(Config) if f.name != "data_dir"}
    values["data_dir"] = default_data_dir(env)

    if config_file is None and env.get("AMQPD_CONFIG_FILE", "").strip():
        config_file = env["AMQPD_CONFIG_FILE"].strip()
    if config_file is not None:
        path = Path(config_file)
        _read_file(path, values)
        values["config_file"] = path

    _apply_single(values, _from_env(env))
    _apply_single(values, _from_overrides(overrides or {}))
    return Config(**values)  # type: ignore[arg-type]
