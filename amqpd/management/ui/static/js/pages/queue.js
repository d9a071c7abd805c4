// One queue: depth and rate charts (polled, kept here for ten minutes), consumers, bindings, browsing
// without consuming, get, publish, move (dead-letter replay), purge and delete. A stream instead shows its
// offsets, size, retention and readers, and is browsed from any offset; get, move and purge do not apply.

import { h, replace, field, input, select, checkbox, busy, alertBox, errorBox, props, link, confirmAction, toast, stateBadge, datalist, uid, add } from "../lib/dom.js";
import { get, post, del, seg, qs } from "../lib/api.js";
import { num, rate, bytes, pct, dig, json, duration } from "../lib/format.js";
import { lineChart } from "../lib/chart.js";
import { tableEl } from "../lib/table.js";
import { kvEditor } from "../lib/args.js";
import { bindingsTable, bindForm, exchangeHref } from "../lib/bindings.js";
import { messageList, recordList, publishForm, PAYLOAD_MODES } from "../lib/messages.js";
import { queueFeatures } from "./queues.js";
import { connHref } from "./connections.js";

const WINDOW_MS = 10 * 60 * 1000;
const histories = new Map(); // "vhost|name" -> [{t, v}]: survives leaving and coming back to the page
const RATE_KEYS = ["publish", "deliver_get", "ack", "redeliver"];

function consumersTable(q) {
  return tableEl([
    { label: "Channel", render: (c) => link(connHref(c.channel_details.connection_name), c.channel_details.name) },
    { label: "Consumer tag", render: (c) => h("code", {}, c.consumer_tag) },
    { label: "Ack required", render: (c) => (c.ack_required ? "yes" : "no") },
    { label: "Exclusive", render: (c) => (c.exclusive ? "yes" : "no") },
    { label: "Prefetch", cls: "num", render: (c) => (c.prefetch_count ? num(c.prefetch_count) : "\u2014") },
    { label: "Active", render: (c) => `${c.active ? "yes" : "no"} (${c.activity_status})` },
    { label: "Arguments", render: (c) => (Object.keys(c.arguments || {}).length ? h("code", {}, json(c.arguments)) : "") },
  ], q.consumer_details || [], { empty: "No consumers.", caption: "Consumers", rowKey: (c) => c.consumer_tag });
}

/** "3.0 KiB (3,110 bytes)": the exact count too once it is rounded */
function sizeText(n) {
  return n >= 1024 ? `${bytes(n)} (${num(n)} bytes)` : bytes(n);
}

/** amqpd_stream: offsets, size, segments, retention */
function streamDetails(q) {
  const s = q.amqpd_stream;
  const none = (text) => h("span", { class: "muted" }, text);
  return props([
    ["Type", q.type],
    ["Messages", h("span", { dataset: { stream: "messages" } }, num(s.messages))],
    ["Size", h("span", { dataset: { stream: "bytes" } }, sizeText(s.bytes))],
    ["First offset", h("span", { dataset: { stream: "first" } }, String(s.first_offset))],
    ["Last offset", s.messages ? h("span", { dataset: { stream: "last" } }, String(s.last_offset)) : none("none: the stream is empty")],
    ["Next offset", String(s.next_offset)],
    ["Segments", `${num(s.segments)} (each up to ${bytes(s.segment_size_bytes)})`],
    ["Max length in bytes", s.max_length_bytes == null ? none("unlimited") : sizeText(s.max_length_bytes)],
    ["Max age", s.max_age_seconds == null ? none("unlimited")
      : `${duration(s.max_age_seconds * 1000)} (${num(s.max_age_seconds)} s)`],
    ["Readers", num(s.readers.length)],
  ]);
}

function streamReadersTable(s) {
  return tableEl([
    { label: "Consumer tag", render: (r) => h("code", {}, r.consumer_tag) },
    { label: "Reader", render: (r) => (r.reader == null ? h("span", { class: "muted" }, "not tracked") : h("code", {}, r.reader)) },
    { label: "Next offset", cls: "num", render: (r) => String(r.offset) },
    { label: "Lag", cls: "num", render: (r) => num(r.lag) },
    { label: "Filter", render: (r) => (r.filter == null ? h("span", { class: "muted" }, "all records")
      : r.filter.map((f, i) => [i ? ", " : "", h("code", {}, f)])) },
  ], s.readers, { empty: "No readers: no consumer reads this stream.", caption: "Stream readers", rowKey: (r) => r.consumer_tag });
}

function trackedReadersTable(s) {
  const rows = Object.entries(s.tracked_readers || {}).map(([name, offset]) => ({ name, offset }));
  return tableEl([
    { label: "Reader", render: (r) => h("code", {}, r.name) },
    { label: "Last acknowledged offset", cls: "num", render: (r) => String(r.offset) },
  ], rows, { empty: "No tracked readers (a consumer with x-stream-reader stores its offset here).", caption: "Tracked readers",
    rowKey: (r) => r.name });
}

/** Browse a stream from any offset without consuming; status(): its amqpd_stream as last loaded. */
function streamBrowseForm(base, status) {
  const out = h("div", { class: "browse-result" });
  const offset = input("offset", { type: "number", min: "0", step: "1", required: true });
  const count = input("count", { type: "number", min: "1", max: "1000", value: "10", required: true });
  const mode = select("payload_mode", PAYLOAD_MODES, "auto");
  const nextPage = h("button", { type: "button", disabled: true }, "Next page");
  let edited = false; // once the offset is typed in (or a page shown), refreshes no longer set it
  let next = null; // where Next page continues: the last offset shown + 1
  offset.addEventListener("input", () => { edited = true; });
  const form = h("form", { class: "browse-form stream-browse" },
    h("p", { class: "hint" }, "Reads records from an offset without consuming them: no reader moves and nothing is removed."),
    h("div", { class: "form-grid" }, field("From offset", offset), field("Records", count), field("Show payload as", mode)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Browse"), nextPage), out);
  async function show(from) {
    const encoding = mode.value === "base64" ? "base64" : "auto";
    const records = await get(`${base}/messages${qs({ offset: from, count: count.value || 10, encoding })}`);
    edited = true;
    offset.value = String(from);
    next = records.length ? records[records.length - 1].stream_offset + 1 : from;
    replace(out, recordList(records, mode.value, { from, status: status() }));
  }
  const run = async (from) => {
    await busy(form, () => show(from), out);
    nextPage.disabled = next === null;
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run(Number(offset.value));
  });
  nextPage.addEventListener("click", () => run(next));
  return {
    el: form,
    /** the default offset: the first one kept, until the user chooses another */
    setFirst(first) { if (!edited) offset.value = String(first); },
  };
}

function browseForm(base, refresh) {
  const out = h("div", { class: "browse-result" });
  const count = input("count", { type: "number", min: "1", max: "1000", value: "10" });
  const mode = select("payload_mode", PAYLOAD_MODES, "auto");
  const form = h("form", { class: "browse-form" },
    h("p", { class: "hint" }, "Shows the first ready messages without taking them: counts, order and redelivered flags stay as they are."),
    h("div", { class: "form-grid" }, field("Messages", count), field("Show payload as", mode)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Browse messages")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      const encoding = mode.value === "base64" ? "base64" : "auto";
      const messages = await get(`${base}/messages${qs({ count: count.value || 10, encoding })}`);
      replace(out, messageList(messages, mode.value, { browsed: true }));
      refresh();
    }, out);
  });
  return form;
}

function getForm(base, refresh) {
  const out = h("div", { class: "get-result" });
  const count = input("count", { type: "number", min: "1", value: "1" });
  const ackmode = select("ackmode", [
    ["ack_requeue_true", "Nack, requeue (the message stays, marked redelivered)"],
    ["ack_requeue_false", "Ack: remove the message"],
    ["reject_requeue_true", "Reject, requeue"],
    ["reject_requeue_false", "Reject, no requeue (dead-letters it)"],
  ], "ack_requeue_true");
  const mode = select("payload_mode", PAYLOAD_MODES, "auto");
  const truncate = input("truncate", { type: "number", min: "0", value: "50000" });
  const form = h("form", { class: "get-form" },
    h("p", { class: "hint" }, "Get takes messages as a consumer would (basic.get). To look without changing anything, browse instead."),
    h("div", { class: "form-grid" }, field("Messages", count), field("Ack mode", ackmode), field("Show payload as", mode), field("Truncate payload at (bytes)", truncate)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Get messages")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      const messages = await post(`${base}/get`, {
        count: Number(count.value || 1), ackmode: ackmode.value, encoding: mode.value === "base64" ? "base64" : "auto",
        truncate: truncate.value === "" ? undefined : Number(truncate.value),
      });
      replace(out, messageList(messages, mode.value));
      refresh();
    }, out);
  });
  return form;
}

function moveForm(ctx, vhost, name, base, refresh) {
  const out = h("div", { class: "move-result" });
  const queuesList = uid("move-queues");
  const exchangesList = uid("move-exchanges");
  const lists = h("div", { hidden: true });
  const destType = select("destination_type", [["queue", "Queue"], ["exchange", "Exchange"]], "queue");
  const dest = input("destination", { required: true, list: queuesList });
  const scope = select("scope", [["all", "All ready messages"], ["first", "The first N"]], "all");
  const count = input("count", { type: "number", min: "1", value: "10", disabled: true });
  const routingKey = input("routing_key");
  const keep = checkbox("keep_x_death", true);
  const matchKey = input("match_routing_key");
  const matchHeaders = kvEditor({ legend: "Only messages with these headers (optional)", noun: "match-header" });
  destType.addEventListener("change", () => dest.setAttribute("list", destType.value === "queue" ? queuesList : exchangesList));
  scope.addEventListener("change", () => { count.disabled = scope.value !== "first"; });
  Promise.all([get(`/api/queues/${seg(vhost)}?columns=name`, { signal: ctx.signal }), get(`/api/exchanges/${seg(vhost)}?columns=name`, { signal: ctx.signal })])
    .then(([qs_, xs]) => lists.append(datalist(queuesList, qs_.map((q) => q.name).filter((n) => n !== name)),
      datalist(exchangesList, xs.map((x) => x.name).filter(Boolean))))
    .catch(() => { /* no suggestions */ });
  const form = h("form", { class: "move-form" },
    h("p", { class: "hint" }, "Moves ready messages, each in one step (never lost, never doubled), e.g. to replay a dead-letter queue."),
    h("div", { class: "form-grid" },
      field("Destination type", destType), field("Destination", dest),
      field("Messages", scope), field("How many", count),
      field("New routing key (optional)", routingKey, { hint: "Empty: a queue keeps each message's key; an exchange routes by it" }),
      field("Only with routing key (optional)", matchKey)),
    matchHeaders.el,
    h("div", { class: "actions" }, field("Keep the x-death history", keep, { hint: "Unchecked: x-death and x-first-death-* are removed" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Move messages")), out, lists);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      const body = { destination: dest.value, destination_type: destType.value, keep_x_death: keep.checked };
      if (scope.value === "first") body.count = Number(count.value);
      if (routingKey.value !== "") body.routing_key = routingKey.value;
      const headers = matchHeaders.value();
      const match = {};
      if (matchKey.value !== "") match.routing_key = matchKey.value;
      if (Object.keys(headers).length) match.headers = headers;
      if (Object.keys(match).length) body.match = match;
      const r = await post(`${base}/move`, body);
      const extra = [r.unroutable ? `${num(r.unroutable)} unroutable (left in place)` : null,
        r.refused ? `${num(r.refused)} refused by the full destination (left in place)` : null].filter(Boolean);
      const target = destType.value === "queue" ? `queue ${dest.value}` : `exchange ${dest.value}`;
      replace(out, alertBox(r.refused || r.unroutable ? "warn" : "ok",
        `Moved ${num(r.moved)} message(s) to ${target}; ${num(r.remaining)} remain ready here.${extra.length ? ` ${extra.join("; ")}.` : ""}`));
      refresh();
    }, out);
  });
  return form;
}

export async function queuePage(ctx, vhost, name) {
  ctx.title(`Queue ${name}`);
  const base = `/api/queues/${seg(vhost)}/${seg(name)}`;
  const key = `${vhost}|${name}`;
  if (!histories.has(key)) histories.set(key, []);
  const history = histories.get(key);
  const depth = lineChart({ title: "Queue depth", format: num, axisFormat: (v) => (Number.isInteger(v) ? num(v) : v.toFixed(1)), windowMs: WINDOW_MS,
    series: [{ key: "messages_ready", label: "Ready" }, { key: "messages_unacknowledged", label: "Unacked" }] });
  const rates = lineChart({ title: "Message rates, per second", format: rate, windowMs: WINDOW_MS,
    series: [{ key: "publish", label: "Publish" }, { key: "deliver_get", label: "Deliver / get" }, { key: "ack", label: "Ack" }, { key: "redeliver", label: "Redeliver" }] });
  // the broker keeps each queue's history for a day (GET .../history): the charts show it for the range
  // chosen; without one (more queues than the broker tracks) they fall back to what this page sampled
  const age = lineChart({ title: "Oldest ready message, seconds", format: (v) => duration(v * 1000), axisFormat: (v) => `${Math.round(v)} s`,
    windowMs: WINDOW_MS, series: [{ key: "age", label: "Oldest ready" }] });
  const range = select("history_range", [["600", "Last 10 minutes"], ["3600", "Last hour"], ["86400", "Last 24 hours"]], "600",
    { "aria-label": "History range" });
  range.addEventListener("change", () => {
    for (const chart of [depth, rates, age]) chart.setWindow(Number(range.value) * 1000);
    ctx.refresh();
  });
  const summary = h("div");
  const counts = h("div", { class: "cards", "aria-label": "Message counts" });
  const features = h("span");
  const errors = h("div");
  const consumersBox = h("div");
  const kind = h("span", { class: "muted" }, `queue in virtual host ${vhost}`);
  const streamBox = h("div");
  const readersBox = h("div");
  const trackedBox = h("div");
  let streamStatus = null; // amqpd_stream as last loaded
  const streamBrowse = streamBrowseForm(base, () => streamStatus);
  let gone = false;
  const refresh = () => ctx.refresh();
  const bindings = bindingsTable(ctx, { source: () => get(`${base}/bindings`, { signal: ctx.signal }), show: "source" });

  const purgeOut = h("div");
  const purgeButton = h("button", { type: "button", class: "danger" }, "Purge messages");
  purgeButton.addEventListener("click", async () => {
    if (!await confirmAction(`Remove every ready message from ${name}?`, { confirm: "Purge" })) return;
    try {
      await del(`${base}/contents`);
      replace(purgeOut, alertBox("ok", "Queue purged."));
      refresh();
    } catch (err) {
      replace(purgeOut, errorBox(err));
    }
  });
  const ifEmpty = checkbox("if_empty", false);
  const ifUnused = checkbox("if_unused", false);
  const deleteOut = h("div");
  const deleteConditions = h("div", { class: "actions", hidden: true }, field("Only if empty", ifEmpty), field("Only if unused", ifUnused));
  const streamDeleteHint = h("p", { class: "hint", hidden: true },
    "Deleting a stream removes its records and readers' offsets; as in RabbitMQ, if-empty and if-unused do not apply to streams.");
  const deleteForm = h("form", { class: "delete-form" },
    deleteConditions, streamDeleteHint,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Delete queue")), deleteOut);
  deleteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!await confirmAction(`Delete queue ${name} in ${vhost}, with its messages?`)) return;
    await ctx.pause(); // nothing may ask for the queue once it is gone
    const ok = await busy(deleteForm, async () => {
      await del(base + qs({ "if-empty": ifEmpty.checked ? "true" : "", "if-unused": ifUnused.checked ? "true" : "" }));
      return true;
    }, deleteOut);
    if (ok) {
      gone = true;
      histories.delete(key);
      toast(`Queue ${name} deleted`);
      ctx.navigate("#/queues");
    } else ctx.resume();
  });

  const publish = publishForm({ vhost, exchange: "", fixedRoutingKey: name });
  publish.addEventListener("published", refresh);

  // shown once the first load tells the queue's type: a stream's, or the ones that only apply to other queues
  const streamSection = h("section", { class: "panel stream", "aria-labelledby": "q-stream", hidden: true },
    h("h2", { id: "q-stream" }, "Stream"),
    h("div", { class: "grid" }, streamBox,
      h("div", {}, h("h3", {}, "Readers"), readersBox, h("h3", {}, "Tracked readers"), trackedBox)));
  const streamBrowsePanel = h("details", { class: "panel", open: true, id: "stream-browse", hidden: true },
    h("summary", {}, "Browse the stream"), streamBrowse.el);
  const browsePanel = h("details", { class: "panel", open: true, id: "browse", hidden: true },
    h("summary", {}, "Browse messages"), browseForm(base, refresh));
  const getPanel = h("details", { class: "panel", id: "get", hidden: true }, h("summary", {}, "Get messages"), getForm(base, refresh));
  const movePanel = h("details", { class: "panel", id: "move", hidden: true },
    h("summary", {}, "Move messages"), moveForm(ctx, vhost, name, base, refresh));
  const purgeBlock = h("div", { class: "purge", hidden: true },
    h("h3", {}, "Purge"), h("p", { class: "hint" }, "Removes every ready message; unacknowledged ones stay with their consumers."),
    h("div", { class: "actions" }, purgeButton), purgeOut);
  const purgeDeleteSummary = h("summary", {}, "Purge or delete");
  const classicOnly = [browsePanel, getPanel, movePanel, purgeBlock, deleteConditions];
  const streamOnly = [streamSection, streamBrowsePanel, streamDeleteHint];

  add(ctx.main, 
    h("div", { class: "crumbs" }, link("#/queues", "Queues"), ` / ${vhost}`),
    h("div", { class: "page-head" }, h("h1", {}, name), kind, features),
    errors,
    counts,
    streamSection,
    h("div", { class: "actions" }, field("History", range)),
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "q-depth" }, h("h2", { id: "q-depth" }, "Depth"), depth.el),
      h("section", { class: "panel", "aria-labelledby": "q-rates" }, h("h2", { id: "q-rates" }, "Rates"), rates.el),
      h("section", { class: "panel", "aria-labelledby": "q-age" }, h("h2", { id: "q-age" }, "Consumer lag"), age.el)),
    browsePanel,
    streamBrowsePanel,
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "q-details" }, h("h2", { id: "q-details" }, "Details"), summary),
      h("section", { class: "panel", "aria-labelledby": "q-consumers" }, h("h2", { id: "q-consumers" }, "Consumers"), consumersBox)),
    h("section", { class: "panel", "aria-labelledby": "q-bindings" }, h("h2", { id: "q-bindings" }, "Bindings"), bindings.el,
      h("details", {}, h("summary", {}, "Add a binding to this queue"), bindForm(ctx, { vhost, fixed: { queue: name }, onDone: () => bindings.load() }))),
    h("details", { class: "panel", id: "publish" }, h("summary", {}, "Publish a message"), publish),
    getPanel,
    movePanel,
    h("details", { class: "panel", id: "purge-delete" }, purgeDeleteSummary, purgeBlock, h("h3", {}, "Delete"), deleteForm));

  async function load() {
    if (gone) return;
    let q;
    try {
      q = await get(base, { signal: ctx.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.status === 404) { gone = true; ctx.stop(); replace(errors, alertBox("warn", "This queue does not exist (any more).")); return; }
      replace(errors, errorBox(err));
      return;
    }
    replace(errors);
    replace(features, queueFeatures(q));
    const stream = q.type === "stream" && !!q.amqpd_stream;
    for (const el of classicOnly) el.hidden = stream;
    for (const el of streamOnly) el.hidden = !stream;
    purgeDeleteSummary.textContent = stream ? "Delete" : "Purge or delete";
    kind.textContent = `${stream ? "stream" : "queue"} in virtual host ${vhost}`;
    ctx.title(`${stream ? "Stream" : "Queue"} ${name}`);
    if (stream) {
      const s = q.amqpd_stream;
      streamStatus = s;
      streamBrowse.setFirst(s.first_offset);
      replace(streamBox, streamDetails(q));
      replace(readersBox, streamReadersTable(s));
      replace(trackedBox, trackedReadersTable(s));
      replace(counts,
        h("div", { class: "card" }, h("span", { class: "label" }, "Messages"), h("span", { class: "value", dataset: { count: "messages" } }, num(s.messages))),
        h("div", { class: "card" }, h("span", { class: "label" }, "Size"), h("span", { class: "value", dataset: { count: "bytes" } }, bytes(s.bytes))),
        h("div", { class: "card" }, h("span", { class: "label" }, "Readers"), h("span", { class: "value" }, num(s.readers.length))),
        h("div", { class: "card" }, h("span", { class: "label" }, "Consumers"), h("span", { class: "value" }, num(q.consumers))));
    } else {
      replace(counts,
        h("div", { class: "card" }, h("span", { class: "label" }, "Ready"), h("span", { class: "value", dataset: { count: "ready" } }, num(q.messages_ready))),
        h("div", { class: "card" }, h("span", { class: "label" }, "Unacked"), h("span", { class: "value", dataset: { count: "unacked" } }, num(q.messages_unacknowledged))),
        h("div", { class: "card" }, h("span", { class: "label" }, "Total"), h("span", { class: "value", dataset: { count: "total" } }, num(q.messages))),
        h("div", { class: "card" }, h("span", { class: "label" }, "Consumers"), h("span", { class: "value" }, num(q.consumers))));
    }
    const now = Date.now();
    const v = { messages_ready: q.messages_ready, messages_unacknowledged: q.messages_unacknowledged };
    for (const k of RATE_KEYS) v[k] = dig(q, `message_stats.${k}_details.rate`) ?? 0;
    history.push({ t: now, v });
    while (history.length && history[0].t < now - WINDOW_MS) history.shift();
    let points = history;
    try {
      const kept = await get(`${base}/history${qs({ range: range.value })}`, { signal: ctx.signal });
      if (kept.tracked && kept.points.length) {
        const at = Object.fromEntries(kept.fields.map((f, i) => [f, i]));
        points = kept.points.map((p) => ({ t: p[at.timestamp] * 1000, v: {
          messages_ready: p[at.messages_ready], messages_unacknowledged: p[at.messages_unacknowledged],
          publish: p[at.publish_rate], deliver_get: p[at.deliver_rate], ack: p[at.ack_rate], redeliver: null,
          age: p[at.oldest_ready_age] } }));
      }
    } catch (err) {
      if (err.name === "AbortError") return;
    }
    depth.update(points, now);
    rates.update(points, now);
    age.update(points, now);
    const policy = q.effective_policy_definition && Object.keys(q.effective_policy_definition).length ? json(q.effective_policy_definition) : null;
    replace(summary, props([
      ["Type", q.type], ["State", stateBadge(q.state)], ["Durable", q.durable ? "yes" : "no"], ["Auto-delete", q.auto_delete ? "yes" : "no"],
      ["Exclusive", q.exclusive ? (q.owner_pid_details ? link(connHref(q.owner_pid_details.name), q.owner_pid_details.name) : "yes") : "no"],
      ["Arguments", Object.keys(q.arguments || {}).length ? h("code", {}, json(q.arguments)) : "none"],
      ["Policy", q.policy || null], ["Operator policy", q.operator_policy || null], ["Effective definition", policy],
      // a stream's size is in its own section; RabbitMQ reports no utilisation for one
      ["Ready bytes", stream ? undefined : bytes(q.message_bytes_ready)], ["Total bytes", stream ? undefined : bytes(q.message_bytes)],
      ["Consumer utilisation", stream ? undefined : q.consumers ? pct(q.consumer_utilisation) : "\u2014"],
      ["Dead letters to", q.arguments && q.arguments["x-dead-letter-exchange"] !== undefined
        ? link(exchangeHref(vhost, q.arguments["x-dead-letter-exchange"]), q.arguments["x-dead-letter-exchange"] || "(AMQP default)") : null],
    ]));
    replace(consumersBox, consumersTable(q));
    await bindings.load();
    ctx.updated();
  }
  await ctx.every(load);
}
