"""amqpd/policy.py: validation texts (checked against RabbitMQ 3.10.8), matching, resolution."""

from __future__ import annotations

import pytest

from amqpd.policy import PolicyError, erl_format, exchange_alternate, make_policy, pick, queue_settings


def err(definition, pattern="^x", priority=0, apply_to="all", operator=False) -> str:
    with pytest.raises(PolicyError) as e:
        make_policy("/", "p", pattern, definition, priority, apply_to, operator)
    return str(e.value)


def V(*lines: str) -> str:
    return "Validation failed\n\n" + "".join(line + "\n" for line in lines)


# -- validation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("definition, text", [
    ({"foo": "bar"}, '[{<<"foo">>,<<"bar">>}] are not recognised policy settings'),
    ({"message-ttl": -1}, "-1 is not a valid message TTL"),
    ({"message-ttl": "abc"}, '<<"abc">> is not a valid message TTL'),
    ({"message-ttl": 1.5}, "1.5 is not a valid message TTL"),
    ({"message-ttl": True}, "true is not a valid message TTL"),
    ({"message-ttl": None}, "null is not a valid message TTL"),
    ({"expires": 0}, "0 is not a valid queue expiry"),
    ({}, "no policy provided"),
    ({"single-active-consumer": True}, '[{<<"single-active-consumer">>,true}] are not recognised policy settings'),
    ({"federation-upstream": "x"}, '[{<<"federation-upstream">>,<<"x">>}] are not recognised policy settings'),
    ({"foo": "bar", "baz": [1, 2, {"a": None}], "message-ttl": 5},
     '[{<<"baz">>,[1,2,#{<<"a">> => null}]},{<<"foo">>,<<"bar">>}] are not recognised policy settings'),
    ({"message-ttl": -1, "expires": 0, "max-length": -1}, "0 is not a valid queue expiry"),  # first in key order
    ({"ha-mode": "bogus"}, '<<"bogus">> is not a valid ha-mode value'),
    ({"ha-mode": "bogus", "queue-master-locator": "zz"}, '<<"zz">> invalid queue-master-locator value'),
    ({"ha-mode": "bogus", "message-ttl": -1}, "-1 is not a valid message TTL"),
    ({"ha-params": 5}, "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"),
    ({"ha-mode": "exactly"}, 'ha-mode="exactly" takes an integer, none given'),
    ({"ha-mode": "all", "ha-params": 1}, 'ha-mode="all" does not take parameters'),
    ({"ha-mode": "nodes", "ha-params": [1, "a"]}, 'ha-mode="nodes" takes a list of strings, [1] was not a string'),
    ({"ha-mode": "all", "ha-sync-batch-size": 0}, "ha-sync-batch-size takes an integer greater than 0, 0 given"),
    ({"max-age": "1x"}, '<<"1x">> is not a valid max age'),
    ({"queue-version": 3}, "3 is not a valid queue-version value"),
    ({"dead-letter-routing-key": 5}, "5 is not a valid dead letter routing key"),
    ({"alternate-exchange": 1e20}, "1.0e20 is not a valid alternate exchange name"),
    ({"alternate-exchange": {"b": 1, "a": [True]}},
     '#{<<"a">> => [true],<<"b">> => 1} is not a valid alternate exchange name'),
    ({"alternate-exchange": [104, 105]}, '"hi" is not a valid alternate exchange name'),
    ({"alternate-exchange": list(range(1, 31))},
     "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,\n"
     " 29,30] is not a valid alternate exchange name"),
    ({"foo-long-key-number-one": "bar-value-one", "foo-long-key-number-two": "bar-value-two", "k3": "v3"},
     '[{<<"foo-long-key-number-one">>,<<"bar-value-one">>},\n'
     ' {<<"foo-long-key-number-two">>,<<"bar-value-two">>},\n'
     ' {<<"k3">>,<<"v3">>}] are not recognised policy settings'),
])
def test_definition_texts(definition, text):
    assert err(definition) == V(text)


def test_every_field_reported_in_rabbitmq_order():
    assert err({"message-ttl": -1, "expires": 0, "foo": 1}, pattern="(", priority="x", apply_to="zz") == V(
        "0 is not a valid queue expiry",
        "apply-to 'zz' unrecognised; should be 'queues', 'exchanges' or 'all'",
        'pattern should be regular expression but is invalid: {"missing )",1}',
        'priority should be a number, actually was <<"x">>')


def test_pattern_texts():
    assert err({"message-ttl": 1}, pattern=5) == V("pattern should be a binary but was 5")
    assert err({"message-ttl": 1}, pattern="a)") == V(
        'pattern should be regular expression but is invalid: {"unmatched parentheses",\n' + " " * 54 + "1}")
    assert err({"message-ttl": 1}, apply_to="classic_queues") == V(
        "apply-to 'classic_queues' unrecognised; should be 'queues', 'exchanges' or 'all'")


def test_operator_policy_keys():
    assert err({"ha-mode": "all"}, operator=True) == V('[{<<"ha-mode">>,<<"all">>}] are not recognised policy settings')
    assert err({"alternate-exchange": "x"}, operator=True) == V(
        '[{<<"alternate-exchange">>,<<"x">>}] are not recognised policy settings')
    assert err({"message-ttl": -5, "alternate-exchange": "x"}, operator=True) == V("-5 is not a valid message TTL")
    p = make_policy("/", "op", ".*", {"max-length": 10, "delivery-limit": 3}, operator=True)
    assert p.operator


def test_accepted_and_json():
    p = make_policy("v", "p", "^q", {"ha-mode": "all", "message-ttl": 5, "max-age": "1D"}, 1.5, "queues")
    assert p.to_json() == {"vhost": "v", "name": "p", "pattern": "^q", "apply-to": "queues",
                           "definition": {"ha-mode": "all", "message-ttl": 5, "max-age": "1D"}, "priority": 1.5}


def test_erl_format_floats():
    assert [erl_format(f) for f in (100.0, 1000.0, 0.0001, 1e-5, 123456.0, 0.1)] == \
        ["100.0", "1.0e3", "0.0001", "1.0e-5", "123456.0", "0.1"]


# -- matching -------------------------------------------------------------------------------------------------
def P(name, pattern, definition=None, priority=0, apply_to="all", operator=False):
    return make_policy("/", name, pattern, definition or {"message-ttl": 1}, priority, apply_to, operator)


def test_pick_priority_and_apply_to():
    low, high = P("low", "^q", priority=1), P("high", "^q", priority=5)
    ex_only = P("ex", ".*", {"alternate-exchange": "ae"}, priority=10, apply_to="exchanges")
    policies = [low, high, ex_only]
    assert pick(policies, "q1", "queue") is high
    assert pick(policies, "q1", "exchange") is ex_only
    assert pick(policies, "x", "queue") is None
    assert pick([P("b", "q"), P("a", "q")], "q", "queue").name == "a"  # ties: by name in amqpd


def test_pick_is_search_on_bytes():
    assert pick([P("p", "ue")], "queue", "queue") is not None  # re:run is unanchored
    assert pick([P("p", "^.$")], "é", "queue") is None  # one character, two bytes
    assert pick([P("p", "^amq\\.")], "amq.direct", "exchange") is not None  # amq.* are not skipped
    assert pick([P("p", "(?<n>q)\\k<n>")], "qq", "queue") is not None


def test_pick_skips_policies_not_applicable_to_the_queue_type():
    quorum_only = P("dl", "^q", {"delivery-limit": 5, "max-length": 1}, priority=5)
    plain = P("plain", "^q", {"max-length": 2}, priority=1)
    assert pick([quorum_only, plain], "q", "queue") is plain
    assert pick([quorum_only, plain], "q", "queue", "quorum") is quorum_only
    assert pick([quorum_only, plain], "q", "exchange") is quorum_only


# -- resolution ------------------------------------------------------------------------------------------------
def test_min_rules_classic():
    pol = P("p", ".*", {"message-ttl": 500, "expires": 9000, "max-length": 10, "max-length-bytes": 100})
    s = queue_settings({"x-message-ttl": 1000, "x-expires": 5000, "x-max-length": 20}, pol, None)
    assert (s.message_ttl, s.expires, s.max_length, s.max_length_bytes) == (500, 5000, 10, 100)
    assert s.policy == "p" and s.operator_policy is None


def test_argument_wins_classic():
    pol = P("p", ".*", {"dead-letter-exchange": "pdlx", "dead-letter-routing-key": "prk",
                        "overflow": "reject-publish", "queue-mode": "lazy"})
    s = queue_settings({"x-dead-letter-exchange": "adlx", "x-overflow": "drop-head", "x-queue-mode": "default"},
                       pol, None)
    assert (s.dead_letter_exchange, s.dead_letter_routing_key, s.overflow, s.queue_mode) == \
        ("adlx", "prk", "drop-head", "default")
    s = queue_settings({}, pol, None)
    assert (s.dead_letter_exchange, s.overflow, s.queue_mode) == ("pdlx", "reject-publish", "lazy")
    assert queue_settings({"x-message-ttl": 5}, None, None).message_ttl == 5


def test_quorum_rules():
    pol = P("p", ".*", {"overflow": "reject-publish", "expires": 9000, "delivery-limit": 3})
    args = {"x-queue-type": "quorum", "x-overflow": "drop-head", "x-expires": 1000, "x-delivery-limit": 5}
    s = queue_settings(args, pol, None)
    assert (s.overflow, s.expires, s.delivery_limit, s.queue_mode) == ("reject-publish", 9000, 3, None)
    s = queue_settings({"x-queue-type": "quorum", "x-overflow": "reject-publish-dlx"}, None, None)
    assert s.overflow == "drop-head"
    assert queue_settings({"x-delivery-limit": 5}, None, None).delivery_limit is None  # classic


def test_operator_policy_stricter_wins():
    pol = P("p", ".*", {"message-ttl": 500, "max-length": 10, "dead-letter-exchange": "dlx"})
    op = P("op", ".*", {"message-ttl": 1000, "max-length": 3, "expires": 60000}, operator=True)
    s = queue_settings({"x-max-length": 5}, pol, op)
    assert (s.message_ttl, s.max_length, s.expires, s.dead_letter_exchange) == (500, 3, 60000, "dlx")
    assert s.effective_definition == {"dead-letter-exchange": "dlx", "expires": 60000, "max-length": 3,
                                      "message-ttl": 500}
    assert (s.policy, s.operator_policy) == ("p", "op")
    only_op = queue_settings({}, None, op)
    assert (only_op.message_ttl, only_op.policy) == (1000, None)


def test_exchange_alternate():
    pol = P("p", ".*", {"alternate-exchange": "pae"})
    assert exchange_alternate({"alternate-exchange": "aae"}, pol) == "aae"
    assert exchange_alternate({}, pol) == "pae"
    assert exchange_alternate(None, None) is None
