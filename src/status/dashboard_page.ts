/**
 * The live web dashboard: one self-contained HTML page (no build step, no external resource),
 * served at `/` by the Unix-socket endpoint and the TCP listener. It reads
 * `status/stream?format=json` (server-sent events, read with `fetch` so that a bearer token can be
 * sent) and shows the context tree (collapsible, ages ticking in the page), the locks with their
 * holders and waiters (stuck waiters in the warning colour, deadlocks in the critical colour), the
 * warnings, the system gauges, and a chart of a chosen counter's rate over the last five minutes.
 *
 * A recording (`main(fn, { record })`, `cli.ts status -w --record`) opens in the page too: the
 * file is read by the browser (nothing is sent anywhere), a slider moves through its moments and
 * a find box goes to the first moment a warning code or a context shows, as `cli.ts replay`.
 *
 * A token-protected listener serves the page itself without the token (it holds no data); open it
 * as `http://host:port/#token=<token>` (the fragment never leaves the browser, and the page
 * removes it from the address bar and keeps it for the tab only) or type the token when asked.
 *
 * @module
 */

import { SHARED_REPLAY_SOURCE } from "./recording.ts";

/**
 * The dashboard page.
 * @internal
 */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fastn context</title>
<style>
:root {
  --bg: #f8fafc; --panel: #ffffff; --text: #0f172a; --muted: #64748b; --line: #e2e8f0;
  --ok: #15803d; --warn: #b45309; --warn-bg: #fef3c7; --crit: #b91c1c; --crit-bg: #fee2e2;
  --accent: #2563eb; --chip: #f1f5f9;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 20px;
  background: #0f172a; color: #e2e8f0; }
header h1 { font-size: 17px; margin: 0; font-weight: 600; }
header .proc { color: #cbd5e1; }
header .grow { flex: 1; }
.conn { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: #334155; }
.conn.ok { background: #166534; color: #dcfce7; }
.conn.warn { background: #92400e; color: #fef3c7; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(320px, 2fr); gap: 16px;
  padding: 16px 20px; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 14px; margin-bottom: 16px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  margin: 0 0 8px; display: flex; gap: 8px; align-items: center; }
h2 .count { color: var(--text); }
h2 button { margin-left: auto; }
h2 button + button { margin-left: 0; }
select { max-width: 60%; }
button, select, input { font: inherit; font-size: 12px; border: 1px solid var(--line);
  background: var(--panel); border-radius: 4px; padding: 2px 8px; color: var(--text); }
button { cursor: pointer; }
.empty { color: var(--muted); font-style: italic; }
ul.tree, ul.tree ul { list-style: none; margin: 0; padding: 0; }
ul.tree ul { margin-left: 9px; padding-left: 12px; border-left: 1px solid var(--line); }
li.ctx.collapsed > ul { display: none; }
.row { display: flex; flex-wrap: wrap; gap: 6px; align-items: baseline; padding: 2px 0; }
.toggle { width: 18px; padding: 0; border: none; background: none; color: var(--muted); }
.toggle.leaf { visibility: hidden; }
.name { font-weight: 600; }
.age { color: var(--muted); font-variant-numeric: tabular-nums; }
.chip { font-size: 12px; background: var(--chip); border-radius: 4px; padding: 0 6px; }
.chip.run { color: var(--ok); }
.chip.held { color: var(--accent); }
.ctx.cancelled > .row .name { text-decoration: line-through; color: var(--muted); }
.warn, .chip.warn, tr.warn td { color: var(--warn); }
.chip.warn, tr.warn { background: var(--warn-bg); }
.crit, .chip.crit, tr.crit td { color: var(--crit); }
.chip.crit, tr.crit { background: var(--crit-bg); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; font-weight: 500; color: var(--muted); border-bottom: 1px solid var(--line);
  padding: 3px 6px; }
td { padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top;
  white-space: nowrap; }
td.path { white-space: normal; }
.seg { white-space: nowrap; }
h3 { font-size: 12px; color: var(--muted); margin: 10px 0 4px; font-weight: 500; }
ul.warnings { list-style: none; padding: 0; margin: 0; }
ul.warnings li { padding: 4px 8px; border-radius: 4px; margin-bottom: 4px; }
ul.warnings li.sev-warning { background: var(--warn-bg); color: var(--warn); }
ul.warnings li.sev-critical { background: var(--crit-bg); color: var(--crit); }
ul.warnings li.sev-info { background: var(--chip); }
ul.warnings .code { font-weight: 600; margin-right: 6px; white-space: nowrap; }
ul.warnings .age { color: inherit; }
.gauges { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; }
.gauge .label { display: flex; justify-content: space-between; font-size: 12px; }
.gauge .label span:first-child { color: var(--muted); }
.bar { height: 6px; border-radius: 3px; background: var(--chip); overflow: hidden; margin-top: 2px; }
.bar > div { height: 100%; background: var(--accent); }
.bar.warn > div { background: var(--warn); }
.bar.crit > div { background: var(--crit); }
svg.chart { width: 100%; height: 150px; display: block; }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .line { fill: none; stroke: var(--accent); stroke-width: 1.5; }
svg.chart .area { fill: var(--accent); opacity: .08; }
svg.chart text { fill: var(--muted); font-size: 10px; }
form.auth { display: flex; gap: 8px; padding: 12px 20px; background: var(--warn-bg); }
[hidden] { display: none !important; }
label.open { font-size: 12px; color: #cbd5e1; cursor: pointer; }
label.open input { display: none; }
.replay { display: flex; gap: 10px; align-items: center; padding: 8px 20px; background: #e0e7ff; }
.replay input[type=range] { flex: 1; }
.replay .note { color: var(--crit); }
</style>
</head>
<body>
<header>
  <h1>fastn context</h1>
  <span class="proc" id="proc"></span>
  <span class="grow"></span>
  <span class="age" id="updated"></span>
  <label class="open" title="replay a recording: the file stays in this browser">open recording…
    <input type="file" id="rec-file" multiple></label>
  <span class="conn" id="conn">connecting…</span>
</header>
<div class="replay" id="replay" hidden>
  <input type="range" id="rec-slider" min="0" max="0" step="1" value="0" aria-label="moment">
  <span class="age" id="rec-time"></span>
  <input id="rec-find" size="28" placeholder="find: deadlock, waiter-stuck, a context">
  <button type="button" id="rec-find-go">find</button>
  <button type="button" id="rec-live">back to live</button>
  <span class="note" id="rec-note"></span>
</div>
<form class="auth" id="auth" hidden>
  <label for="token">This listener needs a token:</label>
  <input id="token" type="password" autocomplete="off" size="40">
  <button type="submit">Connect</button>
</form>
<main>
  <div>
    <section id="tree-section">
      <h2>Contexts <span class="count" id="ctx-count"></span>
        <button type="button" id="expand-all">expand all</button>
        <button type="button" id="collapse-all">collapse all</button></h2>
      <ul class="tree" id="tree"><li class="empty">waiting for the first status…</li></ul>
    </section>
  </div>
  <div>
    <section id="warnings-section">
      <h2>Warnings <span class="count" id="warn-count"></span></h2>
      <ul class="warnings" id="warnings"></ul>
    </section>
    <section id="locks-section">
      <h2>Locks <span class="count" id="lock-count"></span></h2>
      <div id="locks"></div>
      <h3>Waiters</h3>
      <div id="waiters"></div>
    </section>
    <section id="chart-section">
      <h2>Rate <select id="counter" aria-label="counter"></select></h2>
      <svg class="chart" id="chart" viewBox="0 0 600 150" preserveAspectRatio="none"
        role="img" aria-label="rate of the chosen counter over the last minutes"></svg>
    </section>
    <section id="system-section">
      <h2>System</h2>
      <div class="gauges" id="system"></div>
    </section>
  </div>
</main>
<script>
"use strict";
(() => {
  const WINDOW_MS = 5 * 60 * 1000;
  const MAX_CHILDREN = 200;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = {
    status: null, skew: 0, receivedAt: 0, collapsed: new Set(), history: [], selected: "",
    token: null, connected: false, replay: null, live: null, picked: false,
  };

  // A token in the fragment (#token=...) is kept for this tab and taken out of the address bar.
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("fastn-context-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem("fastn-context-token");

  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === undefined || kid === null || kid === false) continue;
      el.append(kid instanceof Node ? kid : shown(String(kid)));
    }
    return el;
  }
  // Invisible and bidi characters (U+202E, U+200B, U+2028, …) show as escapes, never act.
  function shown(t) {
    return t.replace(/[\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}]/gu, (c) => "\\\\u" + c.codePointAt(0).toString(16).padStart(4, "0"));
  }
  function s(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    return el;
  }

  // As formatDuration() of the CLI: the same text for the same time (warnings' durations are
  // found in their messages by it).
  const UNITS = [[86400000, "d"], [3600000, "h"], [60000, "m"], [1000, "s"]];
  function duration(ms) {
    if (!(ms > 0)) return ms === Infinity ? "∞" : "0s";
    if (ms === Infinity) return "∞";
    const tenths = Math.round(ms / 100);
    if (tenths < 600) return tenths % 10 === 0 ? tenths / 10 + "s" : Math.floor(tenths / 10) + "." + (tenths % 10) + "s";
    let rest = Math.round(ms / 1000) * 1000;
    const parts = [];
    for (const [size, unit] of UNITS) {
      if (parts.length === 0 && rest < size) continue;
      const n = Math.floor(rest / size);
      rest -= n * size;
      parts.push(n + unit);
      if (parts.length === 3) break;
    }
    while (parts.length > 1 && parts[parts.length - 1].startsWith("0")) parts.pop();
    return parts.join(" ");
  }
  // A context path as the CLI writes it: its last two names, unescaped ("alice@bv478gen/stderr-stream"),
  // each kept whole when a line breaks (only after a "/"); the whole path in the tooltip.
  const unescape = (seg) => seg.replace(/%2E/g, ".").replace(/%2A/g, "*").replace(/%25/g, "%");
  function shortRef(path) {
    const segs = String(path).split(".").map(unescape);
    return segs.slice(-2).join("/");
  }
  function ref(path) {
    const parts = shortRef(path).split("/");
    const kids = [];
    parts.forEach((p, i) => {
      if (i > 0) kids.push("/", h("wbr"));
      kids.push(h("span", { class: "seg" }, p));
    });
    return h("span", { class: "ref", title: String(path).split(".").map(unescape).join(" / ") }, kids);
  }
  const whole = (text) => h("span", { class: "seg" }, text);
  // Text whose words hold names and paths: a line breaks between words or after a "/", never
  // at a hyphen inside a name ("session-output-lock").
  function words(text) {
    return String(text).split(/(\\s+)/).map((w) => {
      if (w === "" || /^\\s+$/.test(w) || !/[-/]/.test(w)) return w;
      return w.split("/").map((p, i) => [i > 0 ? ["/", h("wbr")] : null, p === "" ? null : whole(p)]);
    });
  }
  function bytes(n) {
    const units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let u = 0;
    while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
    return (u === 0 ? Math.round(n) : n >= 100 ? Math.round(n) : Math.round(n * 10) / 10) + units[u];
  }
  function num(n) {
    return typeof n === "number" ? n.toLocaleString("en-US", { maximumFractionDigits: 2 }) : String(n);
  }
  function metric(v) {
    if (v.kind === "bytes") return bytes(v.value);
    if (v.kind === "duration") return duration(v.value);
    if (v.kind === "text") return String(v.value);
    return num(v.value);
  }
  function json(v) {
    const t = typeof v === "string" ? v : JSON.stringify(v);
    return t.length > 60 ? t.slice(0, 59) + "…" : t;
  }
  // Server time now, from the clock difference seen when the last status arrived.
  const serverNow = () =>
    state.replay ? (state.status ? state.status.timestamp : 0) : Date.now() - state.skew;
  const age = (since, cls) =>
    h("span", { class: "age" + (cls ? " " + cls : ""), "data-since": since }, duration(serverNow() - since));

  // ── the context tree ─────────────────────────────────────────────────────────────────────
  function renderTree(st) {
    const tree = $("tree");
    let count = 0;
    // Same-named siblings share a path, so their counters: shown once, on the first.
    const node = (c, parentDeadline, share) => {
      count++;
      const kids = c.children || [];
      const collapsed = state.collapsed.has(c.path);
      const chips = [];
      if (c.running > 0) chips.push(h("span", { class: "chip run" }, c.running + " running"));
      if (c.cancelled) {
        chips.push(h("span", { class: "chip warn" }, "cancelled" + (c.cancelReason ? ": " + c.cancelReason : "")));
      }
      if (typeof c.deadline === "number" && c.deadline !== parentDeadline) {
        const left = c.deadline - st.timestamp;
        chips.push(left > 0
          ? h("span", { class: "chip", title: new Date(c.deadline).toISOString() }, "deadline in " + duration(left))
          : h("span", { class: "chip warn", title: new Date(c.deadline).toISOString() }, "deadline exceeded " + duration(-left) + " ago"));
      }
      if (c.error) chips.push(h("span", { class: "chip crit", title: c.error }, "failed: " + json(c.error)));
      for (const i of c.locksHeld || []) {
        const l = st.activeLocks[i];
        if (l) chips.push(h("span", { class: "chip held" + (l.leaked ? " crit" : l.longHeld ? " warn" : "") }, "holds " + (l.lockName ?? l.name)));
      }
      for (const i of c.locksWaited || []) {
        const w = st.lockWaiters[i];
        if (w) {
          chips.push(h("span", {
            class: "chip waiting" + (w.deadlocked ? " crit" : w.stuck ? " warn" : ""),
            "data-lock": w.lockName,
          }, (w.deadlocked ? "deadlocked on " : "waits for ") + w.lockName));
        }
      }
      const counters = Object.keys(c.totalCounters || {}).length + Object.keys(c.liveCounters || {}).length;
      if (share === 0 && counters > 0) {
        chips.push(h("span", { class: "chip shared" }, "counters shared with the first " + c.name));
      } else {
        if (share > 1 && counters > 0) chips.push(h("span", { class: "chip shared" }, "all " + share + " " + c.name + " together:"));
        for (const [k, v] of Object.entries(c.totalCounters || {})) chips.push(h("span", { class: "chip" }, k + " " + num(v)));
        for (const [k, v] of Object.entries(c.liveCounters || {})) chips.push(h("span", { class: "chip" }, "live " + k + " " + num(v)));
      }
      for (const [k, v] of Object.entries(c.metrics || {})) chips.push(h("span", { class: "chip" }, k + " " + metric(v)));
      for (const [k, v] of Object.entries(c.data || {})) chips.push(h("span", { class: "chip" }, k + "=" + json(v)));
      const toggle = h("button", {
        type: "button", class: "toggle" + (kids.length === 0 ? " leaf" : ""),
        "aria-label": collapsed ? "expand" : "collapse",
        onclick: () => {
          if (state.collapsed.has(c.path)) state.collapsed.delete(c.path);
          else state.collapsed.add(c.path);
          render();
        },
      }, collapsed ? "▸" : "▾");
      const shown = kids.slice(0, MAX_CHILDREN);
      const sharing = new Map();
      for (const k of shown) sharing.set(k.path, (sharing.get(k.path) || 0) + 1);
      const firstSeen = new Set();
      const shareOf = (k) => {
        const n = sharing.get(k.path);
        if (n < 2) return undefined;
        if (firstSeen.has(k.path)) return 0;
        firstSeen.add(k.path);
        return n;
      };
      return h("li", {
        class: "ctx" + (collapsed ? " collapsed" : "") + (c.cancelled ? " cancelled" : ""),
        "data-path": c.path,
      },
        h("div", { class: "row" }, toggle, h("span", { class: "name" }, c.name), age(c.createdAt), chips),
        kids.length === 0 ? null : h("ul", {}, shown.map((k) => node(k, c.deadline ?? null, shareOf(k))),
          kids.length > shown.length ? h("li", { class: "empty" }, "… " + (kids.length - shown.length) + " more") : null),
      );
    };
    tree.replaceChildren(node(st.global, null, undefined));
    $("ctx-count").textContent = String(count);
  }

  // ── warnings, locks, system ──────────────────────────────────────────────────────────────
  function renderWarnings(st) {
    const list = $("warnings");
    $("warn-count").textContent = st.warnings.length ? String(st.warnings.length) : "";
    if (st.warnings.length === 0) {
      list.replaceChildren(h("li", { class: "empty" }, "none"));
      return;
    }
    list.replaceChildren(...st.warnings.map((w) =>
      h("li", { class: "sev-" + w.severity, "data-code": w.code }, h("span", { class: "code" }, w.code), warningText(w, st))
    ));
  }

  // A warning's message with the duration it gives (the status's time minus its since) as an
  // age that ticks with the page's one clock, like the lock tables.
  function warningText(w, st) {
    if (typeof w.since !== "number") return words(w.message);
    const then = duration(Math.max(0, st.timestamp - w.since));
    for (let at = w.message.indexOf(then); at >= 0; at = w.message.indexOf(then, at + 1)) {
      const before = at === 0 ? "" : w.message[at - 1];
      const after = w.message[at + then.length] || "";
      if (/[\\w.]/.test(before) || /\\w/.test(after)) continue;
      return [words(w.message.slice(0, at)), age(w.since), words(w.message.slice(at + then.length))];
    }
    return words(w.message);
  }

  function renderLocks(st) {
    $("lock-count").textContent = st.activeLocks.length ? String(st.activeLocks.length) : "";
    $("locks").replaceChildren(st.activeLocks.length === 0 ? h("p", { class: "empty" }, "no lock held") :
      h("table", {},
        h("tr", {}, h("th", {}, "lock"), h("th", {}, "kind"), h("th", {}, "held by"), h("th", {}, "for")),
        st.activeLocks.map((l) => h("tr", {
          class: "holder" + (l.leaked ? " crit" : l.longHeld ? " warn" : ""), "data-lock": l.lockName ?? l.name,
        },
          h("td", { class: "path" }, whole(l.lockName ?? l.name)), h("td", {}, l.kind + (l.kind === "semaphore" ? " " + l.permits + "/" + l.capacity : l.mode === "exclusive" ? "" : " " + l.mode)),
          h("td", { class: "path" }, ref(l.holder ?? l.heldBy), l.leaked ? " (ended: leaked guard)" : ""), h("td", {}, age(l.since))))));
    $("waiters").replaceChildren(st.lockWaiters.length === 0 ? h("p", { class: "empty" }, "nobody waits") :
      h("table", {},
        h("tr", {}, h("th", {}, "lock"), h("th", {}, "waiter"), h("th", {}, "held by"), h("th", {}, "waiting")),
        st.lockWaiters.map((w) => h("tr", {
          class: "waiter" + (w.deadlocked ? " deadlocked crit" : w.stuck ? " stuck warn" : ""),
          "data-waiter": w.waiter, "data-lock": w.lockName,
        },
          h("td", { class: "path" }, whole(w.lockName), w.deadlocked ? " (deadlock)" : ""),
          h("td", { class: "path" }, ref(w.waiter)),
          h("td", { class: "path" }, (w.holders ?? w.heldBy).map((p, i) => [i > 0 ? ", " : null, ref(p)])),
          h("td", {}, age(w.since))))));
  }

  function gauge(label, text, ratio, title) {
    const level = ratio === undefined ? "" : ratio > 0.9 ? " crit" : ratio > 0.75 ? " warn" : "";
    return h("div", { class: "gauge", title },
      h("div", { class: "label" }, h("span", {}, label), h("span", {}, text)),
      ratio === undefined ? null : h("div", { class: "bar" + level },
        h("div", { style: "width:" + Math.max(0, Math.min(100, ratio * 100)).toFixed(1) + "%" })));
  }

  function renderSystem(st) {
    const y = st.system || {};
    const why = (k) => (y.unavailable && y.unavailable[k]) || "not available";
    const na = (k) => gauge(k, "n/a", undefined, why(k));
    const g = [];
    g.push(y.cpuUsagePercent === null ? na("cpu") : gauge("CPU", y.cpuUsagePercent.toFixed(1) + "%", y.cpuUsagePercent / 100));
    g.push(y.memoryUsedBytes === null || !y.memoryTotalBytes ? na("memory") :
      gauge("memory", bytes(y.memoryUsedBytes) + " / " + bytes(y.memoryTotalBytes), y.memoryUsedBytes / y.memoryTotalBytes));
    g.push(y.diskUsedBytes === null || !y.diskTotalBytes ? na("disk") :
      gauge("disk", bytes(y.diskUsedBytes) + " / " + bytes(y.diskTotalBytes), y.diskUsedBytes / y.diskTotalBytes));
    g.push(y.networkRxBytesPerSec === null ? na("network") :
      gauge("network", "↓ " + bytes(y.networkRxBytesPerSec) + "/s  ↑ " + bytes(y.networkTxBytesPerSec || 0) + "/s"));
    g.push(y.loadAverage === null ? na("load") : gauge("load", y.loadAverage.map((v) => v.toFixed(2)).join(" ")));
    g.push(y.uptimeMs === null ? na("uptime") : gauge("uptime", duration(y.uptimeMs)));
    g.push(y.processRssBytes === null ? na("process") : gauge("process RSS", bytes(y.processRssBytes)));
    g.push(y.processHeapUsedBytes === null ? na("heap") :
      gauge("JS heap", bytes(y.processHeapUsedBytes) + " / " + bytes(y.processHeapTotalBytes || 0)));
    $("system").replaceChildren(...g);
  }

  // ── the rate chart ───────────────────────────────────────────────────────────────────────
  // Every status adds a point: the whole tree's totals ("all · name", ended contexts included)
  // and each context's own totals ("path · name").
  function record(st) {
    const values = new Map();
    for (const [k, v] of Object.entries(st.global.deepTotalCounters || {})) values.set("all · " + k, v);
    const stack = [st.global];
    while (stack.length) {
      const c = stack.pop();
      for (const [k, v] of Object.entries(c.totalCounters || {})) {
        const key = c.path + " · " + k;
        values.set(key, (values.get(key) || 0) + v);
      }
      for (const k of c.children || []) stack.push(k);
    }
    state.history.push({ t: st.timestamp, values });
    while (state.history.length > 2 && state.history[1].t < st.timestamp - WINDOW_MS) state.history.shift();
    const select = $("counter");
    const keys = [...values.keys()];
    // Until someone picks one, the chart shows the counter that grew most over the window (a
    // whole-tree total first when several grew as much): a flat zero says nothing.
    if (!state.picked || !values.has(state.selected)) state.selected = busiest(keys);
    const known = [...select.options].map((o) => o.value).join("\\n");
    if (known !== keys.join("\\n")) {
      select.replaceChildren(...keys.map((k) => h("option", { value: k }, k)));
    }
    select.value = state.selected;
  }

  function busiest(keys) {
    const first = state.history[0], last = state.history[state.history.length - 1];
    let best = keys.find((k) => k.startsWith("all · ")) || keys[0] || "", most = 0;
    for (const k of keys) {
      const grew = (last.values.get(k) || 0) - (first.values.get(k) || 0);
      if (grew > most || (grew === most && grew > 0 && k.startsWith("all · ") && !best.startsWith("all · "))) {
        best = k;
        most = grew;
      }
    }
    return best;
  }

  function drawChart() {
    const svg = $("chart");
    const W = 600, H = 150, L = 40, B = 16, T = 8;
    const now = serverNow();
    const key = state.selected;
    // A step per interval between two statuses; after the last one nothing changed: rate 0.
    const steps = [];
    for (let i = 1; i < state.history.length; i++) {
      const a = state.history[i - 1], b = state.history[i];
      if (!a.values.has(key) || !b.values.has(key) || b.t <= a.t) continue;
      const rate = Math.max(0, b.values.get(key) - a.values.get(key)) / ((b.t - a.t) / 1000);
      steps.push([a.t, b.t, rate]);
    }
    const max = Math.max(1, ...steps.map((x) => x[2]));
    // The last five minutes, or less for a young process (one minute at least).
    const first = state.history.length ? state.history[0].t : now;
    const span = Math.min(WINDOW_MS, Math.max(60 * 1000, now - first));
    const x = (t) => L + ((t - (now - span)) / span) * (W - L);
    const y = (r) => T + (H - T - B) * (1 - r / max);
    const kids = [];
    for (const f of [0, 0.5, 1]) {
      kids.push(s("line", { class: "grid", x1: L, x2: W, y1: y(max * f), y2: y(max * f) }));
      const label = s("text", { x: L - 4, y: y(max * f) + 3, "text-anchor": "end" });
      label.textContent = num(Math.round(max * f * 100) / 100);
      kids.push(label);
    }
    for (const [t, text] of [[now - span, "−" + duration(span)], [now - span / 2, "−" + duration(span / 2)], [now, "now"]]) {
      const label = s("text", { x: Math.min(x(t), W - 12), y: H - 3, "text-anchor": "middle" });
      label.textContent = text;
      kids.push(label);
    }
    let d = "";
    let last = now - span;
    for (const [t0, t1, r] of steps) {
      if (t1 < now - span) continue;
      const a = Math.max(t0, now - span);
      d += (d ? " L" : "M") + x(last).toFixed(1) + "," + y(0).toFixed(1);
      d += " L" + x(a).toFixed(1) + "," + y(0).toFixed(1);
      d += " L" + x(a).toFixed(1) + "," + y(r).toFixed(1) + " L" + x(t1).toFixed(1) + "," + y(r).toFixed(1);
      d += " L" + x(t1).toFixed(1) + "," + y(0).toFixed(1);
      last = t1;
    }
    d += (d ? " L" : "M") + x(last).toFixed(1) + "," + y(0).toFixed(1) + " L" + x(now).toFixed(1) + "," + y(0).toFixed(1);
    kids.push(s("path", { class: "area", d: d + " Z" }), s("path", { class: "line", d }));
    const caption = s("text", { x: W - 2, y: T + 8, "text-anchor": "end" });
    caption.textContent = key ? key + " per second" : "no counter yet";
    kids.push(caption);
    svg.replaceChildren(...kids);
  }

  // ── updates ──────────────────────────────────────────────────────────────────────────────
  function render() {
    const st = state.status;
    if (!st) return;
    renderTree(st);
    renderWarnings(st);
    renderLocks(st);
    renderSystem(st);
    drawChart();
  }

  function tick() {
    const now = serverNow();
    for (const el of document.querySelectorAll(".age[data-since]")) {
      el.textContent = duration(now - Number(el.dataset.since));
    }
    if (state.status && !state.replay) $("updated").textContent = "updated " + duration(Date.now() - state.receivedAt) + " ago";
    if (state.status) drawChart();
  }

  function onStatus(st) {
    if (state.replay) return;
    state.receivedAt = Date.now();
    state.skew = state.receivedAt - st.timestamp;
    state.status = st;
    record(st);
    render();
    $("updated").textContent = "updated just now";
  }

  function setConn(text, cls) {
    const el = $("conn");
    el.textContent = text;
    el.className = "conn " + cls;
  }

  function headers() {
    return state.token ? { authorization: "Bearer " + state.token } : {};
  }

  async function info() {
    try {
      const r = await fetch("info", { headers: headers(), cache: "no-store" });
      if (!r.ok) return;
      const i = await r.json();
      $("proc").textContent = i.name + " · pid " + i.pid;
      document.title = i.name + " · fastn context";
    } catch {
      // shown by the stream's state
    }
  }

  let backoff = 500;
  async function connect() {
    try {
      if (state.replay) return;
      state.live = new AbortController();
      const r = await fetch("status/stream?format=json", {
        headers: headers(), cache: "no-store", signal: state.live.signal,
      });
      if (r.status === 401) {
        setConn("needs a token", "warn");
        $("auth").hidden = false;
        $("token").focus();
        return;
      }
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      setConn("live", "ok");
      backoff = 500;
      void info();
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let i;
        while ((i = buffer.indexOf("\\n\\n")) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          let event = "message";
          const data = [];
          for (const line of block.split("\\n")) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (event === "status" && data.length) onStatus(JSON.parse(data.join("\\n")));
        }
      }
      setConn("the process went away; reconnecting…", "warn");
    } catch {
      setConn("disconnected; reconnecting…", "warn");
    }
    if (state.replay) return;
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 5000);
  }

  $("auth").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("fastn-context-token", state.token);
    $("auth").hidden = true;
    setConn("connecting…", "");
    void connect();
  });
  $("counter").addEventListener("change", (e) => {
    state.selected = e.target.value;
    state.picked = true;
    drawChart();
  });
  $("expand-all").addEventListener("click", () => {
    state.collapsed.clear();
    render();
  });
  $("collapse-all").addEventListener("click", () => {
    const st = state.status;
    if (!st) return;
    const stack = [...st.global.children];
    while (stack.length) {
      const c = stack.pop();
      if (c.children.length) state.collapsed.add(c.path);
      stack.push(...c.children);
    }
    render();
  });
  // ── a recording, read in the browser ─────────────────────────────────────────────────────
  ${SHARED_REPLAY_SOURCE}

  // The records of the chosen files (segments FILE.1, FILE.2, …, then FILE), and what was skipped.
  async function readRecording(files) {
    const seq = (f) => { const m = /\\.(\\d+)$/.exec(f.name); return m ? Number(m[1]) : Infinity; };
    const sorted = [...files].sort((a, b) => seq(a) - seq(b));
    const frames = [], notes = [];
    for (const file of sorted) {
      const lines = (await file.text()).split("\\n");
      const complete = lines.pop() === "";
      if (!complete) notes.push(file.name + ": its last line is incomplete: skipped");
      let header;
      try { header = JSON.parse(lines[0]); } catch { header = null; }
      const version = header && header["fastn-context-recording"];
      if (typeof version !== "number") throw new Error(file.name + " is not a @fastn/context recording");
      if (version > 1) {
        throw new Error(file.name + " is a recording in format version " + version +
          "; this page reads version 1: open it with a newer @fastn/context");
      }
      let base = false;
      for (let i = 1; i < lines.length; i++) {
        let r;
        try { r = JSON.parse(lines[i]); } catch { notes.push(file.name + ": line " + (i + 1) + " is damaged: skipped"); continue; }
        if (r.k === "f") base = true;
        else if (r.k !== "d" || !base) continue;
        frames.push(r);
      }
    }
    return { frames, notes };
  }

  function replayState(i) {
    const rp = state.replay;
    let f = i;
    while (rp.frames[f].k !== "f") f--;
    let st, from;
    if (rp.cache && rp.cache.i >= f && rp.cache.i <= i) { st = rp.cache.state; from = rp.cache.i + 1; }
    else { st = stateOf(rp.frames[f].status); from = f + 1; }
    for (let j = from; j <= i; j++) applyDelta(st, rp.frames[j]);
    rp.cache = { i, state: st };
    return st;
  }

  function showMoment(i) {
    const rp = state.replay;
    rp.i = i;
    $("rec-slider").value = String(i);
    const st = statusOf(replayState(i));
    state.status = st;
    state.history = [];
    record(st);
    render();
    const at = rp.frames[i].at;
    $("rec-time").textContent = new Date(at).toISOString() + " · +" + duration(at - rp.frames[0].at) +
      " · change " + (i + 1) + " of " + rp.frames.length;
  }

  $("rec-file").addEventListener("change", async (e) => {
    const files = e.target.files;
    if (!files || !files.length) return;
    let loaded;
    try {
      loaded = await readRecording(files);
      if (!loaded.frames.length) throw new Error("the recording holds no moment yet");
    } catch (err) {
      $("replay").hidden = false;
      $("rec-note").textContent = String(err.message || err);
      return;
    }
    state.replay = { frames: loaded.frames, i: 0, cache: null };
    if (state.live) state.live.abort();
    setConn("recording · " + [...files].map((f) => f.name).join(", "), "");
    $("updated").textContent = "";
    $("replay").hidden = false;
    $("rec-note").textContent = loaded.notes.join("; ");
    $("rec-slider").max = String(loaded.frames.length - 1);
    showMoment(0);
  });
  $("rec-slider").addEventListener("input", (e) => showMoment(Number(e.target.value)));
  const find = () => {
    const q = $("rec-find").value.trim();
    const rp = state.replay;
    if (!q || !rp) return;
    for (let i = 0; i < rp.frames.length; i++) {
      if (stateMatches(replayState(i), q)) {
        $("rec-note").textContent = "";
        showMoment(i);
        return;
      }
    }
    $("rec-note").textContent = JSON.stringify(q) + " never shows in this recording";
  };
  $("rec-find-go").addEventListener("click", find);
  $("rec-find").addEventListener("keydown", (e) => { if (e.key === "Enter") find(); });
  $("rec-live").addEventListener("click", () => location.reload());
  setInterval(tick, 1000);
  void connect();
})();
</script>
</body>
</html>
`;
