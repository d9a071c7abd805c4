// Admin: sub-pages offered as the API allows them. Administrators get everything; policymakers only
// policies (operator policies stay with administrators); anyone else gets an explanation, and no request
// the API would refuse is made.

import { h, alertBox, link, add } from "../lib/dom.js";
import { can } from "../lib/state.js";
import { usersPage, userPage } from "./admin_users.js";
import { vhostsPage, limitsPage, permissionsPage } from "./admin_vhosts.js";
import { policiesPage } from "./admin_policies.js";
import { definitionsPage } from "./admin_definitions.js";

const SECTIONS = [
  { id: "users", label: "Users", page: usersPage, allowed: can.admin },
  { id: "vhosts", label: "Virtual hosts", page: vhostsPage, allowed: can.admin },
  { id: "permissions", label: "Permissions", page: permissionsPage, allowed: can.admin },
  { id: "policies", label: "Policies", page: policiesPage, allowed: can.policies },
  { id: "limits", label: "Limits", page: limitsPage, allowed: can.admin },
  { id: "definitions", label: "Definitions", page: definitionsPage, allowed: can.admin },
];

export async function adminPage(ctx, section, item) {
  const allowed = SECTIONS.filter((s) => s.allowed());
  if (!allowed.length) {
    ctx.title("Admin");
    add(ctx.main, h("h1", {}, "Admin"),
      alertBox("info", "Administration needs the administrator tag (or policymaker, for policies). Your tags do not include them."),
      h("p", {}, link("#/", "Back to the overview")));
    return;
  }
  const chosen = SECTIONS.find((s) => s.id === section) || allowed[0];
  const nav = h("nav", { "aria-label": "Admin" }, h("ul", { class: "subnav" }, allowed.map((s) =>
    h("li", {}, h("a", { href: `#/admin/${s.id}`, "aria-current": s === chosen ? "page" : null }, s.label)))));
  if (!chosen.allowed()) {
    ctx.title(chosen.label);
    add(ctx.main, nav, h("h1", {}, chosen.label), alertBox("info", "This page needs the administrator tag."));
    return;
  }
  ctx.title(chosen.label);
  add(ctx.main, nav);
  if (chosen.id === "users" && item !== undefined) await userPage(ctx, item);
  else await chosen.page(ctx);
}
