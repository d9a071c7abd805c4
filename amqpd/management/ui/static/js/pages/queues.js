// Queues: the list (filter by name or regex, paging and sorting done by the API) and the add form with
// helpers for every x-argument.

import { h, replace, field, input, select, checkbox, busy, alertBox, badge, link, stateBadge, add } from "../lib/dom.js";
import { put, seg } from "../lib/api.js";
import { num, rate, pct, dig, json } from "../lib/format.js";
import { pagedList } from "../lib/table.js";
import { kvEditor, QUEUE_ARGS } from "../lib/args.js";
import { queueHref } from "../lib/bindings.js";
import { state } from "../lib/state.js";

const SHOWN_ARGS = ["x-message-ttl", "x-expires", "x-dead-letter-exchange", "x-dead-letter-routing-key", "x-max-length",
  "x-max-length-bytes", "x-overflow", "x-max-priority", "x-queue-type"];

/** RabbitMQ's feature column: D, AD, Excl, TTL, Exp, DLX, Lim, Pri, then Args for anything else */
export function queueFeatures(q) {
  const a = q.arguments || {};
  const out = [];
  if (q.durable) out.push(badge("D", "durable"));
  if (q.auto_delete) out.push(badge("AD", "auto-delete"));
  if (q.exclusive) out.push(badge("Excl", "exclusive"));
  if (a["x-message-ttl"] !== undefined) out.push(badge("TTL", `x-message-ttl: ${a["x-message-ttl"]} ms`));
  if (a["x-expires"] !== undefined) out.push(badge("Exp", `x-expires: ${a["x-expires"]} ms`));
  if (a["x-dead-letter-exchange"] !== undefined) {
    const rk = a["x-dead-letter-routing-key"] !== undefined ? `, x-dead-letter-routing-key: ${a["x-dead-letter-routing-key"]}` : "";
    out.push(badge("DLX", `x-dead-letter-exchange: ${a["x-dead-letter-exchange"] || "(default)"}${rk}`));
  }
  const limits = ["x-max-length", "x-max-length-bytes", "x-overflow"].filter((k) => a[k] !== undefined);
  if (limits.length) out.push(badge("Lim", limits.map((k) => `${k}: ${a[k]}`).join(", ")));
  if (a["x-max-priority"] !== undefined) out.push(badge("Pri", `x-max-priority: ${a["x-max-priority"]}`));
  const rest = Object.keys(a).filter((k) => !SHOWN_ARGS.includes(k));
  if (rest.length) out.push(badge("Args", rest.map((k) => `${k}: ${json(a[k])}`).join(", ")));
  if (q.policy) out.push(badge(q.policy, "policy", "ok"));
  if (q.operator_policy) out.push(badge(q.operator_policy, "operator policy", "warn"));
  return out;
}

function addQueueForm(onDone) {
  const out = h("div");
  const vhost = select("vhost", state.vhosts, state.vhost || state.vhosts[0]);
  const type = select("queue_type", [["classic", "Classic"], ["quorum", "Quorum"], ["stream", "Stream"]], "classic");
  const name = input("name", { required: true });
  const durable = checkbox("durable", true);
  const autoDelete = checkbox("auto_delete", false);
  const args = kvEditor({ legend: "Arguments", noun: "queue-argument", helpers: QUEUE_ARGS });
  type.addEventListener("change", () => {
    // a quorum queue or a stream is always durable and never auto-delete
    const replicated = type.value === "quorum" || type.value === "stream";
    if (replicated) { durable.checked = true; autoDelete.checked = false; }
    durable.disabled = autoDelete.disabled = replicated;
  });
  const form = h("form", { class: "add-queue" },
    h("div", { class: "form-grid" }, field("Virtual host", vhost), field("Type", type), field("Name", name)),
    h("div", { class: "actions" }, field("Durable", durable), field("Auto-delete", autoDelete)),
    args.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add queue")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      const argsValue = args.value();
      if (type.value !== "classic") argsValue["x-queue-type"] = type.value;
      await put(`/api/queues/${seg(vhost.value)}/${seg(name.value)}`, { durable: durable.checked, auto_delete: autoDelete.checked, arguments: argsValue });
      replace(out, alertBox("ok", h("span", {}, "Queue ", link(queueHref(vhost.value, name.value), name.value), " declared.")));
      name.value = "";
      args.reset();
      onDone();
    }, out);
  });
  return form;
}

export function queuesPage(ctx) {
  ctx.title("Queues");
  const list = pagedList(ctx, {
    id: "queues",
    path: () => (state.vhost ? `/api/queues/${seg(state.vhost)}` : "/api/queues"),
    caption: "Queues",
    rowKey: (q) => `${q.vhost}|${q.name}`,
    empty: "No queues.",
    filterLabel: "Filter by name",
    columns: [
      { label: "Virtual host", sort: "vhost", render: (q) => q.vhost },
      { label: "Name", sort: "name", cls: "name", render: (q) => link(queueHref(q.vhost, q.name), q.name) },
      { label: "Type", sort: "type", render: (q) => q.type },
      { label: "Features", render: queueFeatures },
      { label: "State", sort: "state", render: (q) => stateBadge(q.state) },
      { label: "Ready", sort: "messages_ready", cls: "num", render: (q) => num(q.messages_ready) },
      { label: "Unacked", sort: "messages_unacknowledged", cls: "num", render: (q) => num(q.messages_unacknowledged) },
      { label: "Total", sort: "messages", cls: "num", render: (q) => num(q.messages) },
      { label: "Incoming", sort: "message_stats.publish_details.rate", cls: "num", render: (q) => rate(dig(q, "message_stats.publish_details.rate")) },
      { label: "Deliver / get", sort: "message_stats.deliver_get_details.rate", cls: "num", render: (q) => rate(dig(q, "message_stats.deliver_get_details.rate")) },
      { label: "Ack", sort: "message_stats.ack_details.rate", cls: "num", render: (q) => rate(dig(q, "message_stats.ack_details.rate")) },
      { label: "Consumers", sort: "consumers", cls: "num", render: (q) => num(q.consumers) },
      { label: "Utilisation", sort: "consumer_utilisation", cls: "num", render: (q) => (q.consumers ? pct(q.consumer_utilisation) : "\u2014") },
    ],
  });
  add(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Queues"), state.vhost ? h("span", { class: "muted" }, `in ${state.vhost}`) : null),
    list.el,
    state.vhosts.length ? h("details", { class: "panel" }, h("summary", {}, "Add a queue"), addQueueForm(() => list.load()))
      : alertBox("info", "You have no permissions on any virtual host: ask an administrator for some to add a queue."));
}
