"""A published message, shared by every queue it reaches ("route once, deliver many")."""

from __future__ import annotations

from typing import Any

from .protocol.methods import exchange_rk_tail
from .protocol.properties import Props, decode_headers, decode_properties, encode_header, parse_header


class Message:
    __slots__ = (
        "exchange", "routing_key", "header_payload", "body", "body_size", "props", "_tail",
        "_headers", "_headers_loaded", "id", "persistent", "ttl", "routing_keys",
    )

    def __init__(self, exchange: str, routing_key: str, header_payload: bytes, body: bytes,
                 props: Props, tail: bytes | None = None) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        # The content header payload exactly as received: forwarded verbatim to consumers.
        self.header_payload = header_payload
        self.body = body
        self.body_size = len(body)
        self.props = props
        self.persistent = props.delivery_mode == 2
        self._tail = tail
        self._headers: dict[str, Any] | None = None
        self._headers_loaded = False
        self.id = 0  # assigned by the store when the message is persisted
        # Per-message TTL in ms from the expiration property, validated and set by the channel.
        self.ttl: int | None = None
        # Every key the message was routed with (publish key, then CC and BCC) when there were several;
        # dead-lettering without x-dead-letter-routing-key routes with all of them, as RabbitMQ does.
        self.routing_keys: list[str] | None = None

    @property
    def tail(self) -> bytes:
        """Encoded exchange + routing key, built once however many times the message is delivered."""
        tail = self._tail
        if tail is None:
            tail = self._tail = exchange_rk_tail(self.exchange, self.routing_key)
        return tail

    @property
    def headers(self) -> dict[str, Any] | None:
        if not self._headers_loaded:
            self._headers = decode_headers(self.header_payload, self.props.headers_span)
            self._headers_loaded = True
        return self._headers

    def __call__(self) -> dict[str, Any] | None:
        """The message is its own headers getter for the exchanges (exchanges/base.py HeadersGetter):
        routing a message allocates no closure, and headers are decoded only if an exchange asks."""
        return self.headers

    def headers_subset(self, names: frozenset[str]) -> dict[str, Any] | None:
        """The headers with at least `names` decoded: a headers exchange needs only what its bindings name."""
        if self._headers_loaded:
            return self._headers
        return decode_headers(self.header_payload, self.props.headers_span, names)

    def headers_mention(self, raw_key: bytes) -> bool:
        """Cheap pre-check on the encoded headers before decoding them (CC/BCC lookups)."""
        span = self.props.headers_span
        return span is not None and raw_key in self.header_payload[span[0] : span[1]]

    def drop_header(self, name: str) -> None:
        """Re-encode the content header without one header (BCC must not reach consumers)."""
        props = decode_properties(self.header_payload)
        headers = dict(props.headers or {})
        if headers.pop(name, None) is None:
            return
        props.headers = headers or None
        self.header_payload = encode_header(self.body_size, props)
        self.props = parse_header(self.header_payload)[3]
        self._headers_loaded = False

    @property
    def priority(self) -> int:
        return self.props.priority or 0

    def content(self) -> tuple[bytes, bytes]:
        """(content header payload, body); a PagedMessage reads them back from the store."""
        return self.header_payload, self.body


    def all_routing_keys(self) -> list[str]:
        return self.routing_keys if self.routing_keys is not None else [self.routing_key]


MAX_EXPIRY = 315_360_000_000  # ms: RabbitMQ's ten-year cap on TTLs and expirations


def parse_expiration(text: str) -> int:
    """The expiration property as ms; ValueError carries RabbitMQ's error term (rabbit_basic)."""
    i = 0
    if text[:1] in ("+", "-"):
        i = 1
    j = i
    while j < len(text) and "0" <= text[j] <= "9":
        j += 1
    if j == i:
        raise ValueError("no_integer")
    if j < len(text):
        rest = text[j:].replace("\\", "\\\\").replace('"', '\\"')
        raise ValueError(f'{{leftover_string,"{rest}"}}')
    n = int(text[:j])
    if n < 0:
        raise ValueError(f"{{value_negative,{n}}}")
    if n > MAX_EXPIRY:
        raise ValueError(f"{{value_too_large,{n}}}")
    return n


class QEntry:
    """A message's place in one queue. seq orders the queue, so requeues return to their position.

    Everything a restart must restore lives here: priority (fixed at enqueue), the absolute expiry
    deadline (wall-clock seconds, None when the message never expires), the quorum delivery count and,
    for a message a quorum queue serves first because it was returned, its place among the returns.
    """

    __slots__ = ("msg", "seq", "redelivered", "queue", "priority", "expires", "delivery_count", "returned",
                 "paged")

    def __init__(self, msg: Message, seq: int, queue: Any) -> None:
        self.msg = msg
        self.seq = seq
        self.redelivered = False
        self.queue = queue
        self.priority = 0
        self.expires: float | None = None
        self.delivery_count = 0
        self.returned = 0
        self.paged = False  # this queue wrote the content to the store to free memory (store.page_content)


class PagedMessage(Message):
    """A message whose content stays in the store until it is delivered.

    Large backlogs keep only this stub in memory; header and body are read back on delivery. Persistent
    messages of durable queues are there anyway; others get there when memory runs short (paging).
    """

    __slots__ = ("store", "_priority", "_named")

    def __init__(self, store: Any, msg_id: int, exchange: str | None, routing_key: str, priority: int,
                 body_size: int, props: Props | None = None) -> None:
        self.store = store
        # A stub made at boot learns its exchange and routing key(s) from its record on first load.
        self._named = exchange is not None
        exchange = exchange or ""
        self.id = msg_id
        self.exchange = exchange
        self.routing_key = routing_key
        self._priority = priority
        self.body_size = body_size
        self.persistent = True
        self.ttl = None
        self.routing_keys = None
        self._tail = None
        self._headers = None
        self._headers_loaded = False
        if props is not None:
            self.props = props

    @classmethod
    def from_message(cls, store: Any, msg: Message) -> PagedMessage:
        store.page_out(msg)
        # No props: a stub is kept small; the few paths that need them read the header back.
        paged = cls(store, msg.id, msg.exchange, msg.routing_key, msg.priority, msg.body_size)
        paged.ttl, paged.routing_keys, paged.persistent = msg.ttl, msg.routing_keys, msg.persistent
        return paged

    def content(self) -> tuple[bytes, bytes]:
        exchange, routing_key, header, body, keys = self.store.load(self.id)
        if not self._named:
            self.exchange, self.routing_key, self.routing_keys = exchange, routing_key, keys
            self._named = True
        return header, body

    @property  # type: ignore[override]
    def header_payload(self) -> bytes:
        return self.content()[0]

    @property  # type: ignore[override]
    def body(self) -> bytes:
        return self.content()[1]

    @property
    def priority(self) -> int:
        return self._priority

    def __getattr__(self, name: str) -> Any:
        # props is read back only when something needs more than the index metadata
        if name == "props":
            props = parse_header(self.content()[0])[3]
            self.props = props
            return props
        raise AttributeError(name)
