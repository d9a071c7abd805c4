"""The UI's HTTP side without a browser: the page and its assets (types, caching, no way out of the static
directory), the login form, the session cookie and logout."""

from __future__ import annotations

import http.client
import re
import urllib.parse

import pytest

from .conftest import Api, uniq


def request(broker, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", broker.http_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def login(broker, user: str, password: str, accept: str = "application/json"):
    body = urllib.parse.urlencode({"username": user, "password": password}).encode()
    return request(broker, "POST", "/ui/login", body,
                   {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept})


def session_cookie(headers) -> str:
    cookie = headers["Set-Cookie"]
    return cookie.split(";", 1)[0]


def test_index_and_assets(amqpd):
    status, headers, body = request(amqpd, "GET", "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    html = body.decode()
    version = re.search(r"/ui/static/([0-9a-f]{12})/js/app\.js", html).group(1)
    assert "{{VERSION}}" not in html

    for path, ctype in (("js/app.js", "text/javascript; charset=utf-8"), ("css/app.css", "text/css; charset=utf-8"),
                        ("favicon.svg", "image/svg+xml; charset=utf-8"), ("js/pages/queue.js", "text/javascript; charset=utf-8")):
        status, headers, body = request(amqpd, "GET", f"/ui/static/{version}/{path}")
        assert status == 200, path
        assert headers["Content-Type"] == ctype
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert headers["X-Content-Type-Options"] == "nosniff"
        etag = headers["ETag"]
        assert body
    status, _, body = request(amqpd, "GET", f"/ui/static/{version}/js/pages/queue.js", headers={"If-None-Match": etag})
    assert status == 304 and body == b""

    # another version's URL still answers, but may not be cached for good
    status, headers, _ = request(amqpd, "GET", "/ui/static/000000000000/js/app.js")
    assert status == 200 and headers["Cache-Control"] == "no-cache"

    for bad in ("/ui/static/x/../../__init__.py", "/ui/static/x/%2e%2e/__init__.py", "/ui/static/x/js/nope.js",
                "/ui/static/x/js", "/ui/static/x/..%2F..%2Fsessions.py"):
        status, _, body = request(amqpd, "GET", bad)
        assert status == 404, bad
        assert b"SessionStore" not in body and b"import" not in body

    status, headers, _ = request(amqpd, "GET", "/favicon.ico")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml")


def test_login_session_and_logout(amqpd):
    status, headers, body = login(amqpd, "guest", "guest")
    assert status == 200 and b'"ok": true' in body
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("amqpd_session=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    assert "Max-Age" not in cookie  # ends with the browser session
    jar = session_cookie(headers)

    status, _, body = request(amqpd, "GET", "/api/whoami", headers={"Cookie": jar})
    assert status == 200 and b'"guest"' in body
    status, _, body = request(amqpd, "GET", "/ui/session", headers={"Cookie": jar})
    assert status == 200 and b'"administrator"' in body

    status, headers, _ = request(amqpd, "POST", "/ui/logout", b"", {"Cookie": jar, "Accept": "application/json"})
    assert status == 200
    assert "amqpd_session=" in headers["Set-Cookie"] and "Max-Age=0" in headers["Set-Cookie"]
    status, headers, _ = request(amqpd, "GET", "/api/whoami", headers={"Cookie": jar})
    assert status == 401
    # the UI's own requests get no Basic challenge: a browser would put its login dialog over the page
    assert "WWW-Authenticate" not in headers
    status, headers, _ = request(amqpd, "GET", "/api/whoami", headers={"Authorization": "Basic Z3Vlc3Q6bm8="})
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="RabbitMQ Management"'
    status, _, body = request(amqpd, "GET", "/ui/session", headers={"Cookie": jar})
    assert body == b'{"user": null}'


@pytest.mark.parametrize("tags, expected", [("", "Not management user"), ("impersonator", "Not management user"),
                                            ("monitoring", None)])
def test_login_needs_a_management_tag(amqpd, api: Api, tags: str, expected: str | None):
    user = uniq("ui-tags")
    assert api.call("PUT", f"/api/users/{user}", {"password": "pw-1", "tags": tags})[0] == 201
    try:
        status, headers, body = login(amqpd, user, "pw-1")
        assert status == 200
        if expected is None:
            assert b'"ok": true' in body and "Set-Cookie" in headers
        else:
            assert expected.encode() in body and "Set-Cookie" not in headers
        status, _, body = login(amqpd, user, "wrong")
        assert b'"ok": false' in body and b"Login failed" in body
    finally:
        api.call("DELETE", f"/api/users/{user}")


def test_form_post_without_script_redirects(amqpd):
    status, headers, _ = login(amqpd, "guest", "guest", accept="text/html")
    assert status == 303 and headers["Location"] == "/" and "amqpd_session=" in headers["Set-Cookie"]
    status, headers, _ = login(amqpd, "guest", "nope", accept="text/html")
    assert status == 303 and headers["Location"] == "/?login=failed" and "Set-Cookie" not in headers
