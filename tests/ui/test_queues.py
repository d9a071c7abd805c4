"""Queues and exchanges through the UI: a queue made over AMQP shows up with its counts; browsing leaves it
as it was; publish, move (dead-letter replay), get, purge and delete; exchanges with bindings."""

from __future__ import annotations

import json
import time
import urllib.parse

import pika
from playwright.sync_api import expect

from .conftest import uniq


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def wait_ready(api, queue: str, n: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = api.get(f"/api/queues/%2F/{q(queue)}")
        if doc["messages_ready"] == n or time.monotonic() > deadline:
            assert doc["messages_ready"] == n, doc
            return doc
        time.sleep(0.1)


def dead_letter_three(pika_params, work: str, dlq: str) -> None:
    """Three JSON messages, rejected from `work` into `dlq`: each with x-death."""
    conn = pika.BlockingConnection(pika_params())
    try:
        ch = conn.channel()
        ch.queue_declare(dlq, durable=True)
        ch.queue_declare(work, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq})
        for i in range(3):
            body = json.dumps({"order": i, "item": "widget", "qty": i + 1}).encode()
            ch.basic_publish("", work, body, pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                                                  message_id=f"m{i}", headers={"tenant": "acme"}))
        for _ in range(3):
            method, _props, _body = ch.basic_get(work)
            ch.basic_reject(method.delivery_tag, requeue=False)
        ch.queue_delete(work)
    finally:
        conn.close()


def section(page, summary: str):
    """A <details> panel by its summary, opened."""
    panel = page.locator("details", has=page.locator("summary", has_text=summary)).first
    if panel.get_attribute("open") is None:
        panel.locator("summary").first.click()
    return panel


def confirm(page, button: str) -> None:
    page.locator("dialog button", has_text=button).click()
    expect(page.locator("dialog")).to_have_count(0)


def test_queue_browse_publish_move_purge_delete(ui, api, pika_params):
    page = ui.page
    dlq, work, replay = uniq("ui-dlq"), uniq("ui-work"), uniq("ui-replay")
    dead_letter_three(pika_params, work, dlq)
    wait_ready(api, dlq, 3)

    # the list: filtered by a regex, the queue made over AMQP with its counts
    ui.go("#/queues", "Queues")
    page.fill("input[name=filter]", f"^({dlq}|{replay})$")
    page.check("input[name=regex]")
    row = page.locator("tbody tr", has=page.locator("a", has_text=dlq))
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(5)).to_have_text("3")  # ready
    expect(cells.nth(6)).to_have_text("0")  # unacked
    expect(cells.nth(7)).to_have_text("3")  # total
    expect(cells.nth(3)).to_contain_text("D")  # durable

    # add the replay queue with the form and an x-argument helper
    add = section(page, "Add a queue")
    add.locator("input[name=name]").fill(replay)
    add.locator("button", has_text="Message TTL").click()
    add.locator("input[name=queue-argument-value]").last.fill("600000")
    add.locator("button[type=submit]").click()
    expect(add.locator(".alert.ok")).to_contain_text(f"Queue {replay} declared")
    assert api.get(f"/api/queues/%2F/{q(replay)}")["arguments"] == {"x-message-ttl": 600000}
    expect(page.locator("tbody tr", has=page.locator("a", has_text=replay))).to_have_count(1)
    ui.check_labels()
    ui.shot("queues")

    # the queue's page
    page.locator("tbody a", has_text=dlq).click()
    expect(page.locator("main h1")).to_have_text(dlq)
    expect(page.locator("[data-count=ready]")).to_have_text("3")
    before = api.get(f"/api/queues/%2F/{q(dlq)}")

    # browse: nothing taken, x-death shown, JSON pretty-printed
    browse = section(page, "Browse messages")
    browse.locator("button[type=submit]").click()
    messages = browse.locator("article.message")
    expect(messages).to_have_count(3)
    first = messages.first
    expect(first.locator(".xdeath")).to_contain_text("rejected")
    expect(first.locator(".xdeath")).to_contain_text(work)
    expect(first.locator("pre.payload")).to_contain_text('"item": "widget"')
    expect(first).to_contain_text("tenant")
    expect(first).to_contain_text("application/json")
    expect(browse).to_contain_text("Browsing does not take them")
    after = api.get(f"/api/queues/%2F/{q(dlq)}")
    assert after["messages_ready"] == 3 and after["messages_unacknowledged"] == 0
    assert after.get("message_stats", {}).get("deliver_get", 0) == before.get("message_stats", {}).get("deliver_get", 0)
    peeked = api.get(f"/api/queues/%2F/{q(dlq)}/messages?count=3")
    assert [m["redelivered"] for m in peeked] == [False, False, False]
    browse.locator("select[name=payload_mode]").select_option("base64")
    browse.locator("button[type=submit]").click()
    expect(messages.first.locator("h4", has_text="Payload")).to_contain_text("base64")
    browse.locator("select[name=payload_mode]").select_option("auto")
    browse.locator("button[type=submit]").click()
    expect(messages.first.locator("pre.payload")).to_contain_text('"order": 0')
    ui.check_labels()
    ui.shot("queue")

    # publish one through the default exchange, with a header and a content type
    publish = section(page, "Publish a message")
    expect(publish.locator("input[name=routing_key]")).to_have_value(dlq)
    publish.locator("input[name=header-key]").fill("tenant")
    publish.locator("input[name=header-value]").fill("globex")
    publish.locator("summary", has_text="More properties").click()
    publish.locator("input[name=content_type]").fill("application/json")
    publish.locator("textarea[name=payload]").fill('{"order": 99}')
    publish.locator("button[type=submit]").click()
    expect(publish.locator(".alert.ok")).to_have_text("Message published and routed.")
    expect(page.locator("[data-count=ready]")).to_have_text("4")
    last = api.get(f"/api/queues/%2F/{q(dlq)}/messages?count=4")[-1]
    assert last["payload"] == '{"order": 99}'
    assert last["properties"]["headers"] == {"tenant": "globex"}
    assert last["properties"]["content_type"] == "application/json"

    # move the first two to the replay queue, without their x-death history
    move = section(page, "Move messages")
    move.locator("input[name=destination]").fill(replay)
    move.locator("select[name=scope]").select_option("first")
    move.locator("input[name=count]").fill("2")
    move.locator("input[name=keep_x_death]").uncheck()
    move.locator("button[type=submit]").click()
    expect(move.locator(".alert.ok")).to_have_text(f"Moved 2 message(s) to queue {replay}; 2 remain ready here.")
    expect(page.locator("[data-count=ready]")).to_have_text("2")
    moved = api.get(f"/api/queues/%2F/{q(replay)}/messages?count=10")
    assert [json.loads(m["payload"])["order"] for m in moved] == [0, 1]
    assert all("x-death" not in m["properties"].get("headers", {}) for m in moved)

    # get one, acknowledged: it is gone
    get = section(page, "Get messages")
    get.locator("select[name=ackmode]").select_option("ack_requeue_false")
    get.locator("button[type=submit]").click()
    expect(get.locator("article.message")).to_have_count(1)
    expect(get.locator("article.message pre.payload")).to_contain_text('"order": 2')
    expect(page.locator("[data-count=ready]")).to_have_text("1")

    # purge, then delete
    purge = section(page, "Purge or delete")
    purge.locator("button", has_text="Purge messages").click()
    confirm(page, "Purge")
    expect(purge.locator(".alert.ok")).to_have_text("Queue purged.")
    expect(page.locator("[data-count=ready]")).to_have_text("0")
    purge.locator("button", has_text="Delete queue").click()
    confirm(page, "Delete")
    expect(page.locator("main h1")).to_have_text("Queues")
    expect(page.locator(".toast")).to_contain_text(f"Queue {dlq} deleted")
    expect(page.locator("tbody tr", has=page.locator("a", has_text=replay))).to_have_count(1)
    expect(page.locator("tbody a", has_text=dlq)).to_have_count(0)
    assert api.call("GET", f"/api/queues/%2F/{q(dlq)}")[0] == 404
    api.call("DELETE", f"/api/queues/%2F/{q(replay)}")
    ui.assert_clean()


def test_exchange_bindings_and_publish(ui, api, pika_params):
    page = ui.page
    x, queue = uniq("ui-x"), uniq("ui-bound")
    assert api.call("PUT", f"/api/queues/%2F/{q(queue)}", {"durable": False})[0] == 201

    ui.go("#/exchanges", "Exchanges")
    add = section(page, "Add an exchange")
    add.locator("input[name=name]").fill(x)
    add.locator("select[name=type]").select_option("topic")
    add.locator("button", has_text="Alternate exchange").click()
    add.locator("input[name=exchange-argument-value]").last.fill("amq.fanout")
    add.locator("button[type=submit]").click()
    expect(add.locator(".alert.ok")).to_contain_text(f"Exchange {x} declared")
    doc = api.get(f"/api/exchanges/%2F/{q(x)}")
    assert doc["type"] == "topic" and doc["arguments"] == {"alternate-exchange": "amq.fanout"}
    add.locator(".alert.ok a").click()
    expect(page.locator("main h1")).to_have_text(x)
    expect(page.locator("main")).to_contain_text("AE")

    bind = section(page, "Add a binding from this exchange")
    bind.locator("input[name=destination]").fill(queue)
    bind.locator("input[name=routing_key]").fill("orders.*")
    bind.locator("button[type=submit]").click()
    expect(bind.locator(".alert.ok")).to_contain_text(f"Bound {x} \u2192 {queue}")
    out = page.locator("section", has=page.locator("h2", has_text="Bindings from this exchange"))
    expect(out.locator("tbody tr", has_text="orders.*")).to_have_count(1)

    publish = section(page, "Publish a message")
    publish.locator("input[name=routing_key]").fill("orders.eu")
    publish.locator("textarea[name=payload]").fill("hello")
    publish.locator("button[type=submit]").click()
    expect(publish.locator(".alert.ok")).to_have_text("Message published and routed.")
    wait_ready(api, queue, 1)

    out.locator("button", has_text="Unbind").click()
    confirm(page, "Unbind")
    expect(out.locator("td.empty")).to_have_text("No bindings.")
    assert api.get(f"/api/exchanges/%2F/{q(x)}/bindings/source") == []

    # routed nowhere now except to its alternate exchange, amq.fanout, which has no queue
    publish.locator("button[type=submit]").click()
    expect(publish.locator(".alert.warn")).to_contain_text("not routed")

    section(page, "Delete this exchange").locator("button[type=submit]").click()
    confirm(page, "Delete")
    expect(page.locator("main h1")).to_have_text("Exchanges")
    assert api.call("GET", f"/api/exchanges/%2F/{q(x)}")[0] == 404
    api.call("DELETE", f"/api/queues/%2F/{q(queue)}")
    ui.assert_clean()
