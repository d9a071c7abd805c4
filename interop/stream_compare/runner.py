"""What the scenario's steps are made of: named AMQP connections (re-opened when the broker closed
them), a Step that logs every method it sends and collects every frame that comes back, and HTTP."""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

from . import normalise
from .normalise import Namer
from .wire import Client, ConnectionClosed, Event

REPLIES = {
    "basic.get": ("basic.get-ok", "basic.get-empty"),
    "basic.recover": ("basic.recover-ok",),
    "confirm.select": ("confirm.select-ok",),
}
QUICK = 0.05   # silence that ends a step whose replies are synchronous
NO_REPLY = {"basic.publish", "basic.ack", "basic.nack", "basic.reject", "basic.recover-async"}


class Context:
    def __init__(self, url: str, http_url: str | None, prometheus_url: str | None,
                 user: str = "guest", password: str = "guest", idle: float = 0.3) -> None:
        self.url = url
        self.http_url = http_url.rstrip("/") if http_url else None
        self.prometheus_url = prometheus_url.rstrip("/") if prometheus_url else None
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.namer = Namer(secrets.token_hex(3))
        self.clients: dict[str, Client] = {}
        self.channel_numbers: dict[str, int] = {}
        self.publish_seq: dict[tuple[str, int], int] = {}   # confirm-mode channels: last publish seq no
        self.steps: list[dict[str, Any]] = []
        self.idle = idle
        self.created: list[str] = []   # queues to delete at the end
        self.exchanges: list[str] = []
        self.started = time.monotonic()
        self.broker = ""

    def q(self, short: str) -> str:
        return self.namer(short)

    def client(self, label: str) -> Client:
        c = self.clients.get(label)
        if c is None or c.closed:
            if c is not None:
                c.close()
            c = Client(self.url, name=f"stream-compare {label}")
            self.clients[label] = c
            props = c.server_properties
            self.broker = " ".join(str((props.get(k) or {}).get("value", "")) for k in ("product", "version"))
            self.publish_seq = {k: v for k, v in self.publish_seq.items() if k[0] != label}
        return c

    def step(self, id: str, doc: str = "", conn: str = "main", **options: Any) -> Step:
        return Step(self, id, doc, conn, **options)

    def new_channel(self, conn: str = "main") -> int:
        """The next channel number on a connection label (2, 3, ...; 1 is the steps' default): the
        numbering restarts when the scenario drops the connection, not when the broker closes it."""
        self.channel_numbers[conn] = self.channel_numbers.get(conn, 1) + 1
        return self.channel_numbers[conn]

    def drop(self, label: str) -> None:
        """Close a connection; the next step that uses the label opens a new one."""
        self.channel_numbers.pop(label, None)
        c = self.clients.pop(label, None)
        if c is not None:
            c.close()

    def close(self) -> None:
        for c in self.clients.values():
            c.close()
        self.clients.clear()
        self.channel_numbers.clear()

    # -- HTTP
    def http(self, base: str | None, path: str) -> tuple[int, Any]:
        if base is None:
            return 0, None
        req = urllib.request.Request(base + path, headers={"Authorization": self.auth})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        except OSError as exc:
            return -1, str(exc)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode(errors="replace")


class Step:
    """with ctx.step(id, doc) as s: s.call(...) ... -- on exit the broker is given `idle` seconds of
    silence to finish, and everything it sent on the step's connection is recorded."""

    def __init__(self, ctx: Context, id: str, doc: str, conn: str, idle: float = QUICK,
                 limit: float = 4.0, order: str | None = None, channels: list[int] | None = None) -> None:
        self.ctx, self.id, self.doc, self.conn = ctx, id, doc, conn
        self.idle = idle
        self.limit = limit
        self.order = order            # "by_consumer": deliveries grouped per consumer tag
        self.channels = channels      # only these channels' events (others stay for later steps)
        self.sent: list[dict[str, Any]] = []
        self.extra: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}
        self.record: dict[str, Any] = {}
        self._client: Client | None = None

    def __enter__(self) -> Step:
        return self

    @property
    def c(self) -> Client:
        """The step's connection: opened (again) when the step starts, never re-opened within it."""
        if self._client is None:
            self._client = self.ctx.client(self.conn)
        return self._client

    def q(self, short: str) -> str:
        return self.ctx.q(short)

    def dead(self, channel: int) -> bool:
        """The broker closed this channel during the step (it is not re-opened within the step)."""
        return any(e.name == "channel.close" and e.channel == channel for e in self.c.events)

    def ensure(self, channel: int) -> Client:
        c = self.c
        if channel and channel not in c.open_channels and not c.closed and not self.dead(channel):
            c.open_channel(channel)
        return c

    def send(self, channel: int, name: str, content: tuple[dict[str, Any], bytes] | None = None,
             **args: Any) -> None:
        c = self.ensure(channel)
        entry = normalise.sent_method(self.ctx.namer, channel, name, args)
        if content is not None:
            if content[0]:
                entry["properties"] = self.ctx.namer.value(normalise.typed_sent(content[0], time.time()))
            entry["body"] = content[1].decode(errors="replace")
        self.sent.append(entry)
        if c.closed or (channel and channel not in c.open_channels):
            return
        try:
            c.send(channel, name, content=content, **args)
        except OSError:
            c._lost("socket error on send")
        if name == "basic.publish" and (self.conn, channel) in self.ctx.publish_seq:
            self.ctx.publish_seq[self.conn, channel] += 1
        if name == "confirm.select":
            self.ctx.publish_seq[self.conn, channel] = 0
        if name == "queue.declare" and not args.get("passive"):
            self.ctx.created.append(args["queue"])
        if name == "exchange.declare":
            self.ctx.exchanges.append(args["exchange"])

    def wait(self, predicate, timeout: float = 5.0, start: int = 0) -> Event | None:
        try:
            return self.c.wait_for(predicate, timeout, start)
        except ConnectionClosed:
            return None

    def call(self, channel: int, name: str, timeout: float = 5.0, **args: Any) -> Event | None:
        """Send a method and wait for its reply or a close (channel or connection)."""
        replies = REPLIES.get(name, (name + "-ok",))
        start = len(self.c.events)
        self.send(channel, name, **args)
        if self.c.closed or (channel and channel not in self.c.open_channels):
            return None

        def done(e: Event) -> bool:
            return ((e.channel == channel and (e.name in replies or e.name == "channel.close"))
                    or e.name in ("connection.close", "socket.closed"))
        return self.wait(done, timeout, start)

    def publish(self, channel: int, body: str, exchange: str = "", routing_key: str = "",
                headers: dict[str, Any] | None = None, mandatory: bool = False, confirm: bool = True,
                **props: Any) -> Event | None:
        """basic.publish; on a confirm-mode channel with confirm=True, wait for its ack/nack (or a
        return/close)."""
        properties = dict(props)
        if headers is not None:
            properties["headers"] = headers
        args: dict[str, Any] = {"exchange": exchange, "routing_key": routing_key}
        if mandatory:
            args["mandatory"] = True
        start = len(self.c.events)
        self.send(channel, "basic.publish", content=(properties, body.encode()), **args)
        seq = self.ctx.publish_seq.get((self.conn, channel))
        if not confirm or seq is None:
            return None

        def done(e: Event) -> bool:
            return ((e.channel == channel and e.name in ("basic.ack", "basic.nack")
                     and (e.fields["delivery_tag"] == seq or e.fields["multiple"] and e.fields["delivery_tag"] >= seq))
                    or (e.channel == channel and e.name == "channel.close")
                    or e.name in ("connection.close", "socket.closed"))
        return self.wait(done, start=start)

    def wait_confirms(self, channel: int, timeout: float = 5.0) -> None:
        """After publishes sent with confirm=False: wait until every one is confirmed."""
        seq = self.ctx.publish_seq.get((self.conn, channel), 0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = set()
            for e in self.c.events:
                if e.channel == channel and e.name in ("basic.ack", "basic.nack"):
                    tag = e.fields["delivery_tag"]
                    done |= set(range(1, tag + 1)) if e.fields["multiple"] else {tag}
                if e.name in ("channel.close", "connection.close", "socket.closed"):
                    return
            if set(range(1, seq + 1)) <= done:
                return
            if self.wait(lambda e: False, 0.05) is None and self.c.closed:
                return

    def settle(self, idle: float | None = None, limit: float | None = None) -> None:
        """Read until the broker has been silent for `idle` seconds (default: the run's --idle)."""
        try:
            self.c.settle(self.ctx.idle if idle is None else idle, self.limit if limit is None else limit)
        except ConnectionClosed:
            pass

    def sleep(self, seconds: float) -> None:
        """Wait, reading frames meanwhile; recorded in `sent` so a reader knows time passed."""
        self.sent.append({"sleep": seconds})
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.settle(idle=end - time.monotonic(), limit=end - time.monotonic())

    def note(self, **values: Any) -> None:
        """Compared values that are not frames (HTTP answers, summaries)."""
        self.extra.append(self.ctx.namer.value(values))

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not issubclass(exc_type, ConnectionClosed):
            return
        self.settle(self.idle)
        c = self._client
        got: list[dict[str, Any]] = []
        if c is not None:
            keep, taken = [], []
            for e in c.events:
                (taken if self.channels is None or e.channel in self.channels or e.channel == 0 else keep).append(e)
            c.events = keep
            got = [normalise.event(self.ctx.namer, e) for e in taken]
        if self.order == "by_consumer":
            got = by_consumer(got)
        self.record = {"id": self.id, "doc": self.doc, "sent": self.sent, "got": got + self.extra}
        if self.info:
            self.record["info"] = self.info
        self.ctx.steps.append(self.record)
        return True if exc_type is not None else None


def by_consumer(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deliveries to different consumers interleave as the broker's readers run: keep each consumer's
    own order and list consumers in tag order; other events keep their place (before deliveries)."""
    rest = [e for e in got if e["method"] != "basic.deliver"]
    deliveries = sorted((e for e in got if e["method"] == "basic.deliver"),
                        key=lambda e: (e["ch"], e["consumer_tag"]))
    return rest + deliveries
