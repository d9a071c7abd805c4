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


class QEntry:
    """A message's place in one queue. seq orders the queue, so requeues return to their position."""

    __slots__ = ("msg", "seq", "redelivered", "queue")

    def __init__(self, msg: Message, seq: int, queue: Any) -> None:
        self.msg = msg
        self.seq = seq
        self.redelivered = False
        self.queue = queue
