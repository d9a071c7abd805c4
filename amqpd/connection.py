"""One AMQP connection: the asyncio adapter around the sans-IO framing and handshake.

Reads feed the FrameBuffer; frames go to channel 0 (here) or to their Channel. Output is collected in a
list and written once per loop iteration, so everything produced while handling one read (or one
dispatch pass) leaves in one send.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pamqp import commands

from . import __version__, flow, tls
from .auth import MECHANISMS, SASLError, parse_response
from .channel import CLOSING as CH_CLOSING
from .channel import OPEN as CH_OPEN
from .channel import Channel
from .errors import AMQPError, ChannelError, ConnectionError, ReplyCode
from .protocol.framing import (
    FRAME_HEARTBEAT,
    FRAME_METHOD,
    HEARTBEAT_FRAME,
    PROTOCOL_HEADER,
    FrameBuffer,
    unexpected_frame,
)
from .protocol.handshake import MIN_FRAME_MAX, State, negotiate, next_state, unexpected_method
from .protocol.methods import class_method, decode_method, encode_method
from .store import StoreWriteError

if TYPE_CHECKING:
    from .server import Broker

CAPABILITIES = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
    "connection.blocked": True,
    "direct_reply_to": True,
    "consumer_priorities": True,
}
CLOSE_OK_TIMEOUT = 3.0
# RabbitMQ answers the AMQP 0-9 header with 0-9-1 (the two are wire-compatible for clients that use it).
AMQP_0_9_HEADER = b"AMQP\x01\x01\x00\x09"
CHANNEL_CLASS = b"\x00\x14"  # method frames of class channel (20) are the connection's business
# channel.open-ok with RabbitMQ's empty channel-id (pamqp insists on "0") and the frame end
CHANNEL_OPEN_OK = b"\x00\x14\x00\x0b\x00\x00\x00\x00\xce"


# What amqpd reports as product/version when amqpd.server_properties.product = rabbitmq: the RabbitMQ
# release whose behaviour it follows, for client code that gates features on the broker's identity.
RABBITMQ_PRODUCT = "RabbitMQ"
RABBITMQ_VERSION = "3.10.8"


def default_cluster_name() -> str:
    return "amqpd@" + (socket.gethostname().split(".")[0] or "localhost")


def server_properties(config: Any, cluster_name: str | None = None) -> dict[str, Any]:
    """connection.start's server-properties; `information` always names amqpd. cluster_name: the
    cluster_name global parameter, which wins over the config key (as rabbit_nodes:cluster_name)."""
    props: dict[str, Any] = {
        "capabilities": dict(CAPABILITIES),
        "cluster_name": (cluster_name if isinstance(cluster_name, str) and cluster_name else None)
        or config.cluster_name or default_cluster_name(),
        "copyright": "Copyright (c) the amqpd authors",
        "information": "Licensed under the Apache License 2.0",
        "platform": f"Python {sys.version.split()[0]}",
        "product": "amqpd",
        "version": __version__,
    }
    if config.server_product == "rabbitmq":
        props["product"] = RABBITMQ_PRODUCT
        props["version"] = RABBITMQ_VERSION
        props["information"] = (f"amqpd {__version__}, compatible with RabbitMQ {RABBITMQ_VERSION}. "
                                "Licensed under the Apache License 2.0")
    return props


class Connection(asyncio.Protocol):
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.stats = broker.ops.stats  # node counters: churn, authentication attempts (amqpd/stats/)
        self.config = broker.config
        self.loop = asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.state = State.HEADER
        self._header = b""
        # Until tune-ok the spec's minimum frame size applies (RabbitMQ's too): a frame header announcing more
        # is refused at once, not buffered while its payload trickles in.
        self.frames = FrameBuffer(MIN_FRAME_MAX)
        self.channels: dict[int, Channel] = {}
        self.out: list[bytes] = []
        self.out_bytes = 0
        self._flush_handle: asyncio.Handle | None = None
        self._confirm_channels: set[Channel] = set()
        self.writable = True  # output below its high watermark: consumers here may take deliveries
        self.stall_timer: asyncio.TimerHandle | None = None  # flow.output_full: is the client still reading?
        self.gate = flow.ReadGate(self)
        self.exclusive_queues: set[Any] = set()
        self.capabilities: dict[str, Any] = {}
        self.client_properties: dict[str, Any] = {}
        self.user = ""
        self.vhost: Any = None
        self.access: Any = None  # VhostAccess: this connection's permissions in its vhost, cached
        # for the management API: bytes in and out, when, and how it authenticated
        self.recv_oct = 0
        self.send_oct = 0
        self.recv_cnt = 0  # socket reads and writes, not frames
        self.send_cnt = 0
        self.connected_at = 0
        self.auth_mechanism = ""
        self.channel_max = self.config.channel_max
        self.frame_max = self.config.frame_max
        self.max_body = self.frame_max - 8
        self.heartbeat = 0
        self.peer = "?"
        self.log = broker.log
        self._timers: list[asyncio.TimerHandle] = []
        self._last_recv = 0.0
        self._sent = False
        self._close_logged = False
        self.publisher = False  # has published: subject to memory-alarm blocking
        # A first publish under an alarm blocks the connection (flow.first_publish) and sets hold_rest: the
        # frames read with it wait in `held` until the alarm clears, as RabbitMQ reads nothing more from a
        # blocked connection, not even what it has buffered (so the message is not enqueued meanwhile).
        self.hold_rest = False
        self.held: list[tuple[int, int, bytes]] | None = None

    # -- asyncio callbacks ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connected_at = int(time.time() * 1000)  # ms, as the management API reports it
        flow.writable_limits(transport)
        peer = transport.get_extra_info("peername")
        self.peer_host = peer[0] if peer else ""
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.log = self.broker.log.bind(conn=self.peer)
        self.broker.connections.add(self)
        self._timers.append(self.loop.call_later(self.config.handshake_timeout / 1000, self._handshake_timeout))
        self.log.debug("connection accepted")

    def data_received(self, data: bytes) -> None:
        self._last_recv = self.loop.time()
        self.recv_oct += len(data)  # once per read, not per frame
        self.recv_cnt += 1
        if self.state == State.HEADER:
            self._protocol_header(data)
            return
        frames = self.frames.feed(data)
        if self.held is not None:  # read again before replay_held ran: those frames come first
            frames = self.held + frames
            self.held = None
        self._handle_frames(frames, len(data))

    def replay_held(self) -> None:
        """The alarm that blocked this connection at its first publish cleared: handle what was read with it."""
        if self.held is None or self.gate.reasons & flow.ALARM:
            return
        frames, self.held = self.held, None
        if self.state < State.CLOSING:
            self._handle_frames(frames, 0)

    def _handle_frames(self, frames: list[tuple[int, int, bytes]], size: int) -> None:
        channels = self.channels
        running = State.RUNNING
        for i, (ftype, chan, payload) in enumerate(frames):
            ch = channels.get(chan) if chan else None
            try:
                # The hot path first: content and non-channel-class methods on an open channel.
                if ch is not None and self.state == running and (
                        ftype != FRAME_METHOD or not payload.startswith(CHANNEL_CLASS)):
                    ch.handle_frame(ftype, payload)
                    if self.hold_rest:
                        self.hold_rest = False
                        self.held = frames[i + 1:]
                        return
                    continue
                if self.state >= State.CLOSING:
                    if self.state == State.CLOSING and chan == 0 and ftype == FRAME_METHOD:
                        self._while_closing(payload)
                    continue
                if chan == 0:
                    self._channel0(ftype, payload)
                elif self.state != running:
                    raise unexpected_frame(ftype, payload)  # RabbitMQ: 505 before connection.open-ok
                elif ch is None:
                    self._new_channel(chan, ftype, payload)
                else:
                    self._channel_method(ch, payload)
            except ChannelError as exc:
                if ch is None:
                    self.connection_error(ConnectionError(exc.reply_code, exc.text, exc.class_id, exc.method_id))
                    break
                self.channel_error(ch, exc)
            except ConnectionError as exc:
                self.connection_error(exc)
                break
            except StoreWriteError as exc:  # logged by the store, which also raised the disk alarm
                self.log.warning("closing connection: a change could not be saved", channel=chan, error=str(exc))
                self.connection_error(ConnectionError(ReplyCode.INTERNAL_ERROR, str(exc)))
                break
            except Exception as exc:  # a bug must cost one connection, never the broker
                self.log.exception("internal error", channel=chan)
                self.connection_error(ConnectionError(ReplyCode.INTERNAL_ERROR, f"internal error: {exc!r}"))
                break
        if self.frames.error is not None and self.state < State.CLOSING:
            self.connection_error(self.frames.error)
        else:
            flow.after_read(self, size)

    def pause_writing(self) -> None:
        flow.output_full(self)

    def resume_writing(self) -> None:
        flow.output_drained(self)

    def is_running(self) -> bool:
        return self.state == State.RUNNING

    def consumes(self) -> bool:
        """Has a consumer on any channel (its acks or reads may be what a queue waits for)."""
        return any(ch.consumers or ch.reply_consumer is not None for ch in self.channels.values())

    def connection_lost(self, exc: Exception | None) -> None:
        was_open = self.state == State.RUNNING or (self.state == State.CLOSING and not self._close_logged)
        self.state = State.CLOSED
        self._release_all()
        self.gate.forget()
        for t in self._timers:
            t.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self.stall_timer is not None:
            self.stall_timer.cancel()
        self.broker.connections.discard(self)
        self.broker.closed_connections += 1  # their objects hold reference cycles (memory.py collects them)
        if self.vhost is not None:  # its octets stay in the vhost's totals
            self.stats.connection_closed += 1
            self.vhost.counters.recv_oct += self.recv_oct
            self.vhost.counters.send_oct += self.send_oct
        if was_open:
            self.log.info("connection closed", user=self.user, reason=str(exc) if exc else "closed")

    # -- output -----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.out.append(data)
        self.out_bytes += len(data)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)
        elif self.out_bytes > flow.OUTPUT_HIGH:
            # Many queues delivering here in one turn: hand the batch to the transport now, whose own
            # watermark then decides whether more may follow.
            self._write_out()

    def want_confirm_flush(self, ch: Channel) -> None:
        self._confirm_channels.add(ch)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._confirm_channels:
            for ch in self._confirm_channels:
                ch.flush_confirms()
            self._confirm_channels.clear()
        self._write_out()

    def _write_out(self) -> None:
        out = self.out
        self.out = []
        self.send_oct += self.out_bytes
        self.out_bytes = 0
        if out and self.transport is not None and not self.transport.is_closing():
            self.send_cnt += 1
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            self._sent = True

    def send_method(self, channel: int, method: Any) -> None:
        self.write(encode_method(channel, method))

    # -- handshake --------------------------------------------------------------------------------
    def _protocol_header(self, data: bytes) -> None:
        """Collect the 8-byte header; on a mismatch answer with ours and close (AMQP 0-9-1 §4.2.2)."""
        buf = self._header + data
        if len(buf) < 8 and (PROTOCOL_HEADER.startswith(buf) or AMQP_0_9_HEADER.startswith(buf)):
            self._header = buf
            return
        if buf[:8] != PROTOCOL_HEADER and buf[:8] != AMQP_0_9_HEADER:
            self.log.warning("bad protocol header", received=repr(buf[:8]))
            self.transport.write(PROTOCOL_HEADER)
            self.state = State.CLOSED
            self.transport.close()
            return
        self._header = b""
        self.state = State.START_OK

        self.send_method(0, commands.Connection.Start(
            version_major=0, version_minor=9, server_properties=server_properties(
                self.config, self.broker.ops.global_parameters.get("cluster_name")),
            mechanisms=" ".join(tls.offered_mechanisms(self.config, self.transport)), locales="en_US"))
        rest = buf[8:]
        if rest:
            self.data_received(rest)

    def _channel0(self, ftype: int, payload: bytes) -> None:
        if ftype != FRAME_METHOD:
            if ftype == FRAME_HEARTBEAT:
                return  # heartbeat: arrival already counted as activity
            raise unexpected_frame(ftype, payload)
        method = decode_method(payload)
        if self.state == State.RUNNING:
            if isinstance(method, commands.Connection.Close):
                self._release_all()
                self.send_method(0, commands.Connection.CloseOk())
                self.state = State.CLOSING
                self.log.info("connection closed by client", user=self.user, reply_code=method.reply_code,
                              reply_text=method.reply_text)
                self._close_logged = True
                self._flush()
                # The client closes the socket after close-ok (closing it first could turn a frame the
                # client sent meanwhile into a reset that loses the close-ok); frames it sent are ignored.
                self._timers.append(self.loop.call_later(CLOSE_OK_TIMEOUT, self._close_transport))
                return
            if isinstance(method, commands.Connection.UpdateSecret):
                # RabbitMQ re-checks the new secret with its auth backend; amqpd's users have
                # passwords, not expiring tokens, so the connection simply carries on.
                self.log.info("secret updated", reason=method.reason)
                self.send_method(0, commands.Connection.UpdateSecretOk())
                return
            raise unexpected_method(self.state, method)
        self.state = next_state(self.state, method)
        if isinstance(method, commands.Connection.StartOk):
            self._start_ok(method)
        elif isinstance(method, commands.Connection.TuneOk):
            self._tune_ok(method)
        elif isinstance(method, commands.Connection.Open):
            self._open(method)

    def _start_ok(self, m: commands.Connection.StartOk) -> None:
        self.client_properties = m.client_properties or {}
        caps = self.client_properties.get("capabilities")
        self.capabilities = caps if isinstance(caps, dict) else {}

        if m.mechanism not in tls.offered_mechanisms(self.config, self.transport):
            # rabbit_reader: a mechanism it has but does not offer here (not in auth_mechanisms, EXTERNAL
            # without TLS) is "invalid", any other "unknown"
            known = m.mechanism in MECHANISMS or m.mechanism == "EXTERNAL"
            raise ConnectionError(ReplyCode.COMMAND_INVALID, f"{'invalid' if known else 'unknown'} "
                                  f"authentication mechanism '{m.mechanism}'", 10, 11)
        self.stats.auth_attempts += 1
        if m.mechanism == "EXTERNAL":
            # The user named by the client certificate, without a password; the response is ignored.
            username, refusal = tls.external_login(self.config, self.transport)
            if username is None:
                self._auth_failed(m.mechanism, "", refusal)
                return
            user = self.broker.ops.users.get(username)
        else:
            try:
                username, password = parse_response(m.mechanism, m.response)
            except SASLError as exc:
                raise ConnectionError(ReplyCode.SYNTAX_ERROR, f"{m.mechanism} response invalid: {exc}",
                                      10, 11) from exc
            user = self.broker.ops.authenticate(username, password)
        if user is None:
            self._auth_failed(m.mechanism, username, "invalid credentials")
            return
        if username in self.config.loopback_users and not _is_loopback(self.peer_host):
            self._auth_failed(m.mechanism, username, f"user '{username}' can only connect via localhost")
            return
        self.user = username
        self.auth_mechanism = m.mechanism
        self._user = user
        self.send_method(0, commands.Connection.Tune(channel_max=self.config.channel_max,
                                                     frame_max=self.config.frame_max,
                                                     heartbeat=self.config.heartbeat))

    def _auth_failed(self, mechanism: str, username: str, why: str) -> None:
        self.stats.auth_failed += 1
        self.log.warning("authentication failed", user=username, mechanism=mechanism, reason=why)
        if self.capabilities.get("authentication_failure_close"):
            self.send_method(0, commands.Connection.Close(
                reply_code=ReplyCode.ACCESS_REFUSED,
                reply_text=f"ACCESS_REFUSED - Login was refused using authentication mechanism {mechanism}. "
                           "For details see the broker logfile.", class_id=0, method_id=0))
            self._flush()
        self.state = State.CLOSED
        self.transport.close()

    def _tune_ok(self, m: commands.Connection.TuneOk) -> None:
        self.frame_max = negotiate("frame_max", m.frame_max, self.config.frame_max, MIN_FRAME_MAX)
        self.channel_max = negotiate("channel_max", m.channel_max, self.config.channel_max)
        self.frames.frame_max = self.frame_max
        self.max_body = self.frame_max - 8
        self.heartbeat = m.heartbeat
        if self.heartbeat:
            self._timers.append(self.loop.call_later(self.heartbeat / 2, self._heartbeat_tick))

    def _open(self, m: commands.Connection.Open) -> None:
        # rabbit_reader: the node's connection limit, vhost access, then the vhost's and the user's limits
        ops = self.broker.ops
        name = m.virtual_host
        limit = self.config.connection_max
        if limit is not None and self._count(lambda c: c.vhost is not None) >= limit:
            raise ConnectionError(ReplyCode.NOT_ALLOWED,
                                  f"connection refused: node connection limit ({limit}) is reached", 10, 40)
        vhost = ops.vhosts.get(name)
        if vhost is None:
            raise ConnectionError(ReplyCode.NOT_ALLOWED, f"vhost {name} not found", 10, 40)
        if not ops.access.has_access(self.user, name):
            raise ConnectionError(ReplyCode.NOT_ALLOWED, f"access to vhost '{name}' refused for user '{self.user}'",
                                  10, 40)
        limit = vhost.limits.get("max-connections")
        if limit is not None and limit >= 0 and self._count(lambda c: c.vhost is vhost) >= limit:
            raise ConnectionError(ReplyCode.NOT_ALLOWED, f"access to vhost '{name}' refused for user "
                                  f"'{self.user}': connection limit ({limit}) is reached", 10, 40)
        limit = self._user.limit("max-connections")
        if limit is not None and self._count(lambda c: c.vhost is not None and c.user == self.user) >= limit:
            raise ConnectionError(ReplyCode.NOT_ALLOWED, f"connection refused for user '{self.user}': user "
                                  f"connection limit ({limit}) is reached", 10, 40)
        self.vhost = vhost
        self.access = ops.access.for_connection(self.user, name)
        self.log = self.log.bind(vhost=vhost.name, user=self.user)
        self.send_method(0, commands.Connection.OpenOk())
        self.stats.connection_created += 1
        self.log.info("connection opened", client=str(self.client_properties.get("product", "")))

    def _count(self, match: Callable[[Connection], bool], channels: bool = False) -> int:
        """Other live connections that match, or (channels=True) their channels."""
        return sum(len(c.channels) if channels else 1 for c in self.broker.connections
                   if c is not self and c.state != State.CLOSED and match(c))

    def _handshake_timeout(self) -> None:
        if self.state < State.RUNNING:
            self.log.warning("handshake timeout", state=self.state.name)
            self.state = State.CLOSED
            if self.transport is not None:
                self.transport.abort()

    def _heartbeat_tick(self) -> None:
        if self.state >= State.CLOSED or self.transport is None:
            return
        now = self.loop.time()
        if self.gate.reasons:
            # Not reading is our doing, not the client's silence (RabbitMQ pauses its monitor too).
            self._last_recv = now
        if now - self._last_recv > 2 * self.heartbeat:
            self.log.warning("missed heartbeats from client", timeout=self.heartbeat)
            self.state = State.CLOSED
            self.transport.abort()
            return
        if not self._sent:
            self.transport.write(HEARTBEAT_FRAME)
        self._sent = False
        self._timers.append(self.loop.call_later(self.heartbeat / 2, self._heartbeat_tick))
        if len(self._timers) > 8:
            self._timers = [t for t in self._timers if not t.cancelled() and t.when() > now]

    # -- channels ---------------------------------------------------------------------------------
    def _new_channel(self, chan: int, ftype: int, payload: bytes) -> None:
        if ftype != FRAME_METHOD:
            if ftype == FRAME_HEARTBEAT:
                raise unexpected_frame(ftype, payload)
            raise ConnectionError(ReplyCode.UNEXPECTED_FRAME, "expected method frame, got non method frame instead")
        method = decode_method(payload)
        if not isinstance(method, commands.Channel.Open):
            raise ConnectionError(ReplyCode.CHANNEL_ERROR, "expected 'channel.open'", *class_method(method))
        if self.channel_max and len(self.channels) >= self.channel_max:
            raise ConnectionError(ReplyCode.NOT_ALLOWED,
                                  f"number of channels opened ({len(self.channels)}) has reached the negotiated "
                                  f"channel_max ({self.channel_max})")
        limit = self._user.limit("max-channels")
        if limit is not None and len(self.channels) + self._count(
                lambda c: c.user == self.user, channels=True) >= limit:
            raise ConnectionError(ReplyCode.NOT_ALLOWED, f"number of channels opened for user '{self.user}' has "
                                  f"reached the maximum allowed user limit of ({limit})", 20, 10)
        self.channels[chan] = Channel(self, chan)
        self.write(struct.pack(">BHI", FRAME_METHOD, chan, 8) + CHANNEL_OPEN_OK)

    def _channel_method(self, ch: Channel, payload: bytes) -> None:
        method = decode_method(payload)
        if isinstance(method, commands.Channel.Open):
            raise ConnectionError(ReplyCode.CHANNEL_ERROR, "second 'channel.open' seen", 20, 10)
        if ch.state != CH_OPEN:
            ch._while_closing(method)
            return
        if isinstance(method, commands.Channel.Close):
            # Confirms that are ready go out before close-ok; the rest are dropped with the channel,
            # whose number may be reused as soon as the client has the close-ok.
            ch.flush_confirms()
            if ch.state != CH_OPEN:  # a failed tx.commit sync closed it just now: our close crosses theirs
                ch._while_closing(method)
                return
            ch.release()
            self.channels.pop(ch.id, None)
            self.send_method(ch.id, commands.Channel.CloseOk())
        elif isinstance(method, commands.Channel.CloseOk):
            # rabbit_channel has no clause for close-ok on an open channel: its catch-all
            raise ConnectionError(ReplyCode.COMMAND_INVALID, "unimplemented method", 20, 41)
        else:
            ch.handle_frame(FRAME_METHOD, payload)

    def channel_closed(self, ch: Channel) -> None:
        if self.channels.get(ch.id) is ch:
            del self.channels[ch.id]

    def channel_error(self, ch: Channel, exc: ChannelError) -> None:
        self.log.warning("channel error", channel=ch.id, reply_code=exc.reply_code, reply_text=exc.reply_text,
                         class_id=exc.class_id, method_id=exc.method_id)
        ch.release()
        ch.send(commands.Channel.Close(reply_code=exc.reply_code, reply_text=exc.reply_text,
                                       class_id=exc.class_id, method_id=exc.method_id))
        ch.state = CH_CLOSING

    def connection_error(self, exc: AMQPError) -> None:
        if self.state >= State.CLOSING:
            return
        self.log.warning("connection error", reply_code=exc.reply_code, reply_text=exc.reply_text,
                         class_id=exc.class_id, method_id=exc.method_id)
        self._release_all()
        if self.state in (State.HEADER,):
            self.transport.close()
            self.state = State.CLOSED
            return
        self.send_method(0, commands.Connection.Close(reply_code=exc.reply_code, reply_text=exc.reply_text,
                                                      class_id=exc.class_id, method_id=exc.method_id))
        self.state = State.CLOSING
        self._flush()
        self.gate.clear()  # whatever held its reads (credit, alarm, output) must not hold back its close-ok
        self._timers.append(self.loop.call_later(CLOSE_OK_TIMEOUT, self._close_ok_timeout))

    def close(self, reply_code: int, text: str) -> None:
        """Server-initiated close, e.g. 320 CONNECTION_FORCED at shutdown."""
        self.connection_error(ConnectionError(reply_code, text))

    def _while_closing(self, payload: bytes) -> None:
        try:
            method = decode_method(payload)
        except ConnectionError:
            return
        if isinstance(method, commands.Connection.CloseOk):
            self._close_transport()
        elif isinstance(method, commands.Connection.Close):
            self.send_method(0, commands.Connection.CloseOk())
            self._flush()

    def _close_ok_timeout(self) -> None:
        if self.state == State.CLOSING and self.transport is not None and not self.transport.is_closing():
            self.log.warning("no connection.close-ok from client: closing the socket", timeout=CLOSE_OK_TIMEOUT)
            self._close_transport()

    def _close_transport(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _release_all(self) -> None:
        channels = list(self.channels.values())
        self.channels.clear()
        for ch in channels:
            ch.release()
        for q in list(self.exclusive_queues):
            q.vhost.remove_queue(q)
        self.exclusive_queues.clear()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False
