"""SASL responses: (username, password) from a connection.start-ok (PLAIN, AMQPLAIN)."""

from __future__ import annotations

from ..protocol.fieldtable import read_table


class SASLError(ValueError):
    pass


def parse_response(mechanism: str, response: bytes | str) -> tuple[str, str]:
    """(username, password) from a start-ok response."""
    raw = response.encode("utf-8") if isinstance(response, str) else bytes(response)
    if mechanism == "PLAIN":
        parts = raw.split(b"\x00")
        if len(parts) != 3:
            raise SASLError("malformed PLAIN response")
        return parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
    if mechanism == "AMQPLAIN":
        # A field table without its 4-byte length prefix.
        try:
            table = read_table(raw, 0, len(raw))
        except ValueError as exc:
            raise SASLError("malformed AMQPLAIN response") from exc
        login, password = table.get("LOGIN"), table.get("PASSWORD")
        if not isinstance(login, (str, bytes)) or not isinstance(password, (str, bytes)):
            raise SASLError("AMQPLAIN response lacks LOGIN or PASSWORD")
        return _text(login), _text(password)
    raise SASLError(f"unsupported mechanism {mechanism!r}")


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


MECHANISMS = ("PLAIN", "AMQPLAIN")
