// Exchanges: list and add; one exchange with its bindings both ways, publishing and deletion.

import { h, replace, field, input, select, checkbox, busy, alertBox, errorBox, props, badge, link, confirmAction, toast, add } from "../lib/dom.js";
import { get, put, del, seg, qs } from "../lib/api.js";
import { rate, dig, json } from "../lib/format.js";
import { pagedList } from "../lib/table.js";
import { kvEditor, EXCHANGE_ARGS } from "../lib/args.js";
import { bindingsTable, bindForm, exchangeHref } from "../lib/bindings.js";
import { publishForm } from "../lib/messages.js";
import { state } from "../lib/state.js";

const TYPES = ["direct", "fanout", "topic", "headers", "x-delayed-message", "x-message-deduplication", "x-consistent-hash"];

export function exchangeFeatures(x) {
  const args = { ...(x.arguments || {}) };
  const out = [];
  if (x.durable) out.push(badge("D", "durable"));
  if (x.auto_delete) out.push(badge("AD", "auto-delete"));
  if (x.internal) out.push(badge("I", "internal"));
  if (args["alternate-exchange"] !== undefined) {
    out.push(badge("AE", `alternate-exchange: ${args["alternate-exchange"]}`));
    delete args["alternate-exchange"];
  }
  if (Object.keys(args).length) out.push(badge("Args", json(args)));
  if (x.policy) out.push(badge(x.policy, "policy", "ok"));
  return out;
}

function addExchangeForm(ctx, onDone) {
  const out = h("div");
  const vhost = select("vhost", state.vhosts, state.vhost || state.vhosts[0]);
  const name = input("name", { required: true });
  const type = select("type", TYPES, "direct");
  const durable = checkbox("durable", true);
  const autoDelete = checkbox("auto_delete", false);
  const internal = checkbox("internal", false);
  const args = kvEditor({ legend: "Arguments", noun: "exchange-argument", helpers: EXCHANGE_ARGS });
  const form = h("form", {},
    h("div", { class: "form-grid" }, field("Virtual host", vhost), field("Name", name), field("Type", type)),
    h("div", { class: "actions" }, field("Durable", durable), field("Auto-delete", autoDelete), field("Internal", internal)),
    args.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add exchange")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      await put(`/api/exchanges/${seg(vhost.value)}/${seg(name.value)}`, {
        type: type.value, durable: durable.checked, auto_delete: autoDelete.checked, internal: internal.checked, arguments: args.value(),
      });
      replace(out, alertBox("ok", h("span", {}, "Exchange ", link(exchangeHref(vhost.value, name.value), name.value), " declared.")));
      name.value = "";
      args.reset();
      onDone();
    }, out);
  });
  return form;
}

export function exchangesPage(ctx) {
  ctx.title("Exchanges");
  const list = pagedList(ctx, {
    id: "exchanges",
    path: () => (state.vhost ? `/api/exchanges/${seg(state.vhost)}` : "/api/exchanges"),
    caption: "Exchanges",
    rowKey: (x) => `${x.vhost}|${x.name}`,
    columns: [
      { label: "Virtual host", sort: "vhost", render: (x) => x.vhost },
      { label: "Name", sort: "name", cls: "name", render: (x) => link(exchangeHref(x.vhost, x.name), x.name === "" ? "(AMQP default)" : x.name) },
      { label: "Type", sort: "type", render: (x) => x.type },
      { label: "Features", render: exchangeFeatures },
      { label: "Rate in", sort: "message_stats.publish_in_details.rate", cls: "num", render: (x) => rate(dig(x, "message_stats.publish_in_details.rate")) },
      { label: "Rate out", sort: "message_stats.publish_out_details.rate", cls: "num", render: (x) => rate(dig(x, "message_stats.publish_out_details.rate")) },
    ],
  });
  add(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Exchanges"), state.vhost ? h("span", { class: "muted" }, `in ${state.vhost}`) : null),
    list.el,
    state.vhosts.length ? h("details", { class: "panel" }, h("summary", {}, "Add an exchange"), addExchangeForm(ctx, () => list.load()))
      : alertBox("info", "You have no permissions on any virtual host: ask an administrator for some to add an exchange."));
}

export async function exchangePage(ctx, vhost, routeName) {
  const name = routeName === "amq.default" ? "" : routeName;
  const display = name === "" ? "(AMQP default)" : name;
  ctx.title(`Exchange ${display}`);
  const base = `/api/exchanges/${seg(vhost)}/${seg(name === "" ? "amq.default" : name)}`;
  const summary = h("div");
  const errors = h("div");
  let gone = false;
  const outgoing = bindingsTable(ctx, { source: () => get(`${base}/bindings/source`, { signal: ctx.signal }), show: "destination" });
  const incoming = bindingsTable(ctx, { source: () => get(`${base}/bindings/destination`, { signal: ctx.signal }), show: "source" });
  const deleteOut = h("div");
  const ifUnused = checkbox("if_unused", false);
  const deleteForm = h("form", {}, field("Only if it has no bindings", ifUnused),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Delete exchange")), deleteOut);
  deleteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!await confirmAction(`Delete exchange ${display} in ${vhost}?`)) return;
    await ctx.pause();
    const ok = await busy(deleteForm, async () => { await del(base + qs({ "if-unused": ifUnused.checked ? "true" : "" })); return true; }, deleteOut);
    if (ok) {
      gone = true;
      toast(`Exchange ${display} deleted`);
      ctx.navigate("#/exchanges");
    } else ctx.resume();
  });

  const isDefault = name === "";
  add(ctx.main, 
    h("div", { class: "crumbs" }, link("#/exchanges", "Exchanges"), ` / ${vhost}`),
    h("div", { class: "page-head" }, h("h1", {}, display), h("span", { class: "muted" }, `exchange in virtual host ${vhost}`)),
    errors,
    h("section", { class: "panel", "aria-labelledby": "x-details" }, h("h2", { id: "x-details" }, "Details"), summary),
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "x-out" }, h("h2", { id: "x-out" }, "Bindings from this exchange"), outgoing.el,
        isDefault ? h("p", { class: "hint" }, "The default exchange routes to the queue named by the routing key; it takes no other bindings.")
          : h("details", {}, h("summary", {}, "Add a binding from this exchange"),
            bindForm(ctx, { vhost, fixed: { source: name }, onDone: () => outgoing.load() }))),
      h("section", { class: "panel", "aria-labelledby": "x-in" }, h("h2", { id: "x-in" }, "Bindings to this exchange"), incoming.el)),
    h("details", { class: "panel" }, h("summary", {}, "Publish a message"), publishForm({ vhost, exchange: name })),
    isDefault ? null : h("details", { class: "panel" }, h("summary", {}, "Delete this exchange"), deleteForm));

  async function load() {
    if (gone) return;
    let x;
    try {
      x = await get(base, { signal: ctx.signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.status === 404) { gone = true; ctx.stop(); replace(errors, alertBox("warn", "This exchange does not exist (any more).")); return; }
      replace(errors, errorBox(err));
      return;
    }
    replace(errors);
    replace(summary, props([
      ["Type", x.type], ["Features", h("span", {}, exchangeFeatures(x))],
      ["Arguments", Object.keys(x.arguments || {}).length ? h("code", {}, json(x.arguments)) : "none"],
      ["Policy", x.policy || null],
      ["Messages delayed", x.messages_delayed === undefined ? undefined : String(x.messages_delayed)],
      ["Rate in", rate(dig(x, "message_stats.publish_in_details.rate"))], ["Rate out", rate(dig(x, "message_stats.publish_out_details.rate"))],
    ]));
    await Promise.all([outgoing.load(), incoming.load()]);
    ctx.updated();
  }
  await ctx.every(load);
}
