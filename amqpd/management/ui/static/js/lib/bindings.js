// Bindings: a table with unbind buttons, and the form that adds one (used by the exchange and queue pages).

import { h, replace, field, input, select, datalist, uid, busy, alertBox, confirmAction, toast, link } from "./dom.js";
import { get, post, del, seg } from "./api.js";
import { kvEditor, BINDING_ARGS } from "./args.js";
import { staticList } from "./table.js";
import { json } from "./format.js";

export const exchangeHref = (vhost, name) => `#/exchanges/${seg(vhost)}/${seg(name === "" ? "amq.default" : name)}`;
export const queueHref = (vhost, name) => `#/queues/${seg(vhost)}/${seg(name)}`;

function endHref(b, which) {
  if (which === "source") return exchangeHref(b.vhost, b.source);
  return b.destination_type === "queue" ? queueHref(b.vhost, b.destination) : exchangeHref(b.vhost, b.destination);
}

export async function unbind(b) {
  const kind = b.destination_type === "queue" ? "q" : "e";
  await del(`/api/bindings/${seg(b.vhost)}/e/${seg(b.source)}/${kind}/${seg(b.destination)}/${seg(b.properties_key)}`);
}

/** show: "source" (bindings into this object: list their sources) or "destination" */
export function bindingsTable(ctx, { source, show, onChange }) {
  const columns = [
    show === "source"
      ? { label: "From exchange", render: (b) => link(endHref(b, "source"), b.source === "" ? "(AMQP default)" : b.source) }
      : { label: "To", render: (b) => [h("span", { class: "badge" }, b.destination_type), " ", link(endHref(b, "destination"), b.destination)] },
    { label: "Routing key", render: (b) => h("code", {}, b.routing_key) },
    { label: "Arguments", render: (b) => (Object.keys(b.arguments || {}).length ? h("code", {}, json(b.arguments)) : "") },
    { label: "", render: (b) => (b.source === ""
      ? h("span", { class: "muted", title: "The default exchange binds every queue by its name; that binding cannot be removed" }, "implicit")
      : h("button", { type: "button", class: "small", onclick: async () => {
        if (!await confirmAction(`Remove the binding from ${b.source} to ${b.destination} with routing key "${b.routing_key}"?`, { confirm: "Unbind" })) return;
        try {
          await unbind(b);
          toast("Binding removed");
          await list.load();
          if (onChange) onChange();
        } catch (err) {
          toast(err.message, "error");
        }
      } }, "Unbind")) },
  ];
  const list = staticList(ctx, { source, columns, empty: "No bindings.", caption: "Bindings", rowKey: (b) => `${b.source}|${b.destination_type}|${b.destination}|${b.properties_key}` });
  return list;
}

async function names(path, signal) {
  try {
    return (await get(`${path}?columns=name`, { signal })).map((x) => x.name).filter((n) => n !== "");
  } catch {
    return [];
  }
}

/**
 * fixed: {source} (an exchange page: choose the destination) or {queue} (a queue page: choose the source).
 */
export function bindForm(ctx, { vhost, fixed, onDone }) {
  const out = h("div");
  const routingKey = input("routing_key");
  const args = kvEditor({ legend: "Arguments", noun: "binding-argument", helpers: BINDING_ARGS });
  const exchangesList = uid("exchanges");
  const queuesList = uid("queues");
  const lists = h("div", { hidden: true });
  const destType = select("destination_type", [["queue", "Queue"], ["exchange", "Exchange"]], "queue");
  const other = input(fixed.queue !== undefined ? "source" : "destination", { required: true, list: fixed.queue !== undefined ? exchangesList : queuesList });
  destType.addEventListener("change", () => other.setAttribute("list", destType.value === "queue" ? queuesList : exchangesList));
  const form = h("form", { class: "bind-form" },
    h("div", { class: "form-grid" },
      fixed.queue !== undefined ? field("From exchange", other) : [field("To", destType), field("Name", other)],
      field("Routing key", routingKey)),
    args.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Bind")), out, lists);
  // names to pick from; filled once, without holding up the page
  Promise.all([names(`/api/exchanges/${seg(vhost)}`, ctx.signal), names(`/api/queues/${seg(vhost)}`, ctx.signal)]).then(([xs, qs]) => {
    lists.append(datalist(exchangesList, xs), datalist(queuesList, qs));
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      const source = fixed.queue !== undefined ? other.value : fixed.source;
      const kind = fixed.queue !== undefined ? "q" : destType.value === "queue" ? "q" : "e";
      const dest = fixed.queue !== undefined ? fixed.queue : other.value;
      await post(`/api/bindings/${seg(vhost)}/e/${seg(source)}/${kind}/${seg(dest)}`, { routing_key: routingKey.value, arguments: args.value() });
      replace(out, alertBox("ok", `Bound ${source} \u2192 ${dest}${routingKey.value ? ` with routing key "${routingKey.value}"` : ""}.`));
      other.value = "";
      routingKey.value = "";
      args.reset();
      if (onDone) onDone();
    }, out);
  });
  return form;
}
