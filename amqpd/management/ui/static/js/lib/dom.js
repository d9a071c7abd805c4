// DOM building without markup strings: every name and payload reaches the page as text, never as HTML.

const PROPS = new Set(["value", "checked", "selected", "disabled", "hidden", "open", "multiple", "readOnly", "indeterminate"]);
let seq = 0;

export function uid(prefix = "f") {
  seq += 1;
  return `${prefix}-${seq}`;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false || child === true) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** el.append that skips null/false and flattens arrays, as h() does with its children */
export function add(el, ...children) {
  return append(el, children);
}

/** h("a", {href, class, onclick}, "text", node, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  const later = [];
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false && !PROPS.has(key)) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (PROPS.has(key)) later.push([key, value]);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  // after the children: a <select>'s value only sticks once its options are there
  for (const [key, value] of later) el[key] = value;
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

// -- form controls, each with its <label> ------------------------------------------------------------
export function field(label, control, { hint, cls } = {}) {
  if (!control.id) control.id = uid(control.name || "f");
  const isCheck = control.type === "checkbox" || control.type === "radio";
  const hintEl = hint ? h("small", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  if (isCheck) return h("div", { class: ["field", "check", cls] }, control, h("label", { for: control.id }, label), hintEl);
  return h("div", { class: ["field", cls] }, h("label", { for: control.id }, label), control, hintEl);
}

export function input(name, attrs = {}) {
  return h("input", { name, type: "text", autocomplete: "off", spellcheck: "false", ...attrs });
}

export function checkbox(name, checked = false, attrs = {}) {
  return h("input", { name, type: "checkbox", checked, ...attrs });
}

/** options: ["a", "b"] or [["value", "label"], ...] */
export function select(name, options, value, attrs = {}) {
  const opts = options.map((o) => (Array.isArray(o) ? h("option", { value: o[0] }, o[1]) : h("option", { value: o }, o)));
  return h("select", { name, ...attrs, value: value ?? (options.length ? (Array.isArray(options[0]) ? options[0][0] : options[0]) : "") }, opts);
}

export function datalist(id, values) {
  return h("datalist", { id }, values.map((v) => h("option", { value: v })));
}

// -- feedback ---------------------------------------------------------------------------------------
export function alertBox(kind, ...content) {
  return h("div", { class: ["alert", kind], role: kind === "error" ? "alert" : "status" }, content);
}

export function errorText(err) {
  if (err && err.reason !== undefined) {
    const reason = typeof err.reason === "string" ? err.reason : JSON.stringify(err.reason);
    return err.status ? `${err.status} ${err.error || ""}: ${reason}`.replace(" : ", ": ") : reason;
  }
  return err && err.message ? err.message : String(err);
}

export function errorBox(err, prefix) {
  return alertBox("error", prefix ? `${prefix}: ` : "", errorText(err));
}

export function toast(message, kind = "ok", ms = 7000) {
  const box = document.getElementById("toasts");
  const close = h("button", { type: "button", class: "small", "aria-label": "Dismiss" }, "\u00d7");
  const item = h("div", { class: ["toast", kind] }, h("p", {}, message), close);
  close.addEventListener("click", () => item.remove());
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? ms * 2 : ms);
}

/** A modal question; resolves true when confirmed. Escape or Cancel resolve false. */
export function confirmAction(message, { confirm = "Delete", danger = true, detail } = {}) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: danger ? "danger" : "primary", value: "ok" }, confirm);
    const cancel = h("button", { type: "button", value: "cancel" }, "Cancel");
    const titleId = uid("dlg");
    const dialog = h("dialog", { "aria-labelledby": titleId },
      h("p", { id: titleId }, message), detail ? h("p", { class: "muted" }, detail) : null,
      h("div", { class: "actions" }, ok, cancel));
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    ok.addEventListener("click", () => finish(true));
    cancel.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); finish(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Disable a form's buttons while a request runs; errors land in `out` (or a toast). */
export async function busy(form, fn, out) {
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => { b.disabled = true; });
  if (out) clear(out);
  try {
    return await fn();
  } catch (err) {
    if (err && err.name === "AbortError") return undefined;
    if (out) replace(out, errorBox(err));
    else toast(errorText(err), "error");
    return undefined;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

export function badge(text, title, kind) {
  return h("span", { class: ["badge", kind], title: title || null }, text);
}

export function stateBadge(state) {
  return h("span", { class: ["state", state] }, state || "unknown");
}

export function props(pairs) {
  const dl = h("dl", { class: "props" });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    dl.append(h("dt", {}, k), h("dd", {}, v == null || v === "" ? h("span", { class: "muted" }, "\u2014") : v));
  }
  return dl;
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}
