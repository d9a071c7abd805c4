"""Password hashes (RabbitMQ's layout), permission patterns and topic permissions."""

from __future__ import annotations

import base64
import hashlib

import pytest

from amqpd.auth import passwords
from amqpd.auth.permissions import AccessControl, Permission, PermissionError_, TopicPermission
from amqpd.errors import ChannelError


def rabbit_hash(password: str, salt: bytes, h) -> str:
    # rabbit_password:salted_hash, written out independently of the module under test
    return base64.b64encode(salt + h(salt + password.encode()).digest()).decode()


@pytest.mark.parametrize("algorithm,h", [
    (passwords.SHA256, hashlib.sha256), (passwords.SHA512, hashlib.sha512), (passwords.MD5, hashlib.md5),
])
def test_each_algorithm_checks_a_hash_made_the_rabbitmq_way(algorithm, h):
    stored = rabbit_hash("s3cret", b"\x01\x02\x03\x04", h)
    assert passwords.check_password("s3cret", stored, algorithm)
    assert not passwords.check_password("S3cret", stored, algorithm)
    assert passwords.hash_password("s3cret", algorithm, b"\x01\x02\x03\x04") == stored
    passwords.check_hash(stored, algorithm)


def test_new_hashes_are_salted():
    assert passwords.hash_password("x") != passwords.hash_password("x")
    assert len(base64.b64decode(passwords.hash_password("x"))) == 4 + 32


def test_empty_hash_never_logs_in():
    assert not passwords.check_password("", "")
    assert not passwords.check_password("anything", "")


def test_bad_hashes_and_algorithms_are_refused():
    with pytest.raises(passwords.HashError, match="unknown hashing algorithm 'rabbit_password_hashing_sha1'"):
        passwords.check_algorithm("rabbit_password_hashing_sha1")
    with pytest.raises(passwords.HashError, match="not valid base64"):
        passwords.check_hash("***", passwords.SHA256)
    md5 = rabbit_hash("p", b"abcd", hashlib.md5)
    with pytest.raises(passwords.HashError, match="has 20 bytes"):
        passwords.check_hash(md5, passwords.SHA256)
    assert not passwords.check_password("p", md5, "no_such_algorithm")


def test_permission_patterns_search_and_empty_means_nothing():
    p = Permission("u", "/", "^orders\\.", "", ".*")
    assert p.allows("configure", "orders.new")
    assert not p.allows("configure", "xorders.new") and not p.allows("configure", "payments")
    assert not p.allows("write", "anything") and p.allows("write", "")
    assert p.allows("read", "x")
    assert Permission("u", "/", "orders", ".*", ".*").allows("configure", "old-orders-1")  # re:run is a search
    with pytest.raises(PermissionError_, match="invalid configure regular expression"):
        Permission("u", "/", "(", ".*", ".*")


def test_refusal_text_and_default_exchange_name():
    ac = AccessControl()
    ac.permissions[("ops", "shop")] = Permission("ops", "shop", "^a", "^b", "^c")
    with pytest.raises(ChannelError) as e:
        ac.check("ops", "shop", "write", "exchange", "")
    assert e.value.reply_code == 403
    assert e.value.reply_text == "ACCESS_REFUSED - access to exchange 'amq.default' in vhost 'shop' refused for user 'ops'"
    with pytest.raises(ChannelError, match="access to queue 'x' in vhost 'other' refused for user 'ops'"):
        ac.check("ops", "other", "read", "queue", "x")
    ac.check("ops", "shop", "read", "queue", "cq")


def test_topic_permissions_expand_variables():
    tp = TopicPermission("alice", "shop", "events", "^{username}\\.", "^{vhost}\\.")
    assert tp.allows("write", "alice.created") and not tp.allows("write", "bob.created")
    assert tp.allows("read", "shop.x") and not tp.allows("read", "billing.x")
    ac = AccessControl()
    ac.topic[("alice", "shop")] = {"events": tp}
    ac.check_topic("alice", "shop", "write", "other-exchange", "anything")  # none for that exchange: allowed
    with pytest.raises(ChannelError) as e:
        ac.check_topic("alice", "shop", "write", "events", "bob.x")
    assert e.value.reply_text == "ACCESS_REFUSED - access to topic 'bob.x' in exchange 'events' in vhost 'shop' refused for user 'alice'"


def test_connection_cache_is_emptied_when_permissions_change():
    ac = AccessControl()
    ac.permissions[("u", "/")] = Permission("u", "/", ".*", ".*", ".*")
    acc = ac.for_connection("u", "/")
    acc.check_publish("x")
    assert "x" in acc.writable
    ac.permissions[("u", "/")] = Permission("u", "/", ".*", "^$", ".*")
    ac.changed()
    assert "x" not in acc.writable
    with pytest.raises(ChannelError):
        acc.check_publish("x")
    with pytest.raises(ChannelError):
        acc.check_publish("x")  # a refusal is never cached as allowed


def test_topic_answers_are_remembered_per_connection_and_forgotten_on_change():
    ac = AccessControl()
    ac.permissions[("t", "/")] = Permission("t", "/", ".*", ".*", ".*")
    ac.topic[("t", "/")] = {"events": TopicPermission("t", "/", "events", "^a\\.", ".*")}
    acc = ac.for_connection("t", "/")
    assert acc.topic_exchanges == frozenset({"events"})
    acc.check_topic("write", "events", "a.1")
    acc.check_topic("write", "other", "anything")  # no topic permission on that exchange
    with pytest.raises(ChannelError):
        acc.check_topic("write", "events", "b.1")
    ac.topic[("t", "/")] = {"events": TopicPermission("t", "/", "events", "^b\\.", ".*")}
    ac.changed()
    with pytest.raises(ChannelError):
        acc.check_topic("write", "events", "a.1")  # the remembered answer went with the change
    acc.check_topic("write", "events", "b.1")
    ac.topic.clear()
    ac.changed()
    assert acc.topic_exchanges == frozenset()
    acc.check_topic("write", "events", "a.1")
