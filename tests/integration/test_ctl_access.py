"""amqpctl's users, vhosts, permissions, topic permissions and limits commands against a real amqpd: the
texts and exit codes rabbitmqctl 3.10.8 gives, and that each change really applies (logins, permission
checks, limits seen by AMQP clients)."""

from __future__ import annotations

import json
import os

import pika
import pytest
from ctl_helpers import check, ctl_for, module_broker
from helpers import close_quietly

pytestmark = pytest.mark.skipif(bool(os.environ.get("AMQPD_TEST_URL")), reason="starts its own amqpd")

DONE = ("Done. Don't forget to grant the user permissions to some virtual hosts! See 'rabbitmqctl help "
        "set_permissions' to learn more.")


@pytest.fixture(scope="module")
def b(tmp_path_factory):
    yield from module_broker(tmp_path_factory, "ctl-access")


@pytest.fixture
def ctl(b):
    return ctl_for(b)


def connect(b, user: str, password: str, vhost: str = "/") -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=b.host, port=b.port, virtual_host=vhost, credentials=pika.PlainCredentials(user, password),
        heartbeat=0, connection_attempts=1))


def refused(b, user: str, password: str, vhost: str = "/") -> bool:
    try:
        c = connect(b, user, password, vhost)
    except pika.exceptions.AMQPConnectionError:
        return True
    close_quietly(c)
    return False


def test_vhosts(ctl, b):
    check(ctl("add_vhost", "acc-v1"), 0, 'Adding vhost "acc-v1" ...\n', "")
    check(ctl("add_vhost", "acc-v2", "--description", "desc two", "--tags", "a, b",
              "--default-queue-type", "quorum"), 0, 'Adding vhost "acc-v2" ...\n')
    # an existing vhost is left as it is, metadata included
    check(ctl("add_vhost", "acc-v2", "--description", "changed"), 0, 'Adding vhost "acc-v2" ...\n')
    check(ctl("add_vhost", "acc-v3", "--default-queue-type", "bogus"), 69, 'Adding vhost "acc-v3" ...\n',
          "Error:\ninvalid_queue_type\n")
    assert json.loads(ctl("add_vhost", "acc-v4", "--formatter", "json").out)["result"] == "ok"
    r = ctl("add_vhost")
    assert r.code == 64 and r.err.startswith("Error (argument validation): not enough arguments.\n"), r

    r = ctl("list_vhosts", "name", "tracing", "description", "tags", "default_queue_type", "cluster_state")
    assert r.code == 0 and r.lines[:2] == ["Listing vhosts ...",
                                           "name\ttracing\tdescription\ttags\tdefault_queue_type\tcluster_state"], r
    rows = {ln.split("\t")[0]: ln.split("\t") for ln in r.lines[2:]}
    assert rows["acc-v2"][1:5] == ["false", "desc two", "[a, b]", "quorum"], r
    assert rows["acc-v1"][1:5] == ["false", "", "[]", "undefined"], r
    assert rows["acc-v1"][5].startswith("[{amqpd@") and rows["acc-v1"][5].endswith(", running}]"), r
    assert "acc-v3" not in rows
    r = ctl("-q", "list_vhosts")
    assert r.lines[0] == "name" and {"/", "acc-v1", "acc-v2", "acc-v4"} <= set(r.lines[1:]), r
    doc = json.loads(ctl("list_vhosts", "--formatter", "json", "name", "tags", "default_queue_type",
                         "cluster_state").out)
    v2 = next(d for d in doc if d["name"] == "acc-v2")
    assert v2["tags"] == ["a", "b"] and v2["default_queue_type"] == "quorum", doc
    assert list(v2["cluster_state"].values()) == ["running"], doc
    r = ctl("list_vhosts", "colour")
    assert r.code == 64 and r.err.startswith("Error (argument validation): Info key(s) colour are not supported"), r

    check(ctl("delete_vhost", "acc-v4"), 0, 'Deleting vhost "acc-v4" ...\n', "")
    check(ctl("delete_vhost", "acc-v4"), 65, 'Deleting vhost "acc-v4" ...\n',
          "Virtual host 'acc-v4' does not exist\n")
    check(ctl("-q", "delete_vhost", "acc-nope"), 65, "", "Virtual host 'acc-nope' does not exist\n")
    assert "acc-v4" not in ctl("-q", "list_vhosts").lines


def test_users_and_passwords(ctl, b):
    check(ctl("add_user", "acc-u1", "pw1"), 0, f'Adding user "acc-u1" ...\n{DONE}\n', "")
    check(ctl("add_user", "acc-u1", "other"), 70, 'Adding user "acc-u1" ...\n',
          'Error:\nUser "acc-u1" already exists\n')
    check(ctl("add_user", "acc-u2", stdin=""), 65, 'Adding user "acc-u2" ...\nPassword: \n',
          "Error:\nPassword is not provided via argument or stdin\n")
    check(ctl("add_user", "acc-u2", stdin="pw2\nignored\n"), 0, f'Adding user "acc-u2" ...\nPassword: \n{DONE}\n')
    check(ctl("-q", "add_user", "acc-u3", "pw3"), 0, "")
    doc = json.loads(ctl("add_user", "acc-u4", "pw4", "--formatter", "json").out)
    assert doc["message"] == DONE and doc["status"] == "ok" and doc["node"].startswith("amqpd@"), doc
    r = ctl("add_user", "acc-u1", "pw1", "extra")
    assert r.code == 64 and r.err.startswith("Error (argument validation): too many arguments.\n"), r

    check(ctl("authenticate_user", "acc-u2", "pw2"), 0, 'Authenticating user "acc-u2" ...\nSuccess\n', "")
    check(ctl("-q", "authenticate_user", "acc-u1", "pw1"), 0, "Success\n")
    check(ctl("authenticate_user", "acc-u1", "--formatter", "json", stdin="pw1\n"), 0,
          'Password: \n{"message":"Success"}\n')
    check(ctl("authenticate_user", "acc-u1", "bad"), 65, 'Authenticating user "acc-u1" ...\n',
          "Error:\nError: failed to authenticate user \"acc-u1\"\nuser 'acc-u1' - invalid credentials\n")
    check(ctl("-q", "authenticate_user", "acc-nouser", "x"), 65,
          err="Error:\nError: failed to authenticate user \"acc-nouser\"\nuser 'acc-nouser' - invalid credentials\n")
    r = ctl("-q", "authenticate_user", "acc-u1", "")
    assert r.code == 65 and r.err.startswith("Error:\nError: failed to authenticate user \"acc-u1\"\nuser 'acc-u1' "
                                             "attempted to log in with a blank password, which is prohibited"), r
    check(ctl("authenticate_user", "acc-u1", stdin=""), 70, 'Authenticating user "acc-u1" ...\nPassword: \n',
          "Error:\nPassword is not provided via argument or stdin\n")

    check(ctl("change_password", "acc-u1", "pw1b"), 0, 'Changing password for user "acc-u1" ...\n', "")
    check(ctl("change_password", "acc-nouser", "x"), 67, 'Changing password for user "acc-nouser" ...\n',
          'Error:\nUser "acc-nouser" does not exist\n')
    assert ctl("-q", "authenticate_user", "acc-u1", "pw1").code == 65
    check(ctl("-q", "authenticate_user", "acc-u1", "pw1b"), 0)
    check(ctl("clear_password", "acc-u1"), 0, 'Clearing password for user "acc-u1" ...\n', "")
    check(ctl("clear_password", "acc-nouser"), 69, err='Error:\n{:no_such_user, "acc-nouser"}\n')
    assert ctl("-q", "authenticate_user", "acc-u1", "pw1b").code == 65

    check(ctl("set_user_tags", "acc-u3", "policymaker", "management"), 0,
          'Setting tags for user "acc-u3" to [policymaker, management] ...\n', "")
    check(ctl("set_user_tags", "acc-nouser", "x"), 67, err='Error:\nUser "acc-nouser" does not exist\n')
    check(ctl("set_user_tags", "acc-u4"), 0, 'Setting tags for user "acc-u4" to [] ...\n')
    r = ctl("list_users")
    assert r.lines[:2] == ["Listing users ...", "user\ttags"], r
    assert {"acc-u3\t[policymaker, management]", "acc-u4\t[]", "guest\t[administrator]"} <= set(r.lines), r
    users = {d["user"]: d["tags"] for d in json.loads(ctl("list_users", "--formatter", "json").out)}
    assert users["acc-u3"] == ["policymaker", "management"] and users["acc-u4"] == [], users
    assert ctl("list_users", "x").code == 64

    # the change applies to logins: the user logs in with its password once it may use a vhost
    check(ctl("set_permissions", "acc-u2", ".*", ".*", ".*"), 0)
    close_quietly(connect(b, "acc-u2", "pw2"))
    assert refused(b, "acc-u2", "wrong")
    check(ctl("-q", "change_password", "acc-u2", "pw2b"), 0, "")
    assert refused(b, "acc-u2", "pw2")
    c = connect(b, "acc-u2", "pw2b")
    check(ctl("delete_user", "acc-u2"), 0, 'Deleting user "acc-u2" ...\n', "")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as exc:  # its connections are closed
        c.sleep(1)
    assert exc.value.reply_code == 320
    assert refused(b, "acc-u2", "pw2b")
    check(ctl("delete_user", "acc-u2"), 67, 'Deleting user "acc-u2" ...\n', 'Error:\nUser "acc-u2" does not exist\n')
    assert json.loads(ctl("delete_user", "acc-u4", "--formatter", "json").out)["result"] == "ok"


def test_permissions(ctl, b):
    ctl("add_vhost", "acc-pv")
    ctl("add_user", "acc-pu", "pw")
    check(ctl("set_permissions", "-p", "acc-pv", "acc-pu", "^acc-", "^acc-", ""), 0,
          'Setting permissions for user "acc-pu" in vhost "acc-pv" ...\n', "")
    check(ctl("set_permissions", "-p", "acc-nope", "acc-pu", ".*", ".*", ".*"), 69,
          'Setting permissions for user "acc-pu" in vhost "acc-nope" ...\n',
          "Error:\nVirtual host acc-nope does not exist\n")
    check(ctl("set_permissions", "-p", "acc-nope", "acc-nouser", ".*", ".*", ".*"), 67,
          err="Error:\nUser acc-nouser does not exist\n")
    r = ctl("set_permissions", "-p", "acc-pv", "acc-pu", "(", ".*", ".*")
    assert r.code == 69 and r.err.startswith("Error:\n{:invalid_regexp, '(', {'missing )"), r
    r = ctl("set_permissions", "-p", "acc-pv", "acc-pu", ".*")
    assert r.code == 64 and "not enough arguments." in r.err, r
    assert json.loads(ctl("set_permissions", "-p", "acc-pv", "guest", ".*", ".*", ".*", "--formatter",
                          "json").out)["result"] == "ok"

    check(ctl("list_permissions", "-p", "acc-pv"), 0, 'Listing permissions for vhost "acc-pv" ...\n'
          "user\tconfigure\twrite\tread\nacc-pu\t^acc-\t^acc-\t\nguest\t.*\t.*\t.*\n", "")
    check(ctl("list_permissions", "-p", "acc-pv", "--formatter", "json"), 0,
          '[\n{"user":"acc-pu","configure":"^acc-","write":"^acc-","read":""}\n'
          ',{"user":"guest","configure":".*","write":".*","read":".*"}\n]\n')
    check(ctl("-s", "list_permissions"), 0, "guest\t.*\t.*\t.*\n")
    check(ctl("list_permissions", "-p", "acc-nope"), 65, 'Listing permissions for vhost "acc-nope" ...\n',
          "Virtual host 'acc-nope' does not exist\n")
    assert ctl("list_permissions", "user").code == 64
    check(ctl("list_user_permissions", "acc-pu"), 0, 'Listing permissions for user "acc-pu" ...\n'
          "vhost\tconfigure\twrite\tread\nacc-pv\t^acc-\t^acc-\t\n")
    check(ctl("list_user_permissions", "acc-nouser"), 69, err='Error:\n{:no_such_user, "acc-nouser"}\n')

    # enforced: configure on ^acc- only
    c = connect(b, "acc-pu", "pw", "acc-pv")
    ch = c.channel()
    ch.queue_declare("acc-q")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare("other-q")
    assert exc.value.reply_code == 403
    close_quietly(c)

    check(ctl("clear_permissions", "-p", "acc-pv", "acc-pu"), 0,
          'Clearing permissions for user "acc-pu" in vhost "acc-pv" ...\n', "")
    check(ctl("clear_permissions", "-p", "acc-pv", "acc-pu"), 0)  # nothing to clear: still fine
    check(ctl("clear_permissions", "-p", "acc-nope", "acc-pu"), 69, err="Error:\nVirtual host acc-nope does not exist\n")
    check(ctl("clear_permissions", "-p", "acc-pv", "acc-nouser"), 67, err="Error:\nUser acc-nouser does not exist\n")
    check(ctl("list_user_permissions", "acc-pu"), 0, 'Listing permissions for user "acc-pu" ...\n')
    check(ctl("list_user_permissions", "acc-pu", "--formatter", "json"), 0, "[]\n")
    assert refused(b, "acc-pu", "pw", "acc-pv")


def test_topic_permissions(ctl, b):
    ctl("add_vhost", "acc-tv")
    ctl("add_user", "acc-tu", "pw")
    ctl("set_permissions", "-p", "acc-tv", "acc-tu", ".*", ".*", ".*")
    check(ctl("set_topic_permissions", "-p", "acc-tv", "acc-tu", "amq.topic", "^{username}\\.", ".*"), 0,
          'Setting topic permissions on "amq.topic" for user "acc-tu" in vhost "acc-tv" ...\n', "")
    check(ctl("-q", "set_topic_permissions", "-p", "acc-tv", "acc-tu", "acc-x", "", "^r"), 0, "")
    check(ctl("set_topic_permissions", "-p", "acc-nope", "acc-tu", "amq.topic", "a", "b"), 69,
          err="Error:\nVirtual host acc-nope does not exist\n")
    check(ctl("set_topic_permissions", "-p", "acc-tv", "acc-nouser", "amq.topic", "a", "b"), 67,
          err="Error:\nUser acc-nouser does not exist\n")
    r = ctl("set_topic_permissions", "-p", "acc-tv", "acc-tu", "amq.topic", "(", "b")
    assert r.code == 69 and r.err.startswith('Error:\n{:invalid_regexp, "(", '), r

    check(ctl("list_topic_permissions", "-p", "acc-tv"), 0, 'Listing topic permissions for vhost "acc-tv" ...\n'
          "user\texchange\twrite\tread\nacc-tu\tacc-x\t\t^r\nacc-tu\tamq.topic\t^{username}\\.\t.*\n")
    doc = json.loads(ctl("list_topic_permissions", "-p", "acc-tv", "--formatter", "json").out)
    assert doc == [{"user": "acc-tu", "exchange": "acc-x", "write": "", "read": "^r"},
                   {"user": "acc-tu", "exchange": "amq.topic", "write": "^{username}\\.", "read": ".*"}], doc
    check(ctl("list_topic_permissions"), 0, 'Listing topic permissions for vhost "/" ...\n')
    check(ctl("list_topic_permissions", "--formatter", "json"), 0, "[]\n")
    check(ctl("list_topic_permissions", "-p", "acc-nope"), 65, err="Virtual host 'acc-nope' does not exist\n")
    # rabbitmqctl prints this one without a header row
    check(ctl("list_user_topic_permissions", "acc-tu"), 0, 'Listing topic permissions for user "acc-tu" ...\n'
          "acc-tv\tacc-x\t\t^r\nacc-tv\tamq.topic\t^{username}\\.\t.*\n")
    check(ctl("list_user_topic_permissions", "acc-nouser"), 69, err='Error:\n{:no_such_user, "acc-nouser"}\n')

    # enforced: publishing to amq.topic with a routing key that does not start with the user's name
    c = connect(b, "acc-tu", "pw", "acc-tv")
    ch = c.channel()
    ch.basic_publish("amq.topic", "acc-tu.ok", b"x")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.basic_publish("amq.topic", "someone-else.x", b"x")
        ch.queue_declare("acc-sync")  # a round trip, so that the channel's closing arrives
    assert exc.value.reply_code == 403
    close_quietly(c)

    check(ctl("clear_topic_permissions", "-p", "acc-tv", "acc-tu", "acc-x"), 0,
          'Clearing topic permissions on "acc-x" for user "acc-tu" in vhost "acc-tv" ...\n', "")
    check(ctl("-q", "list_topic_permissions", "-p", "acc-tv"), 0,
          "user\texchange\twrite\tread\nacc-tu\tamq.topic\t^{username}\\.\t.*\n")
    check(ctl("clear_topic_permissions", "-p", "acc-tv", "acc-tu"), 0,
          'Clearing topic permissions for user "acc-tu" in vhost "acc-tv" ...\n', "")
    check(ctl("clear_topic_permissions", "-p", "acc-nope", "acc-tu"), 69)
    check(ctl("clear_topic_permissions", "-p", "acc-tv", "acc-nouser", "amq.topic"), 67)
    check(ctl("list_topic_permissions", "-p", "acc-tv"), 0, 'Listing topic permissions for vhost "acc-tv" ...\n')
    c = connect(b, "acc-tu", "pw", "acc-tv")
    ch = c.channel()
    ch.basic_publish("amq.topic", "someone-else.x", b"x")
    ch.queue_declare("acc-sync")  # still open
    close_quietly(c)


def test_vhost_limits(ctl, b):
    ctl("add_vhost", "acc-lv")
    ctl("set_permissions", "-p", "acc-lv", "guest", ".*", ".*", ".*")
    check(ctl("set_vhost_limits", "-p", "acc-lv", '{"max-queues": 1, "max-connections": 7}'), 0,
          'Setting vhost limits to "{"max-queues": 1, "max-connections": 7}" for vhost "acc-lv" ...\n', "")
    check(ctl("list_vhost_limits", "-p", "acc-lv"), 0,
          'Listing limits for vhost "acc-lv" ...\n{"max-connections":7,"max-queues":1}\n', "")
    doc = json.loads(ctl("list_vhost_limits", "-p", "acc-lv", "--formatter", "json").out)
    assert doc["result"] == "ok" and json.loads(doc["value"]) == {"max-connections": 7, "max-queues": 1}, doc
    check(ctl("set_vhost_limits", "-p", "acc-nope", '{"max-queues": 5}'), 65,
          'Setting vhost limits to "{"max-queues": 5}" for vhost "acc-nope" ...\n',
          "Virtual host 'acc-nope' does not exist\n")
    check(ctl("set_vhost_limits", "-p", "acc-lv", "{max"), 69, err="Error:\nJSON decoding error. Reason: badarg\n")
    check(ctl("set_vhost_limits", "-p", "acc-nope", '{"max-foo": 5}'), 69,
          err='Error:\nValidation failed\n\nUnrecognised terms [{<<"max-foo">>,5}] in limits\n\n')
    check(ctl("set_vhost_limits", "-p", "acc-lv", '{"max-queues": "x"}'), 69,
          err='Error:\nValidation failed\n\nmax-queues should be a number, actually was <<"x">>\n\n')
    assert ctl("set_vhost_limits", "-p", "acc-lv").code == 64

    # enforced: the second queue is refused
    c = connect(b, "guest", "guest", "acc-lv")
    ch = c.channel()
    ch.queue_declare("acc-lq1")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as exc:
        ch.queue_declare("acc-lq2")
    assert exc.value.reply_code == 406
    close_quietly(c)

    check(ctl("set_vhost_limits", "-p", "acc-v1", "{}"), 0)  # set, though empty
    r = ctl("list_vhost_limits", "--global")
    assert r.lines[:2] == ["Listing limits for all vhosts ...", "vhost\tlimits"], r
    assert {'acc-lv\t{"max-connections":7,"max-queues":1}', "acc-v1\t{}"} <= set(r.lines), r
    doc = json.loads(ctl("list_vhost_limits", "--global", "--formatter", "json").out)
    assert {"vhost": "acc-v1", "limits": "{}"} in doc, doc
    check(ctl("list_vhost_limits", "-p", "acc-v1"), 0, 'Listing limits for vhost "acc-v1" ...\n')
    check(ctl("list_vhost_limits", "-p", "acc-v1", "--formatter", "json"), 0, "[]\n")
    check(ctl("list_vhost_limits", "-p", "acc-nope"), 65, err="Virtual host 'acc-nope' does not exist\n")

    check(ctl("clear_vhost_limits", "-p", "acc-lv"), 0, 'Clearing vhost "acc-lv" limits ...\n', "")
    check(ctl("clear_vhost_limits", "-p", "acc-lv"), 69, err="Error:\nParameter does not exist\n")
    check(ctl("clear_vhost_limits", "-p", "acc-v1"), 0)
    check(ctl("clear_vhost_limits", "-p", "acc-nope"), 69, err="Error:\nParameter does not exist\n")
    c = connect(b, "guest", "guest", "acc-lv")
    c.channel().queue_declare("acc-lq2")
    close_quietly(c)


def test_user_limits(ctl, b):
    ctl("add_user", "acc-lu", "pw")
    ctl("set_permissions", "acc-lu", ".*", ".*", ".*")
    check(ctl("set_user_limits", "acc-lu", '{"max-connections": 1, "max-channels": 20}'), 0,
          'Setting user limits to "{"max-connections": 1, "max-channels": 20}" for user "acc-lu" ...\n', "")
    check(ctl("set_user_limits", "acc-lu", '{"max-channels": 3}'), 0)  # merged with the others
    check(ctl("list_user_limits", "--user", "acc-lu"), 0,
          'Listing limits for user "acc-lu" ...\n{"max-channels":3,"max-connections":1}\n', "")
    check(ctl("list_user_limits", "--user", "acc-lu", "--formatter", "json"), 0,
          '{"message":"{\\"max-channels\\":3,\\"max-connections\\":1}"}\n')
    check(ctl("list_user_limits"), 0, 'Listing limits for user "guest" ...\n{}\n')
    check(ctl("list_user_limits", "--user", "acc-nouser"), 69, err='Error:\n{:no_such_user, "acc-nouser"}\n')
    r = ctl("list_user_limits", "--global")
    assert r.lines == ["Listing limits for all users ...", "user\tlimits",
                       'acc-lu\t{"max-channels":3,"max-connections":1}'], r
    assert json.loads(ctl("list_user_limits", "--global", "--formatter", "json").out) == [
        {"user": "acc-lu", "limits": '{"max-channels":3,"max-connections":1}'}]
    check(ctl("set_user_limits", "acc-nouser", '{"max-channels": 3}'), 69,
          err='Error:\n{:no_such_user, "acc-nouser"}\n')
    check(ctl("set_user_limits", "acc-lu", "{max"), 69, err="Error:\nJSON decoding error. Reason: badarg\n")
    check(ctl("set_user_limits", "acc-nouser", '{"max-foo": 1}'), 69,
          err='Error:\nUnrecognised terms [{<<"max-foo">>,1}] in user-limits\n')
    check(ctl("set_user_limits", "acc-lu", '{"max-channels": "x"}'), 69,
          err='Error:\nmax-channels should be a number, actually was <<"x">>\n')

    # enforced: one connection only
    c = connect(b, "acc-lu", "pw")
    assert refused(b, "acc-lu", "pw")
    close_quietly(c)

    check(ctl("clear_user_limits", "acc-lu", "max-connections"), 0,
          'Clearing "max-connections" limit for user "acc-lu" ...\n', "")
    check(ctl("-q", "list_user_limits", "--user", "acc-lu"), 0, '{"max-channels":3}\n')
    c = connect(b, "acc-lu", "pw")
    close_quietly(connect(b, "acc-lu", "pw"))
    close_quietly(c)
    check(ctl("clear_user_limits", "acc-lu", "all"), 0, 'Clearing all limits for user "acc-lu" ...\n', "")
    check(ctl("clear_user_limits", "acc-nouser", "all"), 69, err='Error:\n{:no_such_user, "acc-nouser"}\n')
    assert ctl("clear_user_limits", "acc-lu").code == 64
    check(ctl("list_user_limits", "--global"), 0, "Listing limits for all users ...\n")


def test_json_errors_as_rabbitmqctl_gives_them(ctl):
    r = ctl("add_user", "guest", "x", "--formatter", "json")
    assert r.code == 69, r
    doc = json.loads(r.err)
    assert doc["message"] == "User guest already exists" and doc["result"] == "error", doc
    r = ctl("delete_user", "acc-nouser", "--formatter", "json")
    assert (r.code, json.loads(r.err)["message"]) == (69, "User acc-nouser does not exists"), r
