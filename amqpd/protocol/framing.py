"""Sans-IO frame reader: bytes in, (type, channel, payload) frames out.

No sockets here, so it is tested from byte literals. A read is parsed through offsets; only a trailing
partial frame is buffered (never re-slicing the rest per frame, which is quadratic). The frame size is checked against frame_max from the 7-byte header, before the payload is
buffered, so a hostile peer cannot make us hold an oversized frame.
"""

from __future__ import annotations

import struct

from ..errors import ConnectionError, ReplyCode

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE
FRAME_END_BYTE = b"\xce"
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"

_HEADER = struct.Struct(">BHI")
_unpack_header = _HEADER.unpack_from
_VALID_TYPES = frozenset((FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT))


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\b": "\\b",
            "\f": "\\f", "\x1b": "\\e"}


def erl_binary(data: bytes, as_string: bool = True) -> str:
    """Format bytes as RabbitMQ's error texts print an Erlang binary: ~p shows printable binaries as
    strings, ~w (as_string=False) always as numbers.

    RabbitMQ sends the printed Latin-1 characters as raw bytes, so UTF-8 text reaches the client
    intact: showing the decoded string reproduces those bytes.
    """
    data = bytes(data)
    if not data:
        return "<<>>"
    if as_string and all(32 <= b <= 126 or b >= 160 or chr(b) in _ESCAPES for b in data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        return '<<"' + "".join(_ESCAPES.get(c, c) for c in text) + '">>'
    return "<<" + ",".join(map(str, data)) + ">>"


def frame_error(ftype: int, payload: bytes, reason: str, code: int = ReplyCode.FRAME_ERROR) -> ConnectionError:
    # rabbit_reader's payload_snippet: at most the first 16 octets are shown
    which = "all" if len(payload) <= 16 else "first 16"
    return ConnectionError(code, f"type {ftype}, {which} octets = {erl_binary(payload[:16])}: {reason}")


def unexpected_frame(ftype: int, payload: bytes) -> ConnectionError:
    """A frame of a type the receiver did not expect here (content on channel 0, heartbeat elsewhere)."""
    which = "all" if len(payload) <= 16 else "first 16"  # payload_snippet, as in frame_error
    return ConnectionError(ReplyCode.UNEXPECTED_FRAME, f"type {ftype}, {which} octets = {erl_binary(payload[:16])}")


class FrameBuffer:
    """Accumulates bytes and yields complete frames.

    frame_max is the negotiated maximum frame size (0 = no limit). As RabbitMQ does, a payload may be up
    to frame_max bytes: 8 octets of slack for clients that forget the frame overhead.
    A malformed frame sets `error`; frames before it in the same read are still returned, so the caller
    handles them first and then closes the connection.
    """

    __slots__ = ("_buf", "frame_max", "error")

    def __init__(self, frame_max: int = 131072) -> None:
        self._buf = bytearray()
        self.frame_max = frame_max
        self.error: ConnectionError | None = None

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Add data; return every complete frame before the first malformed one (see `error`).

        Payloads are sliced straight out of the bytes read (one copy each, no intermediate view); only
        a trailing partial frame is kept, and joined to the next read once.
        """
        if self.error is not None:
            return []
        buf = self._buf
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        size = len(data)
        frames: list[tuple[int, int, bytes]] = []
        append = frames.append
        pos = 0
        frame_max = self.frame_max
        unpack = _unpack_header
        valid = _VALID_TYPES
        while size - pos >= 7:
            ftype, channel, length = unpack(data, pos)
            if frame_max and length > frame_max:
                self.error = frame_error(ftype, b"", f"{{frame_too_large,{length},{frame_max - 8}}}")
                return frames
            end = pos + 7 + length
            if end >= size:
                break
            if data[end] != FRAME_END:
                self.error = frame_error(ftype, data[pos + 7 : end], f"{{invalid_frame_end_marker,{data[end]}}}")
                return frames
            if ftype not in valid or (ftype == FRAME_HEARTBEAT and end > pos + 7):
                # rabbit_command_assembler:analyze_frame knows a heartbeat only with an empty payload
                self.error = frame_error(ftype, data[pos + 7 : end], "unknown_frame")
                return frames
            append((ftype, channel, data[pos + 7 : end]))
            pos = end + 1
        if pos < size:
            buf += memoryview(data)[pos:]
        return frames


def frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return _HEADER.pack(ftype, channel, len(payload)) + payload + FRAME_END_BYTE


HEARTBEAT_FRAME = frame(FRAME_HEARTBEAT, 0, b"")
