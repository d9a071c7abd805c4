"""AMQP setup actions (pika) that run before a step, the same on both brokers, and the context they
share: connections kept open across steps (a consumer that `list_consumers` must show), files written
into the run's temporary directory (definitions to import)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika

PREFIX = "ctlcmp-"
VHOST = "ctlcmp-main"
VHOST2 = "ctlcmp-extra"
PASSWORDS = {"ctlcmp-app": "ctlcmp-app-pw", "ctlcmp-ops": "ctlcmp-ops-pw", "ctlcmp-tmp": "ctlcmp-tmp-pw",
             "guest": "guest"}


@dataclass
class Context:
    host: str
    port: int
    tmp: Path
    conns: dict[str, pika.BlockingConnection] = field(default_factory=dict)
    chans: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def connect(self, user: str, vhost: str, name: str | None = None) -> pika.BlockingConnection:
        props = {"connection_name": name} if name else None
        params = pika.ConnectionParameters(
            host=self.host, port=self.port, virtual_host=vhost, heartbeat=0, blocked_connection_timeout=None,
            credentials=pika.PlainCredentials(user, PASSWORDS[user]), client_properties=props,
            connection_attempts=1, socket_timeout=5)
        return pika.BlockingConnection(params)

    def close_all(self) -> None:
        for conn in self.conns.values():
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - the broker may have closed it (close_connection steps)
                pass
        self.conns.clear()
        self.chans.clear()


class Action:
    def run(self, ctx: Context) -> None:
        raise NotImplementedError

    def once(self, ctx: Context, user: str, vhost: str, fn: Any) -> None:
        """A short-lived connection and channel for a declaration or a publish."""
        conn = ctx.connect(user, vhost)
        try:
            ch = conn.channel()
            fn(ch)
        finally:
            if conn.is_open:
                conn.close()


@dataclass
class Queue(Action):
    name: str
    vhost: str = VHOST
    durable: bool = True
    auto_delete: bool = False
    arguments: dict[str, Any] | None = None
    user: str = "ctlcmp-app"

    def run(self, ctx: Context) -> None:
        self.once(ctx, self.user, self.vhost, lambda ch: ch.queue_declare(
            self.name, durable=self.durable, auto_delete=self.auto_delete, arguments=self.arguments))


@dataclass
class Exchange(Action):
    name: str
    type: str = "topic"
    vhost: str = VHOST
    durable: bool = True
    user: str = "ctlcmp-app"

    def run(self, ctx: Context) -> None:
        self.once(ctx, self.user, self.vhost,
                  lambda ch: ch.exchange_declare(self.name, self.type, durable=self.durable))


@dataclass
class Bind(Action):
    queue: str
    exchange: str
    key: str = ""
    vhost: str = VHOST
    user: str = "ctlcmp-app"

    def run(self, ctx: Context) -> None:
        self.once(ctx, self.user, self.vhost, lambda ch: ch.queue_bind(self.queue, self.exchange, self.key))


@dataclass
class Publish(Action):
    queue: str
    count: int = 1
    vhost: str = VHOST
    user: str = "ctlcmp-app"

    def run(self, ctx: Context) -> None:
        def publish(ch: Any) -> None:
            ch.confirm_delivery()
            for i in range(self.count):
                ch.basic_publish("", self.queue, f"ctlcmp message {i}".encode(),
                                 pika.BasicProperties(delivery_mode=2))
        self.once(ctx, self.user, self.vhost, publish)


@dataclass
class Connect(Action):
    """A connection with one channel that stays open until a Close action or the end of the run."""
    key: str
    user: str = "ctlcmp-app"
    vhost: str = VHOST

    def run(self, ctx: Context) -> None:
        conn = ctx.connect(self.user, self.vhost, name=self.key)
        ctx.conns[self.key] = conn
        ctx.chans[self.key] = conn.channel()


@dataclass
class Consume(Action):
    """basic.consume with a fixed consumer tag on the channel of an open Connect."""
    key: str
    queue: str
    tag: str = "ctlcmp-ctag"
    prefetch: int = 0

    def run(self, ctx: Context) -> None:
        ch = ctx.chans[self.key]
        if self.prefetch:
            ch.basic_qos(prefetch_count=self.prefetch)
        ch.basic_consume(self.queue, lambda *a: None, auto_ack=False, consumer_tag=self.tag)
        ctx.conns[self.key].process_data_events(0.3)  # take the deliveries in (they stay unacked)


@dataclass
class Close(Action):
    key: str

    def run(self, ctx: Context) -> None:
        conn = ctx.conns.pop(self.key, None)
        ctx.chans.pop(self.key, None)
        try:
            if conn is not None and conn.is_open:
                conn.close()
        except Exception:  # noqa: BLE001 - already closed by the broker
            pass


@dataclass
class File(Action):
    """A file in the run's temporary directory (argv refers to it as {tmp}/name)."""
    name: str
    content: Any

    def run(self, ctx: Context) -> None:
        text = self.content if isinstance(self.content, str) else json.dumps(self.content, indent=1)
        (ctx.tmp / self.name).write_text(text)
        (ctx.tmp / self.name).chmod(0o666)  # readable by rabbitmqctl running as the rabbitmq user


@dataclass
class Sleep(Action):
    seconds: float

    def run(self, ctx: Context) -> None:
        time.sleep(self.seconds)


@dataclass
class Pump(Action):
    """Let the open connections read what the broker sent: a connection.close from close_connection /
    close_all_connections is answered (close-ok), so the broker forgets the connection at once."""
    seconds: float = 0.5

    def run(self, ctx: Context) -> None:
        deadline = time.monotonic() + self.seconds
        for key in list(ctx.conns):
            try:
                ctx.conns[key].process_data_events(max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - closed by the broker: that is the point
                ctx.conns.pop(key, None)
                ctx.chans.pop(key, None)
        time.sleep(max(0.0, deadline - time.monotonic()))
