// What every page needs to know: who is logged in (and so what the API lets them do), the vhosts they
// see, the selected vhost and the refresh interval.

export const state = {
  user: null, // {name, tags}
  vhosts: [],
  vhost: localStorage.getItem("amqpd.vhost") || "",
  refreshSeconds: Number(localStorage.getItem("amqpd.refresh") ?? 5),
};

const has = (tag) => !!state.user && state.user.tags.includes(tag);

// The API's rules (api/app.py): administrators do everything; monitoring users see every vhost, node
// facts and every connection; policymakers manage policies of their vhosts.
export const can = {
  admin: () => has("administrator"),
  monitor: () => has("administrator") || has("monitoring"),
  policies: () => has("administrator") || has("policymaker"),
};

export function setVhost(v) {
  state.vhost = v;
  localStorage.setItem("amqpd.vhost", v);
}

export function setRefresh(seconds) {
  state.refreshSeconds = seconds;
  localStorage.setItem("amqpd.refresh", String(seconds));
}
