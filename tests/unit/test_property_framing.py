"""Property-based tests (hypothesis) for the frame codec: amqpd.protocol.framing.FrameBuffer, the method
decoder and the content header parser.

Why properties here: the reader sees whatever TCP hands it, cut anywhere, from clients we do not control.
The example tests in test_framing.py pin RabbitMQ's exact texts; these check the invariants for inputs
nobody thought to write down:

* any list of frames marshalled by pamqp (the reference marshaller), cut into chunks anywhere, decodes to
  exactly those frames in order, and between reads only the incomplete tail is buffered;
* a frame declaring a payload larger than frame_max is refused (501) as soon as its 7-byte header is
  in, without waiting for a payload the peer may never send;
* a wrong frame-end octet and an unknown frame type are 501s, and the frames before them still count;
* every method pamqp marshals decodes to the same method, and one cut short or with octets after its
  last argument is refused with 501, as RabbitMQ refuses it (pamqp alone would decode it anyway);
* garbage never escapes as anything but the documented errors: FrameBuffer.feed never raises (it sets
  .error, a 501), decode_method raises only ConnectionError, and the content header helpers raise only
  PropertyError. An IndexError, struct.error or UnicodeDecodeError getting out would close the
  connection with 541 (or, on paths that catch PropertyError only, break the caller).

All runs are derandomized and keep no example database, so CI sees the same examples every time.
"""

from __future__ import annotations

import datetime
import struct
from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pamqp import body, commands, header, heartbeat
from pamqp import frame as pamqp_frame

from amqpd.errors import ConnectionError, ReplyCode
from amqpd.protocol.framing import FrameBuffer, erl_binary, frame
from amqpd.protocol.methods import Publish, decode_method
from amqpd.protocol.properties import PropertyError, decode_headers, decode_properties, parse_header

SETTINGS = {"derandomize": True, "database": None, "deadline": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

VALID_TYPES = (1, 2, 3, 8)

# ------------------------------------------------------------------------------------------ strategies

# Short strings are at most 255 octets on the wire: 60 characters of up to 4 UTF-8 octets each fit.
shortstr = st.text(st.characters(codec="utf-8"), max_size=60)
# pamqp validates exchange and queue names against the AMQP domain's character set.
names = st.text("abcXYZ09-_.:", max_size=60)
channels = st.one_of(st.sampled_from((0, 1, 65535)), st.integers(0, 65535))
field_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
              st.floats(allow_nan=False, allow_infinity=False, width=32), st.binary(max_size=20).map(bytearray),
              st.sampled_from((Decimal("1.5"), Decimal("-0.25"))),
              st.integers(0, 2**31).map(lambda s: datetime.datetime.fromtimestamp(s, datetime.UTC))),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
tables = st.dictionaries(st.text(max_size=10), field_values, max_size=4)

# pamqp marshals longlong arguments as signed, so delivery tags stop at 2**63 - 1.
methods = st.one_of(
    st.builds(commands.Basic.Publish, exchange=names, routing_key=shortstr, mandatory=st.booleans(),
              immediate=st.booleans()),
    st.builds(commands.Basic.Ack, delivery_tag=st.integers(0, 2**63 - 1), multiple=st.booleans()),
    st.builds(commands.Basic.Deliver, consumer_tag=shortstr, delivery_tag=st.integers(0, 2**63 - 1),
              redelivered=st.booleans(), exchange=names, routing_key=shortstr),
    st.builds(commands.Queue.Declare, queue=names, durable=st.booleans(), arguments=tables),
    st.builds(commands.Channel.Close, reply_code=st.integers(0, 65535), reply_text=shortstr,
              class_id=st.integers(0, 65535), method_id=st.integers(0, 65535)),
    st.builds(commands.Connection.Tune, channel_max=st.integers(0, 65535), frame_max=st.integers(0, 2**32 - 1),
              heartbeat=st.integers(0, 65535)),
    st.just(commands.Channel.Open()),
)
properties = st.builds(
    commands.Basic.Properties,
    content_type=st.none() | shortstr, headers=st.none() | tables, delivery_mode=st.none() | st.integers(1, 2),
    priority=st.none() | st.integers(0, 255), expiration=st.none() | st.integers(0, 10**9).map(str),
    user_id=st.none() | shortstr, message_id=st.none() | shortstr,
)
# Mostly small bodies, sometimes large enough to span many reads; the large ones are built, not drawn
# byte by byte, so they cost hypothesis nothing to generate or shrink.
bodies = st.one_of(st.binary(max_size=64),
                   st.integers(0, 70_000).map(lambda n: (bytes(range(256)) * (n // 256 + 1))[:n]))


@st.composite
def raw_frames(draw) -> bytes:
    """One frame as pamqp marshals it, of any of the four frame types."""
    kind = draw(st.sampled_from(("method", "header", "body", "heartbeat")))
    if kind == "heartbeat":
        return heartbeat.Heartbeat.marshal()
    channel = draw(channels)
    if kind == "method":
        return pamqp_frame.marshal(draw(methods), channel)
    if kind == "header":
        return pamqp_frame.marshal(header.ContentHeader(0, draw(st.integers(0, 2**64 - 1)), draw(properties)),
                                   channel)
    return pamqp_frame.marshal(body.ContentBody(draw(bodies)), channel)


def triple(raw: bytes) -> tuple[int, int, bytes]:
    """The (type, channel, payload) that one marshalled frame must decode to; independent of FrameBuffer."""
    ftype, channel, size = struct.unpack(">BHI", raw[:7])
    assert len(raw) == 7 + size + 1 and raw[-1] == 0xCE
    return ftype, channel, raw[7:-1]


def chunked(draw, data: bytes, max_cuts: int = 20) -> list[bytes]:
    """data cut at points hypothesis chooses (possibly none, possibly repeated: empty reads happen)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=max_cuts)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def assert_frame_error(err: object, *fragments: str) -> None:
    assert isinstance(err, ConnectionError)
    assert err.reply_code == ReplyCode.FRAME_ERROR == 501
    assert (err.class_id, err.method_id) == (0, 0)  # the reader's errors name no method, like rabbit_reader
    for fragment in fragments:
        assert fragment in err.text, (fragment, err.text)


# ------------------------------------------------------------------------------------------ round trip

@settings(max_examples=150, **SETTINGS)
@given(raws=st.lists(raw_frames(), max_size=10), data=st.data())
def test_any_frames_in_any_chunking_decode_to_the_same_frames(raws, data):
    stream = b"".join(raws)
    largest = max((len(r) - 8 for r in raws), default=0)
    # 0 is "no limit"; otherwise the limit is never below the largest payload, sometimes exactly it
    frame_max = data.draw(st.one_of(st.just(0), st.just(largest), st.integers(largest, largest + 16)), "frame_max")
    fb = FrameBuffer(frame_max=frame_max)
    got: list[tuple[int, int, bytes]] = []
    fed = consumed = 0
    for chunk in chunked(data.draw, stream):
        new = fb.feed(chunk)
        got.extend(new)
        fed += len(chunk)
        consumed += sum(len(p) + 8 for _, _, p in new)
        assert fb.error is None
        # Only what has not formed a complete frame yet is held, and nothing is dropped.
        assert len(fb) == fed - consumed
        if new:
            assert all(type(p) is bytes for _, _, p in new)
    assert got == [triple(r) for r in raws]
    assert b"".join(frame(*t) for t in got) == stream
    assert len(fb) == 0


# ------------------------------------------------------------------------------------- oversize frames

@settings(max_examples=150, **SETTINGS)
@given(frame_max=st.integers(8, 2**18), before=st.lists(raw_frames(), max_size=3), data=st.data())
def test_oversize_frame_is_refused_from_its_7_byte_header(frame_max, before, data):
    # The frames before the oversize one must themselves fit, so pick them small enough.
    before = [r for r in before if len(r) - 8 <= frame_max]
    ftype = data.draw(st.integers(0, 255), "ftype")  # the size is checked before the type
    channel = data.draw(channels, "channel")
    size = data.draw(st.one_of(st.just(frame_max + 1), st.integers(frame_max + 1, 2**32 - 1)), "size")
    head = struct.pack(">BHI", ftype, channel, size)
    prefix = b"".join(before)
    fb = FrameBuffer(frame_max=frame_max)
    got = []
    fed = 0
    for chunk in chunked(data.draw, prefix + head):
        got.extend(fb.feed(chunk))
        fed += len(chunk)
        if fed < len(prefix) + 7:
            # Not a whole header yet: nothing to judge.
            assert fb.error is None
    assert got == [triple(r) for r in before]
    assert_frame_error(fb.error, f"type {ftype}, all octets = <<>>: {{frame_too_large,{size},{frame_max - 8}}}")
    # Nothing more is read, however much payload follows: the error is sticky.
    err = fb.error
    assert fb.feed(b"\x00" * 64 + b"\xce") == []
    assert fb.error is err


@settings(max_examples=100, **SETTINGS)
@given(frame_max=st.integers(1, 4096), data=st.data())
def test_payload_up_to_frame_max_is_accepted(frame_max, data):
    ftype = data.draw(st.sampled_from(VALID_TYPES), "ftype")
    size = 0 if ftype == 8 else data.draw(st.one_of(st.just(frame_max), st.integers(0, frame_max)), "size")
    raw = frame(ftype, 1, bytes(size))
    fb = FrameBuffer(frame_max=frame_max)
    out = []
    for chunk in chunked(data.draw, raw, max_cuts=5):
        out.extend(fb.feed(chunk))
    assert fb.error is None
    assert out == [(ftype, 1, bytes(size))]


# ----------------------------------------------------------------------------- malformed frame framing

@settings(max_examples=150, **SETTINGS)
@given(before=st.lists(raw_frames(), max_size=3), bad=raw_frames(), after=st.lists(raw_frames(), max_size=2),
       end=st.integers(0, 255).filter(lambda b: b != 0xCE), data=st.data())
def test_wrong_frame_end_octet_is_a_frame_error(before, bad, after, end, data):
    broken = bad[:-1] + bytes((end,))
    fb = FrameBuffer(frame_max=0)
    got = []
    for chunk in chunked(data.draw, b"".join(before) + broken + b"".join(after)):
        got.extend(fb.feed(chunk))
    # Frames before the bad one are handed over (the caller acts on them, then closes); none after it.
    assert got == [triple(r) for r in before]
    assert_frame_error(fb.error, f"{{invalid_frame_end_marker,{end}}}", f"type {bad[0]},")


@settings(max_examples=100, **SETTINGS)
@given(before=st.lists(raw_frames(), max_size=3), ftype=st.integers(0, 255).filter(lambda t: t not in VALID_TYPES),
       payload=st.binary(max_size=40), data=st.data())
def test_unknown_frame_type_is_a_frame_error(before, ftype, payload, data):
    fb = FrameBuffer(frame_max=0)
    got = []
    for chunk in chunked(data.draw, b"".join(before) + frame(ftype, 1, payload) + frame(1, 1, b"\x00\x14\x00\x0a\x00")):
        got.extend(fb.feed(chunk))
    assert got == [triple(r) for r in before]
    assert_frame_error(fb.error, f"type {ftype},", "unknown_frame")


@settings(max_examples=50, **SETTINGS)
@given(before=st.lists(raw_frames(), max_size=3), channel=channels, payload=st.binary(min_size=1, max_size=40),
       data=st.data())
def test_heartbeat_with_a_payload_is_an_unknown_frame(before, channel, payload, data):
    """RabbitMQ's analyze_frame knows a heartbeat only with an empty payload: 501 on any channel."""
    fb = FrameBuffer(frame_max=0)
    got = []
    for chunk in chunked(data.draw, b"".join(before) + frame(8, channel, payload) + frame(8, 0, b"")):
        got.extend(fb.feed(chunk))
    assert got == [triple(r) for r in before]
    which = "all" if len(payload) <= 16 else "first 16"
    assert_frame_error(fb.error, f"type 8, {which} octets = {erl_binary(payload[:16])}:", "unknown_frame")


# ---------------------------------------------------------------------------------------------- garbage

garbage_pieces = st.one_of(
    st.binary(max_size=40), raw_frames(),
    # a plausible header with a random size, so lengths near the data's end occur
    st.tuples(st.sampled_from(VALID_TYPES), st.integers(0, 3), st.integers(0, 64)).map(lambda t: struct.pack(">BHI", *t)),
    # a whole frame of any type, ending in the right octet or not
    st.tuples(st.integers(0, 255), st.integers(0, 3), st.binary(max_size=20), st.sampled_from((0xCE, 0, 0xCF, 0xFF)))
    .map(lambda t: struct.pack(">BHI", t[0], t[1], len(t[2])) + t[2] + bytes((t[3],))),
)


@settings(max_examples=300, **SETTINGS)
@given(pieces=st.lists(garbage_pieces, max_size=8), frame_max=st.sampled_from((0, 8, 40, 4096)), data=st.data())
def test_garbage_only_ever_yields_well_formed_frames_or_a_frame_error(pieces, frame_max, data):
    stream = b"".join(pieces)
    fb = FrameBuffer(frame_max=frame_max)
    got = []
    fed = 0
    for chunk in chunked(data.draw, stream):
        before = fb.error
        new = fb.feed(chunk)  # must never raise
        fed += len(chunk)
        if before is not None:
            assert new == [] and fb.error is before
        got.extend(new)
    # Whatever came out is a faithful prefix of the input, made only of valid frames within the limit.
    decoded = b"".join(frame(*t) for t in got)
    assert stream.startswith(decoded)
    for ftype, channel, payload in got:
        assert ftype in VALID_TYPES and 0 <= channel <= 65535
        assert not frame_max or len(payload) <= frame_max
    if fb.error is None:
        assert len(fb) == fed - len(decoded)
        rest = stream[len(decoded):]
        # Either nothing is left, or what is left is not a complete frame yet.
        assert len(rest) < 8 or len(rest) < 8 + struct.unpack(">I", rest[3:7])[0]
    else:
        assert_frame_error(fb.error)


# ------------------------------------------------------------------------------------- method decoding

known_index = st.sampled_from(sorted(commands.INDEX_MAPPING))
_MANDATORY = commands.Basic.Publish(exchange="x", routing_key="k", mandatory=True, immediate=False)


@st.composite
def method_payloads(draw) -> tuple[str, bytes, object]:
    """(how, payload, the method it was made from): a real method payload intact, cut short, extended or
    with one octet changed, or a known class/method id before garbage."""
    how = draw(st.sampled_from(("intact", "garbage", "truncated", "extended", "flipped")))
    if how == "garbage":
        return how, struct.pack(">I", draw(known_index)) + draw(st.binary(max_size=60)), None
    method = draw(methods)
    raw = pamqp_frame.marshal(method, 1)[7:-1]
    if how == "truncated":
        return how, raw[:draw(st.integers(0, len(raw) - 1))], method
    if how == "extended":
        return how, raw + draw(st.binary(min_size=1, max_size=8)), method
    if how == "flipped":
        i = draw(st.integers(0, len(raw) - 1))
        return how, raw[:i] + bytes((raw[i] ^ draw(st.integers(1, 255)),)) + raw[i + 1:], method
    return how, raw, method


@settings(max_examples=250, **SETTINGS)
@given(case=method_payloads())
@example(case=("truncated", b"", None))
@example(case=("truncated", b"\x00\x3c\x00\x28", None))  # basic.publish with no arguments at all
@example(case=("intact", pamqp_frame.marshal(_MANDATORY, 1)[7:-1], _MANDATORY))  # amqpd's own publish decoder
def test_decode_method_decodes_pamqp_methods_and_refuses_the_rest_with_connection_errors(case):
    how, payload, original = case
    try:
        method = decode_method(payload)
    except ConnectionError as exc:
        assert how != "intact", exc
        index = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else None
        if index is not None and index not in commands.INDEX_MAPPING:
            assert exc.reply_code == ReplyCode.COMMAND_INVALID
            assert (exc.class_id, exc.method_id) == (index >> 16, index & 0xFFFF)
        else:
            assert exc.reply_code == ReplyCode.FRAME_ERROR
        return
    # A frame cut short or with octets after its last argument is refused, as RabbitMQ refuses it
    # (pamqp alone would decode it from whatever octets are there).
    assert how not in ("truncated", "extended"), method
    if how == "intact":
        if isinstance(method, Publish):
            assert (method.exchange, method.routing_key, method.mandatory, method.immediate) == \
                (original.exchange, original.routing_key, original.mandatory, original.immediate)
        else:
            assert type(method) is type(original) and method.marshal() == original.marshal()


# ---------------------------------------------------------------------------------- content headers

@st.composite
def header_payloads(draw) -> bytes:
    """Content header payloads, mostly near-valid: a real one damaged, or a flag word before garbage."""
    how = draw(st.sampled_from(("garbage", "flags", "truncated", "flipped")))
    if how == "garbage":
        return draw(st.binary(max_size=40))
    if how == "flags":
        # Flags with the continuation bit clear, so parse_header walks (and may accept) the garbage.
        flags = draw(st.integers(0, 0xFFFF)) & 0xFFFE
        return struct.pack(">HHQH", 60, 0, draw(st.integers(0, 9)), flags) + draw(st.binary(max_size=60))
    raw = pamqp_frame.marshal(header.ContentHeader(0, 1, draw(properties)), 1)[7:-1]
    if how == "truncated":
        return raw[:draw(st.integers(0, len(raw)))]
    i = draw(st.integers(12, len(raw) - 1))
    return raw[:i] + bytes((raw[i] ^ draw(st.integers(1, 255)),)) + raw[i + 1:]


@settings(max_examples=250, **SETTINGS)
@given(payload=header_payloads())
@example(payload=struct.pack(">HHQH", 60, 0, 0, 0x2000) + b"\x00\x00\x00\x05\x09abc\x00")  # key past the table
@example(payload=struct.pack(">HHQH", 60, 0, 0, 0x8000) + b"\x02\xff\xfe")  # content_type not UTF-8
def test_content_header_helpers_raise_only_property_errors(payload):
    try:
        props = parse_header(payload)[3]
    except PropertyError:
        return
    # A header parse_header accepts is stored and forwarded verbatim; the slower full decoders run on it
    # later (headers exchange, CC/BCC, dead-lettering, queue stats, the management API), and their callers
    # are written to handle PropertyError only.
    try:
        decode_headers(payload, props.headers_span)
    except PropertyError:
        pass
    try:
        decode_properties(payload)
    except PropertyError:
        pass
