"""AMQP over TLS: listeners.ssl.*, ssl_options.* peer verification, SASL EXTERNAL, handshake failures.

Each test starts its own amqpd with a TLS listener; certificates are made at test time with trustme:
one CA for the server and the good client certificates, another CA for a client the broker must refuse.
"""

from __future__ import annotations

import socket
import ssl
import time
import uuid

import pika
import pika.exceptions
import pytest
from durable_helpers import free_port, port_open, run_amqpd
from pamqp import commands as C
from pamqp import frame as pframe

trustme = pytest.importorskip("trustme")

pytestmark = pytest.mark.timeout(90)


class PKI:
    def __init__(self, d):
        self.dir = d
        self.ca = trustme.CA(organization_name="amqpd-test")
        server = self.ca.issue_cert("localhost", "127.0.0.1")
        self.ca.cert_pem.write_to_path(str(d / "ca.pem"))
        server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
        server.private_key_pem.write_to_path(str(d / "server.key"))
        self.guest = self.ca.issue_cert("guest@example.org", common_name="guest",
                                        organization_name="amqpd-test", organization_unit_name="tests")
        self.dn_user = self.ca.issue_cert("dn@example.org", common_name="dn-user",
                                          organization_name="amqpd-test", organization_unit_name="tests")
        self.stranger = self.ca.issue_cert("nobody@example.org", common_name="nobody-here")
        self.foreign = trustme.CA().issue_cert("guest@example.org", common_name="guest")

    def client_context(self, cert=None) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        if cert is not None:
            cert.configure_cert(ctx)
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return PKI(tmp_path_factory.mktemp("pki"))


def tls_conf(pki: PKI, port: int, extra: str = "") -> str:
    return (f"listeners.ssl.default = 127.0.0.1:{port}\n"
            f"ssl_options.cacertfile = {pki.dir / 'ca.pem'}\n"
            f"ssl_options.certfile = {pki.dir / 'server.pem'}\n"
            f"ssl_options.keyfile = {pki.dir / 'server.key'}\n" + extra)


VERIFY = "ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n"
EXTERNAL = "auth_mechanisms.1 = EXTERNAL\nauth_mechanisms.2 = PLAIN\nauth_mechanisms.3 = AMQPLAIN\n"


@pytest.fixture
def tls_broker(broker_factory, pki):
    """start(extra conf) -> (broker, tls_port), with both the TCP and the TLS port open."""
    def start(extra: str = ""):
        port = free_port()
        b = broker_factory(tls_conf(pki, port, extra))
        deadline = time.monotonic() + 10
        while not port_open(port):
            assert time.monotonic() < deadline, b.log_text()
            time.sleep(0.05)
        return b, port
    return start


def params(port: int, ctx: ssl.SSLContext, credentials=None) -> pika.ConnectionParameters:
    return pika.ConnectionParameters(
        host="127.0.0.1", port=port, ssl_options=pika.SSLOptions(ctx, "localhost"),
        credentials=credentials or pika.PlainCredentials("guest", "guest"), heartbeat=0,
        blocked_connection_timeout=None, connection_attempts=1, socket_timeout=5)


def roundtrip(conn: pika.BlockingConnection) -> None:
    ch = conn.channel()
    q = ch.queue_declare(f"tls-{uuid.uuid4().hex[:8]}", auto_delete=True).method.queue
    ch.basic_publish("", q, b"over tls")
    for _ in range(50):
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is not None:
            assert body == b"over tls"
            return
        time.sleep(0.02)
    raise AssertionError("message not delivered")


def tcp_still_serves(b) -> None:
    conn = pika.BlockingConnection(b.pika_params())
    try:
        roundtrip(conn)
    finally:
        conn.close()


def start_mechanisms(port: int, ctx: ssl.SSLContext | None) -> list[str]:
    """connection.start's mechanisms on a raw (TLS) connection."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock = ctx.wrap_socket(raw, server_hostname="localhost") if ctx is not None else raw
    try:
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        buf = b""
        while True:
            chunk = sock.recv(4096)
            assert chunk, "closed before connection.start"
            buf += chunk
            try:
                _, _, frame = pframe.unmarshal(buf)
            except Exception:  # incomplete frame: read on
                continue
            assert isinstance(frame, C.Connection.Start), frame
            return frame.mechanisms.split(" ")
    finally:
        sock.close()


def wait_for_log(b, text: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [ln for ln in b.log_text().splitlines() if text in ln]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} in the log:\n{b.log_text()}")


# ------------------------------------------------------------------------------------------- listeners


def test_tls_without_client_certificate(tls_broker, pki):
    b, port = tls_broker()
    listening = wait_for_log(b, "protocol=amqp/ssl")
    assert "listening" in listening and f"127.0.0.1:{port}" in listening
    conn = pika.BlockingConnection(params(port, pki.client_context()))
    try:
        roundtrip(conn)
    finally:
        conn.close()
    tcp_still_serves(b)
    assert "Traceback" not in b.log_text()


def test_mechanisms_offered(tls_broker, pki):
    b, port = tls_broker(EXTERNAL)
    assert start_mechanisms(port, pki.client_context()) == ["EXTERNAL", "PLAIN", "AMQPLAIN"]
    assert start_mechanisms(b.port, None) == ["PLAIN", "AMQPLAIN"]  # EXTERNAL only over TLS


def test_default_mechanisms_over_tls(tls_broker, pki):
    _, port = tls_broker()
    assert start_mechanisms(port, pki.client_context()) == ["PLAIN", "AMQPLAIN"]


# ------------------------------------------------------------------------------------ peer verification


def test_verify_peer_refuses_a_client_without_certificate(tls_broker, pki):
    b, port = tls_broker(VERIFY)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params(port, pki.client_context())).close()
    line = wait_for_log(b, "TLS handshake failed")
    assert "certificate" in line, line
    tcp_still_serves(b)


def test_verify_peer_refuses_a_certificate_from_another_ca(tls_broker, pki):
    b, port = tls_broker(VERIFY)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params(port, pki.client_context(pki.foreign))).close()
    line = wait_for_log(b, "TLS handshake failed")
    assert "certificate verify failed" in line, line


def test_verify_peer_accepts_a_good_certificate(tls_broker, pki):
    b, port = tls_broker(VERIFY)
    conn = pika.BlockingConnection(params(port, pki.client_context(pki.guest)))
    try:
        roundtrip(conn)
    finally:
        conn.close()
    assert "TLS handshake failed" not in b.log_text()


# --------------------------------------------------------------------------------------------- EXTERNAL


def test_external_logs_in_as_the_certificate_common_name(tls_broker, pki):
    b, port = tls_broker(VERIFY + EXTERNAL + "ssl_cert_login_from = common_name\n")
    conn = pika.BlockingConnection(params(port, pki.client_context(pki.guest), pika.credentials.ExternalCredentials()))
    try:
        roundtrip(conn)
    finally:
        conn.close()
    assert "user=guest" in wait_for_log(b, "connection opened")


def test_external_with_the_distinguished_name(tls_broker, pki):
    # the default user is named after the certificate's subject, as RabbitMQ renders it
    b, port = tls_broker(VERIFY + EXTERNAL + "default_user = CN=dn-user,OU=tests,O=amqpd-test\n"
                         "default_pass = unused\n")
    conn = pika.BlockingConnection(params(port, pki.client_context(pki.dn_user),
                                          pika.credentials.ExternalCredentials()))
    try:
        roundtrip(conn)
    finally:
        conn.close()
    assert "CN=dn-user,OU=tests,O=amqpd-test" in wait_for_log(b, "connection opened")


def test_external_with_an_unknown_user_is_refused(tls_broker, pki):
    b, port = tls_broker(VERIFY + EXTERNAL + "ssl_cert_login_from = common_name\n")
    with pytest.raises(pika.exceptions.AMQPConnectionError) as info:
        pika.BlockingConnection(params(port, pki.client_context(pki.stranger),
                                       pika.credentials.ExternalCredentials())).close()
    assert "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL" in str(info.value)
    line = wait_for_log(b, "authentication failed")
    assert "nobody-here" in line and "mechanism=EXTERNAL" in line, line
    tcp_still_serves(b)


def test_external_without_a_client_certificate(tls_broker, pki):
    b, port = tls_broker("ssl_options.verify = verify_peer\n" + EXTERNAL)
    with pytest.raises(pika.exceptions.AMQPConnectionError) as info:
        pika.BlockingConnection(params(port, pki.client_context(), pika.credentials.ExternalCredentials())).close()
    assert "ACCESS_REFUSED" in str(info.value)
    assert "connection peer presented no TLS (x.509) certificate" in wait_for_log(b, "authentication failed")


def test_external_not_enabled_is_not_offered(tls_broker, pki):
    _, port = tls_broker(VERIFY)
    # pika finds no mechanism it can use among those offered and gives up itself
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params(port, pki.client_context(pki.guest),
                                       pika.credentials.ExternalCredentials())).close()


# ---------------------------------------------------------------------------------------- bad clients


def test_plain_amqp_on_the_tls_port(tls_broker, pki):
    b, port = tls_broker()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline:
            try:
                if not s.recv(4096):
                    closed = True
                    break
            except (ConnectionResetError, TimeoutError):
                closed = True
                break
        assert closed, "the broker must drop a plain AMQP client on its TLS port"
    wait_for_log(b, "TLS handshake failed")
    conn = pika.BlockingConnection(params(port, pki.client_context()))
    try:
        roundtrip(conn)
    finally:
        conn.close()
    tcp_still_serves(b)


def test_silent_client_on_the_tls_port_times_out(tls_broker, pki):
    b, port = tls_broker("ssl_handshake_timeout = 500\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        started = time.monotonic()
        try:
            assert s.recv(4096) == b""
        except ConnectionResetError:
            pass
        assert time.monotonic() - started < 4
    assert "handshake timeout" in wait_for_log(b, "TLS handshake failed")


# ------------------------------------------------------------------------------------------ start-up


def test_tls_listener_without_certfile_exits_2(tmp_path):
    conf = tmp_path / "tls.conf"
    conf.write_text(f"listeners.ssl.default = 127.0.0.1:{free_port()}\n")
    rc, out, _ = run_amqpd(["--config", str(conf), "--port", str(free_port()), "--data-dir", str(tmp_path / "d")])
    assert rc == 2, out
    assert f"{conf}:1: listeners.ssl.default needs ssl_options.certfile" in out, out
    assert "Traceback" not in out


def test_missing_certificate_file_exits_2(tmp_path):
    conf = tmp_path / "tls.conf"
    conf.write_text("listeners.ssl.default = 5671\nssl_options.certfile = nowhere.pem\n")
    rc, out, _ = run_amqpd(["--config", str(conf), "--port", str(free_port()), "--data-dir", str(tmp_path / "d")])
    assert rc == 2, out
    assert f"{conf}:2: invalid value 'nowhere.pem' for key 'ssl_options.certfile'" in out, out
