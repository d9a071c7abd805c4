"""The management API over HTTPS (management.ssl.*), with a CA and certificates made at test time."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request

import pytest
import trustme
from conftest import free_port
from durable_helpers import run_amqpd


def get(url: str, ctx: ssl.SSLContext, user: str = "guest", password: str = "guest") -> tuple[int, object]:
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("mgmt-pki")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    server.private_key_pem.write_to_path(str(d / "server.key"))
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return d, ctx


def test_https_api_beside_http(broker_factory, pki):
    d, ctx = pki
    port = free_port()
    b = broker_factory(f"management.ssl.port = {port}\n"
                       f"management.ssl.certfile = {d / 'server.pem'}\n"
                       f"management.ssl.keyfile = {d / 'server.key'}\n")
    assert get(f"https://127.0.0.1:{port}/api/whoami", ctx) == (200, {"name": "guest", "tags": ["administrator"]})
    status, body = get(f"https://127.0.0.1:{port}/api/whoami", ctx, password="wrong")
    assert (status, body) == (401, {"error": "not_authorized", "reason": "Login failed"})
    assert f"address=127.0.0.1:{port} protocol=https" in b.log_text()
    with pytest.raises(urllib.error.URLError):  # a client that does not trust the CA is refused
        get(f"https://127.0.0.1:{port}/api/whoami", ssl.create_default_context())
    assert get(f"http://127.0.0.1:{b.http_port}/api/whoami", None)[0] == 200  # plain HTTP still there


def test_https_without_certificate_is_a_config_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("management.ssl.port = 15999\n")
    rc, out, _ = run_amqpd(["--config", str(conf), "--port", str(free_port()), "--data-dir",
                            str(tmp_path / "data")])
    assert rc == 2
    assert f"{conf}:1: management.ssl.port needs management.ssl.certfile" in out
