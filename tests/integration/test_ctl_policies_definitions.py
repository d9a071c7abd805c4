"""amqpctl's policy, parameter, definitions and tracing commands against a real amqpd: the banners, tables,
JSON, exit codes and error texts rabbitmqctl 3.10.8 prints (recorded from RabbitMQ 3.10.8), and that each
change really happens: a policy applies to queues (seen through the management API and by AMQP clients),
an export imported into a fresh broker restores users, vhosts, queues and policies, tracing copies
messages to amq.rabbitmq.trace."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pika
import pytest
from conftest import start_amqpd
from ctl_helpers import amqpctl, check, conf_of, module_broker
from helpers import close_quietly
from mgmt_helpers import Api

pytestmark = [pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd"),
              pytest.mark.timeout(120)]

V = "pol-v"
STARTED = "Successfully started definition import. This process is asynchronous and can take some time.\n"
HEADER = "vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n"


@pytest.fixture(scope="module")
def b(tmp_path_factory):
    yield from module_broker(tmp_path_factory, "ctl-pol")


@pytest.fixture(scope="module")
def ctl(b):
    conf = conf_of(b)
    for argv in (("add_vhost", V), ("set_permissions", "-p", V, "guest", ".*", ".*", ".*")):
        r = amqpctl(*argv, conf=conf)
        assert r.code == 0, r
    return lambda *args, **kw: amqpctl(*args, conf=conf, **kw)


@pytest.fixture(scope="module")
def api(b):
    return Api(b.http_port)


def usage_error(r, first: str) -> None:
    assert r.code == 64 and r.out == "", r
    assert r.err.startswith(first + "\nArguments given:\n"), r


def connect(b, vhost: str = V, user: str = "guest", password: str = "guest") -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=b.host, port=b.port, virtual_host=vhost, credentials=pika.PlainCredentials(user, password),
        heartbeat=0, connection_attempts=1))


def queue(api: Api, vhost: str, name: str) -> dict:
    r = api.get(f"/queues/{vhost.replace('/', '%2F')}/{name}")
    assert r.status == 200, r
    return r.body


# -- policies -------------------------------------------------------------------------------------------
def test_policies_apply_and_list(b, ctl, api):
    check(ctl("list_policies", "-p", V), 0, f'Listing policies for vhost "{V}" ...\n\n', "")
    check(ctl("-q", "list_policies", "-p", V), 0, "\n")
    check(ctl("list_policies", "-p", V, "--formatter", "json"), 0, "[]\n")
    conn = connect(b)
    try:
        ch = conn.channel()
        ch.queue_declare("pol-q1", durable=True)
        ch.queue_declare("other-q")
        check(ctl("set_policy", "-p", V, "pol-max", "^pol-q", '{"max-length": 2}', "--apply-to", "queues",
                  "--priority", "1"), 0,
              'Setting policy "pol-max" for pattern "^pol-q" to "{"max-length": 2}" with priority "1" for vhost '
              f'"{V}" ...\n', "")
        q = queue(api, V, "pol-q1")
        assert q["policy"] == "pol-max" and q["effective_policy_definition"] == {"max-length": 2}, q
        assert queue(api, V, "other-q").get("policy") is None
        for i in range(5):
            ch.basic_publish("", "pol-q1", f"m{i}".encode())
        ch.queue_declare("pol-q2")  # declared after the policy: it applies at declare too
        for i in range(4):
            ch.basic_publish("", "pol-q2", f"m{i}".encode())
        assert ch.queue_declare("pol-q1", passive=True, durable=True).method.message_count == 2
        assert ch.queue_declare("pol-q2", passive=True).method.message_count == 2
        # switches before the positional arguments, a negative priority, an exchange policy
        check(ctl("set_policy", "-p", V, "--priority", "-2", "pol-low", "^pol-", '{"message-ttl": 5000}'), 0,
              'Setting policy "pol-low" for pattern "^pol-" to "{"message-ttl": 5000}" with priority "-2" for '
              f'vhost "{V}" ...\n')
        check(ctl("set_policy", "-p", V, "pol-ae", "^pol-x", '{"alternate-exchange": "amq.fanout"}',
                  "--apply-to=exchanges"), 0)
        rows = ['{"max-length":2}', '{"message-ttl":5000}', '{"alternate-exchange":"amq.fanout"}']
        table = (f"{V}\tpol-low\t^pol-\tall\t{rows[1]}\t-2\n{V}\tpol-ae\t^pol-x\texchanges\t{rows[2]}\t0\n"
                 f"{V}\tpol-max\t^pol-q\tqueues\t{rows[0]}\t1\n")  # by priority, lowest first
        check(ctl("list_policies", "-p", V), 0, f'Listing policies for vhost "{V}" ...\n{HEADER}{table}', "")
        check(ctl("-q", "list_policies", "-p", V), 0, HEADER + table)
        check(ctl("list_policies", "-p", V, "--no-table-headers"), 0,
              f'Listing policies for vhost "{V}" ...\n{table}')
        check(ctl("-s", "list_policies", "-p", V), 0, table)
        r = ctl("list_policies", "-p", V, "--formatter", "json")
        assert r.out.startswith("[\n{") and r.out.endswith("}\n]\n"), r
        assert json.loads(r.out)[2] == {"vhost": V, "name": "pol-max", "pattern": "^pol-q", "apply-to": "queues",
                                        "definition": rows[0], "priority": 1}
        assert list(json.loads(r.out)[0]) == ["vhost", "name", "pattern", "apply-to", "definition", "priority"]

        # clearing gives the queues back their own settings
        check(ctl("clear_policy", "-p", V, "pol-max"), 0, f'Clearing policy "pol-max" on vhost "{V}" ...\n', "")
        assert queue(api, V, "pol-q1")["policy"] == "pol-low"
        for i in range(3):
            ch.basic_publish("", "pol-q1", f"n{i}".encode())
        assert ch.queue_declare("pol-q1", passive=True, durable=True).method.message_count == 5
        check(ctl("clear_policy", "-p", V, "pol-max"), 69, f'Clearing policy "pol-max" on vhost "{V}" ...\n',
              "Error:\nParameter does not exist\n")
        check(ctl("clear_policy", "-p", "pol-nohost", "pol-max"), 69, None, "Error:\nParameter does not exist\n")
        check(ctl("clear_policy", "-p", V, "pol-low", "--formatter", "json"), 0, None, "")
        check(ctl("-q", "clear_policy", "-p", V, "pol-ae"), 0, "", "")
        assert queue(api, V, "pol-q1").get("policy") is None
        ch.queue_delete("pol-q1")
        ch.queue_delete("pol-q2")
        ch.queue_delete("other-q")
    finally:
        close_quietly(conn)


def test_set_policy_refused(ctl):
    banner = ('Setting policy "pol-bad" for pattern "^x" to "{}" with priority "0" for vhost "' + V + '" ...\n')
    check(ctl("set_policy", "-p", V, "pol-bad", "^x", '{"max-length": "many"}'), 69,
          banner.replace("{}", '{"max-length": "many"}'),
          'Error:\nValidation failed\n\n<<"many">> is not a valid maximum length\n\n')
    check(ctl("set_policy", "-p", V, "pol-bad", "^x", "{max-length"), 69, banner.replace("{}", "{max-length"),
          "Error:\nJSON decoding error. Reason: badarg\n")
    check(ctl("set_policy", "-p", V, "pol-bad", "^x", '{"colour": 1}'), 69, None,
          'Error:\nValidation failed\n\n[{<<"colour">>,1}] are not recognised policy settings\n\n')
    check(ctl("set_policy", "-p", V, "pol-bad", "^x", '{"max-length": 1}', "--apply-to", "foo"), 69, None,
          "Error:\nValidation failed\n\napply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'\n\n")
    check(ctl("set_policy", "-p", V, "pol-bad", "(", '{"max-length": 1}'), 69, None,
          'Error:\nValidation failed\n\npattern should be regular expression but is invalid: {"missing )",1}\n\n')
    check(ctl("set_policy", "-p", "pol-nohost", "pol-bad", "^x", '{"max-length": 1}'), 65,
          'Setting policy "pol-bad" for pattern "^x" to "{"max-length": 1}" with priority "0" for vhost '
          '"pol-nohost" ...\n', "Virtual host 'pol-nohost' does not exist\n")
    r = ctl("set_policy", "pol-bad", "^x", '{"max-length": 1}', "--priority", "1.5")
    usage_error(r, "Error (argument validation): Invalid options for this command:\n--priority : 1.5")
    r = ctl("set_policy", "pol-bad", "^x", '{"max-length": 1}', "--colour", "1")
    usage_error(r, "Error (argument validation): Invalid options for this command:\n--colour : ")
    usage_error(ctl("set_policy", "pol-bad", "^x", '{"max-length": 1}', "--apply-to"),
                "Error (argument validation): Invalid options for this command:\n--apply-to : ")
    usage_error(ctl("set_policy", "pol-bad"), "Error (argument validation): not enough arguments.")
    usage_error(ctl("set_policy", "a", "b", "c", "d"), "Error (argument validation): too many arguments.")
    usage_error(ctl("clear_policy"), "Error (argument validation): not enough arguments.")
    usage_error(ctl("list_policies", "name"), "Error (argument validation): too many arguments.")
    check(ctl("list_policies", "-p", "pol-nohost"), 65, 'Listing policies for vhost "pol-nohost" ...\n',
          "Virtual host 'pol-nohost' does not exist\n")
    check(ctl("list_policies", "-p", "pol-nohost", "--formatter", "json"), 65, "",
          "Virtual host 'pol-nohost' does not exist\n")
    assert ctl("list_policies", "-p", V).out == f'Listing policies for vhost "{V}" ...\n\n'


def test_operator_policies(b, ctl, api):
    conn = connect(b)
    try:
        ch = conn.channel()
        ch.queue_declare("pol-op-q", arguments={"x-max-length": 10})
        check(ctl("set_operator_policy", "-p", V, "pol-op", "^pol-op", '{"max-length": 3}', "--apply-to",
                  "queues"), 0,
              'Setting operator policy override "pol-op" for pattern "^pol-op" to "{"max-length": 3}" with priority '
              f'"0" for vhost "{V}" ...\n', "")
        q = queue(api, V, "pol-op-q")
        assert q["operator_policy"] == "pol-op" and q["effective_policy_definition"] == {"max-length": 3}, q
        for i in range(6):
            ch.basic_publish("", "pol-op-q", f"m{i}".encode())
        assert ch.queue_declare("pol-op-q", passive=True).method.message_count == 3
        check(ctl("set_operator_policy", "-p", V, "pol-op2", "^x", '{"ha-mode": "all"}'), 69, None,
              'Error:\nValidation failed\n\n[{<<"ha-mode">>,<<"all">>}] are not recognised policy settings\n\n')
        check(ctl("set_operator_policy", "-p", "pol-nohost", "pol-op2", "^x", '{"max-length": 1}'), 65, None,
              "Virtual host 'pol-nohost' does not exist\n")
        check(ctl("list_operator_policies", "-p", V), 0,
              f'Listing operator policy overrides for vhost "{V}" ...\n{HEADER}'
              f'{V}\tpol-op\t^pol-op\tqueues\t{{"max-length":3}}\t0\n', "")
        assert json.loads(ctl("list_operator_policies", "-p", V, "--formatter", "json").out)[0]["definition"] == \
            '{"max-length":3}'
        check(ctl("list_operator_policies", "-p", "pol-nohost"), 65, None, "Virtual host 'pol-nohost' does not exist\n")
        # an operator policy is not a policy
        check(ctl("clear_policy", "-p", V, "pol-op"), 69, None, "Error:\nParameter does not exist\n")
        check(ctl("clear_operator_policy", "-p", V, "pol-op"), 0,
              f'Clearing operator policy "pol-op" on vhost "{V}" ...\n', "")
        assert queue(api, V, "pol-op-q").get("operator_policy") is None
        check(ctl("clear_operator_policy", "-p", V, "pol-op"), 69, None, "Error:\nParameter does not exist\n")
        ch.queue_delete("pol-op-q")
    finally:
        close_quietly(conn)


# -- runtime and global parameters -----------------------------------------------------------------------
def test_parameters(ctl, api):
    check(ctl("list_parameters", "-p", V), 0, f'Listing runtime parameters for vhost "{V}" ...\n\n', "")
    check(ctl("list_parameters", "-p", V, "--formatter", "json"), 0, "[]\n")
    check(ctl("list_parameters", "-p", "pol-nohost"), 65, None, "Virtual host 'pol-nohost' does not exist\n")
    check(ctl("set_parameter", "-p", V, "vhost-limits", "limits", '{"max-queues": 5}'), 0,
          f'Setting runtime parameter "limits" for component "vhost-limits" to "{{"max-queues": 5}}" in vhost "{V}" '
          "...\n", "")
    assert api.get(f"/vhost-limits/{V}").body == [{"vhost": V, "value": {"max-queues": 5}}]
    check(ctl("set_parameter", "-p", V, "operator_policy", "pol-p", '{"pattern": "^p", "definition": '
              '{"max-length": 2}, "priority": 0, "apply-to": "queues"}'), 0)
    table = ('vhost-limits\tlimits\t{"max-queues":5}\n'
             'operator_policy\tpol-p\t{"pattern":"^p","definition":{"max-length":2},"priority":0,"apply-to":"queues"}\n')
    check(ctl("list_parameters", "-p", V), 0,
          f'Listing runtime parameters for vhost "{V}" ...\ncomponent\tname\tvalue\n{table}', "")
    check(ctl("-s", "list_parameters", "-p", V), 0, table)
    assert json.loads(ctl("list_parameters", "-p", V, "--formatter", "json").out)[0] == {
        "component": "vhost-limits", "name": "limits", "value": '{"max-queues":5}'}
    assert "pol-p" in ctl("list_operator_policies", "-p", V).out

    check(ctl("set_parameter", "-p", V, "foo", "bar", "{}"), 69, None,
          "Error:\nValidation failed\n\ncomponent foo not found\n\n")
    check(ctl("set_parameter", "-p", V, "vhost-limits", "limits", "xx"), 69, None,
          "Error:\nJSON decoding error. Reason: badarg\n")
    check(ctl("set_parameter", "-p", V, "vhost-limits", "limits", '{"colour": 5}'), 69, None,
          'Error:\nValidation failed\n\nUnrecognised terms [{<<"colour">>,5}] in limits\n\n')
    check(ctl("set_parameter", "-p", V, "policy", "pol-p", '{"pattern": "^p", "definition": {"max-length": 2}}'),
          69, None, "Error:\npolicies may not be set using this method\n")
    check(ctl("set_parameter", "-p", V, "operator_policy", "pol-p3",
              '{"pattern": "(", "definition": {"max-length": "x"}, "colour": 1}'), 69, None,
          'Error:\nValidation failed\n\nUnrecognised terms [{<<"colour">>,1}] in pol-p3\n'
          '<<"x">> is not a valid maximum length\n'
          'pattern should be regular expression but is invalid: {"missing )",1}\n'
          'Key "priority" not found in pol-p3\n\n')
    check(ctl("set_parameter", "-p", "pol-nohost", "vhost-limits", "limits", '{"max-queues": 5}'), 65, None,
          "Virtual host 'pol-nohost' does not exist\n")
    usage_error(ctl("set_parameter", "a"), "Error (argument validation): not enough arguments.")

    check(ctl("clear_parameter", "-p", V, "policy", "pol-p"), 69, None,
          "Error:\npolicies may not be cleared using this method\n")
    check(ctl("clear_parameter", "-p", V, "operator_policy", "pol-p"), 0,
          f'Clearing runtime parameter "pol-p" for component "operator_policy" on vhost "{V}" ...\n', "")
    check(ctl("clear_parameter", "-p", V, "vhost-limits", "limits"), 0)
    assert api.get(f"/vhost-limits/{V}").body == []
    check(ctl("clear_parameter", "-p", V, "vhost-limits", "limits"), 69, None, "Error:\nParameter does not exist\n")
    check(ctl("clear_parameter", "-p", "pol-nohost", "foo", "bar"), 69, None, "Error:\nParameter does not exist\n")

    check(ctl("set_global_parameter", "pol-g", '{"a": [1, 2]}'), 0,
          'Setting global runtime parameter "pol-g" to "{"a": [1, 2]}" ...\n', "")
    assert api.get("/global-parameters/pol-g").body["value"] == {"a": [1, 2]}
    check(ctl("set_global_parameter", "pol-g", "xx"), 69, None, "Error:\nJSON decoding error. Reason: badarg\n")
    r = ctl("list_global_parameters")
    assert r.code == 0 and r.lines[:2] == ["Listing global runtime parameters ...", "name\tvalue"], r
    assert 'pol-g\t{"a":[1,2]}' in r.lines, r
    assert {"name": "pol-g", "value": '{"a":[1,2]}'} in json.loads(ctl("list_global_parameters", "--formatter",
                                                                       "json").out)
    check(ctl("clear_global_parameter", "pol-g"), 0, 'Clearing global runtime parameter "pol-g" ...\n', "")
    check(ctl("clear_global_parameter", "pol-g"), 69, None, "Error:\nParameter does not exist\n")


# -- tracing --------------------------------------------------------------------------------------------
def test_trace_on_copies_to_the_trace_exchange(b, ctl):
    conn = connect(b)
    try:
        ch = conn.channel()
        ch.queue_declare("pol-trace-sink", exclusive=True)
        ch.queue_bind("pol-trace-sink", "amq.rabbitmq.trace", "#")
        ch.queue_declare("pol-traced", exclusive=True)
        check(ctl("trace_on", "-p", V), 0, f'Starting tracing for vhost "{V}" ...\nTrace enabled for vhost {V}\n',
              "")
        ch2 = conn.channel()  # channels opened from now on follow the vhost's tracing
        ch2.basic_publish("", "pol-traced", b"seen")
        deadline = time.monotonic() + 5
        method = None
        while method is None and time.monotonic() < deadline:
            method, props, body = ch.basic_get("pol-trace-sink", auto_ack=True)
            if method is None:
                time.sleep(0.05)
        assert method is not None and method.routing_key == "publish." and body == b"seen", method
        assert props.headers["routing_keys"] == ["pol-traced"]

        check(ctl("trace_off", "-p", V), 0, f'Stopping tracing for vhost "{V}" ...\nTrace disabled for vhost {V}\n',
              "")
        ch3 = conn.channel()
        ch3.basic_publish("", "pol-traced", b"unseen")
        assert ch3.queue_declare("pol-traced", passive=True).method.message_count == 2
        assert ch.queue_declare("pol-trace-sink", passive=True).method.message_count == 0
    finally:
        close_quietly(conn)
    check(ctl("trace_on", "-p", "pol-nohost"), 0,
          'Starting tracing for vhost "pol-nohost" ...\nTrace enabled for vhost pol-nohost\n', "")
    check(ctl("trace_off", "-p", "pol-nohost"), 0, None, "")
    r = ctl("trace_on", "-p", V, "--formatter", "json")
    assert r.code == 0 and json.loads(r.out) == {"node": json.loads(r.out)["node"], "result": "ok",
                                                 "value": f"Trace enabled for vhost {V}"}, r
    check(ctl("-q", "trace_off", "-p", V), 0, f"Trace disabled for vhost {V}\n")


# -- definitions ----------------------------------------------------------------------------------------
def setup_definitions(b, ctl) -> None:
    for argv in (("add_vhost", "pol-rt"), ("set_permissions", "-p", "pol-rt", "guest", ".*", ".*", ".*"),
                 ("add_user", "pol-user", "pol-secret"),
                 ("set_user_tags", "pol-user", "monitoring"),
                 ("set_permissions", "-p", "pol-rt", "pol-user", "^pol-", ".*", ".*"),
                 ("set_policy", "-p", "pol-rt", "pol-rt-pol", "^pol-rt-q", '{"max-length": 4}', "--apply-to",
                  "queues"),
                 ("set_operator_policy", "-p", "pol-rt", "pol-rt-op", "^pol-rt", '{"message-ttl": 600000}'),
                 ("set_parameter", "-p", "pol-rt", "vhost-limits", "limits", '{"max-queues": 50}')):
        assert ctl(*argv).code == 0, argv
    conn = connect(b, "pol-rt")
    try:
        ch = conn.channel()
        ch.exchange_declare("pol-rt-x", "topic", durable=True)
        ch.queue_declare("pol-rt-q", durable=True, arguments={"x-message-ttl": 60000})
        ch.queue_bind("pol-rt-q", "pol-rt-x", "a.#")
    finally:
        close_quietly(conn)


def assert_restored(b2) -> None:
    api2 = Api(b2.http_port)
    assert "pol-user" in [u["name"] for u in api2.get("/users").body]
    assert "pol-rt" in [v["name"] for v in api2.get("/vhosts").body]
    q = queue(api2, "pol-rt", "pol-rt-q")
    assert q["durable"] and q["arguments"] == {"x-message-ttl": 60000}, q
    assert q["policy"] == "pol-rt-pol" and q["operator_policy"] == "pol-rt-op", q
    assert q["effective_policy_definition"] == {"max-length": 4, "message-ttl": 600000}, q
    assert [p["name"] for p in api2.get("/policies/pol-rt").body] == ["pol-rt-pol"]
    assert api2.get("/vhost-limits/pol-rt").body == [{"vhost": "pol-rt", "value": {"max-queues": 50}}]
    assert api2.get("/bindings/pol-rt/e/pol-rt-x/q/pol-rt-q").body[0]["routing_key"] == "a.#"
    conn = connect(b2, "pol-rt", "pol-user", "pol-secret")  # the password hash came along
    try:
        ch = conn.channel()
        for i in range(6):
            ch.basic_publish("pol-rt-x", "a.b", f"m{i}".encode())
        assert ch.queue_declare("pol-rt-q", passive=True, durable=True).method.message_count == 4
    finally:
        close_quietly(conn)


def test_export_import_round_trip(b, ctl, api, tmp_path):
    setup_definitions(b, ctl)
    path = tmp_path / "defs.json"
    check(ctl("export_definitions", str(path)), 0, f'Exporting definitions in JSON to a file at "{path}" ...\n', "")
    text = path.read_text()
    # what the HTTP API exports in rabbitmqctl's shape, written as rabbitmqctl writes it: compact, keys
    # sorted, no final newline
    doc, http = json.loads(text), api.get("/definitions").body
    assert "product_name" in http and "product_name" not in doc
    assert [{k: v for k, v in q.items() if k != "type"} for q in doc["queues"]] == http["queues"]
    assert all(q["type"] == "classic" for q in doc["queues"] if q["name"] == "pol-rt-q"), doc["queues"]
    assert [v["name"] for v in doc["vhosts"]] == [v["name"] for v in http["vhosts"]]
    assert all(set(v) == {"name", "limits", "metadata"} for v in doc["vhosts"]), doc["vhosts"]
    assert doc["vhosts"][0]["metadata"] == {"description": "Default virtual host", "tags": ""}
    assert {k: doc[k] for k in ("users", "permissions", "policies", "bindings", "parameters")} == {
        k: http[k] for k in ("users", "permissions", "policies", "bindings", "parameters")}
    assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    check(ctl("export_definitions", "-"), 0, text, "")
    check(ctl("-q", "export_definitions", "-"), 0, text, "")
    check(ctl("export_definitions", "-", "--formatter", "json"), 0, json.dumps({"message": text},
                                                                              separators=(",", ":")), "")
    quiet = tmp_path / "quiet.json"
    check(ctl("-q", "export_definitions", str(quiet)), 0, "", "")
    check(ctl("export_definitions", str(quiet), "--formatter", "json"), 0, "", "")
    assert json.loads(quiet.read_text()) == json.loads(text)
    etf = tmp_path / "defs.bin"
    check(ctl("export_definitions", str(etf), "--format", "erlang"), 0,
          f'Exporting definitions in Erlang term format to a file at "{etf}" ...\n', "")
    assert etf.read_bytes()[:2] == b"\x83P"

    (tmp_path / "fresh").mkdir()
    b2 = start_amqpd(tmp_path / "fresh", conf="heartbeat = 0\n")
    try:
        conf2 = conf_of(b2)
        check(amqpctl("import_definitions", str(path), conf=conf2), 0,
              f'Importing definitions in JSON from a file at "{path}" ...\n{STARTED}', "")
        assert_restored(b2)
        # again, from stdin (no path, and "-"): nothing changes, the queue keeps its messages
        check(amqpctl("import_definitions", conf=conf2, stdin=text), 0,
              f"Importing definitions in JSON from standard input ...\n{STARTED}", "")
        r = amqpctl("import_definitions", "-", "--formatter", "json", conf=conf2, stdin=text)
        assert r.code == 0 and json.loads(r.out)["result"] == "ok" and not r.out.endswith("\n"), r
        check(amqpctl("-q", "import_definitions", str(path), conf=conf2), 0, "", "")
        conn = connect(b2, "pol-rt")
        try:
            assert conn.channel().queue_declare("pol-rt-q", passive=True, durable=True).method.message_count == 4
        finally:
            close_quietly(conn)
    finally:
        b2.stop()
    (tmp_path / "fresh-etf").mkdir()
    b3 = start_amqpd(tmp_path / "fresh-etf", conf="heartbeat = 0\n")
    try:
        check(amqpctl("import_definitions", str(etf), "--format", "erlang", "--skip-if-unchanged",
                      conf=conf_of(b3)), 0,
              f'Importing definitions in Erlang term format from a file at "{etf}" ...\n{STARTED}', "")
        assert_restored(b3)
    finally:
        b3.stop()


def test_import_refused(ctl, api, tmp_path):
    def write(name: str, content: str | bytes) -> Path:
        p = tmp_path / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return p

    def banner(p: Path, fmt: str = "JSON") -> str:
        return f'Importing definitions in {fmt} from a file at "{p}" ...\n'

    missing = tmp_path / "missing.json"
    r = ctl("import_definitions", str(missing))
    assert r.code == 65 and r.out == "", r
    assert r.err.startswith(f"Error (argument validation): Bad argument: File {missing} does not exist\n"), r
    p = write("zero.json", "")
    check(ctl("import_definitions", str(p)), 65, banner(p), f"Error:\nFile {p} is zero-sized\n")
    p = write("bad.json", "{not json")
    check(ctl("import_definitions", str(p)), 65, banner(p),
          'Error:\nFailed to deserialise input (format: JSON) (error: {:unexpected_token, "not json"})\n')
    check(ctl("import_definitions", stdin="nope\n"), 65, "Importing definitions in JSON from standard input ...\n",
          'Error:\nFailed to deserialise input (format: JSON) (error: {:unexpected_token, "nope"})\n')
    check(ctl("import_definitions", stdin=""), 65, None,
          "Error:\nFailed to deserialise input (format: JSON) (error: :unexpected_end_of_buffer)\n")
    check(ctl("import_definitions", stdin="[1]"), 70, None, "Error:\n{:badmap, [1]}\n\n")
    check(ctl("import_definitions", str(tmp_path)), 65, banner(tmp_path), f"Error:\nPath {tmp_path} is a directory\n")
    p = write("etf.bin", b"\x83garbage")
    check(ctl("import_definitions", str(p), "--format", "erlang"), 65, banner(p, "Erlang term format"),
          'Error:\nFailed to deserialise input (format: Erlang term format) (error: "errors were found at the given '
          'arguments:\\n\\n  * 1st argument: invalid external representation of a term\\n")\n')
    r = ctl("import_definitions", str(p), "--format", "xml")
    assert r.code == 65 and r.err.startswith("Error (argument validation): Bad argument: Format should be either "
                                             "json or erlang"), r
    usage_error(ctl("import_definitions", "a", "b"), "Error (argument validation): too many arguments.")

    policy = {"vhost": V, "name": "pol-imp", "pattern": "^pol-imp", "apply-to": "queues",
              "definition": {"max-length": 7}, "priority": 0}
    doc = {"policies": [dict(policy, vhost="pol-nohost")]}
    check(ctl("import_definitions", stdin=json.dumps(doc)), 65, None, "Virtual host 'pol-nohost' does not exist\n")
    # all or nothing: a bad policy and the queue next to it is not declared
    doc = {"queues": [{"name": "pol-imp-q", "vhost": V, "durable": True, "auto_delete": False, "arguments": {}}],
           "policies": [dict(policy, definition={"max-length": "x"})]}
    r = ctl("import_definitions", stdin=json.dumps(doc))
    assert r.code == 69 and r.err.startswith("Error:\npolicies[0] (policy 'pol-imp' in vhost 'pol-v'): Validation "
                                             "failed\n"), r
    assert '<<"x">> is not a valid maximum length' in r.err
    assert api.get(f"/queues/{V}/pol-imp-q").status == 404
    doc["policies"] = [policy]
    check(ctl("import_definitions", stdin=json.dumps(doc)), 0)
    assert queue(api, V, "pol-imp-q")["policy"] == "pol-imp"
    assert ctl("import_definitions", stdin="{}").code == 0


def test_export_refused(ctl, tmp_path):
    nodir = tmp_path / "nodir" / "a.json"
    r = ctl("export_definitions", str(nodir))
    assert r.code == 65 and r.out == "", r
    assert r.err.startswith(f"Error (argument validation): Bad argument: Directory {nodir.parent} does not "
                            "exist\n"), r
    check(ctl("export_definitions", str(tmp_path)), 65,
          f'Exporting definitions in JSON to a file at "{tmp_path}" ...\n', f"Error:\nPath {tmp_path} is a directory\n")
    r = ctl("export_definitions", str(tmp_path / "a.json"), "--format", "xml")
    assert r.code == 65 and r.err.startswith("Error (argument validation): Bad argument: Format should be either "
                                             "json or erlang"), r
    usage_error(ctl("export_definitions"), "Error (argument validation): not enough arguments.")
    usage_error(ctl("export_definitions", "a", "b"), "Error (argument validation): too many arguments.")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        check(ctl("export_definitions", str(ro / "a.json")), 65, None,
              f"Error:\nNo permissions to write to file {ro / 'a.json'} or its parent directory\n")
