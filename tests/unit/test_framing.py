"""Unit tests for amqpd.protocol.framing: the sans-IO FrameBuffer, driven from byte literals.

Every test feeds bytes and looks at the (type, channel, payload) triples that come out, fb.error (the 501
set on a malformed frame; feed() never raises) and len(fb) (the bytes still buffered).
"""

from __future__ import annotations

import datetime
import random
import struct

import pytest
from pamqp import body, commands, header, heartbeat
from pamqp import frame as pamqp_frame

from amqpd.errors import ConnectionError, ReplyCode
from amqpd.protocol.framing import (
    FRAME_BODY,
    FRAME_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
    HEARTBEAT_FRAME,
    PROTOCOL_HEADER,
    FrameBuffer,
    erl_binary,
    frame,
)

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_HYPOTHESIS = False


HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"
# channel.open on channel 1: class 20 method 10, out-of-band "" (shortstr of length 0)
CHANNEL_OPEN = b"\x01\x00\x01\x00\x00\x00\x05\x00\x14\x00\x0a\x00\xce"
# content header on channel 1: class 60, weight 0, body size 5, no properties
CONTENT_HEADER = b"\x02\x00\x01\x00\x00\x00\x0e\x00\x3c\x00\x00" + b"\x00" * 7 + b"\x05\x00\x00\xce"
# body "hello" on channel 1
CONTENT_BODY = b"\x03\x00\x01\x00\x00\x00\x05hello\xce"

STREAM = CHANNEL_OPEN + CONTENT_HEADER + CONTENT_BODY + HEARTBEAT
EXPECTED = [
    (FRAME_METHOD, 1, b"\x00\x14\x00\x0a\x00"),
    (FRAME_HEADER, 1, b"\x00\x3c\x00\x00" + b"\x00" * 7 + b"\x05\x00\x00"),
    (FRAME_BODY, 1, b"hello"),
    (FRAME_HEARTBEAT, 0, b""),
]


def feed_all(fb: FrameBuffer, chunks) -> list[tuple[int, int, bytes]]:
    out: list[tuple[int, int, bytes]] = []
    for chunk in chunks:
        out.extend(fb.feed(chunk))
    return out


def feed_error(fb: FrameBuffer, data: bytes, before=()) -> ConnectionError:
    """Feed data that ends in (or contains) a malformed frame: feed() does not raise, it returns the complete
    frames before the bad one and sets fb.error, a 501 naming class/method 0/0."""
    assert fb.error is None
    assert fb.feed(data) == list(before)
    err = fb.error
    assert isinstance(err, ConnectionError)
    assert err.reply_code == ReplyCode.FRAME_ERROR == 501
    assert (err.class_id, err.method_id) == (0, 0)
    return err


def triple(raw: bytes) -> tuple[int, int, bytes]:
    """What FrameBuffer must return for one marshalled frame (the reference decoding)."""
    ftype, channel, size = struct.unpack(">BHI", raw[:7])
    assert len(raw) == size + 8 and raw[-1] == 0xCE
    return ftype, channel, raw[7:-1]


# ------------------------------------------------------------------------------------- single frames

def test_constants_match_pamqp():
    assert HEARTBEAT_FRAME == HEARTBEAT == heartbeat.Heartbeat.marshal()
    assert PROTOCOL_HEADER == header.ProtocolHeader().marshal()
    assert frame(FRAME_BODY, 1, b"hello") == CONTENT_BODY
    assert frame(FRAME_METHOD, 1, b"\x00\x14\x00\x0a\x00") == CHANNEL_OPEN


def test_heartbeat_literal():
    fb = FrameBuffer()
    assert fb.feed(HEARTBEAT) == [(FRAME_HEARTBEAT, 0, b"")]
    assert len(fb) == 0


@pytest.mark.parametrize(("raw", "expected"), list(zip([CHANNEL_OPEN, CONTENT_HEADER, CONTENT_BODY, HEARTBEAT],
                                                        EXPECTED, strict=True)))
def test_each_literal_frame(raw, expected):
    fb = FrameBuffer()
    assert fb.feed(raw) == [expected]
    assert len(fb) == 0


def test_payload_is_bytes_not_a_view_of_the_buffer():
    fb = FrameBuffer()
    [(_, _, payload)] = fb.feed(CONTENT_BODY)
    assert type(payload) is bytes
    fb.feed(b"\x03\x00\x01\x00\x00\x00\x05world\xce")
    assert payload == b"hello"


def test_pamqp_marshalled_frames():
    raws = [
        pamqp_frame.marshal(commands.Basic.Publish(exchange="ex", routing_key="rk", mandatory=True), 7),
        pamqp_frame.marshal(header.ContentHeader(0, 3, commands.Basic.Properties(content_type="text/plain")), 7),
        pamqp_frame.marshal(body.ContentBody(b"abc"), 7),
        heartbeat.Heartbeat.marshal(),
    ]
    fb = FrameBuffer()
    assert fb.feed(b"".join(raws)) == [triple(r) for r in raws]
    assert len(fb) == 0


def test_empty_feed_and_empty_buffer():
    fb = FrameBuffer()
    assert fb.feed(b"") == []
    assert len(fb) == 0


# ----------------------------------------------------------------------------------- split streams

def test_several_frames_in_one_feed():
    fb = FrameBuffer()
    assert fb.error is None
    assert fb.feed(STREAM) == EXPECTED
    assert fb.error is None
    assert len(fb) == 0


def test_one_byte_at_a_time():
    fb = FrameBuffer()
    out = []
    boundaries = set()
    pos = 0
    for raw in (CHANNEL_OPEN, CONTENT_HEADER, CONTENT_BODY, HEARTBEAT):
        pos += len(raw)
        boundaries.add(pos)
    last_end = 0
    for i in range(len(STREAM)):
        got = fb.feed(STREAM[i : i + 1])
        out.extend(got)
        if i + 1 in boundaries:
            assert len(got) == 1, f"frame ending at byte {i + 1} not returned as soon as complete"
            last_end = i + 1
        else:
            assert got == []
        assert len(fb) == i + 1 - last_end
    assert out == EXPECTED
    assert len(fb) == 0


@pytest.mark.parametrize("cut", range(len(STREAM) + 1))
def test_split_at_every_boundary(cut):
    fb = FrameBuffer()
    assert feed_all(fb, [STREAM[:cut], STREAM[cut:]]) == EXPECTED
    assert len(fb) == 0


def test_split_at_every_pair_of_boundaries():
    n = len(STREAM)
    for i in range(n + 1):
        for j in range(i, n + 1):
            fb = FrameBuffer()
            assert feed_all(fb, [STREAM[:i], STREAM[i:j], STREAM[j:]]) == EXPECTED, (i, j)
            assert len(fb) == 0


def random_chunks(data: bytes, rng: random.Random, max_chunk: int) -> list[bytes]:
    chunks = []
    pos = 0
    while pos < len(data):
        size = rng.randint(0, max_chunk)
        chunks.append(data[pos : pos + size])
        pos += size
    return chunks


def test_random_chunkings():
    rng = random.Random(20240501)
    stream = STREAM * 20
    expected = EXPECTED * 20
    for _ in range(300):
        fb = FrameBuffer()
        chunks = random_chunks(stream, rng, rng.choice((3, 9, 40, 200)))
        assert b"".join(chunks) == stream
        assert feed_all(fb, chunks) == expected
        assert fb.error is None
        assert len(fb) == 0


def test_buffer_keeps_only_the_incomplete_tail():
    fb = FrameBuffer()
    partial = CONTENT_BODY[:9]
    assert fb.feed(STREAM + partial) == EXPECTED
    assert len(fb) == len(partial)  # consumed frames are dropped, only the partial one is kept
    assert fb.feed(CONTENT_BODY[9:]) == [(FRAME_BODY, 1, b"hello")]
    assert len(fb) == 0


def test_buffer_does_not_grow_over_many_frames():
    fb = FrameBuffer()
    for _ in range(1000):
        assert fb.feed(CONTENT_BODY) == [(FRAME_BODY, 1, b"hello")]
        assert len(fb) == 0


def test_incomplete_frame_returns_nothing():
    fb = FrameBuffer()
    assert fb.feed(CONTENT_BODY[:-1]) == []  # everything but the end byte
    assert len(fb) == len(CONTENT_BODY) - 1
    assert fb.feed(b"\xce") == [(FRAME_BODY, 1, b"hello")]


# -------------------------------------------------------------------------------------- frame size
# RabbitMQ (rabbit_reader:handle_input/3) refuses a frame as soon as its 7-byte header declares a payload
# larger than frame_max: a payload of up to frame_max octets is accepted (8 octets of slack for clients that
# forget the frame overhead), and the text names frame_max - 8 as the limit.

def header7(ftype: int, channel: int, size: int) -> bytes:
    return struct.pack(">BHI", ftype, channel, size)


def too_large(ftype: int, size: int, frame_max: int) -> str:
    return f"type {ftype}, all octets = <<>>: {{frame_too_large,{size},{frame_max - 8}}}"


@pytest.mark.parametrize("size", [0, 4096 - 8, 4096 - 1, 4096])
def test_payload_up_to_frame_max_is_accepted(size):
    fb = FrameBuffer(frame_max=4096)
    payload = b"x" * size
    assert fb.feed(frame(FRAME_BODY, 1, payload)) == [(FRAME_BODY, 1, payload)]
    assert fb.error is None
    assert len(fb) == 0


def test_payload_one_over_frame_max_is_refused():
    fb = FrameBuffer(frame_max=4096)
    err = feed_error(fb, frame(FRAME_BODY, 1, b"x" * 4097))
    assert err.text == too_large(FRAME_BODY, 4097, 4096) == "type 3, all octets = <<>>: {frame_too_large,4097,4088}"


def test_oversize_frame_rejected_before_its_payload_arrives():
    fb = FrameBuffer(frame_max=4096)
    # only the header and the first payload byte are sent
    err = feed_error(fb, header7(FRAME_BODY, 1, 4097) + b"x")
    assert err.text == too_large(FRAME_BODY, 4097, 4096)


def test_fuzzed_tune_ok_before_tuning_is_refused_from_its_header():
    """Issue 15's hang, byte for byte: a tune-ok announcing 9,484 octets (the limit before tune-ok is
    4,096), followed by a connection.open with a corrupted method octet."""
    fb = FrameBuffer(frame_max=4096)  # what a connection starts with (amqpd/connection.py)
    err = feed_error(fb, bytes.fromhex("01 0000 0000250c 000a 001f 07ff 00020000 0000 ce"
                                       "01 0000 00000008 000a 0003 01 2f 0000 ce"))
    assert err.reply_code == ReplyCode.FRAME_ERROR
    assert err.text == "type 1, all octets = <<>>: {frame_too_large,9484,4088}"


def test_huge_declared_size_rejected_without_waiting_for_payload():
    fb = FrameBuffer(frame_max=131072)
    err = feed_error(fb, header7(FRAME_METHOD, 1, 0xFFFFFFFF) + b"\x00")
    assert err.text == "type 1, all octets = <<>>: {frame_too_large,4294967295,131064}"


def test_oversize_frame_rejected_from_the_7_byte_header_alone():
    fb = FrameBuffer(frame_max=4096)
    assert fb.feed(header7(FRAME_BODY, 1, 5000)[:6]) == []
    assert fb.error is None  # 6 bytes are not a header yet
    err = feed_error(fb, header7(FRAME_BODY, 1, 5000)[6:])
    assert err.text == too_large(FRAME_BODY, 5000, 4096)


def test_lone_7_byte_oversize_header():
    fb = FrameBuffer(frame_max=4096)
    err = feed_error(fb, header7(FRAME_HEADER, 9, 5000))
    assert err.text == too_large(FRAME_HEADER, 5000, 4096)


def test_oversize_frame_after_a_good_one_in_the_same_feed():
    fb = FrameBuffer(frame_max=4096)
    # the good frame is still returned, so the connection handles it before closing
    err = feed_error(fb, HEARTBEAT + header7(FRAME_BODY, 1, 5000), before=[(FRAME_HEARTBEAT, 0, b"")])
    assert err.text == too_large(FRAME_BODY, 5000, 4096)


def test_oversize_header_split_across_feeds():
    fb = FrameBuffer(frame_max=4096)
    raw = header7(FRAME_BODY, 1, 5000) + b"x"
    assert fb.feed(raw[:4]) == []
    assert fb.error is None
    err = feed_error(fb, raw[4:])
    assert err.text == too_large(FRAME_BODY, 5000, 4096)


def test_size_is_checked_before_the_frame_type():
    # an unknown type with an oversize header is reported as too large, from the header alone
    fb = FrameBuffer(frame_max=4096)
    err = feed_error(fb, header7(4, 1, 5000))
    assert err.text == too_large(4, 5000, 4096)


def test_frame_max_zero_means_no_limit():
    fb = FrameBuffer(frame_max=0)
    payload = bytes(range(256)) * 1000  # 256000 bytes, far above any default frame_max
    assert fb.feed(frame(FRAME_BODY, 3, payload)) == [(FRAME_BODY, 3, payload)]
    assert len(fb) == 0
    # a header announcing 4 GiB is not an error either: the buffer just waits for the payload
    assert fb.feed(header7(FRAME_BODY, 3, 0xFFFFFFF0) + b"abc") == []
    assert fb.error is None
    assert len(fb) == 10


def test_frame_max_can_be_changed_after_tuning():
    fb = FrameBuffer(frame_max=131072)
    big = frame(FRAME_BODY, 1, b"y" * 10000)
    assert fb.feed(big) == [(FRAME_BODY, 1, b"y" * 10000)]
    fb.frame_max = 4096
    err = feed_error(fb, big)
    assert err.text == too_large(FRAME_BODY, 10000, 4096)


# ------------------------------------------------------------------------------------ bad frames

@pytest.mark.parametrize("end", [0x00, 0xCD, 0xCF, 0xFF])
def test_bad_end_byte(end):
    fb = FrameBuffer()
    err = feed_error(fb, CONTENT_BODY[:-1] + bytes([end]))
    assert err.text == f'type 3, all octets = <<"hello">>: {{invalid_frame_end_marker,{end}}}'


def test_bad_end_byte_arriving_in_a_later_feed():
    fb = FrameBuffer()
    assert fb.feed(CONTENT_BODY[:-1]) == []
    assert fb.error is None
    err = feed_error(fb, b"\x00")
    assert err.text == 'type 3, all octets = <<"hello">>: {invalid_frame_end_marker,0}'


def test_bad_end_byte_after_good_frames():
    fb = FrameBuffer()
    err = feed_error(fb, CHANNEL_OPEN + HEARTBEAT[:-1] + b"\x00", before=[EXPECTED[0]])
    assert err.text == "type 8, all octets = <<>>: {invalid_frame_end_marker,0}"


def test_bad_end_byte_with_binary_payload():
    fb = FrameBuffer()
    err = feed_error(fb, CHANNEL_OPEN[:-1] + b"\x01")
    assert err.text == "type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,1}"


@pytest.mark.parametrize("ftype", [0, 4, 5, 6, 7, 9, 65, 0xCE, 0xFF])
def test_unknown_frame_type(ftype):
    fb = FrameBuffer()
    err = feed_error(fb, frame(ftype, 1, b"abc"))
    assert err.text == f'type {ftype}, all octets = <<"abc">>: unknown_frame'


def test_unknown_frame_type_with_empty_payload():
    fb = FrameBuffer()
    err = feed_error(fb, HEARTBEAT + frame(7, 0, b""), before=[(FRAME_HEARTBEAT, 0, b"")])
    assert err.text == "type 7, all octets = <<>>: unknown_frame"


def test_unknown_frame_type_detected_once_the_whole_frame_is_there():
    fb = FrameBuffer()
    raw = frame(4, 1, b"x" * 1000)
    assert fb.feed(raw[:8]) == []  # the header and one payload byte: not judged yet
    assert fb.error is None
    assert fb.feed(raw[8:-1]) == []  # everything but the end byte
    assert fb.error is None
    err = feed_error(fb, raw[-1:])
    assert err.text == 'type 4, first 16 octets = <<"xxxxxxxxxxxxxxxx">>: unknown_frame'


def test_protocol_header_is_not_a_frame():
    # "AMQP\0\0\x09\x01" read as a frame header: type 65 ('A'), and a size of 0x50000009 ("P\0\0\x09"),
    # far over frame_max; the connection handles the 8-byte protocol header itself
    fb = FrameBuffer()
    err = feed_error(fb, PROTOCOL_HEADER)
    assert err.text == too_large(65, 0x50000009, 131072)


# -------------------------------------------------------------------------- after a malformed frame

def test_error_is_sticky_and_nothing_more_is_returned():
    fb = FrameBuffer()
    err = feed_error(fb, frame(9, 0, b"") + HEARTBEAT)
    assert fb.feed(HEARTBEAT) == []
    assert fb.feed(STREAM) == []
    assert fb.feed(b"") == []
    assert fb.error is err


def test_frames_after_the_malformed_one_in_the_same_feed_are_not_returned():
    fb = FrameBuffer()
    feed_error(fb, CHANNEL_OPEN + frame(FRAME_BODY, 1, b"hello")[:-1] + b"\x00" + CONTENT_BODY + HEARTBEAT,
               before=[EXPECTED[0]])


def test_frames_from_earlier_feeds_are_kept():
    fb = FrameBuffer(frame_max=4096)
    assert fb.feed(STREAM) == EXPECTED
    feed_error(fb, CONTENT_BODY + header7(FRAME_BODY, 1, 4097), before=[EXPECTED[2]])


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_error_after_split_stream(cut):
    # good frames split anywhere, then a frame with a bad end byte: every good frame comes out exactly once
    fb = FrameBuffer()
    data = STREAM + CONTENT_BODY[:-1] + b"\xff"
    got = fb.feed(data[:cut])
    assert fb.error is None
    got += fb.feed(data[cut:])
    assert got == EXPECTED
    assert fb.error is not None
    assert fb.error.text == 'type 3, all octets = <<"hello">>: {invalid_frame_end_marker,255}'


def test_long_payload_is_cut_to_its_first_16_octets_like_rabbitmq():
    fb = FrameBuffer()
    err = feed_error(fb, frame(FRAME_BODY, 1, b"0123456789abcdefXYZ")[:-1] + b"\x00")
    assert err.text == 'type 3, first 16 octets = <<"0123456789abcdef">>: {invalid_frame_end_marker,0}'


def test_bad_end_byte_is_reported_before_an_unknown_type_like_rabbitmq():
    fb = FrameBuffer()
    err = feed_error(fb, frame(4, 1, b"abc")[:-1] + b"\x00")
    assert err.text == 'type 4, all octets = <<"abc">>: {invalid_frame_end_marker,0}'


# ------------------------------------------------------------------------------------ erl_binary

@pytest.mark.parametrize(("data", "text"), [
    (b"abc", '<<"abc">>'),
    (b"\x00", "<<0>>"),
    (b"", "<<>>"),
    (b"hello world", '<<"hello world">>'),
    (b"a\x00", "<<97,0>>"),  # one unprintable byte: every byte as a number, as Erlang's ~p does
    (b"\x00\x14\x00\x0a", "<<0,20,0,10>>"),
    (b"\x7f", "<<127>>"),
    (b'a"b\\c', '<<"a\\"b\\\\c">>'),  # " and \ escaped inside the string form
])
def test_erl_binary(data, text):
    assert erl_binary(data) == text


def test_erl_binary_accepts_a_memoryview():
    assert erl_binary(memoryview(b"xabcx")[1:4]) == '<<"abc">>'


# ------------------------------------------------------------------------ property: any frame list

def make_frame(rng: random.Random) -> bytes:
    channel = rng.choice((0, 1, 2, 255, 256, 65535, rng.randrange(65536)))
    kind = rng.randrange(6)
    if kind == 0:
        return heartbeat.Heartbeat.marshal()
    if kind == 1:
        name = "".join(rng.choice("abcXYZ09-_.:") for _ in range(rng.randrange(0, 60)))
        rk = "".join(rng.choice("ab.*#é日") for _ in range(rng.randrange(0, 60)))
        return pamqp_frame.marshal(commands.Basic.Publish(exchange=name, routing_key=rk,
                                                          mandatory=rng.random() < 0.5), channel)
    if kind == 2:
        return pamqp_frame.marshal(commands.Basic.Ack(delivery_tag=rng.randrange(2**63),
                                                      multiple=rng.random() < 0.5), channel)
    if kind == 3:
        props = commands.Basic.Properties(
            content_type=rng.choice((None, "text/plain")), delivery_mode=rng.choice((None, 1, 2)),
            headers=rng.choice((None, {"k": rng.randrange(-1000, 1000)})),
            timestamp=rng.choice((None, datetime.datetime(2020, 1, 2, tzinfo=datetime.UTC))),
        )
        return pamqp_frame.marshal(header.ContentHeader(0, rng.randrange(2**40), props), channel)
    if kind == 4:
        return pamqp_frame.marshal(commands.Queue.Declare(queue="q" * rng.randrange(0, 100),
                                                          arguments={"x-max-length": 10}), channel)
    return pamqp_frame.marshal(body.ContentBody(rng.randbytes(rng.choice((0, 1, 7, 100, 5000)))), channel)


def check_roundtrip(raws: list[bytes], chunks: list[bytes]) -> None:
    fb = FrameBuffer(frame_max=0)
    got = feed_all(fb, chunks)
    assert fb.error is None
    assert got == [triple(r) for r in raws]
    assert [frame(*t) for t in got] == raws
    assert len(fb) == 0


def test_random_frame_lists_roundtrip_through_arbitrary_splits():
    rng = random.Random(7)
    for _ in range(400):
        raws = [make_frame(rng) for _ in range(rng.randrange(0, 12))]
        data = b"".join(raws)
        cuts = sorted(rng.sample(range(len(data) + 1), k=min(len(data) + 1, rng.randrange(0, 30))))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert b"".join(chunks) == data
        check_roundtrip(raws, chunks)


if HAVE_HYPOTHESIS:  # pragma: no branch

    @settings(max_examples=300, deadline=None)
    @given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 12), data=st.data())
    def test_hypothesis_frame_lists_roundtrip_through_arbitrary_splits(seed, n, data):
        rng = random.Random(seed)
        raws = [make_frame(rng) for _ in range(n)]
        stream = b"".join(raws)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
        chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        check_roundtrip(raws, chunks)
