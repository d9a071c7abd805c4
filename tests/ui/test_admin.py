"""Admin pages: a management user made in the UI sees what the API lets it see, no more; definitions
import with a report, and refusals with their reason."""

from __future__ import annotations

import json
import urllib.parse

from playwright.sync_api import expect

from .conftest import uniq
from .test_queues import section


def test_management_user_sees_what_its_tags_allow(ui, new_ui, api):
    page = ui.page
    user, password = uniq("ui-mgmt"), "s3cret-pw"
    own = f"{user}-own"

    ui.go("#/admin/users", "Users")
    add = section(page, "Add a user")
    add.locator("input[name=username]").fill(user)
    add.locator("input[name=password]").fill(password)
    add.locator("input[name=tags]").fill("management")
    add.locator("button[type=submit]").click()
    expect(add.locator(".alert.ok")).to_contain_text(f"User {user} saved")
    expect(page.locator("tbody tr", has=page.locator("a", has_text=user))).to_contain_text("management")
    assert api.get(f"/api/users/{user}")["tags"] == ["management"]

    # configure only on its own queue's name: declaring anything else is refused by the API
    ui.go("#/admin/permissions", "Permissions")
    perms = section(page, "Set permissions")
    perms.locator("input[name=user]").fill(user)
    perms.locator("select[name=vhost]").select_option("/")
    perms.locator("input[name=configure]").fill(f"^{own}$")
    perms.locator("button[type=submit]").click()
    expect(perms.locator(".alert.ok")).to_contain_text(f"Permissions of {user} on / set")
    expect(page.locator("tbody tr", has_text=user)).to_contain_text(f"^{own}$")
    ui.go("#/admin/users", "Users")
    ui.shot("admin")

    other = new_ui()
    other.login(user, password)
    p = other.page
    expect(p.locator("#who")).to_have_text(f"{user} (management)")
    expect(p.locator("#main-nav a", has_text="Admin")).to_be_hidden()
    expect(p.locator("main h1")).to_have_text("Overview")
    expect(p.locator("#node-title")).to_have_count(0)  # node facts are for monitoring users
    expect(p.locator(".cards .label", has_text="Consumers")).to_have_count(0)
    other.go("#/admin/users", "Admin", wait=False)
    expect(p.locator("main")).to_contain_text("Administration needs the administrator tag")
    other.go("#/connections", "Connections")
    expect(p.locator("main")).to_contain_text("You see your own connections only")

    # what it may do works; what the API refuses is shown with the API's reason
    other.go("#/queues", "Queues")
    add = section(p, "Add a queue")
    add.locator("input[name=name]").fill(own)
    add.locator("button[type=submit]").click()
    expect(add.locator(".alert.ok")).to_contain_text(f"Queue {own} declared")
    other.allow(r"status of 401")
    add.locator("input[name=name]").fill(f"{user}-forbidden")
    add.locator("button[type=submit]").click()
    expect(add.locator(".alert.error")).to_have_text("401 not_authorised: Access refused.")
    assert api.call("GET", f"/api/queues/%2F/{user}-forbidden")[0] == 404

    # its tags are looked up on every request: without a management tag its session ends
    api.call("PUT", f"/api/users/{user}", {"password": password, "tags": ""})
    other.page.reload()
    expect(p.locator("main h1")).to_have_text("Log in to the management UI")
    api.call("DELETE", f"/api/queues/%2F/{own}")
    api.call("DELETE", f"/api/users/{user}")


def test_definitions_import_report_and_refusals(ui, api, tmp_path):
    page = ui.page
    vhost = uniq("ui-defs")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": "guest", "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}],
        "exchanges": [{"name": "orders", "vhost": vhost, "type": "topic", "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}}],
        "queues": [{"name": "orders.eu", "vhost": vhost, "durable": True, "auto_delete": False,
                    "arguments": {"x-max-length": 1000}},
                   {"name": "orders.us", "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}],
        "bindings": [{"source": "orders", "vhost": vhost, "destination": "orders.eu", "destination_type": "queue",
                      "routing_key": "eu.#", "arguments": {}}],
        "policies": [{"vhost": vhost, "name": "cap", "pattern": "^orders\\.", "apply-to": "queues",
                      "definition": {"message-ttl": 60000}, "priority": 1}],
    }))
    broken = tmp_path / "broken.json"
    broken.write_text('{"queues": [')
    refused = tmp_path / "refused.json"
    refused.write_text(json.dumps({"queues": [{"name": "q", "vhost": "no-such-vhost", "durable": True,
                                               "auto_delete": False, "arguments": {}}]}))

    ui.go("#/admin/definitions", "Definitions")
    download = page.locator("a", has_text="Download definitions")
    assert download.get_attribute("href").startswith("/api/definitions?download=amqpd-definitions-")
    with page.expect_download() as info:
        download.click()
    exported = json.loads(open(info.value.path()).read())
    assert {"users", "vhosts", "queues", "exchanges", "bindings"} <= set(exported)

    form = page.locator("form.import-form")
    form.locator("input[name=file]").set_input_files(str(good))
    form.locator("button[type=submit]").click()
    report = form.locator(".report")
    expect(report.locator(".alert.ok")).to_contain_text("Imported good.json")
    rows = {kind: report.locator("tbody tr", has=page.locator("td", has_text=kind)).first
            for kind in ("vhosts", "queues", "exchanges", "bindings", "policies", "permissions")}
    expect(rows["queues"].locator("td").nth(1)).to_have_text("2")
    expect(rows["queues"].locator("td").nth(2)).to_have_text("2")  # created
    for kind in ("vhosts", "exchanges", "bindings", "policies"):
        expect(rows[kind].locator("td").nth(2)).to_have_text("1")
    # guest's permission on the new vhost: created by the import
    expect(rows["permissions"].locator("td").nth(2)).to_have_text("1")
    assert api.get(f"/api/queues/{urllib.parse.quote(vhost, safe='')}/orders.eu")["arguments"] == {"x-max-length": 1000}
    expect(page.locator("#vhost-select option", has_text=vhost)).to_have_count(1)
    ui.shot("definitions")

    # the same file again: nothing new
    form.locator("button[type=submit]").click()
    expect(report.locator(".alert.ok")).to_contain_text("0 object(s) created or changed")

    form.locator("input[name=file]").set_input_files(str(broken))
    form.locator("button[type=submit]").click()
    expect(form.locator(".alert.error")).to_contain_text("broken.json is not valid JSON")

    ui.allow(r"status of 400")
    form.locator("input[name=file]").set_input_files(str(refused))
    form.locator("button[type=submit]").click()
    error = form.locator(".alert.error")
    expect(error).to_contain_text("Not imported; nothing was changed.")
    expect(error).to_contain_text("no vhost 'no-such-vhost' in the broker or the file")
    api.call("DELETE", f"/api/vhosts/{urllib.parse.quote(vhost, safe='')}")
    ui.assert_clean()
