"""amqpctl's client half without a broker: option parsing, rabbitmqctl's formatters, the socket name, the
documentation of every command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from amqpd.ctl import locate
from amqpd.ctl.main import Invocation, parse_command_args, run
from amqpd.ctl.output import table_value, write_json, write_table
from amqpd.ctl.registry import CtlError, load_all

ROOT = Path(__file__).resolve().parents[2]


def test_global_options_anywhere():
    inv = Invocation(["list_queues", "-p", "v1", "name", "-q", "--formatter=json", "--config", "/x.conf"])
    assert inv.rest == ["list_queues", "name"]
    assert inv.opts["vhost"] == "v1" and inv.quiet and inv.opts["formatter"] == "json"
    assert inv.opts["config"] == "/x.conf"
    silent = Invocation(["-s", "list_users"])
    assert silent.quiet and silent.opts["no_table_headers"]
    with pytest.raises(CtlError) as e:
        Invocation(["--formatter", "yaml", "list_users"])
    assert e.value.code == 64


def test_columns_checked_and_split_on_commas():
    cmd = load_all()["list_queues"]
    assert parse_command_args(cmd, ["name,messages", "consumers"])["columns"] == ["name", "messages", "consumers"]
    assert parse_command_args(cmd, [])["columns"] == ["name", "messages"]
    with pytest.raises(CtlError) as e:
        parse_command_args(cmd, ["name", "colour"])
    assert (e.value.code, e.value.text) == (64, "Error (argument validation): Info key(s) colour are not supported")


def test_table_values_as_rabbitmqctl_prints_them():
    assert table_value(True) == "true" and table_value(None) == "" and table_value(3) == "3"
    assert table_value(["policymaker", "management"]) == "[policymaker, management]"
    assert table_value([["x-max-length", "signedint", 10], ["x-queue-type", "longstr", "quorum"]]) == (
        '[{"x-max-length",10}, {"x-queue-type","quorum"}]')
    out = io.StringIO()
    write_table(out, ["name", "durable"], [{"name": "q", "durable": False}, {"name": "", "durable": True}], True)
    assert out.getvalue() == "name\tdurable\nq\tfalse\n\ttrue\n"


def test_json_formatter_layout():
    out = io.StringIO()
    write_json(out, ["name"], [{"name": "a", "x": 1}, {"name": "b"}])
    assert out.getvalue() == '[\n{"name":"a"}\n,{"name":"b"}\n]\n'


def test_socket_named_after_the_conf_file(tmp_path):
    env = {"AMQPD_RUNTIME_DIR": str(tmp_path)}
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    assert locate.control_socket(a, env) == locate.control_socket(Path(str(a)), env)
    assert locate.control_socket(a, env) != locate.control_socket(b, env)
    assert locate.control_socket(None, env) != locate.control_socket(a, env)
    assert locate.control_socket(a, env).parent == tmp_path
    assert locate.config_file(None, {"AMQPD_CONFIG_FILE": " /etc/amqpd.conf "}) == Path("/etc/amqpd.conf")
    assert locate.config_file("/given.conf", {"AMQPD_CONFIG_FILE": "/etc/amqpd.conf"}) == Path("/given.conf")
    assert len(str(locate.control_socket(a, {"XDG_RUNTIME_DIR": "/run/user/1000"}))) < 108  # sun_path


def test_unknown_command_and_help_need_no_broker():
    out, err = io.StringIO(), io.StringIO()
    assert run(["frobnicate"], out, err) == 64
    assert "Command 'frobnicate' not found." in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert run(["help", "move_messages"], out, err) == 0 and "--strip-x-death" in out.getvalue()


def test_every_command_is_documented():
    doc = (ROOT / "docs" / "cli.md").read_text()
    missing = [name for name in load_all() if f"`{name}" not in doc]
    assert not missing, f"docs/cli.md does not describe: {missing}"


def test_socket_directory_someone_else_made_is_refused(tmp_path):
    """/tmp/amqpd-<uid> is predictable: a directory another user made there is not trusted."""
    import os

    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    assert locate.untrusted(ours) is None
    assert locate.untrusted(tmp_path / "missing") is not None
    if os.geteuid() != 0:
        return  # making a directory owned by someone else needs root
    shared = tmp_path / "tmp"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    theirs = shared / "amqpd-0"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    assert "belongs to uid 65534" in locate.untrusted(theirs)
    os.chmod(shared, 0o755)  # e.g. /run: only root could have made it
    assert locate.untrusted(theirs) is None
