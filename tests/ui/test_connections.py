"""Connections and channels in the UI: a client's connection with its properties and channels, closed
from the UI with a reason the client receives; and the UI staying usable while publishers saturate
the broker."""

from __future__ import annotations

import threading
import time
import urllib.parse

import pika
import pytest
from playwright.sync_api import expect

from .conftest import uniq
from .test_queues import confirm


def test_close_connection_with_a_reason(ui, api, pika_params):
    page = ui.page
    name = uniq("ui-client")
    conn = pika.BlockingConnection(pika_params(name))
    ch = conn.channel()
    ch.confirm_delivery()
    queue = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_consume(queue, lambda *a: None)
    try:
        ui.go("#/connections", "Connections")
        row = page.locator("tbody tr", has=page.locator("a", has_text=name))
        expect(row).to_have_count(1)
        expect(row.locator(".state")).to_have_text("running")
        expect(row).to_contain_text("Pika Python Client Library")
        ui.shot("connections")

        wire_name = next(c["name"] for c in api.get("/api/connections") if c.get("user_provided_name") == name)
        ui.go("#/channels", "Channels")
        channel = page.locator("tbody tr", has_text=f"{wire_name} (1)")
        expect(channel.locator(".badge", has_text="C")).to_be_visible()  # confirm mode
        expect(channel.locator("td").nth(8)).to_have_text("1")  # consumers

        ui.go("#/connections", "Connections")
        row.locator("a", has_text=name).click()
        expect(page.locator("main h1")).to_contain_text(name)
        ui.wait_updated(0)
        client = page.locator("section", has=page.locator("h2", has_text="Client properties"))
        expect(client).to_contain_text("Pika Python Client Library")
        expect(client).to_contain_text("publisher_confirms")  # nested capabilities
        channels = page.locator("section", has=page.locator("h2", has_text="Channels"))
        expect(channels.locator("tbody tr")).to_have_count(1)
        ui.check_labels()

        close = page.locator("form.close-form")
        close.locator("input[name=reason]").fill("maintenance window (ui test)")
        close.locator("button[type=submit]").click()
        confirm(page, "Close connection")
        expect(page.locator("main h1")).to_have_text("Connections")
        expect(page.locator(".toast")).to_contain_text("Connection closed: maintenance window (ui test)")

        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.2)
        assert closed.value.reply_code == 320
        assert closed.value.reply_text == "CONNECTION_FORCED - maintenance window (ui test)"
        expect(page.locator("tbody a", has_text=name)).to_have_count(0, timeout=15_000)
    finally:
        if conn.is_open:
            conn.close()
    ui.assert_clean()


class Publishers:
    """Unthrottled publishers (no confirms, no pause), each on its own connection and thread."""

    def __init__(self, params, queue: str, n: int = 3) -> None:
        self.params, self.queue = params, queue
        self.stop = threading.Event()
        self.counts = [0] * n
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]

    def _run(self, i: int) -> None:
        try:
            conn = pika.BlockingConnection(self.params(f"ui-load-{i}"))
            ch = conn.channel()
            body = b"x" * 512
            while not self.stop.is_set():
                ch.basic_publish("", self.queue, body)
                self.counts[i] += 1
            conn.close()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def __enter__(self) -> Publishers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(20)

    def snapshot(self) -> list[int]:
        return list(self.counts)


def test_ui_stays_responsive_while_publishers_saturate_the_broker(ui, api, pika_params):
    page = ui.page
    queue = uniq("ui-load")
    # drop-head keeps the queue (and the broker's memory) bounded while the publishers run flat out
    assert api.call("PUT", f"/api/queues/%2F/{queue}",
                    {"durable": False, "arguments": {"x-max-length": 20000, "x-overflow": "drop-head"}})[0] == 201
    timings: dict[str, float] = {}
    with Publishers(pika_params, queue) as pubs:
        deadline = time.monotonic() + 20
        while min(pubs.snapshot()) < 2000 and time.monotonic() < deadline and not pubs.errors:
            time.sleep(0.05)
        assert min(pubs.snapshot()) >= 2000, (pubs.snapshot(), pubs.errors)
        during = pubs.snapshot()

        # generous client timeouts: the point is that pages and their refreshes complete at all
        page.set_default_timeout(30_000)
        for route, heading in (("#/", "Overview"), ("#/queues", "Queues"), ("#/connections", "Connections"),
                               (f"#/queues/%2F/{urllib.parse.quote(queue)}", queue)):
            start = time.monotonic()
            ui.go(route, heading)
            timings[route] = time.monotonic() - start
        start = time.monotonic()
        ui.wait_updated(timeout=30_000)  # a periodic refresh under load
        timings["refresh"] = time.monotonic() - start
        expect(page.locator("[data-count=ready]")).not_to_have_text("0")

        ui.go("#/connections", "Connections")
        loaders = page.locator("tbody tr", has=page.locator("a", has_text="ui-load-"))
        expect(loaders).to_have_count(3)
        ui.go("#/", "Overview")
        # two of the node's 5 s samples make a line; the publishers have been running long enough
        expect(page.locator("#rates-title ~ .chart path.line:not(.dot)").first).to_be_attached(timeout=30_000)
        count = ui.updates()
        page.select_option("select[name=range]", "60")  # the broker is young: the last minute fills the chart
        ui.wait_updated(count, timeout=30_000)
        expect(page.locator(".chart-x span").first).to_have_text("1 min ago")
        # a few readings make a line worth a screenshot (the broker may be seconds old)
        page.wait_for_function("""() => [...document.querySelectorAll('#rates-title ~ .chart path.line:not(.dot)')]
            .some((p) => (p.getAttribute('d').match(/L/g) || []).length >= 3)""", timeout=30_000)
        ui.shot("overview")
        after = pubs.snapshot()
        assert all(t.is_alive() for t in pubs.threads), pubs.errors
    assert not pubs.errors, pubs.errors
    # the publishers kept publishing while the UI was used: the broker was busy all along
    assert all(b > a for a, b in zip(during, after, strict=True)), (during, after)
    print(f"published {sum(after)} messages meanwhile; UI timings (s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    api.call("DELETE", f"/api/queues/%2F/{queue}")
    ui.assert_clean()
