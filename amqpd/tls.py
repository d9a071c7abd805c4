"""AMQP over TLS: the server SSLContext built from ssl_options, the TLS handshake on a listener's
connections, and SASL EXTERNAL's user name from the client certificate, as RabbitMQ 3.10 derives it.

A TLS listener (:class:`TLSListener`) runs its own accept loop and ``loop.connect_accepted_socket``
rather than ``create_server(ssl=...)``: asyncio and uvloop drop a failed server-side handshake without a
word outside debug mode, and an operator wants to see a client with the wrong certificate, or one
speaking plain AMQP to the TLS port, in the log.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, SSLOptions

__all__ = [
    "TLSConfigError", "TLSListener", "build_context", "external_login", "format_dn", "login_name",
    "offered_mechanisms", "start_listener",
]

_VERSIONS = {
    "tlsv1.3": ssl.TLSVersion.TLSv1_3, "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1, "tlsv1": ssl.TLSVersion.TLSv1,
}


class TLSConfigError(ValueError):
    """ssl_options that OpenSSL refuses; ``key`` names the rabbitmq.conf key to blame."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _tls13_suites() -> frozenset[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    return frozenset(c["name"] for c in ctx.get_ciphers() if c.get("protocol") == "TLSv1.3")


def _no_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's pass phrase.
    raise TLSConfigError("ssl_options.keyfile", "the private key is encrypted: set ssl_options.password")


def _diagnose(opts: SSLOptions, error: str) -> tuple[str, str]:
    """(key, message) for a failed load_cert_chain: OpenSSL 3 mostly says just "PEM lib"."""
    def text(path: Any) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    cert = text(opts.certfile)
    key_key = "ssl_options.keyfile" if opts.keyfile is not None else "ssl_options.certfile"
    key_path = opts.keyfile or opts.certfile
    key = text(key_path)
    if "-----BEGIN CERTIFICATE-----" not in cert:
        return "ssl_options.certfile", f"no PEM certificate in {opts.certfile} ({error})"
    if "PRIVATE KEY-----" not in key:
        return key_key, f"no PEM private key in {key_path} ({error})"
    if "KEY_VALUES_MISMATCH" in error or "key values mismatch" in error:
        return key_key, f"the private key in {key_path} does not match the certificate in {opts.certfile}"
    if "ENCRYPTED" in key and opts.password is not None:
        return "ssl_options.password", f"cannot decrypt the private key in {key_path}: wrong password? ({error})"
    return key_key, f"cannot load the certificate {opts.certfile} and the private key {key_path}: {error}"


def build_context(opts: SSLOptions) -> ssl.SSLContext:
    """The server-side context for the TLS listeners; raises TLSConfigError naming the culprit key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if opts.versions:
        versions = [_VERSIONS[v] for v in opts.versions]
        try:
            ctx.minimum_version = min(versions)
            ctx.maximum_version = max(versions)
        except (ValueError, ssl.SSLError) as e:
            raise TLSConfigError("ssl_options.versions", f"not supported by this OpenSSL: {e}") from None
    if opts.certfile is None:
        raise TLSConfigError("ssl_options.certfile", "a TLS listener needs a certificate")
    password: Any = opts.password if opts.password is not None else _no_password
    try:
        ctx.load_cert_chain(opts.certfile, opts.keyfile, password=password)
    except ssl.SSLError as e:
        raise TLSConfigError(*_diagnose(opts, str(e))) from None
    except OSError as e:
        raise TLSConfigError("ssl_options.certfile", f"cannot read {e.filename or opts.certfile}: "
                             f"{e.strerror or e}") from None
    if opts.cacertfile is not None:
        try:
            ctx.load_verify_locations(cafile=str(opts.cacertfile))
        except (ssl.SSLError, OSError) as e:
            raise TLSConfigError("ssl_options.cacertfile",
                                 f"cannot load CA certificates from {opts.cacertfile}: {e}") from None
    if opts.verify == "verify_peer":
        # Erlang's verify_peer asks for a certificate and checks any that comes; fail_if_no_peer_cert
        # also refuses a client that sends none.
        ctx.verify_mode = ssl.CERT_REQUIRED if opts.fail_if_no_peer_cert else ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if opts.ciphers:
        # Python's ssl can only restrict TLS 1.2 and older suites; TLS 1.3 names are accepted and
        # left to OpenSSL's defaults (see docs/tls.md).
        tls13 = _tls13_suites()
        legacy = [c for c in opts.ciphers if c not in tls13]
        for name in legacy:
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).set_ciphers(name)
            except ssl.SSLError:
                raise TLSConfigError("ssl_options.ciphers", f"unknown cipher suite {name!r} "
                                     "(use OpenSSL names, e.g. ECDHE-RSA-AES256-GCM-SHA384)") from None
        if legacy:
            ctx.set_ciphers(":".join(legacy))
    if opts.honor_cipher_order or opts.honor_ecc_order:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    return ctx


# -- SASL EXTERNAL ------------------------------------------------------------------------------

# rabbit_cert_info:format_rdn's labels, by OID; any other attribute is written as its dotted OID.
_RDN_LABELS = {
    "2.5.4.4": "SN", "2.5.4.42": "GIVENNAME", "2.5.4.43": "INITIALS", "2.5.4.44": "GENERATIONQUALIFIER",
    "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.12": "TITLE", "2.5.4.6": "C", "2.5.4.5": "SERIALNUMBER", "2.5.4.65": "PSEUDONYM",
    "0.9.2342.19200300.100.1.25": "DC", "1.2.840.113549.1.9.1": "EMAILADDRESS", "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.1": "UID",
}
_OID_RE = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_CN_OID = "2.5.4.3"
# ssl_cert_login_san_type -> the type name in Python's parsed subjectAltName
_SAN_TYPES = {"dns": "DNS", "ip": "IP Address", "email": "email", "uri": "URI", "other_name": "othername"}


def _oid(name: str) -> str:
    """Python names a parsed certificate's attributes by OpenSSL's long name, or by dotted OID."""
    if _OID_RE.fullmatch(name):
        return name
    try:
        return ssl._ASN1Object.fromname(name).oid
    except ValueError:
        return name


def _escape(value: str) -> str:
    """rabbit_cert_info:escape_rdn_value: RFC 4514 escapes plus \\XX for every UTF-8 byte outside
    32..125; a leading space or '#' and a trailing space are escaped."""
    raw = value.encode("utf-8")
    out = []
    last = len(raw) - 1
    for i, c in enumerate(raw):
        ch = chr(c)
        if (i == 0 and ch in " #") or (ch == " " and i == last) or ch in '"+,;<>\\':
            out.append("\\" + ch)
        elif c < 32 or c >= 126:
            out.append(f"\\{c:02X}")
        else:
            out.append(ch)
    return "".join(out)


def format_dn(subject: tuple[tuple[tuple[str, str], ...], ...]) -> str:
    """A parsed certificate's subject (or issuer) as RabbitMQ writes it: the RDNs last to first
    ("CN=guest,O=Example" for a subject written O=Example, CN=guest), multi-valued RDNs joined with '+'."""
    rdns = []
    for rdn in subject:
        rdns.append("+".join(f"{_RDN_LABELS.get(oid, oid)}={_escape(value)}"
                             for oid, value in ((_oid(name), value) for name, value in rdn)))
    return ",".join(reversed(rdns))


def login_name(cert: Mapping[str, Any], login_from: str, san_type: str = "dns", san_index: int = 0) -> str | None:
    """The user name a verified peer certificate (``SSLObject.getpeercert()``) stands for, per
    ssl_cert_login_from (rabbit_ssl:peer_cert_auth_name); None when it has no such name."""
    subject = cert.get("subject", ())
    if login_from == "distinguished_name":
        return format_dn(subject)
    if login_from == "common_name":
        # Several CNs are joined with "," (unescaped), as RabbitMQ does.
        cns = [value for rdn in subject for name, value in rdn if _oid(name) == _CN_OID]
        return ",".join(cns) if cns else None
    wanted = _SAN_TYPES[san_type]
    values = [value for kind, value in cert.get("subjectAltName", ()) if kind == wanted]
    if san_index >= len(values) or values[san_index] == "<unsupported>":
        return None
    return values[san_index]


def offered_mechanisms(config: Config, transport: asyncio.BaseTransport | None) -> list[str]:
    """connection.start's mechanisms: the configured ones, EXTERNAL only on a TLS connection (with or
    without a client certificate: rabbit_auth_mechanism_ssl:should_offer, so that a client without one
    learns why it is refused)."""
    is_tls = transport is not None and transport.get_extra_info("ssl_object") is not None
    return [m for m in config.auth_mechanisms if m != "EXTERNAL" or is_tls]


def external_login(config: Config, transport: asyncio.BaseTransport | None) -> tuple[str | None, str]:
    """(user name, "") for SASL EXTERNAL, or (None, why) with rabbit_auth_mechanism_ssl's reasons."""
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if sslobj is None:
        return None, "not a TLS-enabled connection"
    if sslobj.getpeercert(binary_form=True) is None:
        return None, "connection peer presented no TLS (x.509) certificate"
    if config.ssl_options.verify != "verify_peer":
        return None, "TLS configuration is unsafe"
    name = login_name(sslobj.getpeercert(), config.ssl_cert_login_from, config.ssl_cert_login_san_type,
                      config.ssl_cert_login_san_index)
    if not name:
        return None, "no name found"
    return name, ""


# -- listeners ----------------------------------------------------------------------------------

_handshakes: set[asyncio.Task[None]] = set()  # strong references to running handshakes


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc).lower().replace("_", " ")
    if isinstance(exc, TimeoutError) or "taking longer than" in str(exc):
        # asyncio and uvloop abort a slow handshake with ConnectionAbortedError("... taking longer than ...")
        return "handshake timeout"
    if isinstance(exc, (ConnectionError, EOFError)):
        return f"connection closed by the client during the handshake ({type(exc).__name__})"
    return repr(exc)


class TLSListener:
    """A TLS listener: its own accept loop hands each socket to ``loop.connect_accepted_socket`` with
    the SSLContext, which raises when the handshake fails; asyncio's and uvloop's ``create_server(ssl=)``
    would drop such a client without a word. Quacks like the asyncio.Server the Broker keeps
    (``sockets``, ``close``, ``wait_closed``)."""

    def __init__(self, sockets: list[socket.socket], make_protocol: Callable[[], asyncio.Protocol],
                 context: ssl.SSLContext, log: Any, handshake_timeout: float) -> None:
        self.sockets = sockets
        self.make_protocol = make_protocol
        self.context = context
        self.log = log
        self.handshake_timeout = handshake_timeout
        loop = asyncio.get_running_loop()
        self._accepting = [loop.create_task(self._accept(s)) for s in sockets]

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, addr = await loop.sock_accept(listening)
            except OSError as exc:  # out of file descriptors, say: keep listening, as RabbitMQ does
                self.log.warning("cannot accept a connection", protocol="amqp/ssl", error=str(exc))
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._handshake(sock, addr))
            _handshakes.add(task)
            task.add_done_callback(_handshakes.discard)

    async def _handshake(self, sock: socket.socket, addr: Any) -> None:
        peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) else str(addr)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                self.make_protocol, sock, ssl=self.context, ssl_handshake_timeout=self.handshake_timeout)
        except asyncio.CancelledError:
            sock.close()
            raise
        except Exception as exc:  # a bad client must cost its connection only
            if isinstance(exc, (ConnectionError, EOFError)) and "taking longer than" not in str(exc):
                # closed before saying anything wrong: a port probe or a load balancer's health check
                self.log.info("TLS handshake aborted", conn=peer, protocol="amqp/ssl", error=_describe(exc))
            else:
                self.log.warning("TLS handshake failed", conn=peer, protocol="amqp/ssl", error=_describe(exc))
            try:
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        for task in self._accepting:
            task.cancel()
        for s in self.sockets:
            s.close()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._accepting, return_exceptions=True)


async def start_listener(host: str, port: int, make_protocol: Callable[[], asyncio.Protocol],
                         context: ssl.SSLContext, log: Any, handshake_timeout: float,
                         backlog: int = 1024) -> TLSListener:
    """Bind host:port (every address the host resolves to, as create_server does) and accept TLS."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise OSError(exc.errno, f"error while attempting to bind on address {address!r}: "
                                         f"{exc.strerror}") from None
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return TLSListener(sockets, make_protocol, context, log, handshake_timeout)
