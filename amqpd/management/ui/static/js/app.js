// The shell: session check, login, navigation (hash routes), the refresh loop every page shares, the
// theme toggle and the vhost selector. Pages live in pages/*.js and only talk to the HTTP API.

import { h, replace, errorBox, toast, add } from "./lib/dom.js";
import * as api from "./lib/api.js";
import { clock } from "./lib/format.js";
import { state, can, setVhost, setRefresh } from "./lib/state.js";
import { renderLogin } from "./pages/login.js";
import { overviewPage } from "./pages/overview.js";
import { connectionsPage, connectionPage } from "./pages/connections.js";
import { channelsPage } from "./pages/channels.js";
import { exchangesPage, exchangePage } from "./pages/exchanges.js";
import { queuesPage } from "./pages/queues.js";
import { queuePage } from "./pages/queue.js";
import { adminPage } from "./pages/admin.js";

const $ = (id) => document.getElementById(id);
const main = $("main");

// first path segment -> [nav item, page(ctx, ...segments)]
const ROUTES = {
  "": ["overview", overviewPage],
  connections: ["connections", (ctx, name) => (name === undefined ? connectionsPage(ctx) : connectionPage(ctx, name))],
  channels: ["channels", channelsPage],
  exchanges: ["exchanges", (ctx, vhost, name) => (vhost === undefined ? exchangesPage(ctx) : exchangePage(ctx, vhost, name ?? ""))],
  queues: ["queues", (ctx, vhost, name) => (vhost === undefined ? queuesPage(ctx) : queuePage(ctx, vhost, name))],
  admin: ["admin", adminPage],
};

/** Everything a page may use; dispose() stops its timers and aborts its requests on navigation. */
function makeContext() {
  const controller = new AbortController();
  const loops = [];
  let timer = null;
  let active = true;
  let paused = false;
  const inflight = new Set();
  const root = h("div", { class: "page" });
  main.append(root);

  function runAll(fns) {
    const run = Promise.allSettled(fns.map((fn) => fn()));
    inflight.add(run);
    run.finally(() => inflight.delete(run));
    return run;
  }

  async function tick() {
    timer = null;
    if (!active || paused) return;
    if (!document.hidden) await runAll(loops);
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (active && !paused && state.refreshSeconds > 0) timer = setTimeout(tick, state.refreshSeconds * 1000);
  }

  const ctx = {
    main: root,
    signal: controller.signal,
    /** run fn now, then on every refresh */
    every(fn) {
      loops.push(fn);
      const first = runAll([fn]);
      if (!timer) schedule();
      return first;
    },
    /** run every refresh function now (after a change) */
    refresh() {
      return runAll(loops);
    },
    updated() {
      const el = $("updated");
      el.dataset.count = String(Number(el.dataset.count) + 1);
      el.textContent = `Updated ${clock()}`;
    },
    title(text) {
      document.title = `${text} \u00b7 amqpd`;
    },
    /** stop refreshing and wait for what is running: before deleting what the page shows */
    async pause() {
      ctx.stop();
      await Promise.allSettled([...inflight]);
    },
    /** stop refreshing (from inside a refresh function: pause() would wait for itself) */
    stop() {
      paused = true;
      clearTimeout(timer);
    },
    resume() {
      paused = false;
      schedule();
    },
    navigate(hash) {
      location.hash = hash;
    },
    reschedule: schedule,
    dispose() {
      active = false;
      clearTimeout(timer);
      controller.abort();
    },
  };
  return ctx;
}

let current = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const parts = raw === "" ? [""] : raw.split("/").map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return parts;
}

async function route() {
  if (!state.user) return;
  if (current) current.dispose();
  closeMenu();
  const [first, ...rest] = parseHash();
  const entry = ROUTES[first];
  for (const a of document.querySelectorAll("#main-nav a")) {
    if (entry && a.dataset.nav === entry[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  replace(main);
  const ctx = makeContext();
  current = ctx;
  if (!entry) {
    ctx.title("Not found");
    replace(ctx.main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Back to the overview")));
    return;
  }
  try {
    await entry[1](ctx, ...rest);
  } catch (err) {
    if (err.name === "AbortError" || ctx !== current) return;
    add(ctx.main, errorBox(err));
  }
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// -- shell --------------------------------------------------------------------------------------------
function closeMenu() {
  $("main-nav").classList.remove("open");
  $("toolbar").classList.remove("open");
  $("menu-toggle").setAttribute("aria-expanded", "false");
}

function effectiveTheme() {
  const set = document.documentElement.dataset.theme;
  if (set === "dark" || set === "light") return set;
  return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function showTheme() {
  const dark = effectiveTheme() === "dark";
  const button = $("theme-toggle");
  button.setAttribute("aria-pressed", String(dark));
  button.querySelector(".theme-label").textContent = "Dark mode";
}

async function loadVhosts() {
  const select = $("vhost-select");
  try {
    const vhosts = await api.get("/api/vhosts?columns=name");
    state.vhosts = vhosts.map((v) => v.name);
  } catch (err) {
    state.vhosts = [];
    toast(`Cannot list virtual hosts: ${err.message}`, "error");
  }
  if (state.vhost && !state.vhosts.includes(state.vhost)) setVhost("");
  replace(select, h("option", { value: "" }, "All"), state.vhosts.map((v) => h("option", { value: v }, v)));
  select.value = state.vhost;
}

async function loadProduct() {
  try {
    const o = await api.get("/api/overview?columns=product_name,product_version,rabbitmq_version,cluster_name");
    $("cluster-name").textContent = o.cluster_name || "";
    $("product").textContent = `${o.product_name} ${o.product_version} \u00b7 RabbitMQ ${o.rabbitmq_version} API`;
  } catch { /* the status line stays empty */ }
}

/** fromLogin: the heading takes the focus; on a page load it stays at the top (the skip link first) */
async function enter(user, fromLogin = true) {
  // the tags that decide what is offered are the API's own answer (the session's user, looked up now)
  try {
    user = await api.get("/api/whoami");
  } catch (err) {
    leave(err.status === 401 ? "Your session has ended. Log in again." : `Cannot reach the broker: ${err.message}`);
    return;
  }
  state.user = user;
  $("topbar").hidden = false;
  $("statusbar").hidden = false;
  $("who").textContent = `${user.name}${user.tags.length ? ` (${user.tags.join(", ")})` : ""}`;
  // what the API would refuse is not offered: Admin for administrators and policymakers (policies only)
  document.querySelector("[data-admin]").hidden = !(can.admin() || can.policies());
  $("refresh-select").value = String(state.refreshSeconds);
  await Promise.all([loadVhosts(), loadProduct()]);
  await route();
  if (fromLogin) focusHeading();
}

function leave(message) {
  if (current) current.dispose();
  current = null;
  state.user = null;
  $("topbar").hidden = true;
  $("statusbar").hidden = true;
  document.title = "Log in \u00b7 amqpd";
  renderLogin(main, { message, onLoggedIn: enter });
}

function wire() {
  $("skip-link").addEventListener("click", (e) => { e.preventDefault(); main.focus(); });
  $("menu-toggle").addEventListener("click", () => {
    const open = !$("main-nav").classList.contains("open");
    $("main-nav").classList.toggle("open", open);
    $("toolbar").classList.toggle("open", open);
    $("menu-toggle").setAttribute("aria-expanded", String(open));
  });
  $("theme-toggle").addEventListener("click", () => {
    const next = effectiveTheme() === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem("amqpd.theme", next); } catch { /* not kept: this page only */ }
    showTheme();
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", showTheme);
  $("vhost-select").addEventListener("change", (e) => { setVhost(e.target.value); route(); });
  $("refresh-select").addEventListener("change", (e) => {
    setRefresh(Number(e.target.value));
    if (current) current.reschedule();
  });
  $("logout").addEventListener("click", async () => {
    try { await api.logout(); } catch { /* the cookie is cleared by the server; leave anyway */ }
    leave("You are logged out.");
  });
  window.addEventListener("hashchange", async () => {
    if (!state.user) return;
    await route();
    focusHeading();
  });
  window.addEventListener("amqpd:session-ended", () => {
    if (state.user) leave("Your session has ended. Log in again.");
  });
  window.addEventListener("amqpd:vhosts-changed", loadVhosts);
  showTheme();
}

async function boot() {
  wire();
  let user = null;
  try {
    user = (await api.session()).user;
  } catch (err) {
    replace(main, errorBox(err, "Cannot reach the broker"));
    return;
  }
  if (user) await enter(user, false);
  else leave(new URLSearchParams(location.search).get("login") === "failed" ? "Login failed" : null);
}

boot();
