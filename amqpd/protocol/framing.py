"""Sans-IO frame reader: bytes in, (type, channel, payload) frames out.

No sockets here, so it is tested from byte literals. The buffer is parsed through offsets and a
memoryview; consumed bytes are dropped once per feed(), never per frame (re-slicing per frame is
quadratic). The frame size is checked against frame_max from the 7-byte header, before the payload is
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


class FrameBuffer:
    """Accumulates bytes and yields complete frames.

    frame_max is the negotiated maximum frame size including the 8 bytes of framing (0 = no limit).
    """

    __slots__ = ("_buf", "frame_max")

    def __init__(self, frame_max: int = 131072) -> None:
        self._buf = bytearray()
        self.frame_max = frame_max

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """Add data; return every complete frame. Raises ConnectionError(501) on a malformed frame."""
        buf = self._buf
        buf += data
        size = len(buf)
        if size < 8:
            return []
        frames: list[tuple[int, int, bytes]] = []
        append = frames.append
        pos = 0
        frame_max = self.frame_max
        mv = memoryview(buf)
        try:
            while size - pos >= 7:
                ftype, channel, length = _unpack_header(buf, pos)
                if ftype not in _VALID_TYPES:
                    raise ConnectionError(ReplyCode.FRAME_ERROR, f"unknown frame type {ftype}")
                if frame_max and length + 8 > frame_max:
                    raise ConnectionError(
                        ReplyCode.FRAME_ERROR,
                        f"frame size {length + 8} larger than negotiated maximum {frame_max}",
                    )
                end = pos + 7 + length
                if end >= size:
                    break
                if buf[end] != FRAME_END:
                    raise ConnectionError(
                        ReplyCode.FRAME_ERROR, f"frame end byte {buf[end]:#04x} is not 0xce"
                    )
                append((ftype, channel, bytes(mv[pos + 7 : end])))
                pos = end + 1
        finally:
            mv.release()
        if pos:
            del buf[:pos]
        return frames


def frame(ftype: int, channel: int, payload: bytes) -> bytes:
    return _HEADER.pack(ftype, channel, len(payload)) + payload + FRAME_END_BYTE


HEARTBEAT_FRAME = frame(FRAME_HEARTBEAT, 0, b"")
