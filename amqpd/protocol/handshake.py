"""The connection handshake as a transition table: which channel-0 method each state accepts.

start → start-ok → (tune) → tune-ok → open → open-ok. The table only says what may come next and what
the state becomes; the connection supplies the actions (authentication, tuning, vhost lookup).
"""

from __future__ import annotations

import enum

from pamqp import commands

from ..errors import ConnectionError, ReplyCode
from .methods import class_method


class State(enum.IntEnum):
    HEADER = 0  # waiting for the 8-byte protocol header
    START_OK = 1  # connection.start sent
    TUNE_OK = 2  # connection.tune sent
    OPEN = 3  # tune-ok received, waiting for connection.open
    RUNNING = 4
    CLOSING = 5  # connection.close sent, waiting for close-ok
    CLOSED = 6


TRANSITIONS: dict[State, dict[type, State]] = {
    State.START_OK: {commands.Connection.StartOk: State.TUNE_OK},
    State.TUNE_OK: {commands.Connection.TuneOk: State.OPEN},
    State.OPEN: {commands.Connection.Open: State.RUNNING},
}

MIN_FRAME_MAX = 4096


# RabbitMQ's names for the reader states, used in its error texts.
STATE_NAMES = {State.START_OK: "starting", State.TUNE_OK: "tuning", State.OPEN: "opening",
               State.RUNNING: "running", State.CLOSING: "closing"}


def unexpected_method(state: State, method: object) -> ConnectionError:
    return ConnectionError(ReplyCode.CHANNEL_ERROR,
                           f"unexpected method in connection state {STATE_NAMES.get(state, state.name.lower())}",
                           *class_method(method))


def next_state(state: State, method: object) -> State:
    """The state after a handshake method, or the error RabbitMQ gives for an out-of-order one."""
    nxt = TRANSITIONS.get(state, {}).get(type(method))
    if nxt is None:
        raise unexpected_method(state, method)
    return nxt


def negotiate(field: str, client: int, server: int, minimum: int = 0) -> int:
    """RabbitMQ's check of a client's tune-ok value against the server's limit (rabbit_reader)."""
    if client != 0 and client < minimum:
        raise ConnectionError(ReplyCode.NOT_ALLOWED,
                              f"negotiated {field} = {client} is lower than the minimum allowed value ({minimum})",
                              10, 30)
    if server != 0 and (client == 0 or client > server):
        detail = " (no limit)" if client == 0 and field == "channel_max" else ""
        raise ConnectionError(ReplyCode.NOT_ALLOWED,
                              f"negotiated {field} = {client}{detail} is higher than the maximum allowed value "
                              f"({server})", 10, 30)
    return client
