"""The broker side of amqpctl: a small aiohttp application on the control socket (see locate.py), and the
same handler on the management listener for `amqpctl -n HOST:PORT` (administrators only).

Every command runs in the broker's event loop through the operations layer; a failure comes back as the
exit code and text rabbitmqctl would give, and is logged.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import AMQPError
from ..log import get_logger
from ..ops.errors import OpError
from ..store import StoreWriteError
from .locate import control_socket
from .registry import EX_SOFTWARE, EX_USAGE, Context, CtlError, load_all

BROKER = web.AppKey("broker", Any)


async def dispatch(broker: Any, doc: Any, log: Any, via: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("command"), str):
        return {"error": CtlError(EX_USAGE, "Error:\nmalformed request").to_json()}
    name, args, vhost = doc["command"], doc.get("args") or {}, doc.get("vhost") or "/"
    cmd = load_all().get(name)
    if cmd is None or cmd.run is None or not isinstance(args, dict) or not isinstance(vhost, str):
        return {"error": CtlError(EX_USAGE, f"Error:\nCommand '{name}' not found.").to_json()}
    clog = log.bind(command=name, vhost=vhost, via=via)
    try:
        result = cmd.run(Context(broker, vhost, clog), args)
        if hasattr(result, "__await__"):
            result = await result
    except CtlError as exc:
        clog.info("ctl command failed", exit_code=exc.code, error=exc.text.replace("\n", " ").strip())
        return {"error": exc.to_json()}
    except (OpError, AMQPError, StoreWriteError) as exc:
        text = getattr(exc, "reason", None) or getattr(exc, "text", str(exc))
        clog.info("ctl command failed", exit_code=EX_SOFTWARE, error=str(text))
        return {"error": CtlError(EX_SOFTWARE, f"Error:\n{text}").to_json()}
    except Exception as exc:  # a bug must not take the broker down; the CLI gets 70 as rabbitmqctl's crash
        clog.exception("ctl command crashed")
        return {"error": CtlError(EX_SOFTWARE, f"Error:\n{type(exc).__name__}: {exc}").to_json()}
    if cmd.extra.get("changes"):
        clog.info("ctl command done")
    return {"result": result}


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str)


async def handle_socket(request: web.Request) -> web.Response:
    try:
        doc = await request.json()
    except ValueError:
        doc = None
    answer = await dispatch(request.app[BROKER], doc, request.app["log"], "socket")
    return web.json_response(answer, dumps=_dumps)


async def handle_management(request: web.Request) -> web.Response:
    """POST /api/amqpd/ctl on the management listener: authenticated by its middleware; administrators only."""
    from ..management.api.app import NotAuthorised, is_admin

    if not is_admin(request["user"]):
        raise NotAuthorised("Not administrator user")
    try:
        doc = await request.json()
    except ValueError:
        doc = None
    from ..management.api.app import BROKER as MGMT_BROKER

    broker = request.app[MGMT_BROKER]
    answer = await dispatch(broker, doc, request.app["log"], "management")
    return web.json_response(answer, dumps=_dumps)


def management_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/amqpd/ctl", handle_management)


class ControlEndpoint:
    """The control socket. When another live broker already holds the socket for the same conf file, this
    one runs without it (amqpctl for that file keeps reaching the first), and says so in its log."""

    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.path: Path = control_socket(broker.config.config_file)
        self.runner: web.AppRunner | None = None
        self.log = get_logger(component="ctl")

    def _in_use(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            try:
                s.connect(str(self.path))
            except OSError:
                return False
        return True

    async def start(self) -> bool:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory = self.path.parent
            if directory.stat().st_uid != os.geteuid():
                self.log.warning("no control socket: its directory is not this user's", path=str(directory))
                return False
            if directory.stat().st_mode & 0o077:
                os.chmod(directory, 0o700)
            if self.path.exists() or self.path.is_symlink():
                if self._in_use():
                    self.log.warning("control socket in use by another broker started with the same conf file; "
                                     "amqpctl reaches that one", path=str(self.path))
                    return False
                self.path.unlink()  # left by a broker that was killed
        except OSError as exc:
            self.log.warning("no control socket", path=str(self.path), error=str(exc))
            return False
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app[BROKER] = self.broker
        app["log"] = self.log
        app.router.add_post("/ctl", handle_socket)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        try:
            await web.UnixSite(self.runner, str(self.path)).start()
            os.chmod(self.path, 0o600)  # only this user reaches the broker (the directory is 0700 too)
        except OSError as exc:
            await self.runner.cleanup()
            self.runner = None
            self.log.warning("no control socket", path=str(self.path), error=str(exc))
            return False
        self.log.info("listening", address=str(self.path), protocol="amqpctl")
        return True

    async def stop(self) -> None:
        if self.runner is None:
            return
        await self.runner.cleanup()
        self.runner = None
        try:
            self.path.unlink()
        except OSError:
            pass
