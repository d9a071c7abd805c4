// Key/value editors for AMQP tables: queue and exchange arguments, binding arguments, message headers,
// policy definitions. Each row has a name, a value and a type; helpers add the well-known keys.

import { h, uid, datalist } from "./dom.js";

export const QUEUE_ARGS = [
  { label: "Message TTL", key: "x-message-ttl", type: "number", hint: "ms a message may stay in the queue" },
  { label: "Auto expire", key: "x-expires", type: "number", hint: "ms unused before the queue is deleted" },
  { label: "Max length", key: "x-max-length", type: "number" },
  { label: "Max length bytes", key: "x-max-length-bytes", type: "number" },
  { label: "Overflow", key: "x-overflow", type: "string", value: "reject-publish", options: ["drop-head", "reject-publish", "reject-publish-dlx"] },
  { label: "Dead letter exchange", key: "x-dead-letter-exchange", type: "string" },
  { label: "Dead letter routing key", key: "x-dead-letter-routing-key", type: "string" },
  { label: "Max priority", key: "x-max-priority", type: "number", value: "10" },
  { label: "Single active consumer", key: "x-single-active-consumer", type: "boolean", value: "true" },
  { label: "Lazy mode", key: "x-queue-mode", type: "string", value: "lazy", options: ["default", "lazy"] },
  { label: "Delivery limit (quorum)", key: "x-delivery-limit", type: "number" },
  { label: "Dead letter strategy (quorum)", key: "x-dead-letter-strategy", type: "string", value: "at-most-once", options: ["at-most-once", "at-least-once"] },
  { label: "Retry delays (amqpd)", key: "x-retry-delays", type: "json", value: "[1000, 5000, 30000]", hint: "ms before each retry of a rejected message" },
  { label: "Retry limit (amqpd)", key: "x-retry-limit", type: "number", value: "3" },
  { label: "Deduplication", key: "x-message-deduplication", type: "boolean", value: "true", hint: "drop a message whose x-deduplication-header is already in the queue" },
];

export const EXCHANGE_ARGS = [
  { label: "Alternate exchange", key: "alternate-exchange", type: "string" },
  { label: "Delayed type", key: "x-delayed-type", type: "string", value: "direct", options: ["direct", "fanout", "topic", "headers"], hint: "for x-delayed-message" },
  { label: "Cache size", key: "x-cache-size", type: "number", value: "10000", hint: "for x-message-deduplication" },
  { label: "Cache TTL", key: "x-cache-ttl", type: "number", hint: "ms, for x-message-deduplication" },
  { label: "Hash header", key: "hash-header", type: "string", hint: "for x-consistent-hash: hash this header, not the routing key" },
  { label: "Hash property", key: "hash-property", type: "string", value: "message_id", options: ["correlation_id", "message_id", "timestamp"], hint: "for x-consistent-hash" },
];

export const BINDING_ARGS = [
  { label: "x-match", key: "x-match", type: "string", value: "all", options: ["all", "any", "all-with-x", "any-with-x"] },
];

export const POLICY_KEYS = [
  { label: "Message TTL", key: "message-ttl", type: "number" },
  { label: "Auto expire", key: "expires", type: "number" },
  { label: "Max length", key: "max-length", type: "number" },
  { label: "Max length bytes", key: "max-length-bytes", type: "number" },
  { label: "Overflow", key: "overflow", type: "string", value: "reject-publish", options: ["drop-head", "reject-publish", "reject-publish-dlx"] },
  { label: "Dead letter exchange", key: "dead-letter-exchange", type: "string" },
  { label: "Dead letter routing key", key: "dead-letter-routing-key", type: "string" },
  { label: "Queue mode", key: "queue-mode", type: "string", value: "lazy", options: ["default", "lazy"] },
  { label: "Delivery limit", key: "delivery-limit", type: "number" },
  { label: "Alternate exchange", key: "alternate-exchange", type: "string" },
  { label: "Retry delays (amqpd)", key: "retry-delays", type: "json", value: "[1000, 5000, 30000]" },
  { label: "Retry limit (amqpd)", key: "retry-limit", type: "number", value: "3" },
];

export const OPERATOR_POLICY_KEYS = POLICY_KEYS.filter((k) => ["message-ttl", "expires", "max-length", "max-length-bytes", "delivery-limit", "overflow"].includes(k.key));

const TYPES = [["string", "String"], ["number", "Number"], ["boolean", "Boolean"], ["json", "List / table (JSON)"]];

function typeOf(v) {
  if (typeof v === "number") return "number";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "string") return "string";
  return "json";
}

/**
 * legend: the fieldset's name ("Arguments", "Headers"); noun: what one row is ("argument", "header").
 * value() throws an Error naming the bad row.
 */
export function kvEditor({ legend = "Arguments", noun = "argument", helpers = [], initial = {} } = {}) {
  const rows = h("div", { class: "kv-rows" });
  const word = noun.split("-").pop(); // "queue-argument" names the inputs; people read "argument"
  const lists = h("div", { hidden: true });
  let n = 0;

  function addRow(key = "", type = "string", value = "", options = null) {
    n += 1;
    const keyInput = h("input", { type: "text", name: `${noun}-key`, value: key, autocomplete: "off", spellcheck: "false", placeholder: "name" });
    const valueInput = h("input", { type: "text", name: `${noun}-value`, value, autocomplete: "off", spellcheck: "false", placeholder: "value" });
    if (options) {
      const listId = uid("opts");
      lists.append(datalist(listId, options));
      valueInput.setAttribute("list", listId);
    }
    const typeSelect = h("select", { name: `${noun}-type`, value: type }, TYPES.map(([v, l]) => h("option", { value: v }, l)));
    for (const el of [keyInput, valueInput, typeSelect]) el.id = uid(noun);
    const remove = h("button", { type: "button", class: "small", "aria-label": `Remove ${word} ${n}` }, "\u00d7");
    const row = h("div", { class: "kv-row" },
      h("div", {}, h("label", { for: keyInput.id, class: "visually-hidden" }, `${word} ${n} name`), keyInput),
      h("div", {}, h("label", { for: valueInput.id, class: "visually-hidden" }, `${word} ${n} value`), valueInput),
      h("div", {}, h("label", { for: typeSelect.id, class: "visually-hidden" }, `${word} ${n} type`), typeSelect),
      remove);
    remove.addEventListener("click", () => {
      row.remove();
      if (!rows.children.length) addRow();
    });
    rows.append(row);
    return { keyInput, valueInput };
  }

  function useHelper(helper) {
    // reuse an empty row if there is one, so helpers do not leave blank rows behind
    const empty = [...rows.children].find((r) => !r.querySelector(`input[name="${noun}-key"]`).value);
    if (empty) empty.remove();
    const { valueInput } = addRow(helper.key, helper.type, helper.value ?? "", helper.options);
    valueInput.focus();
  }

  for (const [k, v] of Object.entries(initial)) addRow(k, typeOf(v), typeof v === "object" ? JSON.stringify(v) : String(v));
  if (!Object.keys(initial).length) addRow();

  const helperBar = helpers.length
    ? h("div", { class: "helpers" }, h("span", { class: "fieldset-label" }, "Add:"),
      helpers.map((hp) => h("button", { type: "button", class: "small", title: hp.hint ? `${hp.key}: ${hp.hint}` : hp.key, onclick: () => useHelper(hp) }, hp.label)))
    : null;

  const el = h("fieldset", { class: "kv" }, h("legend", {}, legend), rows,
    h("div", { class: "helpers" }, h("button", { type: "button", class: "small", onclick: () => addRow().keyInput.focus() }, `+ Add ${word}`)),
    helperBar, lists);

  function value() {
    const out = {};
    for (const row of rows.children) {
      const key = row.querySelector(`input[name="${noun}-key"]`).value.trim();
      const raw = row.querySelector(`input[name="${noun}-value"]`).value;
      const type = row.querySelector(`select[name="${noun}-type"]`).value;
      if (!key) {
        if (raw.trim()) throw new Error(`A ${word} has a value but no name`);
        continue;
      }
      if (type === "number") {
        const v = Number(raw);
        if (raw.trim() === "" || !Number.isFinite(v)) throw new Error(`${key}: "${raw}" is not a number`);
        out[key] = v;
      } else if (type === "boolean") {
        const v = raw.trim().toLowerCase();
        if (v !== "true" && v !== "false") throw new Error(`${key}: a boolean is true or false`);
        out[key] = v === "true";
      } else if (type === "json") {
        try { out[key] = JSON.parse(raw); } catch (e) { throw new Error(`${key}: not JSON (${e.message})`); }
      } else out[key] = raw;
    }
    return out;
  }

  function reset() {
    rows.replaceChildren();
    lists.replaceChildren();
    addRow();
  }

  return { el, value, reset, add: addRow };
}
