"""Streams through the UI: the queues list says "stream"; a stream's page shows its type, size, offsets,
retention and readers with their lag, hides what does not apply to a stream (get, move, purge), and browses
records from any offset, page after page, without consuming anything. A stream added with the form."""

from __future__ import annotations

import re
import time
import urllib.parse
from datetime import UTC, datetime

import pika
from playwright.sync_api import expect

from .conftest import uniq

N = 30
TAG = "ui-stream-reader"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def section(page, summary: str):
    """A <details> panel by its summary, opened."""
    panel = page.locator("details", has=page.locator("summary", has_text=summary)).first
    if panel.get_attribute("open") is None:
        panel.locator("summary").first.click()
    return panel


def prop(container, label: str):
    """The value (<dd>) shown for a label (<dt>) of a details list."""
    return container.locator(f"dl.props > dt:text-is('{label}') + dd")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stream_with_reader(pika_params, name: str):
    """A stream of N confirmed records (offsets 0..N-1), and a consumer from the first one that holds its five
    unacknowledged deliveries (prefetch 5): a reader at offset 5, N - 5 behind. Returns the open connection."""
    conn = pika.BlockingConnection(pika_params())
    try:
        ch = conn.channel()
        ch.queue_declare(name, durable=True, arguments={"x-queue-type": "stream", "x-max-age": "7D"})
        ch.confirm_delivery()
        for i in range(N):
            ch.basic_publish("", name, f"event {i:02d}".encode(),
                             pika.BasicProperties(content_type="text/plain", delivery_mode=2, headers={"seq": i}),
                             mandatory=True)
    finally:
        conn.close()
    reader = pika.BlockingConnection(pika_params("ui-stream-reader"))
    ch = reader.channel()
    ch.basic_qos(prefetch_count=5)
    got: list[int] = []
    ch.basic_consume(name, lambda _ch, _m, props, _body: got.append(props.headers["x-stream-offset"]),
                     arguments={"x-stream-offset": "first"}, consumer_tag=TAG)
    deadline = time.monotonic() + 10
    while len(got) < 5 and time.monotonic() < deadline:
        reader.process_data_events(time_limit=0.2)
    assert got == [0, 1, 2, 3, 4]
    return reader


def wait_lag(api, name: str, lag: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = api.get(f"/api/queues/%2F/{q(name)}")
        readers = doc["amqpd_stream"]["readers"]
        if [r["lag"] for r in readers] == [lag] or time.monotonic() > deadline:
            assert [r["lag"] for r in readers] == [lag], doc["amqpd_stream"]
            return doc
        time.sleep(0.1)


def test_stream_page_readers_and_browse(ui, api, pika_params):
    page = ui.page
    name = uniq("ui-stream")
    reader = stream_with_reader(pika_params, name)
    try:
        before = wait_lag(api, name, N - 5)

        # the list: the type column says stream
        ui.go("#/queues", "Queues")
        page.fill("input[name=filter]", name)
        row = page.locator("tbody tr", has=page.locator("a", has_text=name))
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(2)).to_have_text("stream")
        expect(row.locator("td").nth(7)).to_have_text(str(N))  # total: records kept

        # the stream's page
        row.locator("a", has_text=name).click()
        expect(page.locator("main h1")).to_have_text(name)
        main = page.locator("main")
        stream = page.locator("section", has=page.locator("h2", has_text=re.compile(r"^Stream$")))
        expect(stream).to_be_visible()
        expect(page.locator(".page-head")).to_contain_text("stream in virtual host /")
        expect(prop(stream, "Type")).to_have_text("stream")
        expect(prop(stream, "Messages")).to_have_text(str(N))
        expect(prop(stream, "First offset")).to_have_text("0")
        expect(prop(stream, "Last offset")).to_have_text(str(N - 1))
        expect(prop(stream, "Next offset")).to_have_text(str(N))
        size = before["amqpd_stream"]["bytes"]
        expect(prop(stream, "Size")).to_have_text(re.compile(rf"^\d[\d.,]* (B|KiB)( \({size:,} bytes\))?$"))
        expect(prop(stream, "Segments")).to_contain_text("1 (each up to")
        expect(prop(stream, "Max age")).to_contain_text("604,800 s")
        expect(prop(stream, "Max length in bytes")).to_have_text("unlimited")
        readers = stream.locator("table", has=page.locator("caption", has_text="Stream readers"))
        reader_row = readers.locator("tbody tr", has=page.locator("code", has_text=TAG))
        expect(reader_row).to_have_count(1)
        cells = reader_row.locator("td")
        expect(cells.nth(1)).to_have_text("not tracked")
        expect(cells.nth(2)).to_have_text("5")  # next offset
        expect(cells.nth(3)).to_have_text(str(N - 5))  # lag
        expect(cells.nth(4)).to_have_text("all records")
        tracked = stream.locator("table", has=page.locator("caption", has_text="Tracked readers"))
        expect(tracked.locator("td.empty")).to_contain_text("No tracked readers")
        expect(page.locator("[data-count=messages]")).to_have_text(str(N))

        # what does not apply to a stream is not offered
        for summary in ("Browse messages", "Get messages", "Move messages"):
            expect(page.locator("details", has=page.locator("summary", has_text=summary))).to_be_hidden()
        expect(main.locator("button", has_text="Purge messages")).to_be_hidden()
        expect(main.locator("input[name=if_empty]")).to_be_hidden()
        expect(main.locator("summary", has_text=re.compile(r"^Delete$"))).to_be_visible()

        # browse from the first offset by default, then from 10, five at a time
        browse = section(page, "Browse the stream")
        expect(browse.locator("input[name=offset]")).to_have_value("0")
        browse.locator("input[name=offset]").fill("10")
        browse.locator("input[name=count]").fill("5")
        browse.locator("button[type=submit]").click()
        records = browse.locator("article.message")
        expect(records).to_have_count(5)
        expect(records.locator(".message-head strong")).to_have_text([f"Offset {i}" for i in range(10, 15)])
        expect(records.locator("pre.payload")).to_have_text([f"event {i:02d}" for i in range(10, 15)])
        listed = api.get(f"/api/queues/%2F/{q(name)}/messages?offset=10&count=5")
        stamps = records.locator(".message-head time")
        expect(stamps).to_have_text([iso(m["stream_timestamp"]) for m in listed])
        assert all(ISO.match(t) for t in stamps.all_inner_texts())
        first = records.first
        expect(first.locator(".message-head")).to_contain_text(f"Routing key: {name}")
        expect(prop(first, "content_type")).to_have_text("text/plain")
        expect(prop(first, "seq")).to_have_text("10")
        expect(browse.locator("p.range")).to_contain_text("Offsets 10\u201314")
        expect(browse).to_contain_text("without consuming")
        ui.check_labels()
        ui.check_text()
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar at the top of the picture
        ui.shot("stream")

        # the next page continues after the last offset shown
        browse.locator("button", has_text="Next page").click()
        expect(records.locator(".message-head strong")).to_have_text([f"Offset {i}" for i in range(15, 20)])
        expect(records.locator("pre.payload")).to_have_text([f"event {i:02d}" for i in range(15, 20)])
        expect(browse.locator("input[name=offset]")).to_have_value("15")

        # past the end: nothing, and why
        browse.locator("input[name=offset]").fill(str(N + 5))
        browse.locator("button[type=submit]").click()
        expect(records).to_have_count(0)
        expect(browse.locator(".alert.info")).to_contain_text(f"No records from offset {N + 5} on.")
        expect(browse.locator(".alert.info")).to_contain_text(f"last offset is {N - 1}")
        ui.check_text()

        # nothing consumed: the same records, the reader where it was
        after = api.get(f"/api/queues/%2F/{q(name)}")
        assert after["messages"] == N and after["amqpd_stream"]["first_offset"] == 0
        assert [(r["offset"], r["lag"]) for r in after["amqpd_stream"]["readers"]] == [(5, N - 5)]
        assert after["message_stats"]["deliver_get"] == 5  # the reader's five deliveries, no more
    finally:
        reader.close()
        api.call("DELETE", f"/api/queues/%2F/{q(name)}")
    ui.assert_clean()


def test_add_empty_stream(ui, api):
    page = ui.page
    name = uniq("ui-stream-new")
    ui.go("#/queues", "Queues")
    add = section(page, "Add a queue")
    add.locator("select[name=queue_type]").select_option("stream")
    expect(add.locator("input[name=durable]")).to_be_checked()
    expect(add.locator("input[name=durable]")).to_be_disabled()
    add.locator("input[name=name]").fill(name)
    add.locator("button[type=submit]").click()
    expect(add.locator(".alert.ok")).to_contain_text(f"Queue {name} declared")
    doc = api.get(f"/api/queues/%2F/{q(name)}")
    assert doc["type"] == "stream" and doc["durable"] is True and doc["arguments"] == {"x-queue-type": "stream"}
    try:
        add.locator(".alert.ok a").click()
        expect(page.locator("main h1")).to_have_text(name)
        stream = page.locator("section", has=page.locator("h2", has_text=re.compile(r"^Stream$")))
        expect(prop(stream, "Messages")).to_have_text("0")
        expect(prop(stream, "Last offset")).to_have_text("none: the stream is empty")
        expect(prop(stream, "Max length in bytes")).to_have_text("unlimited")
        expect(stream.locator("td.empty").first).to_contain_text("No readers")
        browse = section(page, "Browse the stream")
        browse.locator("button[type=submit]").click()
        expect(browse.locator(".alert.info")).to_have_text("The stream is empty.")
        ui.check_text()
        ui.check_labels()
    finally:
        api.call("DELETE", f"/api/queues/%2F/{q(name)}")
    ui.assert_clean()
