"""amqpd's own patterns in the UI: an x-delayed-message exchange declared from the add form (with the
x-delayed-type helper) shows how many messages it holds back; an x-consistent-hash exchange declared with
the hash-property helper."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import quote

import pika
from playwright.sync_api import expect

from .test_queues import section  # a <details> panel by its summary, opened


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def declare_from_form(ui, name: str, type_: str, helper: str):
    """Declare an exchange from the Exchanges page's add form, with one argument helper; the form."""
    ui.go("#/exchanges", "Exchanges")
    add = section(ui.page, "Add an exchange")
    add.locator("input[name=name]").fill(name)
    add.locator("select[name=type]").select_option(type_)
    add.locator("button", has_text=helper).click()
    add.locator("button[type=submit]").click()
    expect(add.locator(".alert.ok")).to_contain_text(f"Exchange {name} declared")
    return add


def test_delayed_exchange_declared_and_its_waiting_messages_counted(ui, api, pika_params):
    page = ui.page
    x = uniq("ui-delayed")
    add = declare_from_form(ui, x, "x-delayed-message", "Delayed type")
    doc = api.get(f"/api/exchanges/%2F/{quote(x, safe='')}")
    assert doc["type"] == "x-delayed-message" and doc["arguments"] == {"x-delayed-type": "direct"}

    conn = pika.BlockingConnection(pika_params())
    ch = conn.channel()
    for _ in range(3):
        ch.basic_publish(x, "k", b"later", pika.BasicProperties(headers={"x-delay": 600_000}))
    conn.close()
    add.locator(".alert.ok a").click()
    expect(page.locator("main h1")).to_have_text(x)
    details = page.locator("section", has=page.locator("h2", has_text="Details"))
    expect(details.locator("dt", has_text="Messages delayed")).to_have_count(1)
    expect(details.locator("dd").nth(4)).to_have_text("3")
    ui.go("#/exchanges", "Exchanges")  # leave first: the page polls the exchange and would see it go (404)
    api.call("DELETE", f"/api/exchanges/%2F/{quote(x, safe='')}")
    ui.assert_clean()


def test_queue_history_charts_show_the_consumer_lag(ui, api, pika_params):
    """The queue page draws the broker's history (GET .../history): depth and the age of the oldest ready
    message, for the range chosen."""
    page = ui.page
    queue = uniq("ui-lag")
    conn = pika.BlockingConnection(pika_params())
    ch = conn.channel()
    ch.queue_declare(queue, auto_delete=False)
    for _ in range(4):
        ch.basic_publish("", queue, b"waiting")
    conn.close()
    time.sleep(2.5)  # five samples at 500 ms: the head has been waiting about two seconds
    ui.go(f"#/queues/%2F/{quote(queue, safe='')}", queue)
    lag = page.locator("section", has=page.locator("h2", has_text="Consumer lag"))
    expect(lag.locator(".legend .value")).to_have_text(re.compile(r"^[1-9]\d*s$|^\d+m \d+s$"))
    depth = page.locator("section", has=page.locator("h2", has_text="Depth"))
    expect(depth.locator(".legend .value").first).to_have_text("4")
    page.locator("select[name=history_range]").select_option("86400")
    expect(depth.locator(".chart-x span").first).to_have_text("24 h ago")
    ui.go("#/queues", "Queues")  # leave first: the page polls the queue and would see it go (404)
    api.call("DELETE", f"/api/queues/%2F/{quote(queue, safe='')}")
    ui.assert_clean()


def test_consistent_hash_exchange_declared_from_the_form(ui, api):
    x = uniq("ui-hash")
    declare_from_form(ui, x, "x-consistent-hash", "Hash property")
    doc = api.get(f"/api/exchanges/%2F/{quote(x, safe='')}")
    assert doc["type"] == "x-consistent-hash" and doc["arguments"] == {"hash-property": "message_id"}
    api.call("DELETE", f"/api/exchanges/%2F/{quote(x, safe='')}")
    ui.assert_clean()
