// Virtual hosts, all permissions, and vhost and user limits.

import { h, replace, field, input, select, busy, alertBox, badge, confirmAction, toast, add } from "../lib/dom.js";
import { get, put, del, seg } from "../lib/api.js";
import { staticList } from "../lib/table.js";
import { num } from "../lib/format.js";
import { state } from "../lib/state.js";
import { permissionsPanel } from "./admin_users.js";

const vhostsChanged = () => window.dispatchEvent(new CustomEvent("amqpd:vhosts-changed"));

export function vhostsPage(ctx) {
  const list = staticList(ctx, {
    source: () => get("/api/vhosts", { signal: ctx.signal }),
    caption: "Virtual hosts",
    rowKey: (v) => v.name,
    columns: [
      { label: "Name", render: (v) => v.name },
      { label: "Description", render: (v) => v.description || "" },
      { label: "Tags", render: (v) => (v.tags || []).map((t) => badge(t)) },
      { label: "Default queue type", render: (v) => v.default_queue_type || "classic" },
      { label: "Ready", cls: "num", render: (v) => num(v.messages_ready) },
      { label: "Unacked", cls: "num", render: (v) => num(v.messages_unacknowledged) },
      { label: "", render: (v) => h("button", { type: "button", class: "small danger", onclick: async () => {
        if (!await confirmAction(`Delete virtual host ${v.name}?`, { detail: "Every exchange, queue and message in it is deleted and its connections are closed." })) return;
        try {
          await del(`/api/vhosts/${seg(v.name)}`);
          toast(`Virtual host ${v.name} deleted`);
          await list.load();
          vhostsChanged();
        } catch (err) {
          toast(err.message, "error");
        }
      } }, "Delete") },
    ],
  });
  const out = h("div");
  const name = input("name", { required: true });
  const description = input("description");
  const tags = input("tags", { placeholder: "comma separated" });
  const queueType = select("default_queue_type", [["classic", "Classic"], ["quorum", "Quorum"]], "classic");
  const form = h("form", {},
    h("div", { class: "form-grid" }, field("Name", name), field("Description", description), field("Tags", tags), field("Default queue type", queueType)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add virtual host")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      await put(`/api/vhosts/${seg(name.value)}`, {
        description: description.value, tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean), default_queue_type: queueType.value,
      });
      replace(out, alertBox("ok", `Virtual host ${name.value} saved; you have full permissions on it.`));
      name.value = description.value = tags.value = "";
      await list.load();
      vhostsChanged();
    }, out);
  });
  add(ctx.main, h("h1", {}, "Virtual hosts"), list.el, h("details", { class: "panel" }, h("summary", {}, "Add a virtual host"), form));
  return ctx.every(list.load);
}

export function permissionsPage(ctx) {
  const panel = permissionsPanel(ctx);
  add(ctx.main, h("h1", {}, "Permissions"), panel.el);
  return ctx.every(panel.load);
}

function limitSection(ctx, { title, listPath, itemPath, owner, ownerLabel, ownerControl, limits }) {
  const list = staticList(ctx, {
    source: async () => (await get(listPath, { signal: ctx.signal })).flatMap((r) => Object.entries(r.value).map(([k, v]) => ({ owner: r[owner], name: k, value: v }))),
    caption: title,
    rowKey: (l) => `${l.owner}|${l.name}`,
    empty: "No limits.",
    columns: [
      { label: ownerLabel, render: (l) => l.owner }, { label: "Limit", render: (l) => l.name }, { label: "Value", cls: "num", render: (l) => String(l.value) },
      { label: "", render: (l) => h("button", { type: "button", class: "small", onclick: async () => {
        try { await del(itemPath(l.owner, l.name)); toast(`Limit ${l.name} of ${l.owner} removed`); await list.load(); } catch (err) { toast(err.message, "error"); }
      } }, "Remove") },
    ],
  });
  const out = h("div");
  const who = ownerControl();
  const limit = select("limit", limits);
  const value = input("value", { type: "number", min: "-1", required: true });
  const form = h("form", {},
    h("div", { class: "form-grid" }, field(ownerLabel, who), field("Limit", limit), field("Value", value, { hint: "-1: no limit" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Set limit")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      await put(itemPath(who.value, limit.value), { value: Number(value.value) });
      replace(out, alertBox("ok", `${limit.value} of ${who.value} set to ${value.value}.`));
      value.value = "";
      await list.load();
    }, out);
  });
  const id = `limits-${owner}`;
  return {
    el: h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), list.el, h("details", {}, h("summary", {}, "Set a limit"), form)),
    load: list.load,
  };
}

export function limitsPage(ctx) {
  const vhostLimits = limitSection(ctx, {
    title: "Virtual host limits", listPath: "/api/vhost-limits", owner: "vhost", ownerLabel: "Virtual host",
    itemPath: (v, n) => `/api/vhost-limits/${seg(v)}/${seg(n)}`,
    ownerControl: () => select("vhost", state.vhosts, state.vhost || state.vhosts[0]),
    limits: [["max-connections", "Max connections"], ["max-queues", "Max queues"]],
  });
  const userLimits = limitSection(ctx, {
    title: "User limits", listPath: "/api/user-limits", owner: "user", ownerLabel: "User",
    itemPath: (u, n) => `/api/user-limits/${seg(u)}/${seg(n)}`,
    ownerControl: () => input("user", { required: true }),
    limits: [["max-connections", "Max connections"], ["max-channels", "Max channels"]],
  });
  add(ctx.main, h("h1", {}, "Limits"), vhostLimits.el, userLimits.el);
  return ctx.every(() => Promise.all([vhostLimits.load(), userLimits.load()]));
}
