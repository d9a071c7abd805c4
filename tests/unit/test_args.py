"""Unit tests for amqpd.args: queue/exchange/consume argument validation and redeclare equivalence, with the
reply texts RabbitMQ 3.10 gives (rabbit_channel's queue.declare and exchange.declare handlers,
rabbit_amqqueue:check_declare_arguments/2 and check_consume_arguments/3, rabbit_misc:assert_args_equivalence/4),
and the expiration property check (amqpd.message.parse_expiration, rabbit_basic:parse_expiration/1).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from amqpd import args as args_mod
from amqpd.args import (
    MAX_EXPIRY,
    QUEUE_ARGS,
    TYPE_ARGS,
    amqp_type,
    assert_args_equivalent,
    assert_flag_equivalent,
    check_server_named,
    validate_consume_args,
    validate_exchange_args,
    validate_queue_args,
)
from amqpd.errors import ChannelError, ReplyCode
from amqpd.message import parse_expiration

# The arguments a classic queue validates (rabbit_classic_queue:capabilities/0 ∩ declare_args/0), by kind
CLASSIC_INT_ARGS = ["x-expires", "x-message-ttl", "x-max-length", "x-max-length-bytes", "x-max-priority"]
CLASSIC_STR_ARGS = ["x-dead-letter-routing-key", "x-overflow", "x-queue-mode", "x-queue-type"]
# Arguments of other queue types only: a classic queue refuses them whatever their value
QUORUM_ONLY_ARGS = ["x-delivery-limit", "x-max-in-memory-length", "x-max-in-memory-bytes", "x-dead-letter-strategy",
                    "x-quorum-initial-group-size", "x-queue-leader-locator"]
WRONG_TYPES = [
    ("abc", "longstr"), (1.5, "double"), (True, "bool"), ({"a": 1}, "table"), ([1], "array"), (None, "void"),
    (b"\x00", "binary"), (Decimal("1.5"), "decimal"),
    (datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC), "timestamp"),
]
NON_STRINGS = [(5, "signedint"), (2**40, "long"), (True, "bool"), ({"a": 1}, "table"), (None, "void")]


def queue_error(args: dict, name: str = "q", vhost: str = "/", durable: bool = True, exclusive: bool = False,
                auto_delete: bool = False) -> str:
    with pytest.raises(ChannelError) as info:
        validate_queue_args(name, vhost, args, durable=durable, exclusive=exclusive, auto_delete=auto_delete)
    assert info.value.reply_code == ReplyCode.PRECONDITION_FAILED == 406
    return info.value.text


def accepted(args: dict, durable: bool = True, exclusive: bool = False, auto_delete: bool = False) -> None:
    validate_queue_args("q", "/", args, durable=durable, exclusive=exclusive, auto_delete=auto_delete)


def invalid(key: str, term: str, name: str = "q", vhost: str = "/") -> str:
    return f"invalid arg '{key}' for queue '{name}' in vhost '{vhost}': {term}"


def wrong_queue_type(key: str, module: str = "rabbit_classic_queue") -> str:
    return f"invalid arg '{key}' for queue 'q' in vhost '/' of queue type {module}"


def test_arg_lists_cover_the_classic_queue_args():
    assert tuple(QUEUE_ARGS) == TYPE_ARGS["classic"]
    assert set(CLASSIC_INT_ARGS) | set(CLASSIC_STR_ARGS) | {
        "x-dead-letter-exchange", "x-single-active-consumer", "x-queue-version", "x-queue-master-locator",
        "x-retry-delays", "x-retry-limit",  # amqpd's own (amqpd/retry.py)
    } == set(QUEUE_ARGS)
    assert not set(QUORUM_ONLY_ARGS) & set(QUEUE_ARGS)
    assert set(QUORUM_ONLY_ARGS) <= set(TYPE_ARGS["quorum"])


# ------------------------------------------------------------------------------------ amqp_type

@pytest.mark.parametrize(("value", "name"), [
    (0, "signedint"), (-(2**31), "signedint"), (2**31 - 1, "signedint"), (2**31, "long"), (-(2**31) - 1, "long"),
    (False, "bool"), *WRONG_TYPES,
])
def test_amqp_type(value, name):
    assert amqp_type(value) == name


# ------------------------------------------------------------------------------- validate_queue_args

def test_brief_example_x_max_length_string():
    assert queue_error({"x-max-length": "abc"}) == invalid("x-max-length", '"expected integer, got longstr"')


@pytest.mark.parametrize("key", CLASSIC_INT_ARGS)
@pytest.mark.parametrize(("value", "type_name"), WRONG_TYPES, ids=[t for _, t in WRONG_TYPES])
def test_integer_args_refuse_other_types(key, value, type_name):
    # check_int_arg/2's error is an Erlang string, printed by ~p with its double quotes
    assert queue_error({key: value}) == invalid(key, f'"expected integer, got {type_name}"')


@pytest.mark.parametrize("key", CLASSIC_STR_ARGS)
@pytest.mark.parametrize(("value", "type_name"), NON_STRINGS, ids=[t for _, t in NON_STRINGS])
def test_string_args_refuse_other_types(key, value, type_name):
    assert queue_error({key: value}) == invalid(key, f"{{unacceptable_type,{type_name}}}")


@pytest.mark.parametrize(("value", "type_name"), [v for v in NON_STRINGS if v[0] is not None],
                         ids=[t for v, t in NON_STRINGS if v is not None])
def test_dead_letter_exchange_must_be_a_string(value, type_name):
    # rabbit_channel checks the DLX name (rabbit_misc:r_arg/4) before rabbit_amqqueue validates anything
    assert queue_error({"x-dead-letter-exchange": value}) == (
        f"invalid type '{type_name}' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'")


def test_dead_letter_exchange_type_is_checked_first():
    assert queue_error({"x-queue-type": "foo", "x-max-length": "abc", "x-dead-letter-exchange": 5}) == (
        "invalid type 'signedint' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'")


def test_void_dead_letter_exchange_like_rabbitmq():
    assert queue_error({"x-dead-letter-exchange": None}) == (
        "invalid type 'void' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'")


@pytest.mark.parametrize(("value", "type_name"), [("true", "longstr"), (1, "signedint"), (None, "void")])
def test_single_active_consumer_must_be_bool(value, type_name):
    assert queue_error({"x-single-active-consumer": value}) == invalid(
        "x-single-active-consumer", f"{{unacceptable_type,{type_name}}}")


@pytest.mark.parametrize("key", CLASSIC_INT_ARGS)
@pytest.mark.parametrize("value", [-1, -(2**40)])
def test_negative_values(key, value):
    assert queue_error({key: value}) == invalid(key, f"{{value_negative,{value}}}")


def test_x_expires_zero():
    assert queue_error({"x-expires": 0}) == invalid("x-expires", "{value_zero,0}")


@pytest.mark.parametrize("key", [k for k in CLASSIC_INT_ARGS if k != "x-expires"])
def test_zero_is_valid_for_other_int_args(key):
    accepted({key: 0})


@pytest.mark.parametrize("key", ["x-expires", "x-message-ttl"])
def test_expiry_args_capped_at_ten_years(key):
    # rabbit_misc:check_expiry/1
    assert MAX_EXPIRY == 315_360_000_000
    accepted({key: MAX_EXPIRY})
    assert queue_error({key: MAX_EXPIRY + 1}) == invalid(key, f"{{value_too_large,{MAX_EXPIRY + 1}}}")


@pytest.mark.parametrize("key", ["x-max-length", "x-max-length-bytes"])
def test_length_limits_have_no_upper_bound(key):
    accepted({key: 2**62})


def test_x_max_priority_256():
    assert queue_error({"x-max-priority": 256}) == invalid("x-max-priority", "{max_value_exceeded,256}")
    assert queue_error({"x-max-priority": 2**40}) == invalid("x-max-priority", f"{{max_value_exceeded,{2**40}}}")


@pytest.mark.parametrize("value", [0, 1, 10, 255])
def test_x_max_priority_up_to_255_is_valid(value):
    accepted({"x-max-priority": value})


def test_x_overflow_foo():
    assert queue_error({"x-overflow": "foo"}) == invalid("x-overflow", "invalid_overflow")


def test_x_overflow_wrong_type():
    assert queue_error({"x-overflow": 7}) == invalid("x-overflow", "{unacceptable_type,signedint}")


@pytest.mark.parametrize("mode", ["drop-head", "reject-publish", "reject-publish-dlx"])
def test_x_overflow_known_modes_are_valid(mode):
    accepted({"x-overflow": mode})


def test_x_queue_type_stream_is_accepted_durable_only():
    validate_queue_args("q", "/", {"x-queue-type": "stream", "x-max-age": "7D"}, True, False, False)
    assert queue_error({"x-queue-type": "stream"}, durable=False) == (
        "invalid property 'non-durable' for queue 'q' in vhost '/'")


@pytest.mark.parametrize("qtype", ["foo", "Classic", ""])
def test_x_queue_type_unknown(qtype):
    assert queue_error({"x-queue-type": qtype}) == invalid("x-queue-type", f"\"unsupported queue type '{qtype}'\"")


@pytest.mark.parametrize("mode", ["fast", "Lazy"])
def test_x_queue_mode_unknown(mode):
    assert queue_error({"x-queue-mode": mode}) == invalid("x-queue-mode", f"\"unsupported queue mode '{mode}'\"")


@pytest.mark.parametrize(("value", "term"), [
    (3, "\"unsupported queue version '3'\""), (0, "\"unsupported queue version '0'\""),
    (-1, "{value_negative,-1}"), ("2", '"expected integer, got longstr"'),
])
def test_x_queue_version(value, term):
    assert queue_error({"x-queue-version": value}) == invalid("x-queue-version", term)


@pytest.mark.parametrize("value", ["client-local", "min-masters", "random", "nearest", "", 5, None])
def test_x_queue_master_locator_is_not_validated(value):
    # a classic-queue argument without a validator in rabbit_amqqueue:declare_args/0
    accepted({"x-queue-master-locator": value})


def test_dead_letter_routing_key_needs_a_dead_letter_exchange():
    assert queue_error({"x-dead-letter-routing-key": "rk"}) == invalid(
        "x-dead-letter-routing-key", "routing_key_but_no_dlx_defined")
    accepted({"x-dead-letter-routing-key": "rk", "x-dead-letter-exchange": "dlx"})
    accepted({"x-dead-letter-routing-key": "rk", "x-dead-letter-exchange": ""})  # the default exchange


@pytest.mark.parametrize("args", [
    {},
    {"x-queue-type": "classic"},
    {"x-queue-mode": "lazy"},
    {"x-queue-mode": "default"},
    {"x-queue-version": 1},
    {"x-queue-version": 2},
    {"x-expires": 1},
    {"x-message-ttl": 60000},
    {"x-max-length": 10, "x-max-length-bytes": 1000, "x-overflow": "reject-publish"},
    {"x-dead-letter-exchange": "dlx"},
    {"x-dead-letter-exchange": ""},
    {"x-single-active-consumer": True},
    {"x-single-active-consumer": False},
    {"x-unknown": "anything", "foo": 1, "x-ha-policy": "all", "x-priority": "x"},
    {"x-queue-type": "classic", "x-queue-mode": "lazy", "x-custom": [1, 2]},
], ids=repr)
def test_valid_classic_args_accepted(args):
    validate_queue_args("q", "/", args, durable=False, exclusive=True, auto_delete=True)


def test_resource_name_in_text():
    text = queue_error({"x-max-length": "abc"}, name="orders.é", vhost="prod")
    assert text == invalid("x-max-length", '"expected integer, got longstr"', name="orders.é", vhost="prod")


# ------------------------------------------------------------------------------ checking order

def test_queue_type_is_checked_before_the_other_args():
    assert queue_error({"x-max-length": "abc", "x-queue-type": "foo"}) == invalid(
        "x-queue-type", "\"unsupported queue type 'foo'\"")


@pytest.mark.parametrize("args", [
    {"x-max-priority": 256, "x-max-length": -1},
    {"x-max-length": -1, "x-max-priority": 256},
], ids=["priority-first", "length-first"])
def test_validators_run_in_declare_args_order_not_table_order(args):
    assert queue_error(args) == invalid("x-max-length", "{value_negative,-1}")


def test_expires_reported_before_overflow():
    assert queue_error({"x-overflow": "foo", "x-expires": 0}) == invalid("x-expires", "{value_zero,0}")


def test_validation_errors_come_before_queue_type_refusals():
    assert queue_error({"x-delivery-limit": 5, "x-max-length": "abc"}) == invalid(
        "x-max-length", '"expected integer, got longstr"')


# ------------------------------------------------------------------------------------- queue types

@pytest.mark.parametrize("key", QUORUM_ONLY_ARGS)
@pytest.mark.parametrize("value", [5, 0, -1, "abc"])
def test_classic_queue_refuses_other_types_args_whatever_the_value(key, value):
    # not validated at all for a classic queue: rabbit_amqqueue:check_arguments_key/4 refuses the key
    assert queue_error({key: value}) == wrong_queue_type(key)
    assert queue_error({"x-queue-type": "classic", key: value}) == wrong_queue_type(key)


def test_x_delivery_limit_on_a_classic_queue():
    assert queue_error({"x-delivery-limit": 5}) == (
        "invalid arg 'x-delivery-limit' for queue 'q' in vhost '/' of queue type rabbit_classic_queue")


@pytest.mark.parametrize(("args", "key"), [
    ({"x-delivery-limit": 1, "x-max-in-memory-length": 1}, "x-delivery-limit"),
    ({"x-max-in-memory-length": 1, "x-delivery-limit": 1}, "x-max-in-memory-length"),
], ids=["delivery-limit-first", "in-memory-first"])
def test_other_types_args_refused_in_table_order(args, key):
    # lists:foreach over the declared arguments: the first one in the client's table is named
    assert queue_error(args) == wrong_queue_type(key)


QUORUM = {"x-queue-type": "quorum"}


@pytest.mark.parametrize("args", [
    {},
    {"x-delivery-limit": 5},
    {"x-max-in-memory-length": 0, "x-max-in-memory-bytes": 10},
    {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish", "x-dead-letter-exchange": "dlx"},
    {"x-quorum-initial-group-size": 3},
    {"x-queue-leader-locator": "client-local"},
    {"x-queue-leader-locator": "balanced"},
    {"x-message-ttl": 1000, "x-expires": 1000, "x-max-length": 5, "x-single-active-consumer": True},
], ids=repr)
def test_quorum_queue_accepts_its_args(args):
    accepted({**QUORUM, **args})


@pytest.mark.parametrize("key", ["x-max-priority", "x-queue-mode", "x-queue-version", "x-queue-master-locator"])
def test_quorum_queue_refuses_classic_only_args(key):
    assert queue_error({**QUORUM, key: 1}) == wrong_queue_type(key, "rabbit_quorum_queue")


@pytest.mark.parametrize(("key", "value", "term"), [
    ("x-max-in-memory-length", "abc", '"expected integer, got longstr"'),
    ("x-max-in-memory-bytes", -1, "{value_negative,-1}"),
    ("x-quorum-initial-group-size", 0, "{value_zero,0}"),
    ("x-dead-letter-strategy", "sometimes", "invalid_dlx_strategy"),
    ("x-dead-letter-strategy", 1, "{unacceptable_type,signedint}"),
    ("x-queue-leader-locator", "nearest", "invalid_queue_locator_arg"),
])
def test_quorum_queue_validates_its_args(key, value, term):
    assert queue_error({**QUORUM, key: value}) == invalid(key, term)


@pytest.mark.parametrize(("durable", "exclusive", "auto_delete", "prop"), [
    (True, False, True, "auto-delete"),
    (True, True, False, "exclusive-owner"),
    (False, False, False, "non-durable"),
    (False, True, True, "auto-delete"),  # rabbit_queue_type_util checks in this order
    (False, True, False, "exclusive-owner"),
])
def test_quorum_queue_properties(durable, exclusive, auto_delete, prop):
    assert queue_error(QUORUM, durable=durable, exclusive=exclusive, auto_delete=auto_delete) == (
        f"invalid property '{prop}' for queue 'q' in vhost '/'")


def test_quorum_args_are_checked_before_properties():
    assert queue_error({**QUORUM, "x-max-priority": 1}, durable=False) == wrong_queue_type(
        "x-max-priority", "rabbit_quorum_queue")


@pytest.mark.parametrize(("args", "module"), [(QUORUM, "rabbit_quorum_queue"),
                                              ({"x-queue-type": "stream"}, "rabbit_stream_queue")])
def test_server_named_queue_must_be_classic(args, module):
    with pytest.raises(ChannelError) as info:
        check_server_named(args)
    assert info.value.reply_code == 406
    assert info.value.text == f"Cannot declare a server-named queue for type {module}"


@pytest.mark.parametrize("args", [{}, {"x-queue-type": "classic"}, {"x-max-length": 1}])
def test_server_named_classic_queue_allowed(args):
    check_server_named(args)


# --------------------------------------------------------------------------- validate_consume_args

def consume_error(qtype: str, args: dict) -> str:
    with pytest.raises(ChannelError) as info:
        validate_consume_args("q", "/", qtype, args)
    assert info.value.reply_code == 406
    return info.value.text


@pytest.mark.parametrize("qtype", ["classic", "quorum"])
def test_consumer_priority_must_be_an_integer(qtype):
    validate_consume_args("q", "/", qtype, {"x-priority": -5})
    assert consume_error(qtype, {"x-priority": "high"}) == invalid("x-priority", '"expected integer, got longstr"')


def test_cancel_on_ha_failover_must_be_bool():
    validate_consume_args("q", "/", "classic", {"x-cancel-on-ha-failover": True})
    assert consume_error("classic", {"x-cancel-on-ha-failover": 1}) == invalid(
        "x-cancel-on-ha-failover", "{unacceptable_type,signedint}")


@pytest.mark.parametrize(("qtype", "key"), [("quorum", "x-cancel-on-ha-failover"), ("classic", "x-stream-offset"),
                                            ("quorum", "x-stream-offset")])
def test_consume_args_of_other_queue_types_refused(qtype, key):
    assert consume_error(qtype, {key: 1}) == wrong_queue_type(key, f"rabbit_{qtype}_queue")


def test_unknown_consume_args_ignored():
    validate_consume_args("q", "/", "classic", {"x-whatever": "x", "x-credit": {"credit": 1}})


# ---------------------------------------------------------------------------- validate_exchange_args

@pytest.mark.parametrize(("value", "type_name"), NON_STRINGS, ids=[t for _, t in NON_STRINGS])
def test_exchange_alternate_exchange_must_be_a_string(value, type_name):
    with pytest.raises(ChannelError) as info:
        validate_exchange_args("x", "/", {"alternate-exchange": value})
    assert info.value.reply_code == 406
    assert info.value.text == (
        f"invalid type '{type_name}' for arg 'alternate-exchange' in exchange 'x' in vhost '/'")


@pytest.mark.parametrize("args", [{}, {"alternate-exchange": "ae"}, {"x-whatever": 1, "alternate-exchange": ""}])
def test_exchange_args_accepted(args):
    validate_exchange_args("x", "/", args)


# ------------------------------------------------------------------------ expiration property check

@pytest.mark.parametrize(("text", "ms"), [("0", 0), ("60000", 60000), ("+5", 5), ("-0", 0), ("007", 7),
                                          (str(MAX_EXPIRY), MAX_EXPIRY)])
def test_expiration_accepted(text, ms):
    assert parse_expiration(text) == ms


@pytest.mark.parametrize(("text", "term"), [
    ("abc", "no_integer"), ("", "no_integer"), ("-", "no_integer"), ("+", "no_integer"), (" 5", "no_integer"),
    ("x10", "no_integer"), ("+-1", "no_integer"),
    ("-1", "{value_negative,-1}"), ("-60000", "{value_negative,-60000}"),
    ("10x", '{leftover_string,"x"}'), ("1.5", '{leftover_string,".5"}'), ("5 ", '{leftover_string," "}'),
    ("0x10", '{leftover_string,"x10"}'), ('1"a', '{leftover_string,"\\"a"}'),
    (str(MAX_EXPIRY + 1), f"{{value_too_large,{MAX_EXPIRY + 1}}}"),
    ("1000000000000", "{value_too_large,1000000000000}"),
])
def test_expiration_refused_with_rabbitmq_term(text, term):
    # string:to_integer/1 then rabbit_misc:check_expiry/1; the channel prints "invalid expiration '~s': ~p"
    with pytest.raises(ValueError) as info:
        parse_expiration(text)
    assert str(info.value) == term


def test_expiration_cap_is_the_argument_cap():
    from amqpd import message

    assert message.MAX_EXPIRY == args_mod.MAX_EXPIRY == 315_360_000_000
    assert parse_expiration("4294967296") == 2**32  # above 32 bits, below ten years: accepted by 3.10.8


# --------------------------------------------------------------------------- assert_args_equivalent

KEYS = tuple(QUEUE_ARGS)


def inequivalent(current: dict, requested: dict, keys=KEYS, kind: str = "queue", name: str = "q") -> str:
    with pytest.raises(ChannelError) as info:
        assert_args_equivalent(kind, name, "/", current, requested, keys)
    assert info.value.reply_code == ReplyCode.PRECONDITION_FAILED == 406
    return info.value.text


PREFIX = "inequivalent arg '{}' for queue 'q' in vhost '/': "


@pytest.mark.parametrize(("current", "requested"), [
    ({}, {}),
    ({"x-max-length": 10}, {"x-max-length": 10}),
    ({"x-max-length": 2**40}, {"x-max-length": 2**40}),  # 'l' long on both sides
    ({"x-message-ttl": 0}, {"x-message-ttl": 0}),
    ({"x-queue-mode": "lazy"}, {"x-queue-mode": "lazy"}),
    ({"x-single-active-consumer": True}, {"x-single-active-consumer": True}),
    ({"x-dead-letter-exchange": "dlx", "x-max-length": 5}, {"x-max-length": 5, "x-dead-letter-exchange": "dlx"}),
])
def test_equivalent_args(current, requested):
    assert_args_equivalent("queue", "q", "/", current, requested, KEYS)


def test_int_widths_are_one_type_class():
    # a 'b' 10 and an 'l' 10 both decode to int 10; across the signedint/long boundary the class is still int
    assert amqp_type(2**31 - 1) != amqp_type(2**31)
    assert_args_equivalent("queue", "q", "/", {"x-max-length": 2**31}, {"x-max-length": 2**31}, KEYS)


def test_unknown_keys_ignored():
    assert_args_equivalent("queue", "q", "/", {"x-custom": 1, "foo": "a"}, {"x-custom": 2, "bar": "b"}, KEYS)
    assert_args_equivalent("queue", "q", "/", {}, {"x-custom": 2}, KEYS)


def test_only_given_keys_compared():
    assert_args_equivalent("exchange", "x", "/", {"x-max-length": 1}, {"x-max-length": 2}, ("alternate-exchange",))


def test_differing_values_text_of_the_brief():
    # both sides have the key: rabbit_misc:assert_args_equivalence1/4 prints the bare values
    assert inequivalent({"x-max-length": 10}, {"x-max-length": 20}) == (
        "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '20' but current is '10'")


@pytest.mark.parametrize(("key", "current", "requested", "detail"), [
    ("x-queue-mode", "lazy", "default", "received 'default' but current is 'lazy'"),
    ("x-single-active-consumer", True, False, "received 'false' but current is 'true'"),
    ("x-max-length-bytes", 2**40, 1, f"received '1' but current is '{2**40}'"),
    ("x-max-length", 2**31, 2**31 - 1, f"received '{2**31 - 1}' but current is '{2**31}'"),  # long vs signedint
    ("x-queue-type", "quorum", "classic", "received 'classic' but current is 'quorum'"),
])
def test_differing_values_of_the_same_type_class(key, current, requested, detail):
    assert inequivalent({key: current}, {key: requested}) == PREFIX.format(key) + detail


def test_requested_but_not_current():
    assert inequivalent({}, {"x-max-length": 20}) == (
        "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received the value '20' of type 'signedint' "
        "but current is none")


def test_current_but_not_requested():
    assert inequivalent({"x-max-length": 10}, {}) == (
        "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received none "
        "but current is the value '10' of type 'signedint'")


def test_string_and_long_values_in_text():
    assert inequivalent({}, {"x-queue-mode": "lazy"}).endswith(
        "received the value 'lazy' of type 'longstr' but current is none")
    assert inequivalent({"x-max-length-bytes": 2**40}, {}).endswith(
        f"received none but current is the value '{2**40}' of type 'long'")


@pytest.mark.parametrize(("current", "requested"), [
    (1, True),        # Python: 1 == True, AMQP: signedint vs bool
    (0, False),
    (1, 1.0),         # signedint vs double
    (10, "10"),       # signedint vs longstr
    (None, 0),        # void vs signedint
])
def test_equal_in_python_but_different_amqp_types(current, requested):
    text = inequivalent({"x-max-length": current}, {"x-max-length": requested})
    assert text.startswith(PREFIX.format("x-max-length") + "received ")


@pytest.mark.parametrize(("current", "requested", "detail"), [
    (1, True, "received 'true' but current is '1'"),
    (10, "10", "received '10' but current is '10'"),
    (1, 1.0, "received '1.0' but current is '1'"),
    (None, 0, "received '0' but current is none"),
], ids=["bool", "longstr", "double", "void"])
def test_differing_types_use_the_plain_form_like_rabbitmq(current, requested, detail):
    assert inequivalent({"x-max-length": current}, {"x-max-length": requested}) == (
        PREFIX.format("x-max-length") + detail)


def test_first_differing_key_in_key_order_is_reported():
    text = inequivalent({"x-expires": 1, "x-max-length": 1}, {"x-expires": 2, "x-max-length": 2},
                        keys=("x-max-length", "x-expires"))
    assert "'x-max-length'" in text and "'x-expires'" not in text


def test_exchange_alternate_exchange_equivalence():
    assert_args_equivalent("exchange", "x", "/", {"alternate-exchange": "ae"}, {"alternate-exchange": "ae"},
                           ("alternate-exchange",))
    assert inequivalent({}, {"alternate-exchange": "ae"}, keys=("alternate-exchange",), kind="exchange",
                        name="x") == ("inequivalent arg 'alternate-exchange' for exchange 'x' in vhost '/': "
                                      "received the value 'ae' of type 'longstr' but current is none")


@pytest.mark.parametrize(("current", "requested"), [({}, {"x-queue-type": "classic"}),
                                                    ({"x-queue-type": "classic"}, {})], ids=["added", "dropped"])
def test_missing_queue_type_equivalent_to_classic(current, requested):
    # rabbit_misc:assert_field_equivalence/4 special-cases x-queue-type (rabbitmq-common#341)
    assert_args_equivalent("queue", "q", "/", current, requested, KEYS)


@pytest.mark.parametrize(("current", "requested", "detail"), [
    ({}, {"x-queue-type": "quorum"}, "received the value 'quorum' of type 'longstr' but current is none"),
    ({"x-queue-type": "quorum"}, {}, "received none but current is the value 'quorum' of type 'longstr'"),
], ids=["added", "dropped"])
def test_missing_queue_type_is_not_quorum(current, requested, detail):
    assert inequivalent(current, requested) == PREFIX.format("x-queue-type") + detail


def test_classic_equivalence_applies_only_to_x_queue_type():
    assert inequivalent({}, {"x-queue-mode": "classic"}) == PREFIX.format("x-queue-mode") + (
        "received the value 'classic' of type 'longstr' but current is none")


# --------------------------------------------------------------------------- assert_flag_equivalent

def flag_error(kind: str, flag: str, current, requested, name: str = "q") -> str:
    with pytest.raises(ChannelError) as info:
        assert_flag_equivalent(kind, name, "/", flag, current, requested)
    assert info.value.reply_code == 406
    return info.value.text


@pytest.mark.parametrize(("flag", "current", "requested", "text"), [
    ("durable", False, True, "received 'true' but current is 'false'"),
    ("durable", True, False, "received 'false' but current is 'true'"),
    ("auto_delete", False, True, "received 'true' but current is 'false'"),
    ("exclusive", True, False, "received 'false' but current is 'true'"),
])
def test_queue_flag_texts(flag, current, requested, text):
    assert flag_error("queue", flag, current, requested) == f"inequivalent arg '{flag}' for queue 'q' in vhost '/': {text}"


def test_exchange_type_text():
    assert flag_error("exchange", "type", "direct", "topic", name="logs") == (
        "inequivalent arg 'type' for exchange 'logs' in vhost '/': received 'topic' but current is 'direct'")


@pytest.mark.parametrize(("flag", "value"), [("durable", True), ("durable", False), ("type", "fanout"),
                                              ("internal", False)])
def test_equal_flags_pass(flag, value):
    assert_flag_equivalent("exchange", "x", "/", flag, value, value)
