"""Shared helpers for the durability, crash-recovery and operations tests.

Everything here has a timeout: a restart that hangs, a socket that never answers or a broker that never
exits fails the test instead of stalling the run.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pika.exceptions
from conftest import free_port  # noqa: F401 - the tests import it from here
from pamqp import commands
from pamqp import frame as pframe
from rawclient import FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_METHOD, RawClient, encode_properties

COLUMN_FAMILIES = ["meta", "vhosts", "users", "exchanges", "queues", "bindings", "messages", "index", "access",
                   "parameters", "streams", "delayed", "dedup", "history"]
SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)


# ---------------------------------------------------------------------------------------------------------
# broker lifecycle


def restart(factory, old, conf: str | None = None, **kw):
    """Start amqpd again on the same data dir and port as `old` (which must have stopped)."""
    assert old.proc is None or old.proc.poll() is not None, "the previous amqpd is still running"
    kw.setdefault("extra_args", old.extra_args)
    return factory(conf, port=old.port, data_dir=old.data_dir, **kw)


def kill9(broker) -> None:
    broker.proc.kill()
    broker.proc.wait(10)


def sigterm(broker, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    rc = broker.stop(sig, timeout=timeout)
    assert rc is not None
    return rc


def log_mark(broker) -> int:
    """The log file is shared by every amqpd started on the same port; remember where this one starts."""
    return len(broker.log_text())


def log_since(broker, mark: int) -> str:
    return broker.log_text()[mark:]


def json_lines(text: str) -> list[dict]:
    """Every non-empty line must be one JSON object."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise AssertionError(f"log line is not JSON: {line!r}") from exc
        assert isinstance(obj, dict), f"log line is not a JSON object: {line!r}"
        out.append(obj)
    return out


def amqpd_cmd(*args: str) -> list[str]:
    # no HTTP API unless asked: these brokers must not compete for port 15672
    extra = [] if "--management-port" in args else ["--management-port", "0"]
    extra += [] if "--prometheus-port" in args else ["--prometheus-port", "0"]
    return [sys.executable, "-m", "amqpd", *args, *extra]


def run_amqpd(args: list[str], timeout: float = 20, env: dict | None = None,
              cwd: Path | None = None) -> tuple[int | None, str, float]:
    """Run amqpd expecting it to exit by itself; (returncode or None if it kept running, output, seconds).

    A process still running after `timeout` is killed and reported with returncode None.
    """
    started = time.monotonic()
    proc = subprocess.Popen(amqpd_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, cwd=cwd)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
        rc = None
    return rc, out.decode(errors="replace"), time.monotonic() - started


def without(text: str, *paths) -> str:
    """Lower-cased text with the given paths cut out (test directory names contain words like 'corrupt')."""
    for p in paths:
        text = text.replace(str(p), "<path>")
    return text.lower()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------------
# white-box store access (only while no amqpd runs on the data dir)


@contextlib.contextmanager
def open_store(data_dir: Path, read_only: bool = True) -> Iterator:
    from rocksdict import AccessType, Options, Rdict

    kw = {"access_type": AccessType.read_only()} if read_only else {}
    db = Rdict(str(Path(data_dir) / "rocksdb"), Options(raw_mode=True),
               column_families={name: Options(raw_mode=True) for name in COLUMN_FAMILIES}, **kw)
    try:
        yield db
    finally:
        db.close()


def cf_counts(data_dir: Path) -> dict[str, int]:
    with open_store(data_dir) as db:
        out = {name: sum(1 for _ in db.get_column_family(name).keys()) for name in COLUMN_FAMILIES}
    gc.collect()
    return out


def meta_get(data_dir: Path, key: bytes) -> bytes | None:
    with open_store(data_dir) as db:
        value = db.get_column_family("meta").get(key)
    gc.collect()  # a column family object keeps the database (and its LOCK) alive
    return value


def meta_put(data_dir: Path, key: bytes, value: bytes) -> None:
    with open_store(data_dir, read_only=False) as db:
        db.get_column_family("meta").put(key, value)
    gc.collect()


def file_digests(directory: Path) -> dict[str, str]:
    """sha256 of every file in the RocksDB directory except RocksDB's own info logs (LOG, LOG.old.*)."""
    out = {}
    for p in sorted(Path(directory).iterdir()):
        if p.is_file() and not p.name.startswith("LOG"):
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ---------------------------------------------------------------------------------------------------------
# pika helpers


def connect(broker, **kw) -> pika.BlockingConnection:
    return pika.BlockingConnection(broker.pika_params(**kw))


def close_quietly(conn) -> None:
    with contextlib.suppress(Exception):
        if conn.is_open:
            conn.close()


def get_all(ch, queue: str, ack: bool = True, limit: int = 100000) -> list[tuple]:
    """basic.get until get-empty: [(method, properties, body)] in queue order."""
    out = []
    for _ in range(limit):
        method, props, body = ch.basic_get(queue, auto_ack=False)
        if method is None:
            return out
        out.append((method, props, body))
        if ack:
            ch.basic_ack(method.delivery_tag)
    raise AssertionError(f"queue {queue} did not run empty after {limit} messages")


def bodies(msgs) -> list[bytes]:
    return [m[2] for m in msgs]


def redelivered(msgs) -> list[bool]:
    return [m[0].redelivered for m in msgs]


def count(ch, queue: str) -> int:
    return ch.queue_declare(queue, passive=True).method.message_count


def exists(broker, kind: str, name: str) -> bool:
    """Passive declare on a fresh connection: True if it exists, False on 404."""
    conn = connect(broker)
    try:
        ch = conn.channel()
        try:
            if kind == "queue":
                ch.queue_declare(name, passive=True)
            else:
                ch.exchange_declare(name, passive=True)
            return True
        except pika.exceptions.ChannelClosedByBroker as exc:
            assert exc.reply_code == 404, exc
            return False
    finally:
        close_quietly(conn)


def confirm_barrier(broker_or_conn, queue: str = "durability-barrier") -> None:
    """Publish one persistent message with confirms and wait for the confirm.

    Batches are synced in order, so once this confirm arrives every store write the broker made for
    frames it read earlier on the same connection (acks, deliveries, purges) is on disk too."""
    conn = broker_or_conn
    ch = conn.channel()
    ch.queue_declare(queue, durable=True)
    ch.confirm_delivery()
    ch.basic_publish("", queue, b"barrier", PERSISTENT, mandatory=True)
    ch.queue_purge(queue)  # keep the barrier queue itself out of the counts (this purge may be lost: fine)
    ch.close()


def expect_forced_close(conn, timeout: float = 15) -> pika.exceptions.ConnectionClosedByBroker:
    """Pump a pika BlockingConnection until the broker closes it; return the close."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn.process_data_events(time_limit=0.1)
        except pika.exceptions.ConnectionClosedByBroker as exc:
            return exc
        except pika.exceptions.AMQPConnectionError as exc:
            raise AssertionError(f"connection lost without connection.close: {exc!r}") from exc
    raise AssertionError("the broker did not close the connection")


# ---------------------------------------------------------------------------------------------------------
# a pipelining raw client for the crash test (confirms and deliveries without a round trip per message)


class ClosedError(Exception):
    pass


class PipeClient:
    """A raw AMQP connection (handshake by RawClient) with a non-blocking frame reader.

    read() returns the frames available within `wait` seconds; a dead peer raises ClosedError.
    """

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.raw = RawClient("127.0.0.1", port, timeout=timeout).connect()
        self.sock = self.raw.sock
        self.buf = self.raw.buf
        self.raw.buf = b""
        self.frame_max = self.raw.frame_max or 131072
        self.pending: list[tuple[int, int, bytes, object]] = []  # frames read by rpc() after its reply

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ClosedError(str(exc)) from exc

    def method(self, channel: int, m) -> bytes:
        return pframe.marshal(m, channel)

    def rpc(self, channel: int, m, reply_cls, timeout: float = 10):
        self.send(self.method(channel, m))
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while time.monotonic() < deadline:
                frames = self.read(0.1)
                for i, (ftype, ch, _payload, method) in enumerate(frames):
                    if ftype == FRAME_METHOD and isinstance(method, reply_cls) and ch == channel:
                        skipped.extend(frames[i + 1:])
                        return method
                    if ftype == FRAME_METHOD and isinstance(method, commands.Connection.Close | commands.Channel.Close):
                        raise AssertionError(f"closed while waiting for {reply_cls.__name__}: {method!r}")
                    skipped.append(frames[i])
            raise TimeoutError(f"no {reply_cls.__name__} within {timeout}s")
        finally:
            self.pending = skipped + self.pending

    def read(self, wait: float) -> list[tuple[int, int, bytes, object]]:
        if self.pending:
            frames, self.pending = self.pending, []
            return frames + self.read(0)
        try:
            ready, _, _ = select.select([self.sock], [], [], wait)
            if ready:
                data = self.sock.recv(1 << 18)
                if not data:
                    raise ClosedError("EOF")
                self.buf += data
        except (OSError, ValueError) as exc:
            raise ClosedError(str(exc)) from exc
        frames = []
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 7:
            ftype, channel, size = struct.unpack_from(">BHI", buf, pos)
            end = pos + 7 + size
            if len(buf) < end + 1:
                break
            assert buf[end] == FRAME_END, "bad frame end"
            payload = bytes(buf[pos + 7:end])
            method = None
            if ftype == FRAME_METHOD:
                _, _, method = pframe.unmarshal(buf[pos:end + 1])
            frames.append((ftype, channel, payload, method))
            pos = end + 1
        self.buf = buf[pos:]
        return frames

    def publish_frames(self, channel: int, exchange: str, routing_key: str, body: bytes, props: bytes) -> bytes:
        out = [self.method(channel, commands.Basic.Publish(exchange=exchange, routing_key=routing_key))]
        out.append(_frame(FRAME_HEADER, channel, struct.pack(">HHQ", 60, 0, len(body)) + props))
        chunk = self.frame_max - 8
        for i in range(0, len(body), chunk):
            out.append(_frame(FRAME_BODY, channel, body[i:i + chunk]))
        return b"".join(out)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send(self.method(0, commands.Connection.Close(reply_code=200, reply_text="bye")))
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                if any(isinstance(m, commands.Connection.CloseOk) for _, _, _, m in self.read(0.1)):
                    break
        with contextlib.suppress(Exception):
            self.sock.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()


def _frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + bytes([FRAME_END])


class DeliveryAssembler:
    """Turns a stream of frames into complete (channel, method, header payload, body) deliveries."""

    def __init__(self) -> None:
        self.partial: dict[int, list] = {}

    def feed(self, frames) -> list[tuple[int, object, bytes, bytes]]:
        done = []
        for ftype, ch, payload, method in frames:
            if ftype == FRAME_METHOD and isinstance(method, commands.Basic.Deliver | commands.Basic.GetOk):
                self.partial[ch] = [method, None, 0, []]
            elif ftype == FRAME_HEADER and ch in self.partial:
                size = struct.unpack(">Q", payload[4:12])[0]
                p = self.partial[ch]
                p[1], p[2] = payload, size
                if size == 0:
                    done.append((ch, p[0], payload, b""))
                    del self.partial[ch]
            elif ftype == FRAME_BODY and ch in self.partial:
                p = self.partial[ch]
                p[3].append(payload)
                if sum(map(len, p[3])) >= p[2]:
                    done.append((ch, p[0], p[1], b"".join(p[3])))
                    del self.partial[ch]
        return done


__all__ = [
    "COLUMN_FAMILIES", "PERSISTENT", "SHUTDOWN_TEXT", "TRANSIENT", "ClosedError", "DeliveryAssembler",
    "PipeClient", "amqpd_cmd", "bodies", "cf_counts", "close_quietly", "confirm_barrier", "connect", "count",
    "encode_properties", "exists", "expect_forced_close", "file_digests", "free_port", "get_all", "json_lines",
    "kill9", "without",
    "log_mark", "log_since", "meta_get", "meta_put", "open_store", "port_open", "redelivered", "restart", "run_amqpd", "sigterm",
]
