// Policies (policymakers and administrators) and operator policies (administrators).

import { h, replace, field, input, select, busy, alertBox, confirmAction, toast, add } from "../lib/dom.js";
import { get, put, del, seg } from "../lib/api.js";
import { staticList } from "../lib/table.js";
import { kvEditor, POLICY_KEYS, OPERATOR_POLICY_KEYS } from "../lib/args.js";
import { json } from "../lib/format.js";
import { state, can } from "../lib/state.js";

function policySection(ctx, { operator }) {
  const kind = operator ? "operator-policies" : "policies";
  const what = operator ? "operator policy" : "policy";
  const list = staticList(ctx, {
    source: () => get(state.vhost ? `/api/${kind}/${seg(state.vhost)}` : `/api/${kind}`, { signal: ctx.signal }),
    caption: operator ? "Operator policies" : "Policies",
    rowKey: (p) => `${p.vhost}|${p.name}`,
    empty: `No ${what === "policy" ? "policies" : "operator policies"}.`,
    columns: [
      { label: "Virtual host", render: (p) => p.vhost }, { label: "Name", render: (p) => p.name },
      { label: "Pattern", render: (p) => h("code", {}, p.pattern) }, { label: "Apply to", render: (p) => p["apply-to"] },
      { label: "Definition", render: (p) => h("code", {}, json(p.definition)) }, { label: "Priority", cls: "num", render: (p) => String(p.priority) },
      { label: "", render: (p) => h("button", { type: "button", class: "small", onclick: async () => {
        if (!await confirmAction(`Delete ${what} ${p.name} in ${p.vhost}?`)) return;
        try { await del(`/api/${kind}/${seg(p.vhost)}/${seg(p.name)}`); toast(`${operator ? "Operator policy" : "Policy"} ${p.name} deleted`); await list.load(); } catch (err) { toast(err.message, "error"); }
      } }, "Delete") },
    ],
  });
  const out = h("div");
  const vhost = select("vhost", state.vhosts, state.vhost || state.vhosts[0]);
  const name = input("name", { required: true });
  const pattern = input("pattern", { required: true, value: "^" });
  const applyTo = select("apply_to", operator ? [["queues", "Queues"]] : [["all", "Exchanges and queues"], ["queues", "Queues"], ["exchanges", "Exchanges"]], operator ? "queues" : "all");
  const priority = input("priority", { type: "number", value: "0" });
  const definition = kvEditor({ legend: "Definition", noun: operator ? "operator-definition" : "definition", helpers: operator ? OPERATOR_POLICY_KEYS : POLICY_KEYS });
  const form = h("form", {},
    h("div", { class: "form-grid" }, field("Virtual host", vhost), field("Name", name), field("Pattern (regexp)", pattern),
      field("Apply to", applyTo), field("Priority", priority)),
    definition.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, `Add or update ${what}`)), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      await put(`/api/${kind}/${seg(vhost.value)}/${seg(name.value)}`, {
        pattern: pattern.value, definition: definition.value(), priority: Number(priority.value || 0), "apply-to": applyTo.value,
      });
      replace(out, alertBox("ok", `${operator ? "Operator policy" : "Policy"} ${name.value} saved; it applies at once to matching objects.`));
      await list.load();
    }, out);
  });
  const id = `${kind}-title`;
  return {
    el: h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, operator ? "Operator policies" : "Policies"),
      operator ? h("p", { class: "hint" }, "Operator policies cap what users' policies and arguments set; the lower value wins.") : null,
      list.el, h("details", {}, h("summary", {}, `Add or update ${operator ? "an operator policy" : "a policy"}`), form)),
    load: list.load,
  };
}

export function policiesPage(ctx) {
  const policies = policySection(ctx, { operator: false });
  const operator = can.admin() ? policySection(ctx, { operator: true }) : null;
  add(ctx.main, h("h1", {}, "Policies"), policies.el, operator ? operator.el : null);
  return ctx.every(() => Promise.all([policies.load(), operator ? operator.load() : null]));
}
