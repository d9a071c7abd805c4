"""Unit tests for amqpd.protocol.handshake: the handshake transition table and tune-ok negotiation.

negotiate() follows rabbit_reader:validate_negotiated_integer_value/3: a non-zero client value below the
minimum, or a client value of 0 ("no limit") or above the server's non-zero limit, is refused with 530.
"""

from __future__ import annotations

import pytest
from pamqp import commands

from amqpd.errors import ConnectionError, ReplyCode
from amqpd.protocol.handshake import (
    MIN_FRAME_MAX,
    TRANSITIONS,
    State,
    negotiate,
    next_state,
    unexpected_method,
)
from amqpd.protocol.methods import Publish

C = commands.Connection
HANDSHAKE_METHODS = [
    C.StartOk(mechanism="PLAIN", response="\x00guest\x00guest", locale="en_US"),
    C.TuneOk(channel_max=2047, frame_max=131072, heartbeat=60),
    C.Open(virtual_host="/"),
]
OTHER_METHODS = [
    C.Start(), C.Tune(), C.OpenOk(), C.Close(reply_code=200, reply_text="bye"), C.CloseOk(),
    commands.Channel.Open(), commands.Basic.Publish(exchange="", routing_key="q"),
]


# ------------------------------------------------------------------------------------- next_state

def test_happy_path():
    state = State.START_OK
    state = next_state(state, HANDSHAKE_METHODS[0])
    assert state is State.TUNE_OK
    state = next_state(state, HANDSHAKE_METHODS[1])
    assert state is State.OPEN
    state = next_state(state, HANDSHAKE_METHODS[2])
    assert state is State.RUNNING


def test_transition_table():
    assert TRANSITIONS == {
        State.START_OK: {C.StartOk: State.TUNE_OK},
        State.TUNE_OK: {C.TuneOk: State.OPEN},
        State.OPEN: {C.Open: State.RUNNING},
    }
    assert State.HEADER < State.START_OK < State.TUNE_OK < State.OPEN < State.RUNNING < State.CLOSING < State.CLOSED


def out_of_order(state: State, method) -> ConnectionError:
    """rabbit_reader:handle_method0/2 refuses a method the connection state does not expect with 504, and the
    close names the received method (its class/method ids)."""
    with pytest.raises(ConnectionError) as info:
        next_state(state, method)
    err = info.value
    assert err.reply_code == ReplyCode.CHANNEL_ERROR == 504
    assert (err.class_id, err.method_id) == (method.index >> 16, method.index & 0xFFFF)
    return err


# RabbitMQ's names for the reader's connection_state, printed with ~w
RABBITMQ_STATE_NAMES = {State.START_OK: "starting", State.TUNE_OK: "tuning", State.OPEN: "opening",
                        State.RUNNING: "running", State.CLOSING: "closing"}


def test_open_while_waiting_for_start_ok():
    err = out_of_order(State.START_OK, C.Open(virtual_host="/"))
    assert (err.class_id, err.method_id) == (10, 40)
    assert err.text == "unexpected method in connection state starting"


def test_open_while_tuning():
    err = out_of_order(State.TUNE_OK, C.Open(virtual_host="/"))
    assert (err.class_id, err.method_id) == (10, 40)
    assert err.text == "unexpected method in connection state tuning"


def test_start_ok_while_opening():
    err = out_of_order(State.OPEN, HANDSHAKE_METHODS[0])
    assert (err.class_id, err.method_id) == (10, 11)
    assert err.text == "unexpected method in connection state opening"


@pytest.mark.parametrize("state", [State.START_OK, State.TUNE_OK, State.OPEN])
@pytest.mark.parametrize("method", HANDSHAKE_METHODS + OTHER_METHODS, ids=lambda m: m.name)
def test_every_unexpected_method_in_each_handshake_state(state, method):
    expected = TRANSITIONS[state]
    if type(method) in expected:
        assert next_state(state, method) is expected[type(method)]
        return
    err = out_of_order(state, method)
    assert err.text == f"unexpected method in connection state {RABBITMQ_STATE_NAMES[state]}"


@pytest.mark.parametrize("state", [State.RUNNING, State.CLOSING])
@pytest.mark.parametrize("method", HANDSHAKE_METHODS, ids=lambda m: m.name)
def test_no_handshake_method_accepted_after_the_handshake(state, method):
    err = out_of_order(state, method)
    assert err.text == f"unexpected method in connection state {RABBITMQ_STATE_NAMES[state]}"


@pytest.mark.parametrize("state", [State.HEADER, State.CLOSED])
@pytest.mark.parametrize("method", HANDSHAKE_METHODS, ids=lambda m: m.name)
def test_no_handshake_method_accepted_outside_a_connection(state, method):
    # states RabbitMQ's reader has no method-level name for: still a 504 naming the received method
    err = out_of_order(state, method)
    assert err.text.startswith("unexpected method in connection state ")


def test_decoded_publish_names_basic_publish():
    # amqpd's own hand-decoded basic.publish (not a pamqp class) carries the same class/method ids
    err = out_of_order(State.OPEN, Publish("", "q", False, False))
    assert (err.class_id, err.method_id) == (60, 40)
    assert err.text == "unexpected method in connection state opening"


def test_unexpected_method_builds_the_same_error():
    err = unexpected_method(State.TUNE_OK, C.Close(reply_code=200, reply_text="bye"))
    assert isinstance(err, ConnectionError)
    assert (err.reply_code, err.text, err.class_id, err.method_id) == (
        504, "unexpected method in connection state tuning", 10, 50)


def test_replayed_start_ok_after_tuning_is_refused():
    state = next_state(State.START_OK, HANDSHAKE_METHODS[0])
    err = out_of_order(state, HANDSHAKE_METHODS[0])
    assert err.text == "unexpected method in connection state tuning"


# ---------------------------------------------------------------------------------------- negotiate

def refused(field: str, client: int, server: int, minimum: int = 0) -> ConnectionError:
    with pytest.raises(ConnectionError) as info:
        negotiate(field, client, server, minimum)
    err = info.value
    assert err.reply_code == ReplyCode.NOT_ALLOWED == 530
    return err


def test_min_frame_max():
    assert MIN_FRAME_MAX == 4096


def test_frame_max_zero_when_server_has_a_limit():
    err = refused("frame_max", 0, 131072, MIN_FRAME_MAX)
    assert err.text == "negotiated frame_max = 0 is higher than the maximum allowed value (131072)"


def test_frame_max_below_minimum():
    err = refused("frame_max", 4095, 131072, MIN_FRAME_MAX)
    assert err.text == "negotiated frame_max = 4095 is lower than the minimum allowed value (4096)"


@pytest.mark.parametrize("client", [4096, 4097, 65536, 131071, 131072])
def test_frame_max_within_limits(client):
    assert negotiate("frame_max", client, 131072, MIN_FRAME_MAX) == client


def test_frame_max_above_server():
    err = refused("frame_max", 131073, 131072, MIN_FRAME_MAX)
    assert err.text == "negotiated frame_max = 131073 is higher than the maximum allowed value (131072)"


@pytest.mark.parametrize("client", [1, 4095])
def test_frame_max_below_minimum_even_without_server_limit(client):
    err = refused("frame_max", client, 0, MIN_FRAME_MAX)
    assert "lower than the minimum allowed value (4096)" in err.text


@pytest.mark.parametrize("client", [0, 4096, 2**32 - 1])
def test_frame_max_server_without_limit(client):
    assert negotiate("frame_max", client, 0, MIN_FRAME_MAX) == client


@pytest.mark.parametrize(("client", "ok"), [(1, True), (2047, True), (2048, False), (65535, False)])
def test_channel_max(client, ok):
    if ok:
        assert negotiate("channel_max", client, 2047) == client
    else:
        err = refused("channel_max", client, 2047)
        assert err.text == f"negotiated channel_max = {client} is higher than the maximum allowed value (2047)"


def test_channel_max_zero_text_says_no_limit():
    # rabbit_reader:get_client_value_detail/2 adds ' (no limit)' for channel_max = 0 only
    err = refused("channel_max", 0, 2047)
    assert err.text == "negotiated channel_max = 0 (no limit) is higher than the maximum allowed value (2047)"


@pytest.mark.parametrize(("field", "server"), [("frame_max", 131072), ("heartbeat", 60)])
def test_zero_of_other_fields_has_no_detail(field, server):
    err = refused(field, 0, server)
    assert err.text == f"negotiated {field} = 0 is higher than the maximum allowed value ({server})"


@pytest.mark.parametrize(("field", "client", "server", "minimum"),
                         [("frame_max", 0, 131072, 4096), ("frame_max", 100, 131072, 4096), ("channel_max", 9, 8, 0)])
def test_refusal_names_a_connection_class_method(field, client, server, minimum):
    err = refused(field, client, server, minimum)
    assert err.class_id == 10 and err.method_id in (30, 31)


def test_refusal_names_connection_tune_like_rabbitmq():
    err = refused("frame_max", 0, 131072, MIN_FRAME_MAX)
    assert (err.class_id, err.method_id) == (10, 30)


@pytest.mark.parametrize(("client", "server"), [(0, 0), (60, 0), (65535, 0), (30, 60), (60, 60)])
def test_heartbeat_like_values_accepted(client, server):
    assert negotiate("heartbeat", client, server) == client


def test_heartbeat_like_value_above_server_refused():
    err = refused("heartbeat", 61, 60)
    assert err.text == "negotiated heartbeat = 61 is higher than the maximum allowed value (60)"


def test_minimum_check_comes_before_maximum_check():
    # 10 is below the minimum (100) and above the server limit (5): the minimum is reported
    assert refused("x", 10, 5, 100).text == "negotiated x = 10 is lower than the minimum allowed value (100)"
