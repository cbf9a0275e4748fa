/**
 * The dashboard: a status drawn as text for a terminal (`cli.ts status`, `String(status())`).
 *
 * @module
 */

import { styleText } from "node:util";
import { colorFor, formatBytes, formatDuration, formatNumber, formatPercent } from "./format.ts";
import type { JsonValue } from "../core/json.ts";
import type { MetricValue } from "../core/metric.ts";
import { describe, safeText } from "../core/names.ts";
import type { ContextStatus, LockStatus, LockWaiter, Status } from "./types.ts";
import type { SystemMetrics } from "./system_metrics.ts";
import { messageAt, shortRef, type StatusWarning } from "./warnings.ts";

/**
 * Options of {@linkcode renderStatus}.
 *
 * @example A short screen for a log line
 * ```ts
 * import { Context, renderStatus, type RenderOptions, status } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const options: RenderOptions = { color: false, maxDepth: 1, maxChildren: 10, maxItems: 5 };
 * const text = renderStatus(status({ root: Context.root("global") }), options);
 * assert.ok(!text.includes("\x1b["));
 * ```
 */
export interface RenderOptions {
  /**
   * Whether to use ANSI colours.
   * @default {true when NO_COLOR is not set and standard output is a terminal}
   */
  color?: boolean;
  /**
   * How deep below the root contexts are shown; deeper ones are summed up in one line.
   * @default {32}
   */
  maxDepth?: number;
  /**
   * How many children of one context are shown; the rest are folded into one line.
   * @default {50}
   */
  maxChildren?: number;
  /**
   * How many entries of each list (active locks, lock waiters, warnings) are shown.
   * @default {20}
   */
  maxItems?: number;
  /**
   * The time to draw the status at, in the status's clock (epoch ms): every age, hold, wait and
   * the durations in warnings advance by `now - status.timestamp`. A watcher that redraws a
   * status it got a while ago passes `status.timestamp` plus the time since it arrived.
   * @default {status.timestamp (the ages as the status has them)}
   */
  now?: number;
}

/** A context idle this long shows `idle …` instead of `active … ago`. */
const IDLE_AFTER_MS = 5_000;
/** Data and metric items shown beside a context. */
const SUMMARY_ITEMS = 4;
/** The longest text shown for one data value, cancel reason or error. */
const MAX_TEXT = 60;

type Paint = (format: Parameters<typeof styleText>[0], text: string) => string;

function plain(_format: Parameters<typeof styleText>[0], text: string): string {
  return text;
}

function ansi(format: Parameters<typeof styleText>[0], text: string): string {
  return styleText(format, text, { validateStream: false });
}

/**
 * Renders a status as the `fastn status` dashboard: the title, the System,
 * Network and Process lines, the context tree drawn with `├──`/`└──`/`│`, each context with its
 * age, activity and a short summary of its metrics and data, `Total: … | Live: …` counter lines
 * (deep sums: the context's path and every path below it, ended contexts included), the locks
 * each context holds or waits for, then the Active Locks, Lock Waiters and Warnings sections.
 * Works on a status from {@linkcode status} as well as on one parsed back from JSON.
 *
 * @example Plain text, folded after two children
 * ```ts
 * import { Context, renderStatus, status } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const t = 0;
 * const root = Context.root("global", { now: () => t });
 * for (const peer of ["alice", "bob", "carol"]) root.child(peer).create();
 * const text = renderStatus(status({ root }), { color: false, maxChildren: 2 });
 * const tree = text.split("\n\n")[1]; // after the system lines
 * assert.deepEqual(tree.split("\n"), [
 *   "global (0s uptime, active 0s ago)",
 *   "├── alice (0s active, last activity 0s ago)",
 *   "├── bob (0s active, last activity 0s ago)",
 *   "└── … 1 more context",
 * ]);
 * ```
 *
 * @param status A status, from {@linkcode status}, {@linkcode statusJson} or parsed JSON.
 * @param options Colour, depth and folding.
 * @returns The dashboard, lines joined with `\n`, no final newline.
 * @throws {TypeError} when `status` is not a status or an option has the wrong type.
 * @throws {RangeError} when a number option is not a non-negative integer (or Infinity).
 */
export function renderStatus(status: Status, options: RenderOptions = {}): string {
  if (
    typeof status !== "object" || status === null || typeof status.global !== "object" ||
    status.global === null
  ) {
    throw new TypeError(`status must be a Status, got ${describe(status)}`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const color = options.color ?? colorFor(Deno.stdout);
  if (typeof color !== "boolean") {
    throw new TypeError(`options.color must be a boolean, got ${describe(color)}`);
  }
  const maxDepth = limit(options.maxDepth, 32, "options.maxDepth", 0);
  const maxChildren = limit(options.maxChildren, 50, "options.maxChildren", 1);
  const maxItems = limit(options.maxItems, 20, "options.maxItems", 1);
  const paint = color ? ansi : plain;
  const now = options.now;
  if (now !== undefined && (typeof now !== "number" || !Number.isFinite(now))) {
    throw new TypeError(`options.now must be a finite number, got ${describe(now)}`);
  }
  const at = status.timestamp;
  const shift = now === undefined || typeof at !== "number" ? 0 : Math.max(0, now - at);

  const out = new Lines();
  out.push(paint(["bold", "blue"], "fastn Status Dashboard"));
  if (status.system) systemLines(status.system, out, shift);
  out.push("");
  treeLines(status, paint, maxDepth, maxChildren, out, shift);

  const locks = status.activeLocks ?? [];
  if (locks.length > 0) {
    out.push("");
    out.push(`🔒 Active Locks (${locks.length}):`);
    list(locks, maxItems, out, (l) => lockEntry(l, paint, shift));
  }
  const waiters = status.lockWaiters ?? [];
  if (waiters.length > 0) {
    out.push("");
    out.push(`⏳ Lock Waiters (${waiters.length}):`);
    list(waiters, maxItems, out, (w) => waiterEntry(w, paint, shift));
  }
  const warnings = status.warnings ?? [];
  const normal = systemSummary(status.system, warnings);
  if (warnings.length > 0) {
    out.push("");
    out.push(`⚠️ Warnings (${warnings.length}):`);
    list(warnings, maxItems, out, (w) => warningEntry(w, paint, at, shift));
    if (normal !== undefined) out.push(`  - ${normal}`);
  }
  return out.text();
}

/**
 * Output lines, joined in small chunks as they come: each line is a rope of many small strings,
 * and flattening them early keeps the live heap small while a big tree is rendered.
 */
class Lines {
  #chunks: string[] = [];
  #lines: string[] = [];

  push(line: string): void {
    const lines = this.#lines;
    lines.push(line);
    if (lines.length === 256) {
      this.#chunks.push(lines.join("\n"));
      lines.length = 0;
    }
  }

  text(): string {
    if (this.#lines.length > 0 || this.#chunks.length === 0) {
      this.#chunks.push(this.#lines.join("\n"));
      this.#lines.length = 0;
    }
    return this.#chunks.length === 1 ? this.#chunks[0] : this.#chunks.join("\n");
  }
}

function limit(value: unknown, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  }
  if (value !== Infinity && (!Number.isSafeInteger(value) || value < min)) {
    throw new RangeError(`${name} must be an integer of at least ${min} or Infinity, got ${value}`);
  }
  return value;
}

function systemLines(s: SystemMetrics, out: Lines, shift: number): void {
  const cpu = s.cpuUsagePercent === null ? "n/a" : formatPercent(s.cpuUsagePercent, true);
  out.push(
    `System: CPU ${cpu} | RAM ${usage(s.memoryUsedBytes, s.memoryTotalBytes)} | Disk ${
      usage(s.diskUsedBytes, s.diskTotalBytes)
    } | Load ${s.loadAverage === null ? "n/a" : s.loadAverage.map((x) => x.toFixed(1)).join(",")}`,
  );
  const net = s.networkRxBytesPerSec === null || s.networkTxBytesPerSec === null
    ? "n/a"
    : `↓ ${formatBytes(s.networkRxBytesPerSec)}/s ↑ ${formatBytes(s.networkTxBytesPerSec)}/s`;
  out.push(
    `Network: ${net} | Uptime ${s.uptimeMs === null ? "n/a" : formatDuration(s.uptimeMs + shift)}`,
  );
  if (s.processRssBytes !== null || s.processHeapUsedBytes !== null) {
    const rss = s.processRssBytes === null ? "n/a" : formatBytes(s.processRssBytes);
    const heap = s.processHeapUsedBytes === null
      ? "n/a"
      : s.processHeapTotalBytes === null
      ? formatBytes(s.processHeapUsedBytes)
      : `${formatBytes(s.processHeapUsedBytes)}/${formatBytes(s.processHeapTotalBytes)}`;
    out.push(`Process: RSS ${rss} | Heap ${heap}`);
  }
}

const SYSTEM_CODES: ReadonlySet<string> = new Set([
  "cpu-high",
  "memory-high",
  "disk-full",
  "load-high",
  "process-memory-high",
]);

/**
 * The design's one line for a machine with no system alert ("CPU usage normal (12.3%), memory
 * usage low (13%)"); undefined when a system alert is raised or nothing could be read.
 */
function systemSummary(
  s: SystemMetrics | undefined,
  warnings: readonly StatusWarning[],
): string | undefined {
  if (s === undefined || s === null) return undefined;
  for (const w of warnings) if (SYSTEM_CODES.has(w.code)) return undefined;
  const parts: string[] = [];
  const cpu = s.cpuUsagePercent;
  if (typeof cpu === "number") parts.push(`CPU usage normal (${formatPercent(cpu, true)})`);
  const used = s.memoryUsedBytes, total = s.memoryTotalBytes;
  if (typeof used === "number" && typeof total === "number" && total > 0) {
    const pct = (used / total) * 100;
    parts.push(`memory usage ${pct < 20 ? "low" : "normal"} (${formatPercent(pct, false)})`);
  }
  return parts.length === 0 ? undefined : parts.join(", ");
}

function usage(used: number | null, total: number | null): string {
  if (used === null || total === null) return "n/a";
  const pct = total > 0 ? ` (${formatPercent((used / total) * 100, false)})` : "";
  return `${formatBytes(used)}/${formatBytes(total)}${pct}`;
}

const TEE = "├── ", ELBOW = "└── ", PIPE = "│   ", SPACE = "    ";

function treeLines(
  status: Status,
  paint: Paint,
  maxDepth: number,
  maxChildren: number,
  out: Lines,
  shift: number,
): void {
  const locks = status.activeLocks ?? [];
  const waiters = status.lockWaiters ?? [];
  // The stack of lines to write, as parallel arrays: a context (with its subtree) or a text.
  const items: Array<ContextStatus | string> = [status.global];
  const depths: number[] = [0];
  const leads: string[] = [""];
  const childLeads: string[] = [""];
  // The deadline of each item's parent: a context shows a deadline only where it is its own.
  const inherited: Array<number | null> = [null];
  const now = typeof status.timestamp === "number" ? status.timestamp + shift : status.timestamp;
  const trailers: string[] = [];
  let shares: Map<ContextStatus, number> | undefined;
  while (items.length > 0) {
    const item = items.pop()!, depth = depths.pop()!, lead = leads.pop()!;
    const childLead = childLeads.pop()!;
    const parentDeadline = inherited.pop()!;
    const head = lead === "" ? "" : paint("dim", lead);
    if (typeof item === "string") {
      out.push(head + item);
      continue;
    }
    const st = item;
    out.push(head + contextLine(st, depth, paint, parentDeadline, now, shift));

    // What goes under the context: its counters, its children, then folds and lock lines.
    // Same-named siblings share a path and so their counters: shown once, on the first.
    const share = shares?.get(st);
    let counters = counterLine(st);
    if (counters !== undefined && share !== undefined) {
      counters = share > 0
        ? counters + paint("dim", ` (all ${share} "${clean(st.name)}" together: they share a path)`)
        : paint("dim", `counters shared with the first "${clean(st.name)}" above`);
    }
    const kids = st.children ?? [];
    let shown = 0;
    trailers.length = 0;
    if (kids.length > 0) {
      if (depth >= maxDepth) {
        const n = countBelow(st);
        trailers.push(paint("dim", `… ${formatNumber(n)} more context${n === 1 ? "" : "s"} below`));
      } else {
        shown = Math.min(kids.length, maxChildren);
        const rest = kids.length - shown;
        if (rest > 0) {
          trailers.push(
            paint("dim", `… ${formatNumber(rest)} more context${rest === 1 ? "" : "s"}`),
          );
        }
      }
    }
    const held = st.locksHeld, waited = st.locksWaited;
    if (held !== undefined) {
      for (let i = 0; i < held.length; i++) {
        const l = locks[held[i]];
        if (l !== undefined) trailers.push(holdsLine(l, paint, shift));
      }
    }
    if (waited !== undefined) {
      for (let i = 0; i < waited.length; i++) {
        const w = waiters[waited[i]];
        if (w !== undefined) trailers.push(waitsLine(w, paint, shift));
      }
    }

    const after = shown + trailers.length;
    if (counters !== undefined) {
      out.push(paint("dim", childLead + (after === 0 ? ELBOW : TEE)) + counters);
    }
    if (after === 0) continue;
    const below = depth + 1;
    const lastLead = childLead + ELBOW, midLead = childLead + TEE;
    // Pushed last first, so that they come off the stack in order.
    for (let i = trailers.length - 1; i >= 0; i--) {
      items.push(trailers[i]);
      depths.push(below);
      leads.push(i === trailers.length - 1 ? lastLead : midLead);
      childLeads.push("");
      inherited.push(null);
    }
    if (shown === 0) continue;
    if (shown > 1) shares = sharedPaths(kids, shares);
    const lastChild = childLead + SPACE, midChild = childLead + PIPE;
    for (let i = shown - 1; i >= 0; i--) {
      const last = i === after - 1;
      items.push(kids[i]);
      depths.push(below);
      leads.push(last ? lastLead : midLead);
      childLeads.push(last ? lastChild : midChild);
      inherited.push(st.deadline ?? null);
    }
  }
}

/**
 * Marks siblings that share a path (same name): the first maps to how many share it, the
 * others to 0. Nothing is made when every path differs, the common case.
 */
function sharedPaths(
  kids: readonly ContextStatus[],
  shares: Map<ContextStatus, number> | undefined,
): Map<ContextStatus, number> | undefined {
  let firsts: Map<string, ContextStatus> | undefined;
  const seen = new Set<string>();
  for (let i = 0; i < kids.length; i++) {
    const path = kids[i].path;
    if (!seen.has(path)) {
      seen.add(path);
      continue;
    }
    firsts ??= new Map();
    if (!firsts.has(path)) firsts.set(path, kids.find((k) => k.path === path)!);
  }
  if (firsts === undefined) return shares;
  shares ??= new Map();
  for (const k of kids) {
    const first = firsts.get(k.path);
    if (first === undefined) continue;
    shares.set(first, (shares.get(first) ?? 0) + 1);
    if (k !== first) shares.set(k, 0);
  }
  return shares;
}

function countBelow(st: ContextStatus): number {
  let n = 0;
  const stack = [...(st.children ?? [])];
  while (stack.length > 0) {
    const c = stack.pop()!;
    n++;
    for (const k of c.children ?? []) stack.push(k);
  }
  return n;
}

function contextLine(
  st: ContextStatus,
  depth: number,
  paint: Paint,
  parentDeadline: number | null,
  now: number,
  shift: number,
): string {
  const durationMs = st.durationMs + shift, idleMs = st.idleMs + shift;
  const idle = idleMs >= IDLE_AFTER_MS;
  // A service is "active" for its age, as the design draws it, unless it is idle: then "up",
  // so that a line never says both "active" and "idle".
  const role = depth === 0
    ? " uptime"
    : depth === 1
    ? idle ? " up" : " active"
    : st.running > 0
    ? " running"
    : " connected";
  let line = paint("bold", safeText(st.name)) + " (" + formatDuration(durationMs) + role;
  if (idle) line += ", idle " + formatDuration(idleMs);
  else if (depth === 1) line += ", last activity " + formatDuration(idleMs) + " ago";
  else if (role !== " running") line += ", active " + formatDuration(idleMs) + " ago";
  if (st.cancelled) {
    let c = "cancelled";
    if (st.cancelledAt !== null && st.createdAt !== undefined) {
      const ago = st.createdAt + durationMs - st.cancelledAt;
      c += ` ${formatDuration(ago)} ago`;
    }
    if (st.cancelReason !== null && st.cancelReason !== undefined) {
      c += `: ${clean(st.cancelReason)}`;
    }
    line += ", " + paint("yellow", c);
  }
  const deadline = st.deadline;
  if (typeof deadline === "number" && deadline !== parentDeadline && typeof now === "number") {
    line += ", " +
      (deadline > now
        ? `deadline in ${formatDuration(deadline - now)}`
        : paint("yellow", `deadline exceeded ${formatDuration(now - deadline)} ago`));
  }
  if (st.error !== null && st.error !== undefined) {
    line += ", " + paint("red", `failed: ${clean(st.error)}`);
  }
  // A short summary: metrics first, then data.
  let n = 0, more = 0;
  const metrics = st.metrics, data = st.data;
  for (const key in metrics) {
    if (n++ < SUMMARY_ITEMS) line += ", " + metricText(key, metrics[key]);
    else more++;
  }
  for (const key in data) {
    if (n++ < SUMMARY_ITEMS) line += ", " + clean(key) + ": " + valueText(data[key]);
    else more++;
  }
  if (more > 0) line += `, +${more} more`;
  return line + ")";
}

function metricText(key: string, m: MetricValue): string {
  const v = m.value;
  const name = words(key);
  switch (m.kind) {
    case "bytes":
      return formatBytes(Number(v)) + " " + name;
    case "duration":
      return name + " " + formatDuration(Number(v));
    case "text":
      return clean(String(v));
    default:
      return formatNumber(Number(v)) + " " + name;
  }
}

function valueText(v: JsonValue): string {
  if (typeof v === "string") return clean(v);
  if (typeof v === "number") return formatNumber(v);
  if (v === null || typeof v === "boolean") return String(v);
  return clean(JSON.stringify(v));
}

/**
 * Text from the application, made safe for a terminal (controls replaced, invisible and bidi
 * characters escaped) and short.
 */
function clean(text: string): string {
  return safeText(text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text);
}

// Counter and metric names repeat across contexts: their display form is kept.
const wordCache = new Map<string, string>();

function words(name: string): string {
  let w = wordCache.get(name);
  if (w === undefined) {
    if (wordCache.size >= 4096) wordCache.clear();
    w = clean(name.includes("_") ? name.replaceAll("_", " ") : name);
    wordCache.set(name, w);
  }
  return w;
}

function counted(n: number, name: string): string {
  const w = words(name);
  return formatNumber(n) + " " + (n === 1 ? singular(w) : w);
}

// "1 command", "1 byte processed": the first word made singular.
function singular(w: string): string {
  const sp = w.indexOf(" ");
  const end = sp < 0 ? w.length : sp;
  if (end <= 2 || w.charCodeAt(end - 1) !== 115 /* s */) return w;
  const before = w.charCodeAt(end - 2);
  if (before === 115 || before === 117 || before === 105) return w; // -ss, -us, -is
  return w.slice(0, end - 1) + w.slice(end);
}

const SUCCESS = "successful_", FAILED = "failed_";

// Whether `name` is `successful_X` or `failed_X` with `X` itself a counter: then it is shown
// beside `X`, as in "45 commands (42 success, 3 failed)".
function isOutcome(name: string, total: Record<string, number>): boolean {
  if (name.startsWith(SUCCESS)) return total[name.slice(SUCCESS.length)] > 0;
  if (name.startsWith(FAILED)) return total[name.slice(FAILED.length)] > 0;
  return false;
}

function counterLine(st: ContextStatus): string | undefined {
  const total = st.deepTotalCounters ?? st.totalCounters ?? {};
  const live = st.deepLiveCounters ?? st.liveCounters ?? {};
  let outcomes = false, nt = 0, nl = 0;
  for (const name in total) {
    if (name.startsWith(SUCCESS) || name.startsWith(FAILED)) outcomes = true;
    if (total[name] > 0) nt++;
    if (live[name] > 0) nl++;
  }
  for (const name in live) if (!(name in total) && live[name] > 0) nl++;
  if (nt === 0 && nl === 0) return undefined;

  let t = "", shown = 0, skipped = 0;
  for (const name in total) {
    const v = total[name];
    if (!(v > 0)) continue;
    if (outcomes && isOutcome(name, total)) {
      skipped++;
      continue;
    }
    if (++shown === COUNTER_ITEMS && nt - skipped > COUNTER_ITEMS) {
      t += `, +${nt - skipped - COUNTER_ITEMS + 1} more`;
      break;
    }
    t += (shown === 1 ? "" : ", ") + counted(v, name);
    if (outcomes) {
      const ok = total[SUCCESS + name], failed = total[FAILED + name];
      if (ok > 0 && failed > 0) {
        t += ` (${formatNumber(ok)} success, ${formatNumber(failed)} failed)`;
      } else if (ok > 0) t += ` (${formatNumber(ok)} success)`;
      else if (failed > 0) t += ` (${formatNumber(failed)} failed)`;
    }
  }
  if (nl === 0) return t === "" ? undefined : "Total: " + t;

  // Live counts in the order of the totals, then the others.
  let l = "";
  shown = 0;
  for (const name in total) {
    const v = live[name];
    if (v > 0) l = liveItem(l, ++shown, nl, v, name);
  }
  for (const name in live) {
    const v = live[name];
    if (v > 0 && !(name in total)) l = liveItem(l, ++shown, nl, v, name);
  }
  return shown === 0 ? undefined : t === "" ? "Live: " + l : "Total: " + t + " | Live: " + l;
}

function liveItem(l: string, shown: number, count: number, v: number, name: string): string {
  if (shown > COUNTER_ITEMS) return l;
  if (shown === COUNTER_ITEMS && count > COUNTER_ITEMS) {
    return l + `, +${count - COUNTER_ITEMS + 1} more`;
  }
  return l + (shown === 1 ? "" : ", ") + counted(v, name);
}

/** Counters shown per part of a counter line. */
const COUNTER_ITEMS = 8;

function modeText(kind: string, mode: string, permits: number, capacity?: number): string {
  if (kind === "rwlock") return safeText(String(mode));
  if (kind === "semaphore") {
    return capacity === undefined
      ? `${permits} permit${permits === 1 ? "" : "s"}`
      : `${permits} of ${capacity} permits`;
  }
  return "";
}

function holdsLine(l: LockStatus, paint: Paint, shift: number): string {
  const mode = modeText(l.kind, l.mode, l.permits);
  const held = red(l.longHeld, `${formatDuration(l.heldMs + shift)} held`, paint);
  return `🔒 HOLDS "${paint("cyan", safeText(l.lockName ?? l.name))}" (${
    mode ? `${mode}, ` : ""
  }${held})${l.longHeld ? paint("red", " ⚠️ LONG HELD") : ""}`;
}

function waitsLine(w: LockWaiter, paint: Paint, shift: number): string {
  const mode = modeText(w.kind, w.mode, w.permits);
  const waiting = red(w.stuck, `${formatDuration(w.waitingMs + shift)} waiting`, paint);
  return `⏳ WAITING "${paint("cyan", safeText(w.lockName))}" (${
    mode ? `${mode}, ` : ""
  }${waiting})${flags(w, paint)}`;
}

function red(when: boolean, text: string, paint: Paint): string {
  return when ? paint("red", text) : text;
}

function flags(w: LockWaiter, paint: Paint): string {
  if (w.deadlocked) return paint("red", " 🚨 DEADLOCK");
  return w.stuck ? paint("red", " ⚠️ STUCK") : "";
}

function lockEntry(l: LockStatus, paint: Paint, shift: number): string {
  const mode = modeText(l.kind, l.mode, l.permits, l.capacity);
  const dur = red(l.longHeld, formatDuration(l.heldMs + shift), paint);
  const flag = l.leaked
    ? paint("red", " ⚠️ LEAKED (holder ended)")
    : l.longHeld
    ? paint("red", " ⚠️ LONG HELD")
    : "";
  return `"${paint("cyan", safeText(l.lockName ?? l.name))}"${mode ? ` (${mode})` : ""} held by ${
    safeText(shortRef(l.holder ?? l.heldBy))
  } (${dur})${flag}`;
}

function waiterEntry(w: LockWaiter, paint: Paint, shift: number): string {
  const mode = modeText(w.kind, w.mode, w.permits);
  const dur = red(w.stuck, formatDuration(w.waitingMs + shift), paint);
  return `${safeText(shortRef(w.waiter))} waiting for "${paint("cyan", safeText(w.lockName))}"${
    mode ? ` (${mode})` : ""
  } (${dur})${flags(w, paint)}`;
}

const ICONS: Record<string, string> = { critical: "🚨", warning: "⚠️", info: "ℹ️" };
const TONES: Record<string, Parameters<typeof styleText>[0]> = {
  critical: "red",
  warning: "yellow",
  info: "dim",
};

function warningEntry(w: StatusWarning, paint: Paint, at: number, shift: number): string {
  const message = shift > 0 ? messageAt(w, at, at + shift) : w.message;
  return `${ICONS[w.severity] ?? "⚠️"} ${
    paint(TONES[w.severity] ?? "yellow", cleanMessage(message))
  }`;
}

// Warning messages may be long (a deadlock names every member): they are made safe, not cut.
function cleanMessage(text: string): string {
  return safeText(text);
}

function list<T>(items: readonly T[], max: number, out: Lines, line: (x: T) => string): void {
  const shown = Math.min(items.length, max);
  for (let i = 0; i < shown; i++) out.push(`  - ${line(items[i])}`);
  if (items.length > shown) out.push(`  … ${formatNumber(items.length - shown)} more`);
}
