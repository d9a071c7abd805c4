// Definitions: export (a download) and import (an upload) with a report of what the import changed:
// the export before and after are compared object by object, so the report says what really happened,
// not what the file contained.

import { h, replace, field, select, busy, alertBox, errorText, add } from "../lib/dom.js";
import { get, request, seg } from "../lib/api.js";
import { num } from "../lib/format.js";
import { state } from "../lib/state.js";
import { tableEl } from "../lib/table.js";

const KINDS = {
  vhosts: (x) => x.name,
  users: (x) => x.name,
  permissions: (x) => `${x.user}|${x.vhost}`,
  topic_permissions: (x) => `${x.user}|${x.vhost}|${x.exchange}`,
  parameters: (x) => `${x.component}|${x.vhost}|${x.name}`,
  global_parameters: (x) => x.name,
  policies: (x) => `${x.vhost}|${x.name}`,
  queues: (x) => `${x.vhost}|${x.name}`,
  exchanges: (x) => `${x.vhost}|${x.name}`,
  bindings: (x) => `${x.vhost}|${x.source}|${x.destination_type}|${x.destination}|${x.routing_key}|${JSON.stringify(x.arguments || {})}`,
};

// a vhost's export leaves out the vhost field of its objects
function keyed(doc, kind, vhost) {
  const out = new Map();
  for (const item of doc[kind] || []) {
    const x = vhost !== undefined && item.vhost === undefined ? { ...item, vhost } : item;
    out.set(KINDS[kind](x), JSON.stringify(x));
  }
  return out;
}

/** rows: {kind, inFile, created, updated, unchanged} for each kind the file names */
export function compare(file, before, after, vhost) {
  const rows = [];
  for (const kind of Object.keys(KINDS)) {
    if (!Array.isArray(file[kind]) || !file[kind].length) continue;
    const b = keyed(before, kind, vhost);
    const a = keyed(after, kind, vhost);
    let created = 0;
    let updated = 0;
    let unchanged = 0;
    const wanted = keyed(file, kind, vhost);
    for (const k of wanted.keys()) {
      if (!a.has(k)) continue;
      if (!b.has(k)) created += 1;
      else if (b.get(k) !== a.get(k)) updated += 1;
      else unchanged += 1;
    }
    rows.push({ kind, inFile: file[kind].length, created, updated, unchanged, skipped: file[kind].length - created - updated - unchanged });
  }
  return rows;
}

function report(rows, name) {
  const changed = rows.reduce((n, r) => n + r.created + r.updated, 0);
  return h("div", { class: "report" },
    alertBox("ok", `Imported ${name}: ${num(changed)} object(s) created or changed.`),
    tableEl([
      { label: "Kind", render: (r) => r.kind.replace("_", " ") },
      { label: "In the file", cls: "num", render: (r) => num(r.inFile) },
      { label: "Created", cls: "num", render: (r) => num(r.created) },
      { label: "Updated", cls: "num", render: (r) => num(r.updated) },
      { label: "Unchanged", cls: "num", render: (r) => num(r.unchanged) },
      { label: "Not applied", cls: "num", render: (r) => (r.skipped ? h("span", { title: "reserved names (amq.*) or objects the export does not list" }, num(r.skipped)) : "0") },
    ], rows, { empty: "The file names no objects.", caption: "Import report" }));
}

export function definitionsPage(ctx) {
  const scope = select("vhost", [["", "All virtual hosts"], ...state.vhosts.map((v) => [v, v])], "");
  const download = h("a", { class: "button primary", download: "" }, "Download definitions");
  const setLink = () => {
    const stamp = new Date().toISOString().slice(0, 10);
    const file = scope.value ? `amqpd-${scope.value.replace(/[^\w.-]/g, "_")}-${stamp}.json` : `amqpd-definitions-${stamp}.json`;
    download.href = `${scope.value ? `/api/definitions/${seg(scope.value)}` : "/api/definitions"}?download=${encodeURIComponent(file)}`;
    download.setAttribute("download", file);
  };
  scope.addEventListener("change", setLink);
  setLink();

  const out = h("div", { class: "import-result", "aria-live": "polite" });
  const file = h("input", { type: "file", name: "file", accept: ".json,application/json", required: true });
  const target = select("target", [["", "All virtual hosts (as in the file)"], ...state.vhosts.map((v) => [v, `Into ${v} only`])], "");
  const form = h("form", { class: "import-form" },
    h("div", { class: "form-grid" }, field("Definitions file (JSON)", file), field("Import", target)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Upload and import")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return;
    busy(form, async () => {
      const text = await chosen.text();
      let doc;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        replace(out, alertBox("error", `Not imported: ${chosen.name} is not valid JSON (${err.message}). Nothing was changed.`));
        return;
      }
      if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
        replace(out, alertBox("error", `Not imported: ${chosen.name} must hold a JSON object. Nothing was changed.`));
        return;
      }
      const vhost = target.value || undefined;
      const exportPath = vhost ? `/api/definitions/${seg(vhost)}` : "/api/definitions";
      const before = await get(exportPath);
      const formData = new FormData();
      formData.append("file", chosen, chosen.name);
      try {
        await request("POST", exportPath, { form: formData });
      } catch (err) {
        replace(out, alertBox("error", h("strong", {}, "Not imported; nothing was changed. "), "The broker refused the file: ",
          h("pre", {}, String(err.reason !== undefined ? (typeof err.reason === "string" ? err.reason : JSON.stringify(err.reason)) : errorText(err)))));
        return;
      }
      const after = await get(exportPath);
      replace(out, report(compare(doc, before, after, vhost), chosen.name));
      window.dispatchEvent(new CustomEvent("amqpd:vhosts-changed"));
    }, out);
  });

  add(ctx.main, h("h1", {}, "Definitions"),
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "def-export" }, h("h2", { id: "def-export" }, "Export"),
        h("p", { class: "hint" }, "Users, virtual hosts, permissions, policies, parameters, exchanges, queues and bindings, in RabbitMQ's format."),
        h("div", { class: "form-grid" }, field("Virtual hosts", scope)), h("div", { class: "actions" }, download)),
      h("section", { class: "panel", "aria-labelledby": "def-import" }, h("h2", { id: "def-import" }, "Import"),
        h("p", { class: "hint" }, "A RabbitMQ or amqpd export. The whole file is checked first: if anything in it is refused, nothing is applied."),
        form)));
  ctx.updated();
}
