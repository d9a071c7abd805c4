"""Property-based tests (hypothesis) for the content assembler: Channel.handle_frame, which turns
basic.publish + content header + body frames into one message (amqpd/channel/__init__.py).

Why properties here: a publisher chooses how to cut a body into frames (any sizes up to frame_max - 8,
empty frames included), and a broken or hostile one sends frames in any order. The assembler must hand
over exactly the bytes that were sent, and refuse everything else with RabbitMQ's reply codes.

The reference is a small model of RabbitMQ 3.10's rabbit_command_assembler.erl written below, plus the
two places where amqpd deliberately checks earlier than 3.10 does (both noted where the model does it):

* body_size > max_message_size: 406 PRECONDITION_FAILED with rabbit_channel:check_msg_size's text, but
  raised at the content header, from the declared size; 3.10 raises it once the whole body is in;
* more body octets than the header declared: 501 FRAME_ERROR at the frame that overflows; 3.10 keeps
  waiting (its remaining size goes negative), 3.13+ answers 501 "content body frame exceeds remaining
  content size".

The channel runs against a stub connection and records what it would publish, so only the assembly is
tested, not routing. All runs are derandomized and keep no example database.
"""

from __future__ import annotations

import struct
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pamqp import body, commands, header
from pamqp import frame as pamqp_frame

from amqpd.channel import Channel
from amqpd.errors import AMQPError, ChannelError, ConnectionError, ReplyCode
from amqpd.protocol.framing import FRAME_BODY, FRAME_HEADER, FRAME_METHOD, FrameBuffer

SETTINGS = {"derandomize": True, "database": None, "deadline": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

EXPECTED_METHOD = "expected method frame, got non method frame instead"
EXPECTED_HEADER = "expected content header for class 60, got non content header frame instead"
EXPECTED_BODY = "expected content body, got non content body frame instead"


# --------------------------------------------------------------------------------- channel under test

class _Log:
    def bind(self, **_kw):
        return self


class RecordingChannel(Channel):
    """A channel whose publish only records: what the assembler hands over is all we look at."""

    def publish(self, pub, msg):
        self.published.append((pub.exchange, pub.routing_key, msg.header_payload, msg.body))


def make_channel(max_message_size: int) -> RecordingChannel:
    conn = SimpleNamespace(
        vhost=SimpleNamespace(tracing=False, name="/"), access=None,
        broker=SimpleNamespace(ops=None, alarm_reason=None), log=_Log(), publisher=True,
        config=SimpleNamespace(consumer_timeout=1_800_000, max_message_size=max_message_size),
        stats=SimpleNamespace(channel_created=0),
    )
    ch = RecordingChannel(conn, 1)
    ch.published = []
    return ch


def error_of(exc: AMQPError) -> tuple:
    return (type(exc).__name__, exc.reply_code, exc.text, exc.class_id, exc.method_id)


# ------------------------------------------------------------------------------------------- frames

names = st.text("abc.-_", max_size=12)
small_properties = st.builds(
    commands.Basic.Properties, content_type=st.none() | st.just("text/plain"),
    delivery_mode=st.none() | st.integers(1, 2), headers=st.none() | st.just({"k": 1}),
)


def publish_payload(exchange: str, routing_key: str) -> bytes:
    return pamqp_frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key), 1)[7:-1]


def header_payload(class_id: int, weight: int, body_size: int, props: commands.Basic.Properties) -> bytes:
    # Built by hand around pamqp's property list so that class id and weight can be wrong.
    return struct.pack(">HHQ", class_id, weight, body_size) + props.marshal()


def body_frames(data: bytes, cuts: list[int], largest: int) -> list[bytes]:
    """data as body frame payloads: cut where hypothesis chose (empty frames included), then every piece
    longer than the frame allows cut again. A trailing empty frame would follow a complete message, so
    there is none."""
    cuts = sorted(c for c in cuts if c <= len(data))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    out = []
    for piece in pieces:
        out.extend(piece[i:i + largest] for i in range(0, len(piece), largest))
        if not piece:
            out.append(b"")
    while out and not out[-1]:
        out.pop()
    return out


# Events for the model test: (frame type, payload, what the model needs to know about it).
@st.composite
def well_formed_message(draw) -> list[tuple]:
    exchange, routing_key = draw(names), draw(names)
    data = draw(st.binary(max_size=40))
    props = draw(small_properties)
    events = [(FRAME_METHOD, publish_payload(exchange, routing_key), ("publish", exchange, routing_key)),
              (FRAME_HEADER, header_payload(60, 0, len(data), props), ("header", 60, 0, len(data)))]
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=4))
    events += [(FRAME_BODY, p, ("body",)) for p in body_frames(data, cuts, largest=len(data) or 1)]
    return events


@st.composite
def stray_frame(draw) -> list[tuple]:
    kind = draw(st.sampled_from(("header", "body", "publish", "method", "bad-header")))
    if kind == "publish":
        exchange, routing_key = draw(names), draw(names)
        return [(FRAME_METHOD, publish_payload(exchange, routing_key), ("publish", exchange, routing_key))]
    if kind == "method":
        # Any non-publish method: on an idle channel it would go to its handler, which this test stops before.
        method = draw(st.sampled_from((commands.Basic.Qos(prefetch_count=1), commands.Queue.Declare(queue="q"),
                                       commands.Channel.Flow(active=True))))
        return [(FRAME_METHOD, pamqp_frame.marshal(method, 1)[7:-1], ("method",))]
    if kind == "header":
        # Each of the four class/weight cases equally often, then any values at all.
        class_id, weight = draw(st.one_of(st.sampled_from(((60, 0), (50, 0), (60, 1), (50, 1))),
                                          st.tuples(st.integers(0, 65535), st.integers(0, 65535))))
        size = draw(st.integers(0, 60))
        return [(FRAME_HEADER, header_payload(class_id, weight, size, draw(small_properties)),
                 ("header", class_id, weight, size))]
    if kind == "bad-header":
        # A pamqp-built header cut short anywhere: too short for the fixed fields, or properties truncated.
        full = header_payload(60, 0, draw(st.integers(0, 60)), draw(small_properties))
        return [(FRAME_HEADER, full[:draw(st.integers(0, len(full) - 1))], ("bad-header",))]
    return [(FRAME_BODY, draw(st.binary(max_size=30)), ("body",))]


@st.composite
def interrupted_message(draw) -> list[tuple]:
    """The start of a message (publish, maybe its header and part of its body) and then a stray frame:
    the frames that arrive while the assembler is in the middle of something."""
    events = draw(well_formed_message())
    # Cut mostly right after the publish or the header, where most of the assembler's checks are.
    cut = draw(st.one_of(st.integers(1, 2), st.integers(1, len(events))))
    return events[:cut] + draw(stray_frame())


# -------------------------------------------------------------------------------------------- model

def model(events: list[tuple], max_message_size: int) -> tuple[list[tuple], tuple | None, int]:
    """What RabbitMQ 3.10's assembler (with amqpd's two earlier checks) makes of these frames on one
    channel: (published messages, the error that ends the run or None, how many frames were handled)."""
    published = []
    state: tuple = ("method",)
    for i, (_ftype, payload, info) in enumerate(events):
        kind = info[0]
        if state[0] == "method":
            if kind == "publish":
                state = ("header", info[1], info[2])
            elif kind == "method":
                return published, None, i  # a handler's business, not the assembler's
            else:
                return published, ("ConnectionError", 505, EXPECTED_METHOD, 0, 0), i + 1
        elif state[0] == "header":
            if kind == "bad-header":
                # amqpd parses the property list here; RabbitMQ decodes it later and crashes the channel
                return published, ("ConnectionError", 501, "cannot decode", 60, 40), i + 1
            if kind != "header":
                return published, ("ConnectionError", 505, EXPECTED_HEADER, 60, 40), i + 1
            _, class_id, weight, size = info
            if weight != 0:
                # rabbit_command_assembler matches weight 0 first: any other weight is "not a header"
                return published, ("ConnectionError", 505, EXPECTED_HEADER, 60, 40), i + 1
            if class_id != 60:
                text = f"expected content header for class 60, got one for class {class_id} instead"
                return published, ("ConnectionError", 505, text, 60, 40), i + 1
            if size > max_message_size:
                # amqpd: from the declared size, before the body (3.10: after it, same code and text)
                text = f"message size {size} is larger than configured max size {max_message_size}"
                return published, ("ChannelError", 406, text, 60, 40), i + 1
            if size == 0:
                published.append((state[1], state[2], payload, b""))
                state = ("method",)
            else:
                state = ("body", state[1], state[2], payload, size, b"")
        else:
            _, exchange, routing_key, header, size, got = state
            if kind != "body":
                return published, ("ConnectionError", 505, EXPECTED_BODY, 60, 40), i + 1
            got += payload
            if len(got) > size:
                # amqpd: refused at once (3.10 waits forever; 3.13+ also answers 501)
                text = f"received {len(got)} bytes of content, header declared {size}"
                return published, ("ConnectionError", 501, text, 0, 0), i + 1
            if len(got) == size:
                published.append((exchange, routing_key, header, got))
                state = ("method",)
            else:
                state = ("body", exchange, routing_key, header, size, got)
    return published, None, len(events)


def run(events: list[tuple], max_message_size: int) -> tuple[list[tuple], tuple | None]:
    ch = make_channel(max_message_size)
    for ftype, payload, _ in events:
        try:
            ch.handle_frame(ftype, payload)
        except (ConnectionError, ChannelError) as exc:
            return ch.published, error_of(exc)
    return ch.published, None


# ------------------------------------------------------------------------------------------ properties

@settings(max_examples=400, **SETTINGS)
@given(groups=st.lists(st.one_of(well_formed_message(), stray_frame(), interrupted_message()), max_size=6),
       max_message_size=st.one_of(st.just(10**9), st.integers(0, 60)))
def test_any_frame_sequence_matches_the_rabbitmq_assembler_model(groups, max_message_size):
    events = [e for group in groups for e in group]
    want_published, want_error, handled = model(events, max_message_size)
    got_published, got_error = run(events[:handled], max_message_size)
    assert got_published == want_published
    if want_error is not None and want_error[2] == "cannot decode":
        # The text prints the payload as RabbitMQ prints a binary; test_framing pins that format.
        assert got_error is not None and got_error[2].startswith("cannot decode <<")
        got_error = (*got_error[:2], "cannot decode", *got_error[3:])
    assert got_error == want_error


bodies = st.one_of(st.binary(max_size=100),
                   st.tuples(st.integers(0, 255), st.integers(0, 300_000))
                   .map(lambda t: (bytes(range(256)) * (t[1] // 256 + 2))[t[0]:t[0] + t[1]]))


@settings(max_examples=100, **SETTINGS)
@given(messages=st.lists(st.tuples(names, names, bodies, small_properties), min_size=1, max_size=4),
       data=st.data())
def test_bodies_cut_into_frames_any_way_assemble_to_the_exact_bytes(messages, data):
    frame_max = data.draw(st.one_of(st.sampled_from((4096, 131072)), st.integers(200, 5000)), "frame_max")
    largest = frame_max - 8  # what a client may put in one body frame
    stream = []
    for exchange, routing_key, content, props in messages:
        stream.append(pamqp_frame.marshal(commands.Basic.Publish(exchange=exchange, routing_key=routing_key), 1))
        stream.append(pamqp_frame.marshal(header.ContentHeader(0, len(content), props), 1))
        if data.draw(st.booleans(), "client-style"):
            cuts = []  # every frame full, as pika and pamqp-based clients send them
        else:
            cuts = data.draw(st.lists(st.integers(0, min(len(content), 20_000)), max_size=12), "cuts")
        stream.extend(pamqp_frame.marshal(body.ContentBody(p), 1) for p in body_frames(content, cuts, largest))
    raw = b"".join(stream)
    split = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=10), "reads"))
    ch = make_channel(max_message_size=10**9)
    fb = FrameBuffer(frame_max=frame_max)
    for a, b in zip([0, *split], [*split, len(raw)], strict=True):
        for ftype, _chan, payload in fb.feed(raw[a:b]):
            ch.handle_frame(ftype, payload)
    assert fb.error is None
    assert [(e, r, m) for e, r, _h, m in ch.published] == [(e, r, m) for e, r, m, _p in messages]
    # The header is kept verbatim (consumers get these exact bytes).
    for (_e, _r, hdr, _m), (_e2, _r2, content, props) in zip(ch.published, messages, strict=True):
        assert hdr == struct.pack(">HHQ", 60, 0, len(content)) + props.marshal()
    # Nothing of the last message is left over: the channel expects a method again.
    with pytest.raises(ConnectionError) as refused:
        ch.handle_frame(FRAME_BODY, b"x")
    assert (refused.value.reply_code, refused.value.text) == (ReplyCode.UNEXPECTED_FRAME, EXPECTED_METHOD)


@settings(max_examples=100, **SETTINGS)
@given(limit=st.integers(0, 5000), delta=st.integers(-3, 3), data=st.data())
def test_max_message_size_is_enforced_at_exactly_the_limit(limit, delta, data):
    size = max(0, limit + delta)
    ch = make_channel(max_message_size=limit)
    ch.handle_frame(FRAME_METHOD, publish_payload("", "q"))
    hdr = header_payload(60, 0, size, commands.Basic.Properties())
    if size > limit:
        with pytest.raises(ChannelError) as refused:
            ch.handle_frame(FRAME_HEADER, hdr)
        assert error_of(refused.value) == (
            "ChannelError", 406, f"message size {size} is larger than configured max size {limit}", 60, 40)
        assert ch.published == []
        return
    ch.handle_frame(FRAME_HEADER, hdr)
    payload = bytes(size)
    for piece in body_frames(payload, data.draw(st.lists(st.integers(0, size), max_size=3)), largest=4088):
        ch.handle_frame(FRAME_BODY, piece)
    assert ch.published == [("", "q", hdr, payload)]


@settings(max_examples=100, **SETTINGS)
@given(size=st.integers(1, 500), extra=st.integers(1, 300), data=st.data())
def test_more_body_than_declared_is_a_frame_error_at_the_overflowing_frame(size, extra, data):
    sent = bytes(range(256)) * 4
    sent = sent[:size + extra]
    # No cut at exactly `size`: there the message would complete and the rest be a stray frame.
    cuts = data.draw(st.lists(st.integers(0, size + extra).filter(lambda c: c != size), max_size=5))
    pieces = body_frames(sent, cuts, largest=len(sent))
    ch = make_channel(max_message_size=10**9)
    ch.handle_frame(FRAME_METHOD, publish_payload("", "q"))
    ch.handle_frame(FRAME_HEADER, header_payload(60, 0, size, commands.Basic.Properties()))
    total = 0
    for piece in pieces:
        total += len(piece)
        if total <= size:
            ch.handle_frame(FRAME_BODY, piece)
            continue
        with pytest.raises(ConnectionError) as refused:
            ch.handle_frame(FRAME_BODY, piece)
        assert error_of(refused.value) == (
            "ConnectionError", 501, f"received {total} bytes of content, header declared {size}", 0, 0)
        break
    assert total > size  # the frame that overflowed was sent
    assert ch.published == []
