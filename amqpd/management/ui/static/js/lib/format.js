// Numbers, sizes, rates and times as the pages show them.

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, minimumFractionDigits: 1 });

export function num(n) {
  if (n == null || Number.isNaN(n)) return "\u2014";
  return intFmt.format(n);
}

export function rate(r) {
  if (r == null || Number.isNaN(r)) return "\u2014";
  if (r === 0) return "0/s";
  return `${Math.abs(r) < 100 ? decFmt.format(r) : intFmt.format(r)}/s`;
}

export function bytes(n) {
  if (n == null || Number.isNaN(n)) return "\u2014";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${intFmt.format(v)} B` : `${decFmt.format(v)} ${units[i]}`;
}

export function byteRate(r) {
  return r == null ? "\u2014" : `${bytes(r)}/s`;
}

export function pct(x) {
  if (x == null || Number.isNaN(x)) return "\u2014";
  return `${Math.round(x * 100)}%`;
}

export function duration(ms) {
  if (ms == null) return "\u2014";
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function time(ms) {
  if (!ms) return "\u2014";
  return new Date(ms).toLocaleString();
}

/** ISO 8601 in UTC with milliseconds, e.g. a stream record's timestamp */
export function isoTime(ms) {
  if (ms == null || Number.isNaN(ms)) return "\u2014";
  return new Date(ms).toISOString();
}

export function clock(ms = Date.now()) {
  return new Date(ms).toLocaleTimeString();
}

/** obj.a.b.c for "a.b.c" */
export function dig(obj, path) {
  let v = obj;
  for (const part of path.split(".")) {
    if (v == null) return undefined;
    v = v[part];
  }
  return v;
}

export function json(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}
