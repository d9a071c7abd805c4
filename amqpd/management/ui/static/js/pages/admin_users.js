// Users: list, add, tags, password, delete, and per user: permissions, topic permissions, limits.

import { h, replace, field, input, select, busy, alertBox, errorBox, badge, link, confirmAction, toast, add } from "../lib/dom.js";
import { get, put, del, seg } from "../lib/api.js";
import { staticList } from "../lib/table.js";
import { state } from "../lib/state.js";

const TAGS = ["administrator", "monitoring", "policymaker", "management", "impersonator"];
const userHref = (name) => `#/admin/users/${seg(name)}`;

function tagsInput(value = "") {
  const tags = input("tags", { value, placeholder: "management, monitoring" });
  const pick = (tag) => {
    const current = tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    tags.value = (current.includes(tag) ? current.filter((t) => t !== tag) : [...current, tag]).join(", ");
  };
  const helpers = h("div", { class: "helpers" }, h("span", { class: "fieldset-label" }, "Toggle:"),
    TAGS.map((t) => h("button", { type: "button", class: "small", onclick: () => pick(t) }, t)));
  return { tags, el: h("div", {}, field("Tags (comma separated)", tags, { hint: "Management UI access needs management, policymaker, monitoring or administrator" }), helpers) };
}

const splitTags = (s) => s.split(",").map((t) => t.trim()).filter(Boolean);

export function usersPage(ctx) {
  let perms = [];
  const list = staticList(ctx, {
    source: async () => {
      const [users, p] = await Promise.all([get("/api/users", { signal: ctx.signal }), get("/api/permissions", { signal: ctx.signal })]);
      perms = p;
      return users;
    },
    caption: "Users",
    rowKey: (u) => u.name,
    columns: [
      { label: "Name", render: (u) => link(userHref(u.name), u.name) },
      { label: "Tags", render: (u) => (u.tags.length ? u.tags.map((t) => badge(t)) : h("span", { class: "muted" }, "none")) },
      { label: "Password", render: (u) => (u.password_hash ? "yes" : h("span", { class: "muted", title: "cannot log in with a password" }, "none")) },
      { label: "Virtual hosts", render: (u) => perms.filter((p) => p.user === u.name).map((p) => p.vhost).join(", ") || h("span", { class: "muted" }, "none") },
    ],
  });
  const out = h("div");
  const name = input("username", { required: true, autocomplete: "off" });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password" });
  const tags = tagsInput("management");
  const form = h("form", { class: "add-user" },
    h("div", { class: "form-grid" }, field("Username", name), field("Password", password, { hint: "Empty: the user cannot log in with a password" })),
    tags.el,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add user")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      const body = { tags: splitTags(tags.tags.value) };
      if (password.value) body.password = password.value;
      else body.password_hash = "";
      await put(`/api/users/${seg(name.value)}`, body);
      replace(out, alertBox("ok", h("span", {}, "User ", link(userHref(name.value), name.value), " saved. Give it permissions on a virtual host so it can use it.")));
      name.value = "";
      password.value = "";
      await list.load();
    }, out);
  });
  add(ctx.main, h("h1", {}, "Users"), list.el,
    h("details", { class: "panel", open: true }, h("summary", {}, "Add a user"), form));
  return ctx.every(list.load);
}

/** Permissions and topic permissions of one user (or all, with a user field). */
export function permissionsPanel(ctx, { user } = {}) {
  const permPath = user ? `/api/users/${seg(user)}/permissions` : "/api/permissions";
  const topicPath = user ? `/api/users/${seg(user)}/topic-permissions` : "/api/topic-permissions";
  const clearButton = (what, path, reload) => h("button", { type: "button", class: "small", onclick: async () => {
    if (!await confirmAction(`Clear ${what}?`, { confirm: "Clear" })) return;
    try { await del(path); toast(`Cleared ${what}`); await reload(); } catch (err) { toast(err.message, "error"); }
  } }, "Clear");
  const perms = staticList(ctx, {
    source: () => get(permPath, { signal: ctx.signal }), caption: "Permissions", rowKey: (p) => `${p.user}|${p.vhost}`,
    empty: "No permissions: no virtual host is accessible.",
    columns: [
      { label: "User", render: (p) => p.user }, { label: "Virtual host", render: (p) => p.vhost },
      { label: "Configure", render: (p) => h("code", {}, p.configure) }, { label: "Write", render: (p) => h("code", {}, p.write) },
      { label: "Read", render: (p) => h("code", {}, p.read) },
      { label: "", render: (p) => clearButton(`the permissions of ${p.user} on ${p.vhost}`, `/api/permissions/${seg(p.vhost)}/${seg(p.user)}`, perms.load) },
    ],
  });
  const topics = staticList(ctx, {
    source: () => get(topicPath, { signal: ctx.signal }), caption: "Topic permissions", rowKey: (p) => `${p.user}|${p.vhost}|${p.exchange}`,
    empty: "No topic permissions: topic exchanges are not restricted by routing key.",
    columns: [
      { label: "User", render: (p) => p.user }, { label: "Virtual host", render: (p) => p.vhost },
      { label: "Exchange", render: (p) => p.exchange }, { label: "Write", render: (p) => h("code", {}, p.write) },
      { label: "Read", render: (p) => h("code", {}, p.read) },
      { label: "", render: (p) => clearButton(`the topic permissions of ${p.user} on ${p.vhost}`, `/api/topic-permissions/${seg(p.vhost)}/${seg(p.user)}`, topics.load) },
    ],
  });

  const permOut = h("div");
  const pUser = input("user", { value: user || "", required: true, readOnly: !!user });
  const pVhost = select("vhost", state.vhosts, state.vhost || state.vhosts[0]);
  const configure = input("configure", { value: ".*" });
  const write = input("write", { value: ".*" });
  const read = input("read", { value: ".*" });
  const permForm = h("form", {},
    h("div", { class: "form-grid" }, field("User", pUser), field("Virtual host", pVhost),
      field("Configure regexp", configure), field("Write regexp", write), field("Read regexp", read)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Set permissions")), permOut);
  permForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(permForm, async () => {
      await put(`/api/permissions/${seg(pVhost.value)}/${seg(pUser.value)}`, { configure: configure.value, write: write.value, read: read.value });
      replace(permOut, alertBox("ok", `Permissions of ${pUser.value} on ${pVhost.value} set.`));
      await perms.load();
    }, permOut);
  });

  const topicOut = h("div");
  const tUser = input("user", { value: user || "", required: true, readOnly: !!user });
  const tVhost = select("vhost", state.vhosts, state.vhost || state.vhosts[0]);
  const exchange = input("exchange", { value: "amq.topic", required: true });
  const tWrite = input("write", { value: ".*" });
  const tRead = input("read", { value: ".*" });
  const topicForm = h("form", {},
    h("div", { class: "form-grid" }, field("User", tUser), field("Virtual host", tVhost), field("Topic exchange", exchange),
      field("Write regexp", tWrite), field("Read regexp", tRead)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Set topic permission")), topicOut);
  topicForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(topicForm, async () => {
      await put(`/api/topic-permissions/${seg(tVhost.value)}/${seg(tUser.value)}`, { exchange: exchange.value, write: tWrite.value, read: tRead.value });
      replace(topicOut, alertBox("ok", `Topic permission of ${tUser.value} on ${exchange.value} in ${tVhost.value} set.`));
      await topics.load();
    }, topicOut);
  });

  const el = h("div", { class: "permissions" },
    h("section", { class: "panel", "aria-labelledby": "perm-title" }, h("h2", { id: "perm-title" }, "Permissions"), perms.el,
      h("details", {}, h("summary", {}, "Set permissions"), permForm)),
    h("section", { class: "panel", "aria-labelledby": "topic-title" }, h("h2", { id: "topic-title" }, "Topic permissions"), topics.el,
      h("details", {}, h("summary", {}, "Set a topic permission"), topicForm)));
  return { el, load: () => Promise.all([perms.load(), topics.load()]) };
}

function userLimits(ctx, user) {
  const out = h("div");
  const list = staticList(ctx, {
    source: async () => {
      const rows = await get(`/api/user-limits/${seg(user)}`, { signal: ctx.signal });
      return rows.flatMap((r) => Object.entries(r.value).map(([k, v]) => ({ name: k, value: v })));
    },
    caption: "User limits", rowKey: (l) => l.name, empty: "No limits.",
    columns: [{ label: "Limit", render: (l) => l.name }, { label: "Value", cls: "num", render: (l) => String(l.value) },
      { label: "", render: (l) => h("button", { type: "button", class: "small", onclick: async () => {
        try { await del(`/api/user-limits/${seg(user)}/${seg(l.name)}`); await list.load(); } catch (err) { toast(err.message, "error"); }
      } }, "Remove") }],
  });
  const limit = select("limit", [["max-connections", "Max connections"], ["max-channels", "Max channels"]]);
  const value = input("value", { type: "number", min: "-1", required: true });
  const form = h("form", {}, h("div", { class: "form-grid" }, field("Limit", limit), field("Value", value, { hint: "-1: no limit" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Set limit")), out);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(form, async () => {
      await put(`/api/user-limits/${seg(user)}/${seg(limit.value)}`, { value: Number(value.value) });
      value.value = "";
      await list.load();
    }, out);
  });
  return { el: h("section", { class: "panel", "aria-labelledby": "ulimits" }, h("h2", { id: "ulimits" }, "Limits"), list.el, form), load: list.load };
}

export async function userPage(ctx, name) {
  ctx.title(`User ${name}`);
  let u;
  try {
    u = await get(`/api/users/${seg(name)}`, { signal: ctx.signal });
  } catch (err) {
    add(ctx.main, h("h1", {}, name), err.status === 404 ? alertBox("warn", "No such user.") : errorBox(err));
    return;
  }
  const tagsOut = h("div");
  const tags = tagsInput(u.tags.join(", "));
  const tagsForm = h("form", {}, tags.el, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save tags")), tagsOut);
  tagsForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(tagsForm, async () => {
      // PUT replaces the user: its password hash goes along so the password stays
      const cur = await get(`/api/users/${seg(name)}`);
      await put(`/api/users/${seg(name)}`, { tags: splitTags(tags.tags.value), password_hash: cur.password_hash, hashing_algorithm: cur.hashing_algorithm });
      replace(tagsOut, alertBox("ok", "Tags saved."));
    }, tagsOut);
  });
  const pwOut = h("div");
  const pw = h("input", { type: "password", name: "new_password", autocomplete: "new-password", required: true });
  const pw2 = h("input", { type: "password", name: "confirm_password", autocomplete: "new-password", required: true });
  const pwForm = h("form", {}, h("div", { class: "form-grid" }, field("New password", pw), field("Repeat the new password", pw2)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Change password")), pwOut);
  pwForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (pw.value !== pw2.value) { replace(pwOut, alertBox("error", "The two passwords differ.")); return; }
    busy(pwForm, async () => {
      const cur = await get(`/api/users/${seg(name)}`);
      await put(`/api/users/${seg(name)}`, { password: pw.value, tags: cur.tags });
      pw.value = pw2.value = "";
      replace(pwOut, alertBox("ok", "Password changed."));
    }, pwOut);
  });
  const delButton = h("button", { type: "button", class: "danger" }, "Delete user");
  delButton.addEventListener("click", async () => {
    const self = state.user && state.user.name === name;
    if (!await confirmAction(`Delete user ${name}?`, { detail: self ? "This is you: your session ends with it." : "Its connections are closed." })) return;
    await ctx.pause();
    try {
      await del(`/api/users/${seg(name)}`);
      toast(`User ${name} deleted`);
      ctx.navigate("#/admin/users");
    } catch (err) {
      toast(err.message, "error");
      ctx.resume();
    }
  });
  const perms = permissionsPanel(ctx, { user: name });
  const limits = userLimits(ctx, name);
  add(ctx.main, 
    h("div", { class: "crumbs" }, link("#/admin/users", "Users"), " / user"),
    h("h1", {}, name),
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "u-tags" }, h("h2", { id: "u-tags" }, "Tags"), tagsForm),
      h("section", { class: "panel", "aria-labelledby": "u-pw" }, h("h2", { id: "u-pw" }, "Password"), pwForm)),
    perms.el, limits.el,
    h("section", { class: "panel", "aria-labelledby": "u-del" }, h("h2", { id: "u-del" }, "Delete"), delButton));
  await ctx.every(() => Promise.all([perms.load(), limits.load()]));
}
