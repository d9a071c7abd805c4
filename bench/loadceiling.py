"""The null sink and blast source of bench/loadgen.py --ceiling: a tiny AMQP server, run in its own process,
that answers the handshake and the synchronous methods minimally and then either discards everything a
publisher sends (sink) or blasts pre-encoded basic.deliver + content header + body frames at a consumer
(source). The load generator's clients run against it unchanged, so what they reach is their own ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import signal
import ssl

from amqpclient import FRAME_HEADER, BenchError
from loadclients import PACK_U64
from pamqp import body as pbody
from pamqp import commands
from pamqp import frame as pframe
from pamqp import header as pheader

# --------------------------------------------------------------------------------------------------
# Null sink / blast source: a tiny AMQP server that measures the client's own ceiling
# --------------------------------------------------------------------------------------------------


class FakeBroker(asyncio.Protocol):
    """Answers the handshake and the synchronous methods minimally. As a sink, discards everything from
    the first basic.publish on. As a source, blasts n pre-encoded deliveries after basic.consume."""

    def __init__(self, mode: str, n: int, size: int) -> None:
        self.mode, self.n, self.size = mode, n, size
        self.buf = bytearray()
        self.discard = False
        self.got_header = False
        self.paused = asyncio.Event()
        self.paused.set()

    def connection_made(self, transport) -> None:
        self.t = transport

    def pause_writing(self) -> None:
        self.paused.clear()

    def resume_writing(self) -> None:
        self.paused.set()

    def send(self, m, ch: int = 0) -> None:
        self.t.write(pframe.marshal(m, ch))

    def data_received(self, data: bytes) -> None:
        if self.discard:
            return
        self.buf += data
        if not self.got_header:
            if len(self.buf) < 8:
                return
            del self.buf[:8]
            self.got_header = True
            self.send(commands.Connection.Start(mechanisms="PLAIN", locales="en_US"))
        while len(self.buf) >= 7:
            _t, ch, size = FRAME_HEADER.unpack_from(self.buf, 0)
            if len(self.buf) < size + 8:
                return
            _n, ch, m = pframe.unmarshal(bytes(self.buf[: size + 8]))
            del self.buf[: size + 8]
            self.on_method(ch, m)
            if self.discard:
                return

    def on_method(self, ch: int, m) -> None:
        C = commands
        replies = {
            C.Connection.StartOk: lambda: C.Connection.Tune(channel_max=2047, frame_max=131072, heartbeat=0),
            C.Connection.Open: C.Connection.OpenOk,
            C.Channel.Open: C.Channel.OpenOk,
            C.Exchange.Declare: C.Exchange.DeclareOk,
            C.Queue.Bind: C.Queue.BindOk,
            C.Basic.Qos: C.Basic.QosOk,
            C.Confirm.Select: C.Confirm.SelectOk,
            C.Queue.Delete: lambda: C.Queue.DeleteOk(message_count=0),
        }
        if isinstance(m, C.Basic.Publish):
            self.discard = True
        elif isinstance(m, C.Queue.Declare):
            self.send(C.Queue.DeclareOk(queue=m.queue, message_count=0, consumer_count=0), ch)
        elif isinstance(m, C.Basic.Consume):
            self.send(C.Basic.ConsumeOk(consumer_tag=m.consumer_tag), ch)
            if self.mode == "source":
                asyncio.ensure_future(self.blast(ch, m.consumer_tag))
        elif isinstance(m, C.Connection.Close):
            self.send(C.Connection.CloseOk())
            self.t.close()
        elif type(m) in replies:
            self.send(replies[type(m)](), ch)

    async def blast(self, ch: int, ctag: str) -> None:
        d = pframe.marshal(commands.Basic.Deliver(consumer_tag=ctag, delivery_tag=1, exchange="", routing_key="q"), ch)
        h = pframe.marshal(pheader.ContentHeader(0, self.size, commands.Basic.Properties(delivery_mode=1)), ch)
        b = pframe.marshal(pbody.ContentBody(bytes(self.size)), ch)
        one = d + h + b
        B = max(1, (256 << 10) // len(one))
        buf = bytearray(one * B)
        tag_off = 7 + 4 + 1 + len(ctag.encode())
        tag_offs = [i * len(one) + tag_off for i in range(B)]
        seq_offs = [i * len(one) + len(d) + len(h) + 7 for i in range(B)]
        sent = 0
        while sent < self.n and not self.t.is_closing():
            await self.paused.wait()
            k = min(B, self.n - sent)
            for j in range(k):
                PACK_U64(buf, tag_offs[j], sent + j + 1)
                PACK_U64(buf, seq_offs[j], sent + j + 1)
            self.t.write(bytes(buf) if k == B else bytes(buf[: k * len(one)]))
            sent += k
            await asyncio.sleep(0)


def fake_broker_main(mode: str, port: int, n: int, size: int, ready, tls: tuple[str, str] | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        ctx = None
        if tls:  # (certfile, keyfile): the clients' TLS ceiling (amqps://)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
        server = await loop.create_server(lambda: FakeBroker(mode, n, size), "127.0.0.1", port, ssl=ctx)
        ready.set()
        async with server:
            await asyncio.Future()

    asyncio.run(serve())


def start_fake_broker(mode: str, port: int, n: int, size: int, tls: tuple[str, str] | None = None):
    """The sink or source in its own process; tls = (certfile, keyfile) makes it listen for amqps://."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=fake_broker_main, args=(mode, port, n, size, ready, tls), daemon=True,
                    name=f"lg-{mode}")
    p.start()
    if not ready.wait(20):
        p.kill()
        raise BenchError(f"the {mode} did not start")
    return p
