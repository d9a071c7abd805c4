// A small SVG line chart: time on x (the last `windowMs`), one line per series, a legend that shows the
// latest values and hides a series when clicked, and a pointer read-out. Drawn by hand (no library).

import { h, replace, uid } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";
const W = 600;
const H = 150;

function svg(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** The smallest 1, 2 or 5 times a power of ten at or above v. */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function minutes(ms) {
  if (ms >= 3600000 && ms % 3600000 === 0) return `${ms / 3600000} h ago`;
  if (ms >= 60000 && ms % 60000 === 0) return `${ms / 60000} min ago`;
  return `${Math.round(ms / 1000)} s ago`;
}

/**
 * series: [{key, label}]; format(v) renders a value (axis, legend, read-out).
 * update(points, now, current): points = [{t, v: {key: number}}] in time order; current: the values the
 * legend shows (default: the latest point's).
 */
export function lineChart({ title, series, format = String, axisFormat = format, windowMs = 600000 }) {
  const hidden = new Set();
  const titleId = uid("chart");
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-labelledby": titleId });
  const yLabels = [h("span"), h("span"), h("span", {}, "0")];
  const xLabels = [h("span"), h("span"), h("span", {}, "now")];
  const tip = h("div", { class: "chart-tip", hidden: true });
  const legend = h("ul", { class: "legend" });
  const summary = h("span", { class: "visually-hidden", id: titleId });
  let last = { points: [], now: Date.now(), max: 1, current: null };

  const legendItems = series.map((s, i) => {
    const value = h("span", { class: "value" }, "\u2014");
    const button = h("button", { type: "button", "aria-pressed": "true", title: `Show or hide ${s.label}` },
      h("span", { class: ["sw", `c${i}`], "aria-hidden": "true" }), s.label, " ", value);
    button.addEventListener("click", () => {
      if (hidden.has(s.key)) hidden.delete(s.key); else hidden.add(s.key);
      button.setAttribute("aria-pressed", String(!hidden.has(s.key)));
      draw();
    });
    legend.append(h("li", {}, button));
    return value;
  });

  function x(t) {
    return ((t - (last.now - windowMs)) / windowMs) * W;
  }

  function y(v) {
    return H - (v / last.max) * (H - 4) - 1;
  }

  function draw() {
    const { points } = last;
    let max = 0;
    for (const p of points) for (const s of series) if (!hidden.has(s.key) && p.v[s.key] > max) max = p.v[s.key];
    last.max = niceMax(max);
    while (plot.firstChild) plot.firstChild.remove();
    for (const f of [0.25, 0.5, 0.75]) plot.append(svg("line", { class: "gridline", x1: 0, x2: W, y1: H * f, y2: H * f, "vector-effect": "non-scaling-stroke" }));
    series.forEach((s, i) => {
      if (hidden.has(s.key)) return;
      let d = "";
      let pen = "M";
      let end = null;
      for (const p of points) {
        const v = p.v[s.key];
        if (v == null || Number.isNaN(v) || p.t < last.now - windowMs) { pen = "M"; continue; }
        end = `M${x(p.t).toFixed(1)},${y(v).toFixed(1)}`;
        d += `${pen}${x(p.t).toFixed(1)},${y(v).toFixed(1)}`;
        pen = "L";
      }
      if (d) plot.append(svg("path", { d, class: `line s${i}`, "vector-effect": "non-scaling-stroke" }));
      // the latest reading as a dot (a zero-length stroke with round caps), visible with one reading too
      if (end) plot.append(svg("path", { d: `${end}h0.01`, class: `line dot s${i}`, "vector-effect": "non-scaling-stroke" }));
    });
    xLabels[0].textContent = minutes(windowMs);
    xLabels[1].textContent = minutes(windowMs / 2);
    yLabels[0].textContent = axisFormat(last.max);
    yLabels[1].textContent = axisFormat(last.max / 2);
    const latest = last.current || (points.length ? points[points.length - 1].v : {});
    series.forEach((s, i) => { legendItems[i].textContent = latest[s.key] == null ? "\u2014" : format(latest[s.key]); });
    summary.textContent = `${title}: ${series.map((s) => `${s.label} ${latest[s.key] == null ? "no data" : format(latest[s.key])}`).join(", ")}`;
  }

  function readout(event) {
    const { points } = last;
    if (!points.length) return;
    const box = plot.getBoundingClientRect();
    const t = last.now - windowMs + ((event.clientX - box.left) / box.width) * windowMs;
    let best = points[0];
    for (const p of points) if (Math.abs(p.t - t) < Math.abs(best.t - t)) best = p;
    replace(tip, h("strong", {}, new Date(best.t).toLocaleTimeString()),
      series.filter((s) => !hidden.has(s.key)).map((s) => h("div", {}, `${s.label}: ${best.v[s.key] == null ? "\u2014" : format(best.v[s.key])}`)));
    tip.hidden = false;
    const parent = plot.parentElement.getBoundingClientRect();
    const left = Math.min(event.clientX - parent.left + 12, parent.width - tip.offsetWidth - 4);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${event.clientY - parent.top + 12}px`;
    plot.querySelector(".cursor")?.remove();
    plot.append(svg("line", { class: "cursor", x1: x(best.t), x2: x(best.t), y1: 0, y2: H, "vector-effect": "non-scaling-stroke" }));
  }

  plot.addEventListener("pointermove", readout);
  plot.addEventListener("pointerleave", () => { tip.hidden = true; plot.querySelector(".cursor")?.remove(); });

  const el = h("figure", { class: "chart" },
    h("figcaption", { class: "visually-hidden" }, title),
    summary,
    h("div", { class: "chart-box" }, h("div", { class: "chart-y", "aria-hidden": "true" }, yLabels), h("div", { class: "chart-plot" }, plot)),
    h("div", { class: "chart-x", "aria-hidden": "true" }, xLabels),
    legend, tip);

  return {
    el,
    setWindow(ms) {
      windowMs = ms;
      draw();
    },
    update(points, now, current) {
      last = { points, now: now ?? (points.length ? points[points.length - 1].t : Date.now()), max: 1, current: current || null };
      draw();
    },
  };
}

/** RabbitMQ's samples (newest first, cumulative counts) as per-second rates, oldest first. */
export function ratesFromSamples(samples) {
  const out = [];
  for (let i = samples.length - 2; i >= 0; i -= 1) {
    const a = samples[i + 1];
    const b = samples[i];
    const dt = (b.timestamp - a.timestamp) / 1000;
    if (dt > 0) out.push({ t: b.timestamp, v: Math.max(0, (b.sample - a.sample) / dt) });
  }
  return out;
}

/** Levels (queue lengths) from samples, oldest first. */
export function levelsFromSamples(samples) {
  return samples.slice().reverse().map((s) => ({ t: s.timestamp, v: s.sample }));
}
