// Tables: a plain one for lists the API answers whole, and a paged one that leaves sorting, filtering
// and paging to the API (page, page_size, name, use_regex, sort, sort_reverse).

import { h, replace, field, input, checkbox, select, errorBox, clear } from "./dom.js";
import { get, qs } from "./api.js";
import { num } from "./format.js";

function cell(col, item) {
  const v = col.render ? col.render(item) : item[col.key];
  return h("td", { class: col.cls }, v == null ? "" : v);
}

export function tableEl(columns, items, { empty = "Nothing to show.", caption, rowKey } = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.cls }, c.label)));
  const body = h("tbody");
  fillBody(body, columns, items, empty, rowKey);
  return h("div", { class: "table-wrap" },
    h("table", {}, caption ? h("caption", { class: "visually-hidden" }, caption) : null, h("thead", {}, head), body));
}

/** Re-render rows, putting keyboard focus back on the same control of the same row if it was inside. */
function fillBody(body, columns, items, empty, rowKey) {
  let focus = null;
  const active = document.activeElement;
  if (rowKey && active && body.contains(active)) {
    const tr = active.closest("tr");
    const controls = [...tr.querySelectorAll("a, button, input, select")];
    focus = { key: tr.dataset.key, index: controls.indexOf(active) };
  }
  clear(body);
  if (!items.length) {
    body.append(h("tr", {}, h("td", { class: "empty", colspan: columns.length }, empty)));
    return;
  }
  for (const item of items) {
    const tr = h("tr", rowKey ? { dataset: { key: rowKey(item) } } : {}, columns.map((c) => cell(c, item)));
    body.append(tr);
    if (focus && tr.dataset.key === focus.key) {
      const controls = [...tr.querySelectorAll("a, button, input, select")];
      if (controls[focus.index]) controls[focus.index].focus();
    }
  }
}

const memory = new Map(); // list id -> {page, pageSize, name, regex, sort, reverse}: kept across pages

/**
 * ctx: the page context (refresh timer, abort signal); path(): the list endpoint without parameters.
 * columns: [{label, key?, sort?: "dotted.key", cls?, render?(item)}]
 */
export function pagedList(ctx, { id, path, columns, sort = "", reverse = false, empty, caption, rowKey, filterLabel = "Filter by name", onData }) {
  const st = memory.get(id) || { page: 1, pageSize: 100, name: "", regex: false, sort, reverse };
  memory.set(id, st);
  const body = h("tbody");
  const headRow = h("tr");
  const out = h("div", { class: "list-error" });
  const info = h("span", { class: "info", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "small", onclick: () => go(st.page - 1) }, "\u2039 Previous");
  const next = h("button", { type: "button", class: "small", onclick: () => go(st.page + 1) }, "Next \u203a");
  const nameInput = input("filter", { type: "search", value: st.name, placeholder: "name", "aria-describedby": null });
  const regexBox = checkbox("regex", st.regex);
  const sizeSelect = select("page_size", ["20", "50", "100", "500"], String(st.pageSize));
  let seq = 0;
  let timer = null;

  function headers() {
    replace(headRow, columns.map((c) => {
      if (!c.sort) return h("th", { scope: "col", class: c.cls }, c.label);
      const current = st.sort === c.sort;
      return h("th", { scope: "col", class: c.cls, "aria-sort": current ? (st.reverse ? "descending" : "ascending") : "none" },
        h("button", { type: "button", class: "sort", onclick: () => sortBy(c.sort) }, c.label));
    }));
  }

  function sortBy(key) {
    if (st.sort === key) st.reverse = !st.reverse;
    else { st.sort = key; st.reverse = false; }
    headers();
    headRow.querySelector(`th[aria-sort="${st.reverse ? "descending" : "ascending"}"] button`)?.focus();
    load();
  }

  function go(page) {
    st.page = Math.max(1, page);
    load();
  }

  function validRegex() {
    if (!st.regex || !st.name) return true;
    try { new RegExp(st.name); return true; } catch { return false; }
  }

  async function load() {
    const mine = ++seq;
    if (!validRegex()) {
      nameInput.setAttribute("aria-invalid", "true");
      replace(out, errorBox("Not a valid regular expression"));
      return;
    }
    nameInput.removeAttribute("aria-invalid");
    const params = { page: st.page, page_size: st.pageSize, name: st.name, use_regex: st.regex && st.name ? "true" : "",
      sort: st.sort, sort_reverse: st.sort && st.reverse ? "true" : "" };
    let doc;
    try {
      doc = await get(path() + qs(params), { signal: ctx.signal });
    } catch (err) {
      if (err.name === "AbortError" || mine !== seq) return;
      if (err.error === "page_out_of_range" && st.page > 1) { go(1); return; }
      replace(out, errorBox(err));
      return;
    }
    if (mine !== seq) return; // a newer request (sort, filter, page) answered or will answer
    if (doc.page_count && st.page > doc.page_count) { go(doc.page_count); return; }
    clear(out);
    fillBody(body, columns, doc.items, st.name ? "Nothing matches the filter." : (empty || "Nothing to show."), rowKey);
    const filtered = doc.filtered_count !== doc.total_count ? `, ${num(doc.filtered_count)} matching` : "";
    info.textContent = `Page ${doc.page} of ${Math.max(1, doc.page_count)} \u00b7 ${num(doc.total_count)} total${filtered}`;
    prev.disabled = doc.page <= 1;
    next.disabled = doc.page >= doc.page_count;
    if (onData) onData(doc);
    ctx.updated();
  }

  nameInput.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { st.name = nameInput.value.trim(); st.page = 1; load(); }, 300);
  });
  regexBox.addEventListener("change", () => { st.regex = regexBox.checked; st.page = 1; load(); });
  sizeSelect.addEventListener("change", () => { st.pageSize = Number(sizeSelect.value); st.page = 1; load(); });
  headers();
  const el = h("div", { class: "paged-list" },
    h("div", { class: "list-tools" },
      field(filterLabel, nameInput), field("Regular expression", regexBox), field("Per page", sizeSelect)),
    out,
    h("div", { class: "table-wrap" }, h("table", {}, caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", {}, headRow), body)),
    h("div", { class: "pager" }, prev, next, info));
  ctx.every(load);
  return { el, load };
}

/** A list answered whole (users, policies, bindings...): renders into `el` on each load(). */
export function staticList(ctx, { source, columns, empty, caption, rowKey }) {
  const el = h("div", { class: "static-list" });
  async function load() {
    let items;
    try {
      items = await source();
    } catch (err) {
      if (err.name === "AbortError") return;
      replace(el, errorBox(err));
      return;
    }
    const existing = el.querySelector("tbody");
    if (existing) fillBody(existing, columns, items, empty || "Nothing to show.", rowKey);
    else replace(el, tableEl(columns, items, { empty, caption, rowKey }));
    ctx.updated();
  }
  return { el, load };
}
