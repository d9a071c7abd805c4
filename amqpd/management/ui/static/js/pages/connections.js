// Connections: the list (sorted, filtered and paged by the API) and one connection with its client
// properties, its channels and a close button that sends the reason to the client.

import { h, replace, field, input, alertBox, errorBox, props, stateBadge, badge, link, busy, confirmAction, toast, add } from "../lib/dom.js";
import { get, del, seg } from "../lib/api.js";
import { num, byteRate, bytes, time, rate, dig } from "../lib/format.js";
import { pagedList, tableEl } from "../lib/table.js";
import { state, can } from "../lib/state.js";

export const connHref = (name) => `#/connections/${seg(name)}`;

function client(c) {
  const p = c.client_properties || {};
  return [p.product, p.version].filter(Boolean).join(" ") || "\u2014";
}

export function connectionName(c) {
  return h("span", {}, link(connHref(c.name), c.user_provided_name || c.name),
    c.user_provided_name ? h("div", { class: "muted mono" }, c.name) : null);
}

export function connectionsPage(ctx) {
  ctx.title("Connections");
  const path = () => (state.vhost ? `/api/vhosts/${seg(state.vhost)}/connections` : "/api/connections");
  const list = pagedList(ctx, {
    id: "connections",
    path,
    caption: "Connections",
    rowKey: (c) => c.name,
    empty: "No connections.",
    columns: [
      { label: "Name", sort: "name", cls: "name", render: connectionName },
      { label: "Virtual host", sort: "vhost", render: (c) => c.vhost },
      { label: "User", sort: "user", render: (c) => c.user },
      { label: "State", sort: "state", render: (c) => stateBadge(c.state) },
      { label: "TLS", sort: "ssl", render: (c) => (c.ssl ? badge(c.ssl_protocol || "TLS", c.ssl_cipher, "ok") : "\u2014") },
      { label: "Client", render: client },
      { label: "Channels", sort: "channels", cls: "num", render: (c) => num(c.channels) },
      { label: "From client", sort: "recv_oct_details.rate", cls: "num", render: (c) => byteRate(dig(c, "recv_oct_details.rate")) },
      { label: "To client", sort: "send_oct_details.rate", cls: "num", render: (c) => byteRate(dig(c, "send_oct_details.rate")) },
      { label: "Connected", sort: "connected_at", render: (c) => h("span", { class: "nowrap" }, time(c.connected_at)) },
    ],
  });
  add(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Connections"), state.vhost ? h("span", { class: "muted" }, `in ${state.vhost}`) : null),
    can.monitor() ? null : alertBox("info", "You see your own connections only (monitoring and administrator users see all)."),
    list.el);
}

function propsTree(obj) {
  return props(Object.entries(obj).map(([k, v]) => [k, v !== null && typeof v === "object" && !Array.isArray(v) ? propsTree(v) : String(v)]));
}

export const channelColumns = (withConnection) => [
  { label: "Channel", sort: "name", cls: "name", render: (c) => (withConnection
    ? h("span", {}, link(connHref(c.connection_details.name), c.name)) : `${c.number}`) },
  { label: "User", sort: "user", render: (c) => c.user },
  { label: "Mode", render: (c) => [c.confirm ? badge("C", "confirm mode") : null, c.transactional ? badge("T", "transactional") : null] },
  { label: "State", sort: "state", render: (c) => stateBadge(c.state) },
  { label: "Unconfirmed", sort: "messages_unconfirmed", cls: "num", render: (c) => num(c.messages_unconfirmed) },
  { label: "Prefetch", sort: "prefetch_count", cls: "num", render: (c) => (c.prefetch_count ? num(c.prefetch_count) : "\u2014") },
  { label: "Unacked", sort: "messages_unacknowledged", cls: "num", render: (c) => num(c.messages_unacknowledged) },
  { label: "Consumers", sort: "consumer_count", cls: "num", render: (c) => num(c.consumer_count) },
  { label: "Publish", sort: "message_stats.publish_details.rate", cls: "num", render: (c) => rate(dig(c, "message_stats.publish_details.rate")) },
  { label: "Confirm", sort: "message_stats.confirm_details.rate", cls: "num", render: (c) => rate(dig(c, "message_stats.confirm_details.rate")) },
  { label: "Deliver / get", sort: "message_stats.deliver_get_details.rate", cls: "num", render: (c) => rate(dig(c, "message_stats.deliver_get_details.rate")) },
  { label: "Ack", sort: "message_stats.ack_details.rate", cls: "num", render: (c) => rate(dig(c, "message_stats.ack_details.rate")) },
];

export async function connectionPage(ctx, name) {
  ctx.title(`Connection ${name}`);
  const summary = h("div");
  const clientBox = h("div");
  const channelsBox = h("div");
  const errors = h("div");
  const heading = h("h1", {}, name);
  const reason = input("reason", { value: "Closed via the management UI", maxlength: "200" });
  const out = h("div");
  const closeForm = h("form", { class: "close-form" },
    field("Reason sent to the client", reason, { hint: "The client sees: CONNECTION_FORCED - <reason>" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Close connection")), out);
  let closed = false;

  closeForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = reason.value.trim() || "Closed via the management UI";
    // an HTTP header carries the reason: printable ASCII only
    if (!/^[\x20-\x7e]*$/.test(text)) { replace(out, errorBox("The reason may only contain printable ASCII characters")); return; }
    if (!await confirmAction(`Close connection ${name}?`, { confirm: "Close connection", detail: `Reason: ${text}` })) return;
    await ctx.pause(); // no refresh may ask for the connection once it is gone
    const done = await busy(closeForm, async () => {
      await del(`/api/connections/${seg(name)}`, { headers: { "X-Reason": text } });
      return true;
    }, out);
    if (done) {
      closed = true;
      toast(`Connection closed: ${text}`);
      ctx.navigate("#/connections");
    } else ctx.resume();
  });

  add(ctx.main, 
    h("div", { class: "crumbs" }, link("#/connections", "Connections"), " / connection"),
    h("div", { class: "page-head" }, heading), errors,
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "conn-overview" }, h("h2", { id: "conn-overview" }, "Details"), summary),
      h("section", { class: "panel", "aria-labelledby": "conn-client" }, h("h2", { id: "conn-client" }, "Client properties"), clientBox)),
    h("section", { class: "panel", "aria-labelledby": "conn-channels" }, h("h2", { id: "conn-channels" }, "Channels"), channelsBox),
    h("section", { class: "panel", "aria-labelledby": "conn-close" }, h("h2", { id: "conn-close" }, "Close this connection"), closeForm));

  async function load() {
    if (closed) return;
    let c;
    let channels;
    try {
      [c, channels] = await Promise.all([
        get(`/api/connections/${seg(name)}`, { signal: ctx.signal }),
        get(`/api/connections/${seg(name)}/channels`, { signal: ctx.signal }),
      ]);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.status === 404) {
        closed = true;
        ctx.stop();
        replace(errors, alertBox("warn", "This connection is closed."));
        return;
      }
      replace(errors, errorBox(err));
      return;
    }
    replace(errors);
    heading.textContent = c.user_provided_name ? `${c.user_provided_name} (${c.name})` : c.name;
    replace(summary, props([
      ["State", stateBadge(c.state)], ["User", c.user], ["Virtual host", c.vhost], ["Protocol", c.protocol],
      ["Authentication", c.auth_mechanism],
      ["TLS", c.ssl ? `${c.ssl_protocol} ${c.ssl_cipher || ""}` : "no"],
      ["Heartbeat", c.timeout ? `${c.timeout} s` : "off"], ["Frame max", `${num(c.frame_max)} bytes`], ["Channel max", num(c.channel_max)],
      ["Connected at", time(c.connected_at)],
      ["Received", `${bytes(c.recv_oct)} (${byteRate(dig(c, "recv_oct_details.rate"))})`],
      ["Sent", `${bytes(c.send_oct)} (${byteRate(dig(c, "send_oct_details.rate"))})`],
    ]));
    replace(clientBox, propsTree(c.client_properties || {}));
    replace(channelsBox, tableEl(channelColumns(false), channels, { empty: "No channels.", caption: "Channels", rowKey: (ch) => ch.name }));
    ctx.updated();
  }

  await ctx.every(load);
}
