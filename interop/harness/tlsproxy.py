"""A TLS terminator in front of a broker's plain AMQP port.

The suites' RabbitMQ image listens for AMQPS on 5671. Neither amqpd nor the reference RabbitMQ here has a
TLS listener, so the harness puts this proxy in front of either broker's plain port: both brokers are
tested over the same TLS path (the clients' TLS handling, AMQP framing over TLS records).
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from .broker import free_port


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1/localhost (openssl CLI)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "server.pem", directory / "server.key"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
    return cert, key


class TLSProxy:
    """Listens with TLS on 127.0.0.1:<port>; each connection is piped to target() = (host, port)."""

    def __init__(self, certfile: Path, keyfile: Path, target: Callable[[], tuple[str, int] | None],
                 cafile: Path | None = None):
        self.port = free_port()
        self.target = target
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(str(certfile), str(keyfile))
        if cafile is not None:
            # Like the suites' broker config: ask for a client certificate, accept clients without one.
            self.ctx.load_verify_locations(str(cafile))
            self.ctx.verify_mode = ssl.CERT_OPTIONAL
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="tls-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.ctx,
                                                  ssl_handshake_timeout=10)

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        target = self.target()
        if target is None:
            cwriter.close()
            return
        try:
            breader, bwriter = await asyncio.open_connection(*target)
        except OSError:
            cwriter.close()
            return

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
                pass
            finally:
                try:
                    w.close()
                except Exception:
                    pass

        await asyncio.gather(pipe(creader, bwriter), pipe(breader, cwriter), return_exceptions=True)

    def close(self) -> None:
        async def _close() -> None:
            if self._server is not None:
                self._server.close()

        try:
            asyncio.run_coroutine_threadsafe(_close(), self._loop).result(5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
