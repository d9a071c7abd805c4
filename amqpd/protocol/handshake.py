"""The connection handshake as a transition table: which channel-0 method each state accepts.

start → start-ok → (tune) → tune-ok → open → open-ok. The table only says what may come next and what
the state becomes; the connection supplies the actions (authentication, tuning, vhost lookup).
"""

from __future__ import annotations

import enum

from pamqp import commands

from ..errors import ConnectionError, ReplyCode


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


def next_state(state: State, method: object) -> State:
    """The state after a handshake method, or the error RabbitMQ gives for an out-of-order one."""
    expected = TRANSITIONS.get(state)
    if expected is None:
        raise ConnectionError(ReplyCode.COMMAND_INVALID, f"unexpected {type(method).__name__} in state {state.name}")
    nxt = expected.get(type(method))
    if nxt is None:
        want = ", ".join(m.name for m in expected)
        raise ConnectionError(ReplyCode.COMMAND_INVALID,
                              f"expected '{want.lower()}', got '{getattr(method, 'name', '?').lower()}'")
    return nxt


def negotiate(field: str, client: int, server: int, minimum: int = 0) -> int:
    """RabbitMQ's check of a client's tune-ok value against the server's limit (rabbit_reader)."""
    if client != 0 and client < minimum:
        raise ConnectionError(ReplyCode.NOT_ALLOWED,
                              f"negotiated {field} = {client} is lower than the minimum allowed value ({minimum})",
                              10, 31)
    if server != 0 and (client == 0 or client > server):
        raise ConnectionError(ReplyCode.NOT_ALLOWED,
                              f"negotiated {field} = {client} is higher than the maximum allowed value ({server})",
                              10, 31)
    return client
