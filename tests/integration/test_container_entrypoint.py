"""The container image without docker: docker/entrypoint.sh run directly as the image runs it, and the
Dockerfile, compose example and image configuration checked statically.

The entrypoint is started with a temporary conf file derived from docker/amqpd.conf (its all-interfaces
addresses replaced by 127.0.0.1 and free ports: nothing here binds 0.0.0.0), a temporary data dir and
runtime dir, and RABBITMQ_DEFAULT_USER / _PASS / _VHOST, as `docker run -e ...` would set them. The
`amqpd` and `amqpctl` it execs are the console scripts next to this interpreter.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pika
import pytest
from conftest import free_port, free_ports, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
IMAGE_CONF = ROOT / "docker" / "amqpd.conf"
COMPOSE = ROOT / "docker" / "docker-compose.yml"

USER, PASSWORD, VHOST = "app-user", "Pa55:w#rd", "app-vhost"
READY = "Server startup complete"
BIN_DIR = str(Path(sys.executable).parent)

needs_processes = pytest.mark.skipif(
    not Path("/proc/self/cmdline").exists() or not (Path(BIN_DIR) / "amqpd").exists(),
    reason="needs Linux /proc and the amqpd console script next to the interpreter (pip install -e .)",
)


# -- helpers ---------------------------------------------------------------------------------------------
def conf_lines(path: Path) -> dict[str, str]:
    """key -> value of a rabbitmq.conf-style file (enough for the plain lines of docker/amqpd.conf)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = re.split(r"\s#", value, maxsplit=1)[0].strip()
    return out


def loopback_conf(tmp: Path, port: int, http_port: int, metrics_port: int) -> Path:
    """docker/amqpd.conf with every all-interfaces address replaced by 127.0.0.1 (and free ports)."""
    replace = {
        "listeners.tcp.default": f"127.0.0.1:{port}",
        "management.tcp.ip": "127.0.0.1",
        "management.tcp.port": str(http_port),
        "prometheus.tcp.ip": "127.0.0.1",
        "prometheus.tcp.port": str(metrics_port),
    }
    seen = set()
    lines = []
    for line in IMAGE_CONF.read_text().splitlines():
        key = line.partition("=")[0].strip()
        if not line.lstrip().startswith("#") and key in replace:
            line = f"{key} = {replace[key]}"
            seen.add(key)
        lines.append(line)
    assert seen == set(replace), f"docker/amqpd.conf lacks {set(replace) - seen}"
    text = "\n".join(lines) + "\n"
    assert "0.0.0.0" not in "\n".join(x for x in lines if not x.lstrip().startswith("#"))
    path = tmp / "etc" / "amqpd.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without any AMQPD_ / RABBITMQ_ setting, the interpreter's bin dir
    first on PATH (so `amqpd`/`amqpctl` are this checkout's) and a private runtime dir for the control
    socket; then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMQPD_", "RABBITMQ_"))}
    env["PATH"] = BIN_DIR + os.pathsep + env.get("PATH", "")
    env["AMQPD_RUNTIME_DIR"] = str(tmp / "run")
    env.update(extra)
    return env


@dataclass
class Started:
    proc: subprocess.Popen
    log_path: Path
    env: dict[str, str]
    port: int
    http_port: int = 0
    metrics_port: int = 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
        return self.proc.returncode


def run_entrypoint(tmp: Path, env: dict[str, str], args: tuple[str, ...] = (), port: int = 0,
                   http_port: int = 0, metrics_port: int = 0, timeout: float = 30) -> Started:
    """Start docker/entrypoint.sh ARGS... and wait for the broker's ready line and its AMQP port."""
    log_path = tmp / f"entrypoint-{port}-{int(time.monotonic() * 1000)}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([str(ENTRYPOINT), *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=tmp)
    started = Started(proc, log_path, env, port, http_port, metrics_port)
    deadline = time.monotonic() + timeout
    while READY not in started.log():
        if proc.poll() is not None:
            raise RuntimeError(f"the entrypoint exited with {proc.returncode}:\n{started.log()}")
        if time.monotonic() > deadline:
            started.stop(signal.SIGKILL)
            raise TimeoutError(f"no {READY!r} after {timeout}s:\n{started.log()}")
        time.sleep(0.05)
    wait_for_port("127.0.0.1", port, 5, proc)
    return started


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")


def connect(port: int, user: str, password: str, vhost: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", port, vhost, pika.PlainCredentials(user, password), heartbeat=0,
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=None))


def http_get(port: int, path: str, user: str, password: str) -> tuple[int, object]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if resp.headers.get_content_type() == "application/json" else body
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# -- the broker as the image starts it, with RABBITMQ_DEFAULT_* set ---------------------------------------
@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    """entrypoint.sh --log-format json: an option first, so the broker runs with it appended."""
    tmp = tmp_path_factory.mktemp("entrypoint")
    port, http_port, metrics_port = free_ports(3)
    conf = loopback_conf(tmp, port, http_port, metrics_port)
    data = tmp / "volume" / "amqpd"  # missing: the entrypoint creates it
    env = clean_env(tmp, AMQPD_CONFIG_FILE=str(conf), AMQPD_DATA_DIR=str(data),
                    RABBITMQ_DEFAULT_USER=USER, RABBITMQ_DEFAULT_PASS=PASSWORD, RABBITMQ_DEFAULT_VHOST=VHOST)
    s = run_entrypoint(tmp, env, ("--log-format", "json"), port, http_port, metrics_port)
    yield s
    s.stop()


@needs_processes
def test_the_script_execs_amqpd_with_the_conf_file(custom):
    # exec: the process the "container runtime" started is amqpd itself (PID 1 in the image), not a shell.
    argv = cmdline(custom.proc.pid)
    assert Path(argv[1]).name == "amqpd", argv
    assert argv[2:] == ["--config", custom.env["AMQPD_CONFIG_FILE"], "--log-format", "json"]
    assert "python" in Path(os.readlink(f"/proc/{custom.proc.pid}/exe")).name
    # the data dir was created, and the broker writes there
    data = Path(custom.env["AMQPD_DATA_DIR"])
    assert data.is_dir() and any(data.iterdir())
    ready = [json.loads(line) for line in custom.log().splitlines() if READY in line]
    assert ready and ready[0]["listeners"] == [f"127.0.0.1:{custom.port}"]
    assert ready[0]["data_dir"] == str(data)
    assert ready[0]["config_file"] == custom.env["AMQPD_CONFIG_FILE"]


@needs_processes
def test_custom_user_password_and_vhost_work(custom, uniq):
    conn = connect(custom.port, USER, PASSWORD, VHOST)
    try:
        ch = conn.channel()
        q = ch.queue_declare(uniq("container"), durable=True).method.queue
        ch.confirm_delivery()
        ch.basic_publish("", q, b"hello", pika.BasicProperties(delivery_mode=2))
        method, _, body = ch.basic_get(q, auto_ack=True)
        assert method is not None and body == b"hello"
        ch.queue_delete(q)
    finally:
        conn.close()


@needs_processes
def test_guest_does_not_exist(custom):
    # As in RabbitMQ's image: with RABBITMQ_DEFAULT_USER set, guest is never created.
    with pytest.raises(pika.exceptions.ProbableAuthenticationError, match="ACCESS_REFUSED"):
        connect(custom.port, "guest", "guest", "/")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError, match="ACCESS_REFUSED"):
        connect(custom.port, "guest", "guest", VHOST)
    with pytest.raises(pika.exceptions.ProbableAuthenticationError, match="ACCESS_REFUSED"):
        connect(custom.port, USER, "wrong", VHOST)


@needs_processes
def test_only_the_custom_vhost_exists(custom):
    # RABBITMQ_DEFAULT_VHOST replaces "/", it is not created besides it.
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError, match="vhost / not found"):
        connect(custom.port, USER, PASSWORD, "/")


@needs_processes
def test_management_api_and_metrics_with_the_custom_user(custom):
    status, me = http_get(custom.http_port, "/api/whoami", USER, PASSWORD)
    assert status == 200 and me == {"name": USER, "tags": ["administrator"]}
    status, users = http_get(custom.http_port, "/api/users", USER, PASSWORD)
    assert status == 200 and [u["name"] for u in users] == [USER]
    status, vhosts = http_get(custom.http_port, "/api/vhosts", USER, PASSWORD)
    assert status == 200 and [v["name"] for v in vhosts] == [VHOST]
    status, perms = http_get(custom.http_port, f"/api/permissions/{VHOST}/{USER}", USER, PASSWORD)
    assert status == 200 and (perms["configure"], perms["write"], perms["read"]) == (".*", ".*", ".*")
    assert http_get(custom.http_port, "/api/whoami", "guest", "guest")[0] == 401
    status, metrics = http_get(custom.metrics_port, "/metrics", "", "")
    assert status == 200 and b"rabbitmq_" in metrics


@needs_processes
def test_healthcheck_command_finds_the_broker(custom):
    # The image's HEALTHCHECK: amqpctl -q ping, with AMQPD_CONFIG_FILE from the environment only.
    r = subprocess.run(["amqpctl", "-q", "ping"], env=custom.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Ping succeeded" in r.stdout
    # `docker run IMAGE amqpctl ...` / `docker exec`: a command first runs that command, same conf
    r = subprocess.run([str(ENTRYPOINT), "amqpctl", "-q", "check_running"], env=custom.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fully booted and running" in r.stdout


@needs_processes
def test_healthcheck_fails_without_a_broker(tmp_path):
    conf = loopback_conf(tmp_path, *free_ports(3))
    env = clean_env(tmp_path, AMQPD_CONFIG_FILE=str(conf))
    r = subprocess.run(["amqpctl", "-q", "-t", "5", "ping"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0


# -- lifecycle: SIGTERM, restart on the same volume ------------------------------------------------------
@needs_processes
def test_sigterm_stops_cleanly_and_the_volume_keeps_the_users(tmp_path):
    port, http_port, metrics_port = free_ports(3)
    conf = loopback_conf(tmp_path, port, http_port, metrics_port)
    data = tmp_path / "data"
    env = clean_env(tmp_path, AMQPD_CONFIG_FILE=str(conf), AMQPD_DATA_DIR=str(data),
                    RABBITMQ_DEFAULT_USER=USER, RABBITMQ_DEFAULT_PASS=PASSWORD, RABBITMQ_DEFAULT_VHOST=VHOST)
    first = run_entrypoint(tmp_path, env, (), port, http_port, metrics_port)
    try:
        conn = connect(port, USER, PASSWORD, VHOST)
        ch = conn.channel()
        ch.queue_declare("kept", durable=True)
        ch.confirm_delivery()
        ch.basic_publish("", "kept", b"persistent", pika.BasicProperties(delivery_mode=2))
        # docker stop: SIGTERM to PID 1, i.e. to amqpd itself since the script exec'd it
        os.kill(first.proc.pid, signal.SIGTERM)
        assert first.proc.wait(15) == 0, first.log()
        assert "shutting down" in first.log()
        assert "Traceback" not in first.log()
        # the client was told (320 CONNECTION_FORCED), and nothing listens any more
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker, match="320"):
            for _ in range(50):
                conn.process_data_events(0.1)
        with pytest.raises(OSError):
            wait_for_port("127.0.0.1", port, 0.5)
    finally:
        first.stop(signal.SIGKILL)

    # `docker run` again on the same volume, without the variables: users and vhost come from the data
    # dir, as in RabbitMQ (the RABBITMQ_DEFAULT_* only matter on the first start).
    env2 = {k: v for k, v in env.items() if not k.startswith("RABBITMQ_")}
    second = run_entrypoint(tmp_path, env2, ("amqpd",), port, http_port, metrics_port)
    try:
        assert cmdline(second.proc.pid)[2:] == ["--config", str(conf)]  # "amqpd" (the image's CMD) dropped
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            connect(port, "guest", "guest", "/")
        conn = connect(port, USER, PASSWORD, VHOST)
        method, _, body = conn.channel().basic_get("kept", auto_ack=True)
        assert method is not None and body == b"persistent"
        conn.close()
    finally:
        assert second.stop() == 0, second.log()


# -- the image's own conf file, unchanged ----------------------------------------------------------------
@needs_processes
def test_image_conf_as_shipped_with_defaults(tmp_path):
    """docker/amqpd.conf itself loads; AMQPD_BIND/AMQPD_PORT move AMQP to loopback and the HTTP listeners
    (0.0.0.0 in that file) are switched off. Without RABBITMQ_DEFAULT_* the default user is guest/guest on
    "/", like RabbitMQ's image. `amqpd ARGS` (the image's CMD plus options) is the broker too."""
    port = free_port()
    env = clean_env(tmp_path, AMQPD_CONFIG_FILE=str(IMAGE_CONF), AMQPD_DATA_DIR=str(tmp_path / "data"),
                    AMQPD_BIND="127.0.0.1", AMQPD_PORT=str(port),
                    AMQPD_MANAGEMENT_PORT="0", AMQPD_PROMETHEUS_PORT="0")
    s = run_entrypoint(tmp_path, env, ("amqpd", "--log-level", "debug"), port)
    try:
        assert cmdline(s.proc.pid)[2:] == ["--config", str(IMAGE_CONF), "--log-level", "debug"]
        log = s.log()
        assert f"127.0.0.1:{port}" in log
        assert "0.0.0.0" not in log
        conn = connect(port, "guest", "guest", "/")
        conn.close()
    finally:
        assert s.stop() == 0, s.log()


# -- not the broker: a command, and start-up errors ------------------------------------------------------
@needs_processes
def test_a_command_first_is_exec_d_instead(tmp_path):
    data = tmp_path / "not-created"
    env = clean_env(tmp_path, AMQPD_DATA_DIR=str(data))
    script = 'echo "$$|$AMQPD_CONFIG_FILE|$AMQPD_DATA_DIR|$*"'
    proc = subprocess.Popen([str(ENTRYPOINT), "sh", "-c", script, "sh", "one", "two words"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    pid, config_file, data_dir, args = out.strip().split("|")
    assert int(pid) == proc.pid  # exec'd in place of the script
    assert config_file == "/etc/amqpd/amqpd.conf"  # the image's default, exported for amqpctl
    assert data_dir == str(data)
    assert args == "one two words"
    assert not data.exists()  # no broker, no data dir preparation
    # the command's exit status is the container's
    r = subprocess.run([str(ENTRYPOINT), "sh", "-c", "exit 7"], env=env, capture_output=True, timeout=30)
    assert r.returncode == 7


@needs_processes
def test_missing_conf_file_is_reported(tmp_path):
    missing = tmp_path / "nope.conf"
    env = clean_env(tmp_path, AMQPD_CONFIG_FILE=str(missing), AMQPD_DATA_DIR=str(tmp_path / "data"))
    r = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"configuration file {missing} is missing" in r.stderr


@needs_processes
def test_unusable_data_dir_is_reported(tmp_path):
    conf = loopback_conf(tmp_path, *free_ports(3))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = clean_env(tmp_path, AMQPD_CONFIG_FILE=str(conf), AMQPD_DATA_DIR=str(blocker / "data"))
    r = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert f"cannot create the data directory {blocker / 'data'}" in r.stderr
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        env["AMQPD_DATA_DIR"] = str(ro)
        r = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "not writable" in r.stderr


# -- static checks: Dockerfile, .dockerignore, the image's conf, the compose example ---------------------
def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "dangling line continuation"
    return out


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def final_stage(instrs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(instrs) if word == "FROM")
    return instrs[last_from:]


def test_dockerfile_base_and_install():
    instrs = dockerfile_instructions()
    args = dict(a.split("=", 1) for w, a in instrs if w == "ARG" and "=" in a)
    froms = [a.split()[0] for w, a in instrs if w == "FROM"]
    assert froms, "no FROM"
    resolved = [re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), f) for f in froms]
    assert all(r == "python:3.11-slim" for r in resolved), resolved
    runs = " ".join(a for w, a in instrs if w == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs), "the package is installed with `pip install .`"
    assert not any(w == "ADD" and "http" in a for w, a in instrs)


def test_dockerfile_runs_as_a_non_root_user():
    final = final_stage(dockerfile_instructions())
    users = [a for w, a in final if w == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    runs = " ".join(a for w, a in final if w == "RUN")
    assert re.search(rf"useradd\b.*\b{re.escape(user)}\b", runs), f"user {user} is created"
    # the user owns the data volume
    assert re.search(rf"chown\s+{re.escape(user)}(:\w+)?\s+[^&]*/var/lib/amqpd", runs)


def test_dockerfile_volume_ports_and_environment():
    final = final_stage(dockerfile_instructions())
    volumes = [v for w, a in final if w == "VOLUME" for v in exec_form(a)]
    assert volumes == ["/var/lib/amqpd"]
    exposed = {p.split("/")[0] for w, a in final if w == "EXPOSE" for p in a.split()}
    assert {"5672", "15672", "15692"} <= exposed
    env: dict[str, str] = {}
    for w, a in final:
        if w == "ENV":
            for item in shlex.split(a):
                key, _, value = item.partition("=")
                env[key] = value
    assert env["AMQPD_CONFIG_FILE"] == "/etc/amqpd/amqpd.conf"
    assert env["AMQPD_DATA_DIR"] == "/var/lib/amqpd"
    assert env["PATH"].startswith("/opt/amqpd/bin:")
    copies = [a.split() for w, a in final if w == "COPY"]
    assert ["docker/amqpd.conf", "/etc/amqpd/amqpd.conf"] in copies


def test_dockerfile_healthcheck_and_entrypoint():
    final = final_stage(dockerfile_instructions())
    checks = [a for w, a in final if w == "HEALTHCHECK"]
    assert len(checks) == 1
    options, _, cmd = checks[0].partition("CMD ")
    assert exec_form(cmd.strip()) == ["amqpctl", "-q", "ping"]
    assert "--start-period" in options
    entrypoints = [exec_form(a) for w, a in final if w == "ENTRYPOINT"]
    assert len(entrypoints) == 1 and len(entrypoints[0]) == 1
    ep = entrypoints[0][0]
    copies = {a.split()[-1]: a.split()[-2] for w, a in final if w == "COPY" and "--from" not in a}
    dest = next(d for d, src in copies.items() if src == "docker/entrypoint.sh")
    assert ep == dest or (dest == f"/usr/local/bin/{ep}"), (ep, dest)
    assert [exec_form(a) for w, a in final if w == "CMD"] == [["amqpd"]]


def test_dockerignore_keeps_what_the_build_copies():
    lines = [x.strip() for x in DOCKERIGNORE.read_text().splitlines() if x.strip() and not x.startswith("#")]
    assert lines[0] == "*"
    kept = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    for w, a in dockerfile_instructions():
        if w == "COPY" and "--from" not in a:
            for src in a.split()[:-1]:
                top = src.split("/")[0]
                assert top in kept or src in kept, f"{src} is excluded by .dockerignore"


def test_entrypoint_is_an_executable_posix_script():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    for shell in ("sh", "dash", "bash"):
        path = next((Path(d) / shell for d in os.get_exec_path() if (Path(d) / shell).exists()), None)
        if path is None:
            continue
        flags = ["--posix", "-n"] if shell == "bash" else ["-n"]
        r = subprocess.run([str(path), *flags, str(ENTRYPOINT)], capture_output=True, text=True)
        assert r.returncode == 0, f"{shell}: {r.stderr}"


def test_image_conf_listens_on_all_interfaces():
    from amqpd.config import load_config

    cfg = load_config(IMAGE_CONF, env={})
    assert cfg.listeners == (("0.0.0.0", 5672),)
    assert (cfg.management_ip, cfg.management_port) == ("0.0.0.0", 15672)
    assert (cfg.prometheus_ip, cfg.prometheus_port) == ("0.0.0.0", 15692)
    assert "guest" not in cfg.loopback_users  # guest may log in from other containers, as in RabbitMQ's image
    assert (cfg.default_user, cfg.default_pass, cfg.default_vhost) == ("guest", "guest", "/")
    cfg = load_config(IMAGE_CONF, env={"RABBITMQ_DEFAULT_USER": USER, "RABBITMQ_DEFAULT_PASS": PASSWORD,
                                       "RABBITMQ_DEFAULT_VHOST": VHOST})
    assert (cfg.default_user, cfg.default_pass, cfg.default_vhost) == (USER, PASSWORD, VHOST)
    assert conf_lines(IMAGE_CONF)["listeners.tcp.default"] == "5672"


def test_compose_example():
    import yaml  # the test extra installs it

    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    broker = next(name for name, s in services.items() if "build" in s or "amqpd" in str(s.get("image", "")))
    b = services[broker]
    assert b["healthcheck"]["test"] == ["CMD", "amqpctl", "-q", "ping"]
    assert any(str(v).endswith(":/var/lib/amqpd") for v in b["volumes"])
    assert {"RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS"} <= set(b["environment"])
    ports = {str(p).rsplit(":", 1)[-1] for p in b["ports"]}
    assert {"5672", "15672", "15692"} <= ports
    apps = [s for name, s in services.items() if name != broker]
    assert apps and all(s["depends_on"][broker]["condition"] == "service_healthy" for s in apps)
    url = apps[0]["environment"]["AMQP_URL"]
    env = b["environment"]
    assert url == (f"amqp://{env['RABBITMQ_DEFAULT_USER']}:{env['RABBITMQ_DEFAULT_PASS']}@{broker}:5672/"
                   f"{env['RABBITMQ_DEFAULT_VHOST']}")
