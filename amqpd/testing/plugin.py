"""pytest plugin: a real AMQP broker for a test suite, and a fresh vhost + user for every test.

Registered as the ``pytest11`` entry point ``amqpd`` (active whenever amqpd is installed; ``-p no:amqpd``
switches it off); without the entry point, ``-p amqpd.testing.plugin`` or ``pytest_plugins =
["amqpd.testing.plugin"]`` load it. See docs/testing.md.

Fixtures
    amqpd_broker (session)         the broker: a private amqpd subprocess, or the external one
    amqpd_management (session)     ManagementClient logged in as the broker's administrator
    amqpd_management_url (session) management API base URL, no credentials
    amqpd_management_credentials   (user, password) for it
    amqpd_vhost (function)         IsolatedVhost: this test's own vhost and user, deleted afterwards
    amqp_url (function)            amqp://user:pass@host:port/<vhost> of that vhost and user
    pika_connection (function)     pika.BlockingConnection to amqp_url, closed afterwards
    aio_pika_connection (function) AioPikaConnector: ``async with aio_pika_connection() as conn`` inside
                                   the test's event loop (asyncio.run, pytest-asyncio or anyio alike)

Options (environment variable in brackets): --amqp-url [AMQPD_PYTEST_AMQP_URL],
--amqp-management-url [AMQPD_PYTEST_MANAGEMENT_URL], --amqp-management-user
[AMQPD_PYTEST_MANAGEMENT_USER], --amqp-management-password [AMQPD_PYTEST_MANAGEMENT_PASSWORD]. With an
AMQP URL no amqpd is started.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from .broker import BrokerStartError, RunningBroker, external_broker, start_amqpd
from .management import (
    IsolatedVhost,
    ManagementClient,
    ManagementError,
    create_isolated_vhost,
    delete_isolated_vhost,
)

ENTRY_POINT_NAME = "amqpd"
MODULE_NAME = "amqpd.testing.plugin"

# option dest -> (flag, environment variable, help)
OPTIONS = {
    "amqpd_amqp_url": ("--amqp-url", "AMQPD_PYTEST_AMQP_URL",
                       "use this running broker (amqp[s]://user:pass@host:port/) instead of starting amqpd"),
    "amqpd_management_url": ("--amqp-management-url", "AMQPD_PYTEST_MANAGEMENT_URL",
                             "its management API, http[s]://[user:pass@]host:port "
                             "(default: http://<AMQP host>:15672)"),
    "amqpd_management_user": ("--amqp-management-user", "AMQPD_PYTEST_MANAGEMENT_USER",
                              "administrator for the management API (default: from the URLs, else guest)"),
    "amqpd_management_password": ("--amqp-management-password", "AMQPD_PYTEST_MANAGEMENT_PASSWORD",
                                  "its password (default: from the URLs, else guest)"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("amqpd", "AMQP broker for tests (amqpd.testing.plugin)")
    for dest, (flag, env, text) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, metavar="URL" if "url" in dest else "VALUE",
                        help=f"{text} [env {env}]")


def pytest_plugin_registered(plugin: Any, plugin_name: str, manager: pytest.PytestPluginManager) -> None:
    """Let the entry point and the module name coexist.

    pluggy refuses one module registered under two names. Once amqpd is installed the entry point
    registers this module as "amqpd"; ``-p amqpd.testing.plugin`` (processed before entry points) or
    ``pytest_plugins = ["amqpd.testing.plugin"]`` (processed after) would register it again under its
    module name and stop pytest with "Plugin already registered under a different name". Blocking the
    other name once this module is in makes both spellings no-ops instead.
    """
    if plugin is not sys.modules[__name__]:
        return
    other = MODULE_NAME if plugin_name == ENTRY_POINT_NAME else ENTRY_POINT_NAME
    if manager.get_plugin(other) is None and not manager.is_blocked(other):
        manager.set_blocked(other)


def option(config: pytest.Config, dest: str) -> str | None:
    """Command line first, then the environment variable; empty counts as unset."""
    value = config.getoption(dest, default=None)  # None too when the options were added late
    if not value:
        value = os.environ.get(OPTIONS[dest][1], "").strip() or None
    return value


def broker_from_options(config: pytest.Config) -> RunningBroker | None:
    """The external broker the options name, or None to start amqpd."""
    url = option(config, "amqpd_amqp_url")
    management_url = option(config, "amqpd_management_url")
    if url is None:
        if management_url is not None:
            raise pytest.UsageError("--amqp-management-url needs --amqp-url (the broker's AMQP address)")
        return None
    try:
        return external_broker(url, management_url, option(config, "amqpd_management_user"),
                               option(config, "amqpd_management_password"))
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


def pytest_report_header(config: pytest.Config) -> str | None:
    try:
        external = broker_from_options(config)
    except pytest.UsageError:
        return None
    if external is None:
        return None
    return f"amqpd plugin: external broker {external.host}:{external.port}, management {external.management_url}"


@pytest.fixture(scope="session")
def amqpd_broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """The session's broker: amqpd started on free ports with a temporary data dir, or the external one."""
    external = broker_from_options(request.config)
    if external is not None:
        yield external
        return
    try:
        broker = start_amqpd(tmp_path_factory.mktemp("amqpd"))
    except BrokerStartError as e:
        pytest.fail(f"amqpd_broker: {e}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def amqpd_management_url(amqpd_broker: RunningBroker) -> str:
    """The management API's base URL without credentials or trailing slash, e.g. http://127.0.0.1:15672."""
    return amqpd_broker.management_url


@pytest.fixture(scope="session")
def amqpd_management_credentials(amqpd_broker: RunningBroker) -> tuple[str, str]:
    """(user, password) of the broker's administrator (guest/guest for the private amqpd)."""
    return amqpd_broker.user, amqpd_broker.password


@pytest.fixture(scope="session")
def amqpd_management(amqpd_broker: RunningBroker) -> Iterator[ManagementClient]:
    """A ManagementClient (one keep-alive HTTP connection) logged in as the administrator."""
    client = ManagementClient(amqpd_broker.management_url, amqpd_broker.user, amqpd_broker.password)
    try:
        client.get("/api/whoami")
    except (OSError, ManagementError) as e:
        client.close()
        pytest.fail(f"amqpd plugin: the management API at {amqpd_broker.management_url} does not answer as "
                    f"administrator {amqpd_broker.user!r} ({e}); per-test vhosts are made through it. "
                    "Pass --amqp-management-url (and --amqp-management-user/--amqp-management-password).",
                    pytrace=False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def amqpd_vhost(request: pytest.FixtureRequest, amqpd_broker: RunningBroker,
                amqpd_management: ManagementClient) -> Iterator[IsolatedVhost]:
    """This test's own vhost and user (full permissions on that vhost only); both deleted after the test."""
    amqpd_broker.check_alive()
    iv = create_isolated_vhost(amqpd_management, amqpd_broker.amqp_url, hint=request.node.name)
    try:
        yield iv
    finally:
        delete_isolated_vhost(amqpd_management, iv)


@pytest.fixture
def amqp_url(amqpd_vhost: IsolatedVhost) -> str:
    """``amqp://<user>:<password>@<host>:<port>/<vhost, percent-encoded>`` for this test's vhost and user."""
    return amqpd_vhost.url


@pytest.fixture
def pika_connection(amqp_url: str) -> Iterator[Any]:
    """A pika.BlockingConnection to amqp_url (heartbeats off), closed after the test."""
    pika = pytest.importorskip("pika")
    params = pika.URLParameters(amqp_url)
    params.heartbeat = 0  # a BlockingConnection only sends heartbeats while the test calls into it
    params.blocked_connection_timeout = None
    conn = pika.BlockingConnection(params)
    try:
        yield conn
    finally:
        if conn.is_open:
            with contextlib.suppress(Exception):
                conn.close()


class AioPikaConnector:
    """Opens aio-pika connections to ``url`` in whatever event loop is running when it is used.

    ``async with connector() as conn:`` (keyword arguments go to ``aio_pika.connect``, or to
    ``aio_pika.connect_robust`` with ``robust=True``) connects and closes at the block's end;
    ``conn = await connector.connect()`` leaves closing to the caller. No pytest-asyncio needed: call it
    inside ``asyncio.run(...)`` in a plain test; in an async test (pytest-asyncio, anyio) it works as is.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    async def connect(self, *, robust: bool = False, **kwargs: Any) -> Any:
        import aio_pika

        connect = aio_pika.connect_robust if robust else aio_pika.connect
        return await connect(self.url, **kwargs)

    @contextlib.asynccontextmanager
    async def __call__(self, *, robust: bool = False, **kwargs: Any) -> AsyncIterator[Any]:
        conn = await self.connect(robust=robust, **kwargs)
        try:
            yield conn
        finally:
            await conn.close()


@pytest.fixture
def aio_pika_connection(amqp_url: str) -> AioPikaConnector:
    """An AioPikaConnector for amqp_url: ``async with aio_pika_connection() as conn: ...``."""
    pytest.importorskip("aio_pika")
    return AioPikaConnector(amqp_url)
