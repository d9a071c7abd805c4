"""A published message, shared by every queue it reaches ("route once, deliver many")."""

from __future__ import annotations

from typing import Any

from .protocol.methods import exchange_rk_tail
from .protocol.properties import Props, decode_headers, decode_properties, encode_header, parse_header


class Message:
    __slots__ = (
        "exchange", "routing_key", "header_payload", "body", "body_size", "props", "_tail",
        "_headers", "_headers_loaded", "id", "persistent",
    )

    def __init__(self, exchange: str, routing_key: str, header_payload: bytes, body: bytes,
                 props: Props) -> None:
        self.exchange = exchange
        self.routing_key = routing_key
        # The content header payload exactly as received: forwarded verbatim to consumers.
        self.header_payload = header_payload
        self.body = body
        self.body_size = len(body)
        self.props = props
        self.persistent = props.delivery_mode == 2
        self._tail: bytes | None = None
        self._headers: dict[str, Any] | None = None
        self._headers_loaded = False
        self.id = 0  # assigned by the store when the message is persisted

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
        return self.header_payload, self.body


class QEntry:
    """A message's place in one queue. seq orders the queue, so requeues return to their position."""

    __slots__ = ("msg", "seq", "redelivered", "queue")

    def __init__(self, msg: Message, seq: int, queue: Any) -> None:
        self.msg = msg
        self.seq = seq
        self.redelivered = False
        self.queue = queue


class PagedMessage(Message):
    """A persistent message whose content stays in the store until it is delivered.

    Large backlogs keep only this stub in memory; header and body are read back on delivery.
    """

    __slots__ = ("store", "_priority")

    def __init__(self, store: Any, msg_id: int, exchange: str, routing_key: str, priority: int,
                 body_size: int, props: Props | None = None) -> None:
        self.store = store
        self.id = msg_id
        self.exchange = exchange
        self.routing_key = routing_key
        self._priority = priority
        self.body_size = body_size
        self.persistent = True
        self._tail = None
        self._headers = None
        self._headers_loaded = False
        if props is not None:
            self.props = props

    @classmethod
    def from_message(cls, store: Any, msg: Message) -> PagedMessage:
        store.page_out(msg)
        return cls(store, msg.id, msg.exchange, msg.routing_key, msg.priority, msg.body_size, msg.props)

    def content(self) -> tuple[bytes, bytes]:
        exchange, routing_key, header, body = self.store.load(self.id)
        if not self.exchange and exchange:
            self.exchange, self.routing_key = exchange, routing_key
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
        # props is loaded only when something needs more than the index metadata
        if name == "props":
            props = parse_header(self.content()[0])[3]
            self.props = props
            return props
        raise AttributeError(name)
