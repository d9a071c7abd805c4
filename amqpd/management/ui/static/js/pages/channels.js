// Channels of every visible connection, paged by the API.

import { h, alertBox, add } from "../lib/dom.js";
import { seg } from "../lib/api.js";
import { pagedList } from "../lib/table.js";
import { state, can } from "../lib/state.js";
import { channelColumns } from "./connections.js";

export function channelsPage(ctx) {
  ctx.title("Channels");
  const list = pagedList(ctx, {
    id: "channels",
    path: () => (state.vhost ? `/api/vhosts/${seg(state.vhost)}/channels` : "/api/channels"),
    caption: "Channels",
    rowKey: (c) => c.name,
    empty: "No channels.",
    columns: [...channelColumns(true).slice(0, 1), { label: "Virtual host", sort: "vhost", render: (c) => c.vhost }, ...channelColumns(true).slice(1)],
  });
  add(ctx.main, 
    h("div", { class: "page-head" }, h("h1", {}, "Channels"), state.vhost ? h("span", { class: "muted" }, `in ${state.vhost}`) : null),
    can.monitor() ? null : alertBox("info", "You see the channels of your own connections only."),
    list.el);
}
