// The HTTP API, called with the session cookie. Errors carry RabbitMQ's {error, reason}.

export const TIMEOUT_MS = 30000;

export class ApiError extends Error {
  constructor(status, body, path) {
    const reason = body && typeof body === "object" && "reason" in body ? body.reason : (body || `HTTP ${status}`);
    super(typeof reason === "string" ? reason : JSON.stringify(reason));
    this.name = "ApiError";
    this.status = status;
    this.error = body && typeof body === "object" ? body.error : undefined;
    this.reason = reason;
    this.path = path;
  }
}

export async function request(method, path, { body, form, headers = {}, signal, timeout = TIMEOUT_MS } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin", cache: "no-store" };
  if (form !== undefined) init.body = form;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const timer = AbortSignal.timeout(timeout);
  init.signal = signal ? AbortSignal.any([signal, timer]) : timer;
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, path);
    // "not_authorized" (with a z) answers missing credentials: the session is gone; "Not management
    // user": the user lost its management tags meanwhile. Either way the UI can do nothing more.
    if (res.status === 401 && (err.error === "not_authorized" || err.reason === "Not management user")) {
      window.dispatchEvent(new CustomEvent("amqpd:session-ended"));
    }
    throw err;
  }
  return data;
}

export const get = (path, opts) => request("GET", path, opts);
export const put = (path, body, opts) => request("PUT", path, { ...opts, body });
export const post = (path, body, opts) => request("POST", path, { ...opts, body });
export const del = (path, opts) => request("DELETE", path, opts);

/** "/api/queues/" + seg(vhost) + "/" + seg(name): path segments percent-encoded ("/" is %2F) */
export const seg = (s) => encodeURIComponent(s);

export function qs(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

// the UI's own routes (management/ui/login.py)
export async function session() {
  return get("/ui/session");
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  return request("POST", "/ui/login", { form });
}

export async function logout() {
  return request("POST", "/ui/logout", { form: new URLSearchParams() });
}
