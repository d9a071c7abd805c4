"""Where a broker's control socket is: derived from its configuration file alone.

The broker binds a Unix socket whose name is a hash of the absolute path of the conf file it was started
with (or "default" without one) in a per-user runtime directory; amqpctl given the same file computes the
same name. Data dir, ports and listeners can come from the command line: the file's path is the node's
identity, as the node name is RabbitMQ's. The socket is the CLI's Erlang cookie: a 0700 directory.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path


def runtime_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("AMQPD_RUNTIME_DIR"):
        return Path(env["AMQPD_RUNTIME_DIR"])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "amqpd"
    return Path("/tmp") / f"amqpd-{os.getuid()}"


def config_file(given: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The conf file as amqpd finds it: --config, else $AMQPD_CONFIG_FILE, else none."""
    env = os.environ if env is None else env
    if given:
        return Path(given)
    if env.get("AMQPD_CONFIG_FILE", "").strip():
        return Path(env["AMQPD_CONFIG_FILE"].strip())
    return None


def identity(conf: Path | None) -> str:
    return str(conf.resolve()) if conf is not None else "default"


def control_socket(conf: Path | None, env: Mapping[str, str] | None = None) -> Path:
    digest = hashlib.sha256(identity(conf).encode()).hexdigest()[:20]
    return runtime_dir(env) / f"ctl-{digest}.sock"


def untrusted(directory: Path) -> str | None:
    """Why the socket directory must not be used, or None. /tmp/amqpd-<uid> is a predictable name: a
    directory someone else made there could hold a socket that collects the passwords amqpctl sends.
    Trusted: ours; root's; or, for root (docker exec -u root), one whose parent is not world-writable."""
    try:
        st = directory.lstat()
    except OSError as exc:
        return str(exc)
    if not stat.S_ISDIR(st.st_mode):
        return f"{directory} is not a directory"
    me = os.geteuid()
    if st.st_uid in (me, 0):
        return None
    if me == 0:
        try:
            parent = directory.parent.stat()
        except OSError as exc:
            return str(exc)
        if not parent.st_mode & stat.S_IWOTH:
            return None
    return f"{directory} belongs to uid {st.st_uid}, not to this user"
