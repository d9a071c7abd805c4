"""Flow control: which connections may be read, and which consumers may be delivered to.

One event loop serves every connection, so any buffer between a publisher's socket and a consumer's
socket grows whenever reading outruns delivering. Four mechanisms keep every buffer bounded; the
connection, the channel and the queue call into this module and hold no flow logic of their own.

- **Fair turns.** A read that filled most of the socket buffer pauses that connection until the next
  loop turn, so one fast publisher gets one read per turn and cannot starve dispatch or other
  connections (uvloop would otherwise hand it up to 32 reads of 256 KiB in a single turn).
- **Credit (state "flow").** A queue whose ready backlog passes its high watermark while it has
  consumers is *behind*: connections that publish into it stop being read until the backlog falls to
  the low watermark (which connections exactly: see hold()). This is RabbitMQ's credit flow reduced to
  its effect: TCP pushes back on the publisher, nothing is dropped, and a connection that only
  consumes is never held.
- **Output.** A connection whose socket output is above its high watermark gets no deliveries until it
  drains below the low one. If its output keeps growing anyway (returns, confirms or replies to a
  client that does not read), it is not read either once that output passes OUTPUT_READ_LIMIT: its
  requests would only add more. The limit is generous because synchronous clients (py-amqp) write a
  batch before they read, and must not be stopped mid-batch for output they are about to read.
- **Memory alarm (state "blocked").** Above vm_memory_high_watermark every connection that has
  published stops being read and, if it announced the capability, gets connection.blocked.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pamqp import commands

if TYPE_CHECKING:
    from .connection import Connection
    from .queue import Queue

# Why a connection is not being read (bits of ReadGate.reasons).
TURN = 1
CREDIT = 2
ALARM = 4
OUTPUT = 8

# A read at least this large probably left more in the kernel: the rest waits for the next loop turn.
TURN_READ_BYTES = 64 * 1024
# A queue's ready backlog (messages) above which it holds its publishers, and below which it lets go.
QUEUE_HIGH = 2000
QUEUE_LOW = 1000
# Per-connection output (bytes queued in the broker plus the transport's buffer).
OUTPUT_HIGH = 1024 * 1024
OUTPUT_LOW = 256 * 1024
# Output (bytes in the transport's buffer) above which the connection is not read either.
OUTPUT_READ_LIMIT = 16 * 1024 * 1024
# "connection flow" log lines: at most one per connection per this many seconds.
LOG_INTERVAL = 5.0


class ReadGate:
    """The reasons a connection's socket is not being read; reading resumes when none is left."""

    __slots__ = ("conn", "reasons", "queues", "holds", "flow_count", "_logged_at")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.reasons = 0
        self.queues: set[Queue] = set()  # queues whose flow_held names this connection (held or exempt)
        self.holds = 0  # how many of them hold it
        self.flow_count = 0  # times this connection entered state flow
        self._logged_at = 0.0

    @property
    def state(self) -> str:
        """As RabbitMQ's connection state: blocked (alarm) wins over flow (credit)."""
        if self.reasons & ALARM:
            return "blocked"
        if self.reasons & CREDIT:
            return "flow"
        return "running"

    def pause(self, reason: int) -> None:
        if self.reasons & reason:
            return
        was = self.reasons
        self.reasons = was | reason
        if not was:
            transport = self.conn.transport
            if transport is not None and not transport.is_closing():
                transport.pause_reading()

    def resume(self, reason: int) -> None:
        if not self.reasons & reason:
            return
        self.reasons &= ~reason
        if not self.reasons:
            transport = self.conn.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def end_turn(self) -> None:
        """After a large read: let every other connection and every queue have this turn first."""
        if not self.reasons & TURN:
            self.pause(TURN)
            self.conn.loop.call_soon(self.resume, TURN)

    # -- credit ---------------------------------------------------------------------------------------
    def held(self, queue: Queue) -> None:
        self.holds += 1
        if self.reasons & CREDIT:
            return
        self.pause(CREDIT)
        self.flow_count += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_INTERVAL:
            self._logged_at = now
            self.conn.log.info("connection flow", state=self.state, queue=queue.name, depth=len(queue.ready),
                               times=self.flow_count)

    def let_go(self) -> None:
        """One queue stopped holding this connection; it is read again when none does."""
        self.holds -= 1
        if not self.holds:
            self.resume(CREDIT)

    def clear(self) -> None:
        """The broker closed the connection: read it again whatever held it, so its close-ok arrives."""
        self.forget()
        if self.reasons:
            self.reasons = 0
            transport = self.conn.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def forget(self) -> None:
        """The connection is gone: no queue keeps it in its list of publishers."""
        for q in self.queues:
            q.flow_held.pop(self.conn, None)
        self.queues.clear()
        self.holds = 0


# -- queues: credit ----------------------------------------------------------------------------------
# A queue is *throttling* while it has consumers and more than QUEUE_HIGH ready messages. It holds:
# - a connection that publishes but consumes nothing: holding it can never delay an ack;
# - a connection that also consumes (from other queues) only while some consumer of this queue wants
#   more. Once every consumer here waits on its own acks, those acks may have to come through a held
#   connection (two services that each consume one queue and publish into the other would hold each
#   other for good), so such connections are let go.
# A connection is never held by a queue it consumes from.

def hold(conn: Connection, queue: Queue) -> None:
    """A publish from conn reached a throttling queue: stop reading conn until the queue catches up."""
    held = queue.flow_held
    if conn in held:
        return
    consumers = queue.consumers
    if any(c.conn is conn for c in consumers):
        held[conn] = False
    elif conn.consumes() and not any(c.wants_more() for c in consumers):
        held[conn] = False
    else:
        held[conn] = True
        conn.gate.held(queue)
    conn.gate.queues.add(queue)


def check(queue: Queue) -> None:
    """The throttling queue moved (dispatch, basic.get, a consumer gone): let go of what it need not
    hold any more."""
    consumers = queue.consumers
    if len(queue.ready) <= QUEUE_LOW or not consumers:
        release(queue)
    elif not any(c.wants_more() for c in consumers):
        for conn, was_held in queue.flow_held.items():
            if was_held and conn.consumes():
                queue.flow_held[conn] = False
                conn.gate.let_go()


def release(queue: Queue) -> None:
    """The queue caught up (or lost its consumers, or was purged or deleted): let its publishers go,
    except those another queue still holds."""
    queue.throttling = False
    held = queue.flow_held
    if not held:
        return
    queue.flow_held = {}
    for conn, was_held in held.items():
        gate = conn.gate
        gate.queues.discard(queue)
        if was_held:
            gate.let_go()


# -- connections: output and the memory alarm --------------------------------------------------------
def output_full(conn: Connection) -> None:
    """The transport's buffer passed its high watermark (asyncio's pause_writing)."""
    conn.writable = False
    if conn.stall_timer is None and conn.transport is not None:
        conn.stall_timer = conn.loop.call_later(conn.config.send_timeout / 1000, _stalled, conn,
                                                conn.transport.get_write_buffer_size())


def _stalled(conn: Connection, size_then: int) -> None:
    """send_timeout after the output filled up: a client that read nothing since is dropped (RabbitMQ's
    tcp_listen_options.send_timeout), so it holds neither its buffer nor its unacked messages for ever."""
    conn.stall_timer = None
    transport = conn.transport
    if conn.writable or transport is None or transport.is_closing():
        return
    size = transport.get_write_buffer_size()
    if size < size_then:  # it reads, if slowly: look again later
        conn.stall_timer = conn.loop.call_later(conn.config.send_timeout / 1000, _stalled, conn, size)
        return
    conn.log.warning("closing connection: the client stopped reading its socket", buffered=size,
                     send_timeout_ms=conn.config.send_timeout)
    transport.abort()


def after_read(conn: Connection, size: int) -> None:
    """A read was handled: end this connection's turn if it was large; stop reading a connection whose
    unread output only keeps growing."""
    if size >= TURN_READ_BYTES:
        conn.gate.end_turn()
    if not conn.writable and conn.transport.get_write_buffer_size() > OUTPUT_READ_LIMIT:
        conn.gate.pause(OUTPUT)


def output_drained(conn: Connection) -> None:
    """asyncio's resume_writing: deliveries and reading go on."""
    conn.writable = True
    if conn.stall_timer is not None:
        conn.stall_timer.cancel()
        conn.stall_timer = None
    conn.gate.resume(OUTPUT)
    for ch in list(conn.channels.values()):
        for c in ch.consumers.values():
            c.queue.schedule_dispatch()


def set_alarm(conn: Connection, on: bool, reason: str = "low on memory") -> None:
    """A resource alarm (memory, disk) went on or off; only connections that have published are blocked."""
    gate = conn.gate
    if on:
        if conn.publisher and not gate.reasons & ALARM and conn.is_running():
            if conn.capabilities.get("connection.blocked"):
                conn.send_method(0, commands.Connection.Blocked(reason=reason))
            gate.pause(ALARM)
            conn.log.info("connection blocked", reason=reason)
    elif gate.reasons & ALARM:
        if conn.capabilities.get("connection.blocked") and conn.is_running():
            conn.send_method(0, commands.Connection.Unblocked())
        gate.resume(ALARM)
        conn.log.info("connection unblocked")
        if conn.held is not None:
            conn.loop.call_soon(conn.replay_held)


def first_publish(conn: Connection, reason: str | None) -> None:
    """reason: the alarm in effect (connection.blocked's text), or None."""
    conn.publisher = True
    if reason is not None:
        set_alarm(conn, True, reason)
        # stop at this frame: what was read after it waits until the alarm clears (Connection.held)
        conn.hold_rest = bool(conn.gate.reasons & ALARM)


def writable_limits(transport: Any) -> None:
    transport.set_write_buffer_limits(high=OUTPUT_HIGH, low=OUTPUT_LOW)
