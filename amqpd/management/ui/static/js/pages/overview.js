// Overview: message rates and queued messages over the last ten minutes (the node's own samples, so the
// charts are full at once), totals, node health and flow control.

import { h, replace, alertBox, errorBox, props, stateBadge, link, field, select, add } from "../lib/dom.js";
import { get, qs, seg } from "../lib/api.js";
import { lineChart, ratesFromSamples, levelsFromSamples } from "../lib/chart.js";
import { num, rate, bytes, duration, pct, dig } from "../lib/format.js";
import { can } from "../lib/state.js";
import { tableEl } from "../lib/table.js";

// chart ranges: [seconds, sample step]; the node keeps an hour of 5 s samples
const RANGES = [[60, 5, "Last minute"], [600, 5, "Last 10 minutes"], [3600, 30, "Last hour"]];
const DEFAULT_RANGE = 600;
const RATE_SERIES = [
  { key: "publish", label: "Publish" },
  { key: "deliver_get", label: "Deliver / get" },
  { key: "ack", label: "Ack" },
  { key: "confirm", label: "Confirm" },
  { key: "redeliver", label: "Redeliver" },
  { key: "unroutable", label: "Unroutable" },
];
const QUEUED_SERIES = [
  { key: "messages_ready", label: "Ready" },
  { key: "messages_unacknowledged", label: "Unacked" },
];

/** [{t, v: {key: value}}] from several per-key series sharing timestamps */
function merge(byKey) {
  const at = new Map();
  for (const [key, points] of Object.entries(byKey)) {
    for (const p of points) {
      if (!at.has(p.t)) at.set(p.t, { t: p.t, v: {} });
      at.get(p.t).v[key] = p.v;
    }
  }
  return [...at.values()].sort((a, b) => a.t - b.t);
}

function rateSeries(stats) {
  const samples = (key) => (stats[`${key}_details`] && stats[`${key}_details`].samples) || [];
  const byKey = {};
  for (const s of RATE_SERIES) if (s.key !== "unroutable") byKey[s.key] = ratesFromSamples(samples(s.key));
  const ret = ratesFromSamples(samples("return_unroutable"));
  const drop = ratesFromSamples(samples("drop_unroutable"));
  byKey.unroutable = ret.map((p, i) => ({ t: p.t, v: p.v + (drop[i] ? drop[i].v : 0) }));
  return merge(byKey);
}

function card(label, value, href) {
  const body = [h("span", { class: "label" }, label), h("span", { class: "value" }, value)];
  return href ? h("a", { class: "card", href }, body) : h("div", { class: "card" }, body);
}

function meter(label, used, total, { format = num, warnAt = 0.8, alarm = false, text } = {}) {
  const ratio = total > 0 ? Math.min(1, used / total) : 0;
  const level = alarm ? "bad" : ratio >= warnAt ? "warn" : "ok";
  const fill = h("div", { class: "fill" });
  fill.style.width = `${(ratio * 100).toFixed(1)}%`;
  return h("div", { class: ["meter", level] },
    h("div", { class: "meter-head" }, h("span", {}, label), h("span", {}, text || `${format(used)} / ${format(total)} (${pct(ratio)})`)),
    h("div", { class: "bar", role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(used) }, fill));
}

function nodeHealth(node) {
  const alarms = [];
  if (node.mem_alarm) alarms.push(alertBox("error", "Memory alarm: publishers are blocked until memory use falls below the watermark."));
  if (node.disk_free_alarm) alarms.push(alertBox("error", "Disk alarm: free disk space is below the limit; publishers are blocked."));
  const diskOk = node.disk_free > node.disk_free_limit;
  return [
    alarms,
    meter("Memory", node.mem_used, node.mem_limit, { format: bytes, alarm: node.mem_alarm }),
    meter("File descriptors", node.fd_used, node.fd_total),
    meter("Sockets", node.sockets_used, node.sockets_total),
    h("div", { class: ["meter", diskOk ? "ok" : "bad"] }, h("div", { class: "meter-head" }, h("span", {}, "Disk free"),
      h("span", {}, `${bytes(node.disk_free)} (alarm below ${bytes(node.disk_free_limit)})`))),
    props([["Node", node.name], ["Uptime", duration(node.uptime)], ["Processors", num(node.processors)],
      ["Event loop tasks", num(node.proc_used)], ["Memory alarm", node.mem_alarm ? "yes" : "no"],
      ["Disk alarm", node.disk_free_alarm ? "yes" : "no"], ["Data directory", node.db_dir]]),
  ];
}

function churn(o) {
  const c = o.churn_rates || {};
  const r = (k) => rate(c[`${k}_details`] ? c[`${k}_details`].rate : 0);
  return props([["Connections opened / closed", `${r("connection_created")} / ${r("connection_closed")}`],
    ["Channels opened / closed", `${r("channel_created")} / ${r("channel_closed")}`],
    ["Queues declared / created / deleted", `${r("queue_declared")} / ${r("queue_created")} / ${r("queue_deleted")}`]]);
}

export async function overviewPage(ctx) {
  ctx.title("Overview");
  let range = Number(localStorage.getItem("amqpd.range")) || DEFAULT_RANGE;
  if (!RANGES.some(([r]) => r === range)) range = DEFAULT_RANGE;
  const rates = lineChart({ title: "Message rates, per second", series: RATE_SERIES, format: rate, windowMs: range * 1000 });
  const queued = lineChart({ title: "Queued messages", series: QUEUED_SERIES, format: num, axisFormat: (v) => (Number.isInteger(v) ? num(v) : v.toFixed(1)), windowMs: range * 1000 });
  const rangeSelect = select("range", RANGES.map(([r, , label]) => [String(r), label]), String(range));
  rangeSelect.addEventListener("change", () => {
    range = Number(rangeSelect.value);
    localStorage.setItem("amqpd.range", String(range));
    rates.setWindow(range * 1000);
    queued.setWindow(range * 1000);
    loadOverview();
  });
  const cards = h("div", { class: "cards", "aria-label": "Totals" });
  const errors = h("div");
  const nodeBox = h("div", {}, h("p", { class: "muted" }, "Loading\u2026"));
  const flowBox = h("div");
  const listenersBox = h("div");
  const churnBox = h("div");
  add(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Overview"), field("Charts", rangeSelect, { cls: "inline" })),
    errors,
    cards,
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "rates-title" }, h("h2", { id: "rates-title" }, "Message rates"), rates.el),
      h("section", { class: "panel", "aria-labelledby": "queued-title" }, h("h2", { id: "queued-title" }, "Queued messages"), queued.el)),
    h("div", { class: "grid", id: "health" },
      can.monitor() ? h("section", { class: "panel", "aria-labelledby": "node-title" }, h("h2", { id: "node-title" }, "Node health"), nodeBox) : null,
      h("section", { class: "panel", "aria-labelledby": "flow-title" }, h("h2", { id: "flow-title" }, "Flow control"), flowBox),
      h("section", { class: "panel", "aria-labelledby": "churn-title" }, h("h2", { id: "churn-title" }, "Churn"), churnBox,
        can.monitor() ? [h("h3", {}, "Listeners"), listenersBox] : null)));

  let seq = 0;
  async function loadOverview() {
    const mine = ++seq;
    const step = RANGES.find(([r]) => r === range)[1];
    const history = qs({ msg_rates_age: range, msg_rates_incr: step, lengths_age: range, lengths_incr: step });
    let o;
    try {
      o = await get(`/api/overview${history}`, { signal: ctx.signal });
    } catch (err) {
      if (err.name !== "AbortError" && mine === seq) replace(errors, errorBox(err));
      return;
    }
    if (mine !== seq) return; // the range changed meanwhile: a newer answer is coming
    replace(errors);
    const t = o.object_totals || {};
    const q = o.queue_totals || {};
    replace(cards,
      card("Connections", num(t.connections), "#/connections"),
      card("Channels", num(t.channels), "#/channels"),
      card("Exchanges", num(t.exchanges), "#/exchanges"),
      card("Queues", num(t.queues), "#/queues"),
      t.consumers !== undefined ? card("Consumers", num(t.consumers)) : null,
      card("Ready", num(q.messages_ready)),
      card("Unacked", num(q.messages_unacknowledged)),
      card("Total messages", num(q.messages)));
    // the legends show the live values; the lines the node's samples (one per 5 s boundary)
    const ms = o.message_stats || {};
    const live = (key) => dig(ms, `${key}_details.rate`) ?? 0;
    const liveRates = Object.fromEntries(RATE_SERIES.map((s) => [s.key, live(s.key)]));
    liveRates.unroutable = live("return_unroutable") + live("drop_unroutable");
    rates.update(rateSeries(ms), undefined, liveRates);
    queued.update(merge(Object.fromEntries(QUEUED_SERIES.map((s) => [s.key,
      levelsFromSamples((q[`${s.key}_details`] && q[`${s.key}_details`].samples) || [])]))), undefined,
    { messages_ready: q.messages_ready, messages_unacknowledged: q.messages_unacknowledged });
    replace(churnBox, churn(o));
    if (o.listeners) {
      replace(listenersBox, tableEl([
        { label: "Protocol", key: "protocol" }, { label: "Address", key: "ip_address" }, { label: "Port", key: "port", cls: "num" },
      ], o.listeners, { caption: "Listeners" }));
    }
    ctx.updated();
  }

  async function loadNode() {
    try {
      const nodes = await get("/api/nodes", { signal: ctx.signal });
      replace(nodeBox, nodes.length ? nodeHealth(nodes[0]) : h("p", {}, "No node"));
    } catch (err) {
      if (err.name !== "AbortError") replace(nodeBox, errorBox(err));
    }
  }

  async function loadFlow() {
    try {
      const conns = await get("/api/connections?columns=name,user_provided_name,state,user,vhost", { signal: ctx.signal });
      const by = { running: 0, flow: 0, blocked: 0, blocking: 0 };
      for (const c of conns) by[c.state] = (by[c.state] || 0) + 1;
      const slowed = conns.filter((c) => c.state === "flow" || c.state === "blocked" || c.state === "blocking");
      replace(flowBox,
        h("div", { class: "cards" }, card("Running", num(by.running)), card("In flow", num(by.flow)), card("Blocked", num(by.blocked + by.blocking))),
        slowed.length
          ? h("ul", {}, slowed.slice(0, 10).map((c) => h("li", {}, stateBadge(c.state), " ",
            link(`#/connections/${seg(c.name)}`, c.user_provided_name ? `${c.user_provided_name} (${c.name})` : c.name), ` \u00b7 ${c.user}`)))
          : h("p", { class: "muted" }, conns.length ? "No connection is slowed down: every publisher runs at full speed." : "No connections."),
        h("p", { class: "hint" }, "A connection is in flow while the broker slows its publishing to let queues and consumers keep up; blocked while a resource alarm stops publishers."));
    } catch (err) {
      if (err.name !== "AbortError") replace(flowBox, errorBox(err));
    }
  }

  ctx.every(loadOverview);
  if (can.monitor()) ctx.every(loadNode);
  ctx.every(loadFlow);
}
