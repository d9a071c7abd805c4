"""Users, permissions, topic permissions and limits, checked over AMQP where RabbitMQ checks them and
with RabbitMQ's codes and texts. The users and grants are made through the management API."""

from __future__ import annotations

import pika
import pytest
from helpers import close_quietly
from mgmt_helpers import Api, q
from pika.exceptions import (
    ChannelClosedByBroker,
    ConnectionClosedByBroker,
    ProbableAccessDeniedError,
    ProbableAuthenticationError,
)


@pytest.fixture(scope="module")
def amqpd(tmp_path_factory):
    from conftest import EXTERNAL_URL, start_amqpd

    if EXTERNAL_URL:
        pytest.skip("sets up its own users and vhosts")
    b = start_amqpd(tmp_path_factory.mktemp("access"))
    api = Api(b.http_port)
    api.ok("PUT", "/vhosts/shop", {"description": "the shop"})
    api.ok("PUT", "/users/orders", {"password": "orders-pw", "tags": ""})
    api.ok("PUT", "/permissions/shop/orders",
           {"configure": r"^orders\.", "write": r"^(orders\..*|amq\.default)$", "read": r"^orders\."})
    api.ok("PUT", "/users/nopw", {"tags": ""})
    api.ok("PUT", "/permissions/shop/nopw", {"configure": ".*", "write": ".*", "read": ".*"})
    api.ok("PUT", "/permissions/shop/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    b.api = api
    yield b
    b.stop()


def connect(b, user="orders", password="orders-pw", vhost="shop", **kw):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", b.port, vhost, pika.PlainCredentials(user, password), heartbeat=0, **kw))


def refused(fn, exc_type=ChannelClosedByBroker):
    with pytest.raises(exc_type) as e:
        fn()
    return e.value.args[0], e.value.args[1]


def open_refused(fn) -> str:
    """connection.open refused: pika reports (code) "text" inside ProbableAccessDeniedError."""
    with pytest.raises(ProbableAccessDeniedError) as e:
        fn()
    return str(e.value)


@pytest.fixture
def conn(amqpd):
    c = connect(amqpd)
    yield c
    close_quietly(c)


def texts(kind, name, user="orders", vhost="shop"):
    return f"ACCESS_REFUSED - access to {kind} '{name}' in vhost '{vhost}' refused for user '{user}'"


def test_login_rules(amqpd):
    close_quietly(connect(amqpd))
    with pytest.raises(ProbableAuthenticationError):
        connect(amqpd, password="wrong")
    with pytest.raises(ProbableAuthenticationError):
        connect(amqpd, user="nopw", password="")  # a user without a password cannot log in with one
    assert "(530) \"NOT_ALLOWED - access to vhost '/' refused for user 'orders'\"" in open_refused(
        lambda: connect(amqpd, vhost="/"))
    assert "(530) 'NOT_ALLOWED - vhost nope not found'" in open_refused(lambda: connect(amqpd, vhost="nope"))


def test_configure_checks(conn):
    ch = conn.channel()
    ch.queue_declare("orders.new", durable=True)
    ch.exchange_declare("orders.x", "direct")
    assert refused(lambda: ch.queue_declare("payments")) == (403, texts("queue", "payments"))
    ch = conn.channel()
    code, text = refused(lambda: ch.queue_declare(""))
    assert code == 403 and text.startswith("ACCESS_REFUSED - access to queue 'amq.gen-")
    ch = conn.channel()
    assert refused(lambda: ch.queue_declare("x", exclusive=True)) == (403, texts("queue", "x"))
    ch = conn.channel()
    assert refused(lambda: ch.exchange_declare("payments.x", "fanout")) == (403, texts("exchange", "payments.x"))
    ch = conn.channel()
    ch.queue_declare("orders.new", passive=True)  # passive declares are not checked, as in RabbitMQ
    assert refused(lambda: ch.queue_delete("payments")) == (403, texts("queue", "payments"))
    ch = conn.channel()
    assert refused(lambda: ch.exchange_delete("amq.direct")) == (403, texts("exchange", "amq.direct"))


def test_dead_letter_and_alternate_exchanges_need_write(conn):
    ch = conn.channel()
    code, text = refused(lambda: ch.queue_declare("orders.dl", arguments={"x-dead-letter-exchange": "payments"}))
    assert (code, text) == (403, texts("exchange", "payments"))
    ch = conn.channel()
    code, text = refused(lambda: ch.exchange_declare("orders.ae", "direct",
                                                      arguments={"alternate-exchange": "payments"}))
    assert (code, text) == (403, texts("exchange", "payments"))


def test_bind_checks_write_on_destination_then_read_on_source(conn):
    ch = conn.channel()
    ch.queue_declare("orders.bound")
    ch.exchange_declare("orders.src", "direct")
    ch.queue_bind("orders.bound", "orders.src", "k")
    assert refused(lambda: ch.queue_bind("orders.bound", "amq.direct", "k")) == (
        403, texts("exchange", "amq.direct"))
    ch = conn.channel()
    assert refused(lambda: ch.queue_bind("elsewhere", "orders.src", "k")) == (403, texts("queue", "elsewhere"))
    ch = conn.channel()
    assert refused(lambda: ch.exchange_bind("amq.fanout", "orders.src", "k")) == (
        403, texts("exchange", "amq.fanout"))


def test_publish_consume_get_purge(amqpd, conn):
    ch = conn.channel()
    ch.queue_declare("orders.work")
    ch.basic_publish("", "orders.work", b"m")  # the default exchange is checked as amq.default
    ch.basic_get("orders.work")
    ch.queue_purge("orders.work")
    ch.basic_publish("amq.topic", "k", b"m")  # asynchronous refusal: the channel closes
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.queue_declare("orders.work", passive=True)
    assert (e.value.args[0], e.value.args[1]) == (403, texts("exchange", "amq.topic"))
    admin = connect(amqpd, "guest", "guest")
    try:
        admin.channel().queue_declare("secret")
    finally:
        close_quietly(admin)
    for op in (lambda c: c.basic_get("secret"), lambda c: c.queue_purge("secret"),
               lambda c: c.basic_consume("secret", lambda *a: None)):
        ch = conn.channel()
        assert refused(lambda ch=ch, op=op: op(ch)) == (403, texts("queue", "secret"))


def test_permission_changes_apply_at_once(amqpd, conn):
    api = amqpd.api
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("orders.live")
    ch.basic_publish("", "orders.live", b"1")
    api.ok("PUT", "/permissions/shop/orders", {"configure": r"^orders\.", "write": "^$", "read": r"^orders\."})
    try:
        with pytest.raises(ChannelClosedByBroker) as e:
            ch.basic_publish("", "orders.live", b"2")
        assert e.value.args[1] == texts("exchange", "amq.default")
    finally:
        api.ok("PUT", "/permissions/shop/orders",
               {"configure": r"^orders\.", "write": r"^(orders\..*|amq\.default)$", "read": r"^orders\."})
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", "orders.live", b"3")


def test_topic_permissions(amqpd):
    api = amqpd.api
    api.ok("PUT", "/users/tracker", {"password": "t", "tags": ""})
    api.ok("PUT", "/permissions/shop/tracker", {"configure": ".*", "write": ".*", "read": ".*"})
    api.ok("PUT", "/topic-permissions/shop/tracker", {"exchange": "amq.topic", "write": "^{username}\\.",
                                                     "read": "^{vhost}\\."})
    c = connect(amqpd, "tracker", "t")
    try:
        ch = c.channel()
        ch.confirm_delivery()
        ch.queue_declare("tq")
        ch.queue_bind("tq", "amq.topic", "shop.#")
        ch.basic_publish("amq.topic", "tracker.created", b"x")
        ch.basic_publish("amq.direct", "anything", b"x")  # topic permissions only cover topic exchanges
        with pytest.raises(ChannelClosedByBroker) as e:
            ch.basic_publish("amq.topic", "other.created", b"x")
        assert e.value.args == (403, "ACCESS_REFUSED - access to topic 'other.created' in exchange 'amq.topic' "
                                     "in vhost 'shop' refused for user 'tracker'")
        ch = c.channel()
        with pytest.raises(ChannelClosedByBroker) as e:
            ch.queue_bind("tq", "amq.topic", "billing.#")
        assert e.value.args == (403, "ACCESS_REFUSED - access to topic 'billing.#' in exchange 'amq.topic' "
                                     "in vhost 'shop' refused for user 'tracker'")
    finally:
        close_quietly(c)


def test_vhost_limits(amqpd):
    api = amqpd.api
    api.ok("PUT", "/vhosts/limited")
    api.ok("PUT", "/permissions/limited/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    api.ok("PUT", "/vhost-limits/limited/max-connections", {"value": 1})
    api.ok("PUT", "/vhost-limits/limited/max-queues", {"value": 1})
    first = connect(amqpd, "guest", "guest", "limited")
    try:
        text = open_refused(lambda: connect(amqpd, "guest", "guest", "limited"))
        assert "(530) \"NOT_ALLOWED - access to vhost 'limited' refused for user 'guest': connection limit (1) " \
               "is reached\"" in text
        ch = first.channel()
        ch.queue_declare("one")
        ch.queue_declare("one")  # redeclaring is not a new queue
        assert refused(lambda: ch.queue_declare("two")) == (
            406, "PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost 'limited' (1) is reached")
    finally:
        close_quietly(first)
    api.ok("DELETE", "/vhost-limits/limited/max-connections")
    a, b = connect(amqpd, "guest", "guest", "limited"), connect(amqpd, "guest", "guest", "limited")
    close_quietly(a)
    close_quietly(b)


def test_user_limits(amqpd):
    api = amqpd.api
    api.ok("PUT", "/users/capped", {"password": "c", "tags": ""})
    api.ok("PUT", "/permissions/shop/capped", {"configure": ".*", "write": ".*", "read": ".*"})
    api.ok("PUT", "/user-limits/capped/max-connections", {"value": 1})
    api.ok("PUT", "/user-limits/capped/max-channels", {"value": 2})
    c = connect(amqpd, "capped", "c")
    try:
        text = open_refused(lambda: connect(amqpd, "capped", "c"))
        assert "(530) \"NOT_ALLOWED - connection refused for user 'capped': user connection limit (1) is " \
               "reached\"" in text
        c.channel()
        c.channel()
        code, text = refused(lambda: c.channel(), ConnectionClosedByBroker)
        assert (code, text) == (530, "NOT_ALLOWED - number of channels opened for user 'capped' has reached "
                                     "the maximum allowed user limit of (2)")
    finally:
        close_quietly(c)


def test_deleting_a_vhost_closes_its_connections_and_deletes_its_objects(amqpd):
    api = amqpd.api
    api.ok("PUT", "/vhosts/doomed")
    api.ok("PUT", "/permissions/doomed/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    c = connect(amqpd, "guest", "guest", "doomed")
    ch = c.channel()
    ch.queue_declare("kept", durable=True)
    ch.basic_publish("", "kept", b"x", pika.BasicProperties(delivery_mode=2))
    api.ok("DELETE", "/vhosts/doomed")
    with pytest.raises(ConnectionClosedByBroker) as e:
        c.process_data_events(time_limit=2)
        c.channel()
    assert e.value.args == (320, "CONNECTION_FORCED - vhost 'doomed' is deleted")
    assert api.get("/vhosts/doomed").status == 404
    assert api.get("/permissions/doomed/guest").status == 404
    api.ok("PUT", "/vhosts/doomed")
    api.ok("PUT", "/permissions/doomed/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    c = connect(amqpd, "guest", "guest", "doomed")
    try:
        ch = c.channel()
        with pytest.raises(ChannelClosedByBroker) as e:
            ch.queue_declare("kept", passive=True)
        assert e.value.args[0] == 404
    finally:
        close_quietly(c)
    assert q("/") == "%2F"


def test_deleting_a_user_closes_its_connections(amqpd):
    api = amqpd.api
    api.ok("PUT", "/users/leaver", {"password": "l", "tags": ""})
    api.ok("PUT", "/permissions/shop/leaver", {"configure": ".*", "write": ".*", "read": ".*"})
    c = connect(amqpd, "leaver", "l")
    api.ok("DELETE", "/users/leaver")
    with pytest.raises(ConnectionClosedByBroker) as e:
        c.process_data_events(time_limit=2)
        c.channel()
    assert e.value.args == (320, "CONNECTION_FORCED - user 'leaver' is deleted")
    assert api.get("/permissions/shop/leaver").status == 404
    with pytest.raises(ProbableAuthenticationError):
        connect(amqpd, "leaver", "l")


def test_clearing_permissions_refuses_the_next_operation(amqpd):
    api = amqpd.api
    api.ok("PUT", "/users/cleared", {"password": "c", "tags": ""})
    api.ok("PUT", "/permissions/shop/cleared", {"configure": ".*", "write": ".*", "read": ".*"})
    c = connect(amqpd, "cleared", "c")
    try:
        ch = c.channel()
        ch.queue_declare("cleared-q")
        api.ok("DELETE", "/permissions/shop/cleared")
        assert refused(lambda: ch.queue_declare("cleared-q")) == (403, texts("queue", "cleared-q", "cleared"))
    finally:
        close_quietly(c)


def test_users_vhosts_permissions_and_limits_survive_restart(broker_factory):
    b = broker_factory()
    api = Api(b.http_port)
    api.ok("PUT", "/vhosts/kept", {"description": "kept vhost", "tags": "a,b"})
    api.ok("PUT", "/users/keeper", {"password": "k", "tags": "monitoring"})
    api.ok("PUT", "/permissions/kept/keeper", {"configure": "^k", "write": "^k", "read": "^k"})
    api.ok("PUT", "/topic-permissions/kept/keeper", {"exchange": "amq.topic", "write": "^k", "read": "^k"})
    api.ok("PUT", "/vhost-limits/kept/max-queues", {"value": 7})
    api.ok("PUT", "/user-limits/keeper/max-channels", {"value": 9})
    before = {p: api.get(p).body for p in ("/vhosts/kept", "/users/keeper", "/permissions/kept/keeper",
                                            "/topic-permissions/kept/keeper", "/vhost-limits/kept",
                                            "/user-limits/keeper")}
    b.stop()
    b2 = broker_factory(data_dir=b.data_dir)
    api2 = Api(b2.http_port)
    after = {p: api2.get(p).body for p in before}
    assert after == before
    assert before["/vhosts/kept"]["description"] == "kept vhost" and before["/vhosts/kept"]["tags"] == ["a", "b"]
    c = connect(b2, "keeper", "k", "kept")
    try:
        ch = c.channel()
        ch.queue_declare("k1")
        assert refused(lambda: ch.queue_declare("other")) == (403, texts("queue", "other", "keeper", "kept"))
    finally:
        close_quietly(c)


def test_first_start_defaults_from_rabbitmq_environment_and_conf(broker_factory):
    b = broker_factory("default_permissions.configure = ^dev\\.\n"
                       "default_user_tags.monitoring = true\n",
                       env={"RABBITMQ_DEFAULT_USER": "admin", "RABBITMQ_DEFAULT_PASS": "s3cret",
                            "RABBITMQ_DEFAULT_VHOST": "dev"})
    api = Api(b.http_port, "admin", "s3cret")
    assert api.ok("GET", "/whoami") == {"name": "admin", "tags": ["monitoring"]}
    assert api.ok("GET", "/vhosts/dev")["name"] == "dev"
    with pytest.raises(ProbableAuthenticationError):
        connect(b, "guest", "guest", "/")
    c = connect(b, "admin", "s3cret", "dev")
    try:
        ch = c.channel()
        ch.queue_declare("dev.q")
        assert refused(lambda: ch.queue_declare("prod.q")) == (403, texts("queue", "prod.q", "admin", "dev"))
    finally:
        close_quietly(c)
    b.stop()
    # as in RabbitMQ, the defaults only seed a new data dir
    again = broker_factory(data_dir=b.data_dir, env={"RABBITMQ_DEFAULT_USER": "other",
                                                     "RABBITMQ_DEFAULT_PASS": "x"})
    assert Api(again.http_port, "admin", "s3cret").get("/whoami").status == 200
    assert Api(again.http_port, "other", "x").get("/whoami").status == 401
