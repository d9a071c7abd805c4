"""Raw-socket clients for the backpressure and memory tests: a publisher that writes as fast as the
kernel lets it, a consumer that reads at a chosen pace (or not at all), and the checks both share.

tests/integration has no __init__.py: test files import this as `from flow_helpers import ...`.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

from pamqp import commands
from pamqp import frame as pframe
from rawclient import RawClient, encode_properties, header_payload, raw_frame

BODY = 100
MIB = 1 << 20
_HDR = struct.Struct(">BHI")


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def idle_rss(broker_factory) -> int:
    """RSS of a fresh broker of this build, idle: limits in memory tests are set above it."""
    probe = broker_factory()
    time.sleep(0.5)
    idle = rss(probe.proc.pid)
    probe.stop()
    return idle


def local_addr(client: RawClient) -> str:
    host, port = client.sock.getsockname()[:2]
    return f"{host}:{port}"


def flow_logged_for(broker, addr: str) -> bool:
    return any("connection flow" in line and f"conn={addr}" in line for line in broker.log_text().splitlines())


def publish_batch(first_seq: int, count: int, routing_key: str, size: int = BODY, mandatory: bool = False) -> bytes:
    method = pframe.marshal(commands.Basic.Publish(exchange="", routing_key=routing_key, mandatory=mandatory), 1)
    header = raw_frame(2, 1, header_payload(size, encode_properties()))
    pad = b"x" * (size - 8)
    return b"".join(method + header + raw_frame(3, 1, struct.pack(">Q", seq) + pad)
                    for seq in range(first_seq, first_seq + count))


class Flooder:
    """Publishes numbered messages as fast as the socket accepts them, from a thread, until stopped;
    then completes the message it was in the middle of, so `published` is exact."""

    def __init__(self, client: RawClient, routing_key: str, batch: int = 500, size: int = BODY,
                 mandatory: bool = False, limit: int | None = None) -> None:
        self.client, self.routing_key, self.batch, self.size = client, routing_key, batch, size
        self.mandatory, self.limit = mandatory, limit
        self.published = 0
        self.stalls = 0  # times the kernel refused more bytes (the broker stopped reading)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Flooder:
        self.thread.start()
        return self

    def _run(self) -> None:
        sock = self.client.sock
        seq = 1
        while not self._stop.is_set() and (self.limit is None or seq <= self.limit):
            n = self.batch if self.limit is None else min(self.batch, self.limit - seq + 1)
            data = memoryview(publish_batch(seq, n, self.routing_key, self.size, self.mandatory))
            sent = 0
            while sent < len(data):
                # select first: the socket has a timeout (another thread reads it), so a plain send
                # would wait for room instead of telling us the broker stopped reading.
                if not select.select([], [sock], [], 0)[1]:
                    self.stalls += 1
                    if self._stop.is_set() and self.limit is None:
                        # finish the batch: whole messages only (blocking, bounded by the test's timeout)
                        sock.sendall(data[sent:])
                        break
                    time.sleep(0.002)
                    continue
                sent += sock.send(data[sent:], socket.MSG_DONTWAIT)
            seq += n
            self.published = seq - 1

    def stop(self, timeout: float = 40) -> int:
        self._stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "publisher could not finish its last batch"
        return self.published


class SlowConsumer:
    """An autoack consumer on a raw socket that reads `rate` bytes per second (None: as fast as it can;
    0: not at all) and records the sequence numbers it receives."""

    def __init__(self, broker, queue: str, rate: int | None) -> None:
        self.client = RawClient(broker.host, broker.port).connect()
        self.client.open_channel(1)
        self.client.rpc(1, commands.Basic.Consume(queue=queue, no_ack=True), commands.Basic.ConsumeOk)
        self.rate = rate
        self.seqs: list[int] = []
        self._stop = threading.Event()
        self._buf = bytearray(self.client.buf)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def addr(self) -> str:
        return local_addr(self.client)

    def _run(self) -> None:
        sock = self.client.sock
        sock.settimeout(0.1)
        buf = self._buf
        while not self._stop.is_set():
            rate = self.rate
            if rate == 0:
                time.sleep(0.02)
                continue
            want = 65536 if rate is None else max(1, rate // 50)
            try:
                data = sock.recv(want)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buf += data
            self._parse(buf)
            if rate is not None:
                time.sleep(0.02)

    def _parse(self, buf: bytearray) -> None:
        pos = 0
        while len(buf) - pos >= 7:
            ftype, _ch, size = _HDR.unpack_from(buf, pos)
            if len(buf) - pos < size + 8:
                break
            if ftype == 3:
                self.seqs.append(struct.unpack_from(">Q", buf, pos + 7)[0])
            pos += size + 8
        del buf[:pos]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.client.close()


def queue_and_publisher(broker, queue: str) -> tuple[RawClient, RawClient]:
    """Declare `queue` on an admin connection (kept for depth()) and open a publisher connection."""
    admin = RawClient(broker.host, broker.port).connect()
    admin.open_channel(1)
    admin.declare_queue(1, queue)
    pub = RawClient(broker.host, broker.port).connect()
    pub.open_channel(1)
    return admin, pub


def depth(admin: RawClient, queue: str) -> int:
    return admin.rpc(1, commands.Queue.Declare(queue=queue, passive=True), commands.Queue.DeclareOk).message_count


def wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return cond()
        time.sleep(0.05)
    return True


def assert_exactly_once(seqs: list[int], published: int) -> None:
    assert len(seqs) == published, f"received {len(seqs)} of {published}"
    assert len(set(seqs)) == published, "duplicates delivered"
    assert min(seqs) == 1 and max(seqs) == published


class ConfirmReader:
    """Collects basic.ack/nack from a publisher connection in confirm mode, from a thread."""

    def __init__(self, client: RawClient, total: int, timeout: float = 90) -> None:
        self.client, self.total, self.timeout = client, total, timeout
        self.upto = 0
        self.nacks = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while self.upto < self.total and time.monotonic() < deadline:
            try:
                f = self.client.read_frame(timeout=1)
            except Exception:
                continue
            if isinstance(f.method, commands.Basic.Ack):
                self.upto = max(self.upto, f.method.delivery_tag)
            elif isinstance(f.method, commands.Basic.Nack):
                self.nacks += 1
