// The login form: username and password (RabbitMQ's field names), posted to /ui/login, which sets the
// session cookie. Nothing about the password is kept in the page.

import { h, replace, field, input, alertBox, errorText } from "../lib/dom.js";
import * as api from "../lib/api.js";

export function renderLogin(main, { message, onLoggedIn }) {
  const username = input("username", { autocomplete: "username", required: true, autocapitalize: "none" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const out = h("div", { "aria-live": "assertive" }, message ? alertBox(message === "You are logged out." ? "info" : "error", message) : null);
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { method: "post", action: "/ui/login", "aria-describedby": "login-help" },
    field("Username", username), field("Password", password), submit, out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    replace(out);
    try {
      const res = await api.login(username.value, password.value);
      if (!res.ok) {
        replace(out, alertBox("error", res.reason === "Not management user"
          ? "This user has no management tag (management, policymaker, monitoring or administrator): it cannot use the management UI."
          : res.reason || "Login failed"));
        password.select();
        return;
      }
      password.value = "";
      if (location.search) history.replaceState(null, "", location.pathname + location.hash);
      await onLoggedIn(res.user);
    } catch (err) {
      replace(out, alertBox("error", errorText(err)));
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, h("section", { class: "login panel", "aria-labelledby": "login-title" },
    h("div", { class: "brand" }, h("span", {}, "amqpd")),
    h("h1", { id: "login-title" }, "Log in to the management UI"),
    h("p", { id: "login-help", class: "muted" }, "Use a broker user with a management tag."),
    form));
  username.focus();
}
