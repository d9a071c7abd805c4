// Messages as the API renders them (POST .../get, GET .../messages, a stream's records with their offset and
// timestamp), and the publish form.

import { h, field, input, select, alertBox, busy, replace, props } from "./dom.js";
import { post, seg } from "./api.js";
import { kvEditor } from "./args.js";
import { bytes, num, isoTime } from "./format.js";

export const PAYLOAD_MODES = [["auto", "Text (JSON pretty-printed)"], ["text", "Text as is"], ["base64", "Base64"]];

function decodeBase64Utf8(b64) {
  try {
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return null;
  }
}

/** [text, note] for a message's payload in the chosen mode */
export function payloadText(msg, mode) {
  if (mode === "base64") return [msg.payload, "base64"];
  let text = msg.payload;
  if (msg.payload_encoding === "base64") {
    const decoded = decodeBase64Utf8(msg.payload);
    if (decoded === null) return [msg.payload, "not UTF-8 text: shown as base64"];
    text = decoded;
  }
  if (mode === "auto") {
    const trimmed = text.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
      try { return [JSON.stringify(JSON.parse(trimmed), null, 2), "JSON, pretty-printed"]; } catch { /* not JSON: as text */ }
    }
  }
  return [text, "text"];
}

function valueText(v) {
  if (v === "") return h("code", { title: "empty string" }, '""');
  if (v === null) return "null";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function xDeathTable(entries) {
  const cols = ["count", "reason", "queue", "exchange", "routing-keys", "time", "original-expiration"];
  const used = cols.filter((c) => entries.some((e) => e && e[c] !== undefined));
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, used.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, entries.map((e) => h("tr", {}, used.map((c) => {
      let v = e[c];
      if (c === "time" && typeof v === "number") v = new Date(v * 1000).toLocaleString();
      else if (Array.isArray(v)) v = v.join(", ");
      return h("td", {}, v === undefined ? "" : valueText(v));
    }))))));
}

export function messageCard(msg, index, mode) {
  const properties = Array.isArray(msg.properties) ? {} : { ...msg.properties };
  const headers = properties.headers || {};
  delete properties.headers;
  const xDeath = Array.isArray(headers["x-death"]) ? headers["x-death"] : null;
  const [text, note] = payloadText(msg, mode);
  const propPairs = Object.entries(properties).map(([k, v]) => [k, k === "timestamp" && typeof v === "number"
    ? `${v} (${new Date(v * 1000).toLocaleString()})` : valueText(v)]);
  const headerRows = Object.entries(headers).filter(([k]) => k !== "x-death");
  const record = msg.stream_offset !== undefined; // a stream's record: named by its offset
  const title = record ? `Offset ${msg.stream_offset}` : `Message ${index}`;
  return h("article", { class: ["message", record ? "record" : null], "aria-label": title,
    dataset: record ? { offset: String(msg.stream_offset) } : null },
    h("div", { class: "message-head" },
      h("strong", {}, title),
      record ? h("span", {}, "Stored: ", h("time", { datetime: isoTime(msg.stream_timestamp), title: `${msg.stream_timestamp} ms` },
        isoTime(msg.stream_timestamp))) : null,
      h("span", {}, "Exchange: ", h("code", {}, msg.exchange === "" ? "(AMQP default)" : msg.exchange)),
      h("span", {}, "Routing key: ", h("code", {}, msg.routing_key)),
      h("span", {}, bytes(msg.payload_bytes)),
      msg.redelivered ? h("span", { class: "badge warn" }, "redelivered") : null,
      xDeath ? h("span", { class: "badge warn" }, `dead-lettered ${xDeath.reduce((a, e) => a + (e.count || 0), 0)}\u00d7`) : null),
    h("div", { class: "cols" },
      h("section", {}, h("h4", {}, "Properties"), propPairs.length ? props(propPairs) : h("p", { class: "muted" }, "None")),
      h("section", {}, h("h4", {}, "Headers"), headerRows.length
        ? props(headerRows.map(([k, v]) => [k, valueText(v)]))
        : h("p", { class: "muted" }, xDeath ? "Only x-death" : "None"))),
    xDeath ? h("section", { class: "xdeath" }, h("h4", {}, "Dead-lettering history (x-death)"), xDeathTable(xDeath)) : null,
    h("h4", {}, "Payload ", h("small", { class: "muted" }, `(${note})`)),
    h("pre", { class: "payload", tabindex: "0" }, text));
}

export function messageList(messages, mode, { browsed = false } = {}) {
  if (!messages.length) return alertBox("info", browsed ? "The queue has no ready messages." : "The queue was empty.");
  const total = messages[0].message_count;
  const note = browsed
    ? `Showing ${num(messages.length)} of ${num(total)} ready message(s). Browsing does not take them: the queue is unchanged.`
    : `Got ${num(messages.length)} message(s).`;
  return h("div", { class: "messages" }, h("p", { class: "muted" }, note), messages.map((m, i) => messageCard(m, i + 1, mode)));
}

/** A stream's records read from offset `from`; status: the stream's amqpd_stream as last loaded (or null). */
export function recordList(records, mode, { from, status }) {
  if (!records.length) {
    if (status && !status.messages) return alertBox("info", "The stream is empty.");
    const end = status ? ` The stream's last offset is ${status.last_offset}; new records will appear here with Next page.` : "";
    return alertBox("info", `No records from offset ${from} on.${end}`);
  }
  const first = records[0].stream_offset;
  const last = records[records.length - 1].stream_offset;
  const kept = status ? ` The stream keeps ${num(status.messages)} record(s), offsets ${status.first_offset}\u2013${status.last_offset}.` : "";
  return h("div", { class: "messages" },
    first > from ? alertBox("info", `Offsets before ${first} are no longer kept (retention): reading from ${first}.`) : null,
    h("p", { class: "muted range" }, `Offsets ${first}\u2013${last}: ${num(records.length)} record(s).${kept} `
      + "Browsing reads without consuming: no reader moves and nothing is removed."),
    records.map((m, i) => messageCard(m, i + 1, mode)));
}

const STRING_PROPS = [["content_type", "Content type"], ["content_encoding", "Content encoding"], ["correlation_id", "Correlation id"],
  ["reply_to", "Reply to"], ["expiration", "Expiration (ms)"], ["message_id", "Message id"], ["type", "Type"],
  ["user_id", "User id"], ["app_id", "App id"]];
const INT_PROPS = [["priority", "Priority"], ["timestamp", "Timestamp (s)"]];

/** Publish through `exchange` ("" or "amq.default": the default one); fixedRoutingKey: a queue's name. */
export function publishForm({ vhost, exchange, fixedRoutingKey }) {
  const out = h("div", { class: "result" });
  const routingKey = input("routing_key", { value: fixedRoutingKey ?? "" });
  if (fixedRoutingKey != null) routingKey.readOnly = true;
  const delivery = select("delivery_mode", [["2", "2 - Persistent"], ["1", "1 - Non-persistent"]], "2");
  const headers = kvEditor({ legend: "Headers", noun: "header" });
  const propInputs = {};
  const propFields = [...STRING_PROPS, ...INT_PROPS].map(([k, label]) => {
    propInputs[k] = input(k, INT_PROPS.some(([ik]) => ik === k) ? { type: "number", min: "0" } : {});
    return field(label, propInputs[k]);
  });
  const payload = h("textarea", { name: "payload", rows: "6" });
  const encoding = select("payload_encoding", [["string", "String"], ["base64", "Base64"]], "string");
  const form = h("form", { class: "publish-form" },
    h("div", { class: "form-grid" },
      field("Routing key", routingKey, fixedRoutingKey != null ? { hint: "Published through the default exchange, which routes by queue name" } : {}),
      field("Delivery mode", delivery),
      field("Payload encoding", encoding)),
    headers.el,
    h("details", {}, h("summary", {}, "More properties"), h("div", { class: "form-grid" }, propFields)),
    field("Payload", payload, { cls: "wide" }),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Publish message")),
    out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      const properties = { delivery_mode: Number(delivery.value) };
      const hdrs = headers.value();
      if (Object.keys(hdrs).length) properties.headers = hdrs;
      for (const [k] of STRING_PROPS) if (propInputs[k].value !== "") properties[k] = propInputs[k].value;
      for (const [k] of INT_PROPS) if (propInputs[k].value !== "") properties[k] = Number(propInputs[k].value);
      const x = exchange === "" ? "amq.default" : exchange;
      const res = await post(`/api/exchanges/${seg(vhost)}/${seg(x)}/publish`, {
        routing_key: routingKey.value, properties, payload: payload.value, payload_encoding: encoding.value,
      });
      replace(out, res.routed
        ? alertBox("ok", "Message published and routed.")
        : alertBox("warn", "Message published, but not routed: no queue is bound for this routing key."));
      form.dispatchEvent(new CustomEvent("published", { detail: res }));
    }, out);
  });
  return form;
}
