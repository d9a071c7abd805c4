"""Unit tests for amqpd.config: file syntax, every key, env vars, overrides and error messages."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from amqpd.config import Config, ConfigError, default_data_dir, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONF = REPO / "conf" / "amqpd.conf"


@pytest.fixture
def conf(tmp_path):
    """Write a config file named amqpd.conf and return its path."""

    def write(text: str, name: str = "amqpd.conf") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def load(path: Path | None = None, env: dict | None = None, **overrides) -> Config:
    return load_config(path, env=env or {}, overrides=overrides)


def error_of(path: Path | None = None, env: dict | None = None, **overrides) -> str:
    with pytest.raises(ConfigError) as info:
        load(path, env, **overrides)
    return str(info.value)


# ------------------------------------------------------------------------------------------- defaults


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = load()
    assert c.listeners == (("127.0.0.1", 5672),)
    assert (c.default_user, c.default_pass, c.default_vhost) == ("guest", "guest", "/")
    assert c.loopback_users == frozenset({"guest"})
    assert (c.heartbeat, c.frame_max, c.channel_max) == (60, 131072, 2047)
    assert c.max_message_size == 134217728
    assert c.handshake_timeout == 10000
    assert (c.log_level, c.log_format) == ("info", "plaintext")
    assert c.data_dir == tmp_path / "amqpd-data"
    assert c.config_file is None
    assert c.memory_high_watermark == 0.4
    assert c.memory_high_watermark_absolute is None
    assert c.queue_index_threshold == 100000


def test_defaults_match_dataclass_defaults():
    c = load()
    assert c == Config(data_dir=c.data_dir)


def test_config_is_frozen():
    c = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.heartbeat = 5  # type: ignore[misc]
    assert not hasattr(c, "__dict__")  # slots


def test_default_data_dir_uses_xdg_data_home(tmp_path):
    assert default_data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "amqpd"
    assert load(env={"XDG_DATA_HOME": str(tmp_path)}).data_dir == tmp_path / "amqpd"


def test_default_data_dir_without_xdg_is_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_data_dir({}) == tmp_path / "amqpd-data"
    assert default_data_dir({"XDG_DATA_HOME": ""}) == tmp_path / "amqpd-data"


def test_env_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("AMQPD_PORT", "5999")
    monkeypatch.delenv("AMQPD_BIND", raising=False)
    monkeypatch.delenv("AMQPD_CONFIG_FILE", raising=False)
    assert load_config().listeners == (("127.0.0.1", 5999),)


# ---------------------------------------------------------------------------------------- every key


def test_every_simple_key_parsed(conf, tmp_path):
    c = load(conf(
        "default_user = admin\n"
        "default_pass = hunter2\n"
        "default_vhost = prod\n"
        "heartbeat = 15\n"
        "frame_max = 8192\n"
        "channel_max = 100\n"
        "max_message_size = 1048576\n"
        "handshake_timeout = 2500\n"
        "log.console.level = debug\n"
        "log.console.formatter = json\n"
        "vm_memory_high_watermark.relative = 0.6\n"
        "amqpd.data_dir = /srv/amqpd\n"
        "amqpd.queue.index_threshold = 42\n"
    ))
    assert (c.default_user, c.default_pass, c.default_vhost) == ("admin", "hunter2", "prod")
    assert (c.heartbeat, c.frame_max, c.channel_max) == (15, 8192, 100)
    assert c.max_message_size == 1048576
    assert c.handshake_timeout == 2500
    assert (c.log_level, c.log_format) == ("debug", "json")
    assert c.memory_high_watermark == 0.6
    assert c.data_dir == Path("/srv/amqpd")
    assert c.queue_index_threshold == 42
    assert c.config_file == tmp_path / "amqpd.conf"


def test_range_boundaries_accepted(conf):
    c = load(conf("heartbeat = 0\nframe_max = 0\nchannel_max = 65535\nmax_message_size = 536870912\n"))
    assert (c.heartbeat, c.frame_max, c.channel_max, c.max_message_size) == (0, 0, 65535, 536870912)
    c = load(conf("heartbeat = 65535\nframe_max = 4096\nchannel_max = 0\nmax_message_size = 1\n"))
    assert (c.heartbeat, c.frame_max, c.channel_max, c.max_message_size) == (65535, 4096, 0, 1)
    assert load(conf("frame_max = 2147483647\n")).frame_max == 2**31 - 1


def test_log_format_alias(conf):
    assert load(conf("log.console.format = json\n")).log_format == "json"


@pytest.mark.parametrize(("raw", "level"), [
    ("debug", "debug"), ("INFO", "info"), ("warning", "warning"), ("warn", "warning"),
    ("error", "error"), ("critical", "critical"), ("none", "none"),
    ("notice", "info"), ("alert", "critical"), ("emergency", "critical"),
])
def test_log_levels(conf, raw, level):
    assert load(conf(f"log.console.level = {raw}\n")).log_level == level


def test_log_console_false_disables_logging_regardless_of_order(conf):
    assert load(conf("log.console = false\nlog.console.level = debug\n")).log_level == "none"
    assert load(conf("log.console.level = debug\nlog.console = false\n")).log_level == "none"
    assert load(conf("log.console.level = debug\nlog.console = true\n")).log_level == "debug"


def test_env_log_level_beats_log_console_false(conf):
    assert load(conf("log.console = false\n"), env={"AMQPD_LOG_LEVEL": "error"}).log_level == "error"


def test_last_repeated_key_wins(conf):
    assert load(conf("heartbeat = 10\nheartbeat = 20\n")).heartbeat == 20


def test_comments_blank_lines_whitespace_and_quotes(conf):
    c = load(conf(
        "# leading comment\n"
        "\n"
        "   # indented comment\n"
        "  heartbeat   =   30   \n"
        "default_user=bob\n"
        "default_pass = \"p#ss word\"  # quoted keeps the hash\n"
        "default_vhost = v#1 # trailing comment\n"
        "\tchannel_max\t=\t7\n"
    ))
    assert c.heartbeat == 30
    assert c.default_user == "bob"
    assert c.default_pass == "p#ss word"
    assert c.default_vhost == "v#1"
    assert c.channel_max == 7


def test_crlf_line_endings(conf, tmp_path):
    path = tmp_path / "crlf.conf"
    path.write_bytes(b"heartbeat = 9\r\nchannel_max = 3\r\n")
    c = load(path)
    assert (c.heartbeat, c.channel_max) == (9, 3)


def test_empty_file_gives_defaults(conf):
    c = load(conf("# nothing here\n\n"))
    assert dataclasses.replace(c, config_file=None) == Config(data_dir=c.data_dir)


# ----------------------------------------------------------------------------------------- listeners


@pytest.mark.parametrize(("raw", "expected"), [
    ("5673", ("0.0.0.0", 5673)),
    ("127.0.0.1:5673", ("127.0.0.1", 5673)),
    ("localhost:5673", ("localhost", 5673)),
    ("[::1]:5673", ("::1", 5673)),
    ("::1:5673", ("::1", 5673)),
    ("[::]:5673", ("::", 5673)),
    ("0.0.0.0:1", ("0.0.0.0", 1)),
    ("10.0.0.1:65535", ("10.0.0.1", 65535)),
])
def test_listener_forms(conf, raw, expected):
    assert load(conf(f"listeners.tcp.default = {raw}\n")).listeners == (expected,)


def test_several_named_listeners_in_file_order(conf):
    c = load(conf(
        "listeners.tcp.b = 127.0.0.1:6000\n"
        "listeners.tcp.a = [::1]:6001\n"
        "listeners.tcp.b = 127.0.0.1:6002\n"
    ))
    assert c.listeners == (("127.0.0.1", 6002), ("::1", 6001))


def test_duplicate_listener_addresses_bound_once(conf):
    c = load(conf("listeners.tcp.x = 0.0.0.0:6000\nlisteners.tcp.y = 6000\n"))
    assert c.listeners == (("0.0.0.0", 6000),)


@pytest.mark.parametrize("raw", [
    "0", "65536", "abc", "host:", ":5672", "host:port", "[::1:5672", "a b:5672",
    "1.2.3.4:5:6", "[::1]", "-1",
])
def test_bad_listener_values(conf, raw):
    msg = error_of(conf(f"heartbeat = 5\nlisteners.tcp.default = {raw}\n"))
    assert "amqpd.conf:2:" in msg
    assert "'listeners.tcp.default'" in msg


def test_listeners_tcp_none_is_an_error(conf):
    msg = error_of(conf("listeners.tcp = none\n"))
    assert "amqpd.conf:1:" in msg
    assert "listeners.tcp" in msg
    assert "at least one" in msg


def test_listeners_tcp_other_value_is_an_error(conf):
    assert "amqpd.conf:1:" in error_of(conf("listeners.tcp = 5672\n"))


def test_listener_with_empty_name_is_unknown_key(conf):
    assert "unknown key 'listeners.tcp.'" in error_of(conf("listeners.tcp. = 5672\n"))


# ------------------------------------------------------------------------------------ loopback_users


def test_loopback_users_none(conf):
    assert load(conf("loopback_users = none\n")).loopback_users == frozenset()


def test_loopback_users_per_user(conf):
    assert load(conf("loopback_users.guest = false\n")).loopback_users == frozenset()
    c = load(conf("loopback_users.alice = true\nloopback_users.bob = TRUE\n"))
    assert c.loopback_users == frozenset({"guest", "alice", "bob"})


def test_loopback_users_applied_in_order(conf):
    c = load(conf("loopback_users.alice = true\nloopback_users = none\nloopback_users.bob = true\n"))
    assert c.loopback_users == frozenset({"bob"})


def test_loopback_users_bad_values(conf):
    assert "amqpd.conf:1:" in error_of(conf("loopback_users = guest\n"))
    msg = error_of(conf("loopback_users.guest = maybe\n"))
    assert "amqpd.conf:1:" in msg and "true or false" in msg


# -------------------------------------------------------------------------------------------- memory


@pytest.mark.parametrize(("raw", "expected"), [
    ("1073741824", 1073741824),
    ("1GB", 10**9),
    ("1gb", 10**9),
    ("512MiB", 512 * 2**20),
    ("512M", 512 * 2**20),
    ("2 GiB", 2 * 2**30),
    ("100kB", 100_000),
    ("100KiB", 102400),
    ("1T", 2**40),
])
def test_absolute_watermark(conf, raw, expected):
    c = load(conf(f"vm_memory_high_watermark.absolute = {raw}\n"))
    assert c.memory_high_watermark_absolute == expected


@pytest.mark.parametrize("raw", ["0", "-1GB", "1.5GB", "lots", "10 parsecs", "GB"])
def test_bad_absolute_watermark(conf, raw):
    msg = error_of(conf(f"vm_memory_high_watermark.absolute = {raw}\n"))
    assert "amqpd.conf:1:" in msg and "vm_memory_high_watermark.absolute" in msg


def test_last_watermark_form_wins(conf):
    c = load(conf("vm_memory_high_watermark.absolute = 1GB\nvm_memory_high_watermark.relative = 0.5\n"))
    assert (c.memory_high_watermark, c.memory_high_watermark_absolute) == (0.5, None)
    c = load(conf("vm_memory_high_watermark.relative = 0.5\nvm_memory_high_watermark.absolute = 1GB\n"))
    assert c.memory_high_watermark_absolute == 10**9


def test_disk_free_limit(conf):
    assert load(conf("")).disk_free_limit == 50_000_000  # RabbitMQ's default
    c = load(conf("disk_free_limit.relative = 1.5\ndisk_free_limit.absolute = 2GiB\n"))
    assert (c.disk_free_limit, c.disk_free_limit_relative) == (2 * 2**30, None)
    c = load(conf("disk_free_limit.absolute = 2GiB\ndisk_free_limit.relative = 1.5\n"))
    assert c.disk_free_limit_relative == 1.5
    for bad in ("disk_free_limit.absolute = lots", "disk_free_limit.relative = -1", "disk_free_limit.relative = x"):
        msg = error_of(conf(bad + "\n"))
        assert "amqpd.conf:1:" in msg and bad.split(" = ")[0] in msg, msg


@pytest.mark.parametrize("raw", ["0", "1.5", "-0.1", "nan", "inf", "half"])
def test_bad_relative_watermark(conf, raw):
    assert "amqpd.conf:1:" in error_of(conf(f"vm_memory_high_watermark.relative = {raw}\n"))


def test_relative_watermark_accepts_one(conf):
    assert load(conf("vm_memory_high_watermark.relative = 1\n")).memory_high_watermark == 1.0


# ------------------------------------------------------------------------------------------ data dir


def test_relative_data_dir_in_file_is_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "amqpd.conf"
    path.write_text("amqpd.data_dir = ../var/data\n")
    monkeypatch.chdir("/")
    assert load(path).data_dir == tmp_path / "etc" / ".." / "var" / "data"


def test_data_dir_expands_user(conf, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load(conf("amqpd.data_dir = ~/broker\n")).data_dir == tmp_path / "broker"


def test_relative_data_dir_from_env_and_flag_is_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load(env={"AMQPD_DATA_DIR": "d1"}).data_dir == tmp_path / "d1"
    assert load(data_dir="d2").data_dir == tmp_path / "d2"


# -------------------------------------------------------------------------------------------- errors


def test_unknown_key_names_file_line_and_key(conf):
    msg = error_of(conf("# header\n\nheartbeat = 5\n\nchannel_max = 9\n\nhearbeat = 30\n"))
    assert "amqpd.conf:7: unknown key 'hearbeat'" in msg
    assert "did you mean 'heartbeat'" in msg


def test_unknown_key_message_starts_with_the_path_given(tmp_path):
    path = tmp_path / "my.conf"
    path.write_text("web_stomp.tcp.port = 15674\n")
    assert str(error_of(path)) == f"{path}:1: unknown key 'web_stomp.tcp.port'"


@pytest.mark.parametrize(("line", "problem"), [
    ("heartbeat = abc", "not an integer"),
    ("heartbeat = 1.5", "not an integer"),
    ("heartbeat = -1", "between 0 and 65535"),
    ("heartbeat = 65536", "between 0 and 65535"),
    ("frame_max = 100", "4096"),
    ("frame_max = 4095", "4096"),
    ("frame_max = 2147483648", "4096"),
    ("frame_max = -1", "4096"),
    ("channel_max = 70000", "between 0 and 65535"),
    ("max_message_size = 0", "between 1 and 536870912"),
    ("max_message_size = 536870913", "between 1 and 536870912"),
    ("handshake_timeout = 0", "between 1"),
    ("amqpd.queue.index_threshold = -5", "between 0"),
    ("log.console.level = loud", "debug, info, warning, error, critical, none"),
    ("log.console.formatter = xml", "plaintext, json"),
    ("log.console.format = yaml", "plaintext, json"),
    ("log.console = maybe", "true or false"),
    ("default_user =", "must not be empty"),
    ('default_pass = ""', "must not be empty"),
])
def test_bad_values_name_file_line_key_and_problem(conf, line, problem):
    key = line.split("=")[0].strip()
    msg = error_of(conf(f"# comment\n{line}\n"))
    assert "amqpd.conf:2:" in msg
    assert f"'{key}'" in msg
    assert problem in msg


@pytest.mark.parametrize("line", [
    "heartbeat",
    "heartbeat 30",
    "= 30",
    "heart beat = 30",
    'default_pass = "unterminated',
    'default_pass = "a" b',
])
def test_malformed_lines(conf, line):
    msg = error_of(conf(f"heartbeat = 1\n{line}\n"))
    assert "amqpd.conf:2:" in msg
    assert "malformed line" in msg


def test_first_error_stops_loading(conf):
    msg = error_of(conf("bogus = 1\nheartbeat = x\n"))
    assert "amqpd.conf:1:" in msg and "bogus" in msg


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.conf"
    msg = error_of(missing)
    assert str(missing) in msg and "not found" in msg


def test_missing_config_file_from_env(tmp_path):
    missing = tmp_path / "nope.conf"
    assert str(missing) in error_of(env={"AMQPD_CONFIG_FILE": str(missing)})


def test_directory_as_config_file(tmp_path):
    assert str(tmp_path) in error_of(tmp_path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "bin.conf"
    path.write_bytes(b"heartbeat = \xff\xfe\n")
    assert str(path) in error_of(path)


# -------------------------------------------------------------------------------------- environment


def test_every_env_var(tmp_path):
    c = load(env={
        "AMQPD_BIND": "0.0.0.0",
        "AMQPD_PORT": "5680",
        "AMQPD_DATA_DIR": str(tmp_path / "d"),
        "AMQPD_LOG_LEVEL": "warning",
        "AMQPD_LOG_FORMAT": "json",
        "AMQPD_DEFAULT_USER": "admin",
        "AMQPD_DEFAULT_PASS": "pw",
    })
    assert c.listeners == (("0.0.0.0", 5680),)
    assert c.data_dir == tmp_path / "d"
    assert (c.log_level, c.log_format) == ("warning", "json")
    assert (c.default_user, c.default_pass) == ("admin", "pw")


def test_env_config_file(conf):
    path = conf("heartbeat = 7\n")
    c = load(env={"AMQPD_CONFIG_FILE": str(path)})
    assert c.heartbeat == 7
    assert c.config_file == path


def test_config_file_argument_beats_env_config_file(conf, tmp_path):
    used = conf("heartbeat = 7\n", name="used.conf")
    ignored = conf("heartbeat = 8\n", name="ignored.conf")
    c = load(used, env={"AMQPD_CONFIG_FILE": str(ignored)})
    assert (c.heartbeat, c.config_file) == (7, used)


@pytest.mark.parametrize(("var", "value"), [
    ("AMQPD_PORT", "http"),
    ("AMQPD_PORT", "0"),
    ("AMQPD_PORT", "65536"),
    ("AMQPD_BIND", "1.2.3.4:5672"),
    ("AMQPD_BIND", "a host"),
    ("AMQPD_LOG_LEVEL", "loud"),
    ("AMQPD_LOG_FORMAT", "xml"),
])
def test_bad_env_values_name_the_variable(var, value):
    msg = error_of(env={var: value})
    assert var in msg and repr(value) in msg


def test_empty_env_vars_are_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = load(env={"AMQPD_PORT": "", "AMQPD_BIND": " ", "AMQPD_DEFAULT_USER": "", "AMQPD_CONFIG_FILE": ""})
    assert c == Config(data_dir=tmp_path / "amqpd-data")


def test_env_bind_accepts_bracketed_ipv6():
    assert load(env={"AMQPD_BIND": "[::1]"}).listeners == (("::1", 5672),)


# ------------------------------------------------------------------------------------------ precedence


def test_precedence_file_env_overrides(conf, tmp_path):
    path = conf(
        "listeners.tcp.default = 10.0.0.1:6000\n"
        "listeners.tcp.other = 10.0.0.2:6001\n"
        "log.console.level = debug\n"
        "log.console.formatter = json\n"
        "default_user = fileuser\n"
        f"amqpd.data_dir = {tmp_path / 'file'}\n"
    )
    file_only = load(path)
    assert file_only.listeners == (("10.0.0.1", 6000), ("10.0.0.2", 6001))
    assert file_only.log_level == "debug"
    assert file_only.data_dir == tmp_path / "file"

    env = {"AMQPD_LOG_LEVEL": "error", "AMQPD_DATA_DIR": str(tmp_path / "env"), "AMQPD_PORT": "7000"}
    with_env = load(path, env=env)
    assert with_env.log_level == "error"
    assert with_env.data_dir == tmp_path / "env"
    assert with_env.listeners == (("10.0.0.1", 7000),)
    assert with_env.log_format == "json"
    assert with_env.default_user == "fileuser"

    full = load(path, env=env, log_level="critical", data_dir=tmp_path / "flag", bind="127.0.0.2")
    assert full.log_level == "critical"
    assert full.data_dir == tmp_path / "flag"
    assert full.listeners == (("127.0.0.2", 7000),)
    assert full.log_format == "json"


def test_env_beats_file_for_user_and_password(conf):
    c = load(conf("default_user = a\ndefault_pass = b\n"),
             env={"AMQPD_DEFAULT_USER": "c", "AMQPD_DEFAULT_PASS": "d"})
    assert (c.default_user, c.default_pass) == ("c", "d")


def test_override_log_format_beats_env():
    assert load(env={"AMQPD_LOG_FORMAT": "json"}, log_format="plaintext").log_format == "plaintext"


def test_override_port_keeps_first_listener_host(conf):
    c = load(conf("listeners.tcp.a = [::1]:5672\nlisteners.tcp.b = 10.0.0.1:5673\n"), port=5680)
    assert c.listeners == (("::1", 5680),)


def test_override_bind_keeps_first_listener_port(conf):
    c = load(conf("listeners.tcp.a = 10.0.0.1:6000\nlisteners.tcp.b = 6001\n"), bind="0.0.0.0")
    assert c.listeners == (("0.0.0.0", 6000),)


def test_override_bind_and_port_with_defaults():
    assert load(port=5999).listeners == (("127.0.0.1", 5999),)
    assert load(bind="0.0.0.0").listeners == (("0.0.0.0", 5672),)
    assert load(bind="::1", port="6000").listeners == (("::1", 6000),)


def test_env_bind_and_flag_port_combine():
    assert load(env={"AMQPD_BIND": "0.0.0.0"}, port=5673).listeners == (("0.0.0.0", 5673),)


def test_none_overrides_are_ignored(conf):
    c = load(conf("heartbeat = 3\nlisteners.tcp.a = 6000\n"), env={"AMQPD_LOG_LEVEL": "debug"},
             bind=None, port=None, data_dir=None, log_level=None, log_format=None)
    assert c.listeners == (("0.0.0.0", 6000),)
    assert c.log_level == "debug"


@pytest.mark.parametrize(("flag", "value", "name"), [
    ("port", "abc", "--port"),
    ("port", 0, "--port"),
    ("log_level", "loud", "--log-level"),
    ("log_format", "xml", "--log-format"),
    ("bind", "", "--bind"),
    ("data_dir", "", "--data-dir"),
])
def test_bad_override_values_name_the_flag(flag, value, name):
    msg = error_of(**{flag: value})
    assert msg.startswith(f"{name}: invalid value")


def test_unknown_override_rejected():
    assert "heartbeat" in error_of(heartbeat=5)


# ------------------------------------------------------------------------------------------ example


def test_example_conf_loads_and_is_all_defaults(tmp_path):
    c = load(EXAMPLE_CONF, env={"XDG_DATA_HOME": str(tmp_path)})
    assert c.config_file == EXAMPLE_CONF
    assert dataclasses.replace(c, config_file=None) == Config(data_dir=tmp_path / "amqpd")


def test_example_conf_mentions_every_accepted_key():
    text = EXAMPLE_CONF.read_text()
    for key in [
        "listeners.tcp.default", "listeners.tcp", "default_user", "default_pass", "default_vhost",
        "loopback_users", "loopback_users.guest", "heartbeat", "frame_max", "channel_max",
        "max_message_size", "handshake_timeout", "log.console.level", "log.console.formatter",
        "log.console.format", "log.console", "vm_memory_high_watermark.relative",
        "vm_memory_high_watermark.absolute", "amqpd.data_dir", "amqpd.queue.index_threshold",
        "cluster_name", "amqpd.server_properties.product", "amqpd.trace.vhosts", "consumer_timeout",
        "disk_free_limit.absolute", "disk_free_limit.relative", "connection_max",
        "consumer_max_per_channel", "tcp_listen_options.send_timeout",
    ]:
        assert f"{key} = " in text, key


def test_consumer_max_per_channel(tmp_path):
    path = tmp_path / "c.conf"
    for raw, want in (("5", 5), ("infinity", None), ("0", 0)):
        path.write_text(f"consumer_max_per_channel = {raw}\n")
        assert load(path).consumer_max_per_channel == want
    path.write_text("consumer_max_per_channel = lots\n")
    with pytest.raises(ConfigError, match="consumer_max_per_channel"):
        load(path)


def test_example_conf_commented_settings_are_valid(tmp_path):
    # Uncommenting any example setting (except the documented-invalid "listeners.tcp = none") must load.
    lines = [m.group(1) for m in re.finditer(r"^# ([a-z0-9_.]+ = \S+)$", EXAMPLE_CONF.read_text(), re.M)]
    lines.remove("listeners.tcp = none")
    assert len(lines) >= 8
    for line in lines:
        path = tmp_path / "one.conf"
        path.write_text(line + "\n")
        load(path)


def test_statistics_and_prometheus_keys(conf):
    c = load(conf("collect_statistics_interval = 1000\nprometheus.tcp.port = 9419\nprometheus.tcp.ip = 0.0.0.0\n"
                  "prometheus.return_per_object_metrics = true\n"))
    assert (c.collect_statistics_interval, c.prometheus_port, c.prometheus_ip) == (1000, 9419, "0.0.0.0")
    assert c.prometheus_per_object is True
    assert load(conf("prometheus.tcp.port = 0\n")).prometheus_port == 0
    for bad in ("collect_statistics_interval = 0\n", "prometheus.tcp.port = 70000\n",
                "prometheus.return_per_object_metrics = maybe\n"):
        with pytest.raises(ConfigError):
            load(conf(bad))


def test_prometheus_port_from_env_and_flag(tmp_path):
    c = load_config(None, env={"AMQPD_PROMETHEUS_PORT": "9000", "XDG_DATA_HOME": str(tmp_path)})
    assert c.prometheus_port == 9000
    c = load_config(None, env={"AMQPD_PROMETHEUS_PORT": "9000", "XDG_DATA_HOME": str(tmp_path)},
                    overrides={"prometheus_port": 0})
    assert c.prometheus_port == 0
