"""Login, the overview, dark mode, a phone-sized screen and the keyboard."""

from __future__ import annotations

from playwright.sync_api import expect

DARK_BG = "rgb(18, 21, 27)"
LIGHT_BG = "rgb(246, 247, 249)"


def body_background(ui) -> str:
    return ui.page.evaluate("() => getComputedStyle(document.body).backgroundColor")


def test_login_then_overview(new_ui):
    ui = new_ui()
    page = ui.page
    page.goto(ui.base + "/")
    expect(page.locator("h1")).to_have_text("Log in to the management UI")
    ui.check_labels()
    page.fill("input[name=username]", "guest")
    page.fill("input[name=password]", "not-the-password")
    page.click("form button[type=submit]")
    expect(page.locator("main [role=alert]")).to_have_text("Login failed")
    expect(page.locator("#topbar")).to_be_hidden()

    ui.login()
    expect(page.locator("main h1")).to_have_text("Overview")
    expect(page.locator("#who")).to_have_text("guest (administrator)")
    cards = page.locator("main .cards").first
    for label in ("Connections", "Channels", "Exchanges", "Queues", "Consumers", "Ready", "Unacked"):
        expect(cards.locator(".card .label", has_text=label).first).to_be_visible()
    # the legends show the live values (the lines need two of the node's 5 s samples: see test_load.py)
    expect(page.locator("figure.chart svg")).to_have_count(2)
    expect(page.locator(".legend button", has_text="Unroutable")).to_contain_text("0/s")
    expect(page.locator(".legend button", has_text="Ready")).not_to_contain_text("\u2014")
    expect(page.locator("#node-title")).to_have_text("Node health")
    expect(page.locator(".meter", has_text="Memory")).to_be_visible()
    expect(page.locator(".meter", has_text="File descriptors")).to_be_visible()
    expect(page.locator("#health")).to_contain_text("Disk free")
    expect(page.locator("#health")).to_contain_text("Uptime")
    expect(page.locator("#flow-title")).to_have_text("Flow control")
    expect(page.locator("#health table")).to_contain_text("amqp")  # listeners
    ui.check_labels()

    # the session survives a reload (the cookie), and logging out ends it
    page.reload()
    expect(page.locator("main h1")).to_have_text("Overview")
    page.click("#logout")
    expect(page.locator("main h1")).to_have_text("Log in to the management UI")
    expect(page.locator("main")).to_contain_text("You are logged out.")
    page.reload()
    expect(page.locator("main h1")).to_have_text("Log in to the management UI")
    ui.assert_clean()


def test_dark_mode_toggle_and_system_preference(ui, new_ui):
    page = ui.page
    ui.go("#/queues", "Queues")
    assert body_background(ui) == LIGHT_BG
    toggle = page.locator("#theme-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("() => localStorage.getItem('amqpd.theme')") == "dark"
    assert body_background(ui) == DARK_BG
    page.reload()  # kept, and applied before the page's modules run
    page.wait_for_selector("main h1")
    assert body_background(ui) == DARK_BG
    ui.go("#/", "Overview")
    ui.shot("dark")
    toggle.click()
    assert body_background(ui) == LIGHT_BG
    assert page.evaluate("() => localStorage.getItem('amqpd.theme')") == "light"

    # nothing stored: the system's preference decides
    other = new_ui(color_scheme="dark")
    other.login()
    assert body_background(other) == DARK_BG
    expect(other.page.locator("#theme-toggle")).to_have_attribute("aria-pressed", "true")
    ui.assert_clean()


def test_phone_layout(new_ui, api):
    ui = new_ui(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    ui.login()
    page = ui.page
    nav = page.locator("#main-nav")
    expect(nav).to_be_hidden()
    menu = page.locator("#menu-toggle")
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(nav).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    nav.locator("a", has_text="Queues").click()
    expect(page.locator("main h1")).to_have_text("Queues")
    expect(nav).to_be_hidden()  # closed by the navigation
    ui.wait_updated(0)
    for route, heading in (("#/queues", "Queues"), ("#/", "Overview"), ("#/admin/users", "Users")):
        ui.go(route, heading)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{route} is wider than the screen by {overflow}px"
    ui.go("#/", "Overview")
    ui.shot("phone", full_page=False)


def test_keyboard_navigation(ui):
    page = ui.page
    ui.go("#/", "Overview")
    page.reload()  # a fresh page load leaves the focus at the top: the skip link comes first
    page.wait_for_selector("main h1")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    page.focus("#main-nav a[data-nav=queues]")
    page.keyboard.press("Enter")
    expect(page.locator("main h1")).to_have_text("Queues")
    # the new page's heading takes the focus, so a screen reader announces it
    page.wait_for_function("() => document.activeElement.tagName === 'H1'")

    ready = page.locator("th", has=page.locator("button.sort", has_text="Ready"))
    ready.locator("button").focus()
    page.keyboard.press("Enter")
    expect(ready).to_have_attribute("aria-sort", "ascending")
    page.keyboard.press("Enter")  # the focus stays on the (re-drawn) header button
    expect(ready).to_have_attribute("aria-sort", "descending")

    # a confirmation dialog takes the focus and Escape cancels it
    ui.go("#/admin/users/guest", "guest")
    page.locator("button", has_text="Delete user").click()
    dialog = page.locator("dialog")
    expect(dialog).to_be_visible()
    assert page.evaluate("() => document.activeElement.textContent") == "Cancel"
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page.locator("main h1")).to_have_text("guest")
