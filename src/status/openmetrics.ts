/**
 * The status as Prometheus metrics: the OpenMetrics 1.0 text format, or the classic Prometheus
 * text format 0.0.4 for tools that only read that one (`promtool check metrics`).
 *
 * What is exported (every duration in seconds, every size in bytes):
 *
 * | family | type | labels | what |
 * | --- | --- | --- | --- |
 * | `fastn_app_<name>_total` | counter | `path` | a total counter (`incrementTotal`) |
 * | `fastn_task_failures_total` | counter | `path` | tasks that failed (the `failed` total) |
 * | `fastn_live_<name>` | gauge | `path` | a live count (`incrementLive`) |
 * | `fastn_metric_<name>` | gauge | `path` | a `counter` or `gauge` metric (`addMetric`) |
 * | `fastn_metric_<name>_seconds` | gauge | `path` | a `duration` metric |
 * | `fastn_metric_<name>_bytes` | gauge | `path` | a `bytes` metric |
 * | `fastn_contexts` | gauge | `path` | contexts in the tree |
 * | `fastn_contexts_cancelled` | gauge | `path` | cancelled contexts still in the tree |
 * | `fastn_contexts_past_deadline` | gauge | `path` | contexts still in the tree past their deadline |
 * | `fastn_tasks_running` | gauge | `path` | tasks running |
 * | `fastn_context_age_seconds` | gauge | `path` | the age of the oldest context |
 * | `fastn_lock_holders` | gauge | `path`, `lock`, `kind` | holders of a lock |
 * | `fastn_lock_held_seconds` | gauge | `path`, `lock`, `kind` | the longest current hold |
 * | `fastn_lock_waiters` | gauge | `path`, `lock`, `kind` | waiters for a lock |
 * | `fastn_lock_wait_seconds` | gauge | `path`, `lock`, `kind` | the longest current wait |
 * | `fastn_deadlocks` | gauge | | deadlock cycles not yet broken |
 * | `fastn_warnings` | gauge | `code` | warnings by code, every code listed |
 * | `fastn_warnings_by_severity` | gauge | `severity` | warnings by severity |
 * | `fastn_system_*`, `fastn_process_*` | gauge | | the system metrics that could be read |
 * | `fastn_export_folded_paths` | gauge | | context paths not shown under their own label |
 * | `fastn_export_omitted_families` | gauge | | name families left out by `maxFamilies` |
 *
 * Label cardinality is bounded: see {@linkcode OpenMetricsOptions}.
 *
 * @module
 */

import { internals } from "../core/context.ts";
import { rootOption } from "../core/current.ts";
import { FOLDED_SEGMENT, type PathNode } from "../core/counters.ts";
import { describe, escapeSegment } from "../core/names.ts";
import { lockRegistry } from "../locks/registry.ts";
import { snapshot } from "./status.ts";
import type { ContextStatus, StatusOptions } from "./types.ts";
import type { WarningCode, WarningSeverity } from "./warnings.ts";

/**
 * Options of {@linkcode openMetrics}: which tree, the bounds on label cardinality, and the format.
 *
 * **Label cardinality.** The `path` label is a context path (names escaped as in counter keys).
 * A path deeper than `maxDepth` levels below the root, or past the `maxSeries` bound, has no label
 * of its own: it is counted in `<ancestor>.*`, where `<ancestor>` is its nearest ancestor that has
 * one ("the rest of this level"). So a series labelled `P` counts exactly the contexts at path
 * `P`, a series labelled `P.*` counts those below `P` that are not shown one by one, and the sum
 * over all labels of a family is always the whole tree's. Paths are given labels shallow first,
 * then in tree order (oldest first), so the labels stay stable while the tree stays within the
 * bounds. `*` can never be a context name's segment (a name's `*` is written `%2A`), and it is also
 * where the counter store folds the counters of ended contexts when it is full.
 *
 * Lock families have at most `maxSeries` series each: past it, the rest are added into one series
 * whose labels are all `*`. Counter, live and metric names become metric names in snake case
 * (`bytesRead` → `bytes_read`), lower case, accents dropped, every other character outside
 * `[a-z0-9_]` written `_`, and a trailing `_total` dropped; names that end up the same add up. At most `maxFamilies` such
 * name families are exported (first seen first); `fastn_export_omitted_families` counts the rest.
 * In all, an exposition has at most `(maxFamilies + 25) × maxSeries` series.
 *
 * @example Tight bounds for a tree with many sessions
 * ```ts
 * import { Context, openMetrics, type OpenMetricsOptions } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const chat = root.child("chat").create();
 * for (let i = 0; i < 50; i++) chat.child(`session-${i}`).create().incrementTotal("messages");
 * const options: OpenMetricsOptions = { root, maxSeries: 10, maxDepth: 3 };
 * const text = openMetrics(options);
 * const series = text.split("\n").filter((l) => l.startsWith("fastn_app_messages_total"));
 * assert.ok(series.length <= 10);
 * assert.ok(text.includes('fastn_app_messages_total{path="global.chat.*"}'));
 * ```
 */
export interface OpenMetricsOptions extends StatusOptions {
  /**
   * The most levels below the root that get `path` labels of their own; deeper contexts are
   * counted in `<ancestor>.*`. 0 gives only the root and `<root>.*`.
   * @default {4}
   */
  maxDepth?: number;
  /**
   * The most distinct `path` labels (own paths and `.*` folds together), and the most series of
   * each lock family. At least 2.
   * @default {200}
   */
  maxSeries?: number;
  /**
   * The most metric families made from counter, live and metric names.
   * @default {100}
   */
  maxFamilies?: number;
  /**
   * `"openmetrics"`: OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`), ending in
   * `# EOF`. `"prometheus"`: the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`),
   * what `promtool check metrics` reads.
   * @default {"openmetrics"}
   */
  format?: "openmetrics" | "prometheus";
}

/**
 * The content type of each format of {@linkcode openMetrics}, for an HTTP answer.
 *
 * @example Serving the metrics from a server of your own
 * ```ts
 * import { Context, METRICS_CONTENT_TYPES, openMetrics } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const handler = (req: Request): Response => {
 *   const om = (req.headers.get("accept") ?? "").includes("application/openmetrics-text");
 *   const format = om ? "openmetrics" : "prometheus";
 *   return new Response(openMetrics({ root, format }), {
 *     headers: { "content-type": METRICS_CONTENT_TYPES[format] },
 *   });
 * };
 * const res = handler(new Request("http://localhost/metrics"));
 * assert.deepEqual(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
 * await res.body?.cancel();
 * ```
 */
export const METRICS_CONTENT_TYPES: Readonly<Record<"openmetrics" | "prometheus", string>> = Object
  .freeze({
    openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
    prometheus: "text/plain; version=0.0.4; charset=utf-8",
  });

const WARNING_CODES: readonly WarningCode[] = [
  "deadlock",
  "lock-held-long",
  "waiter-stuck",
  "leaked-guard",
  "ignores-cancellation",
  "live-below-zero",
  "task-failed",
  "cpu-high",
  "memory-high",
  "disk-full",
  "load-high",
  "process-memory-high",
];
const SEVERITIES: readonly WarningSeverity[] = ["info", "warning", "critical"];

type Kind = "counter" | "gauge";
type Labels = ReadonlyArray<readonly [string, string]>;

interface Sample {
  labels: Labels;
  value: number;
}

/** One metric family being gathered. */
class Family {
  readonly name: string;
  readonly kind: Kind;
  readonly help: string;
  readonly unit: string | undefined;
  readonly #limit: number;
  readonly #samples = new Map<string, Sample>();

  constructor(name: string, kind: Kind, help: string, unit?: string, limit = Infinity) {
    this.name = name;
    this.kind = kind;
    this.help = help;
    this.unit = unit;
    this.#limit = limit;
  }

  get size(): number {
    return this.#samples.size;
  }

  /** Adds `value` into the series of `labels` (summed, or the largest kept with `max`). */
  add(labels: Labels, value: number, max = false): void {
    let key = labelKey(labels);
    let sample = this.#samples.get(key);
    if (sample === undefined && this.#samples.size >= this.#limit - 1) {
      // Past the bound: into the one series whose labels are all `*`.
      labels = labels.map(([k]) => [k, FOLDED_SEGMENT] as const);
      key = labelKey(labels);
      sample = this.#samples.get(key);
    }
    if (sample === undefined) this.#samples.set(key, { labels, value });
    else sample.value = max ? Math.max(sample.value, value) : sample.value + value;
  }

  samples(): IterableIterator<Sample> {
    return this.#samples.values();
  }
}

function labelKey(labels: Labels): string {
  return labels.map(([k, v]) => `${k}\u0000${v}`).join("\u0001");
}

/** One path of the label tree: a context path, or a counter store path, under the root. */
interface PathEntry {
  readonly path: string;
  readonly depth: number;
  readonly folded: boolean;
  readonly children: Map<string, PathEntry>;
  shown: boolean;
  hidden: number;
}

/** Chooses which paths get labels of their own and maps every path to its label. */
class PathLabels {
  readonly #root: PathEntry;
  readonly #rootPath: string;
  #folded = 0;
  #entries = 1;

  constructor(rootPath: string) {
    this.#rootPath = rootPath;
    this.#root = entry(rootPath, 0, false);
  }

  /** Adds a path (at or under the root); returns false for a path outside the root. */
  add(path: string): boolean {
    const rest = this.#relative(path);
    if (rest === undefined) return false;
    let e = this.#root;
    for (const seg of rest) {
      let next = e.children.get(seg);
      if (next === undefined) {
        next = entry(`${e.path}.${seg}`, e.depth + 1, e.folded || seg === FOLDED_SEGMENT);
        e.children.set(seg, next);
        this.#entries++;
      }
      e = next;
    }
    return true;
  }

  /** Gives labels shallow first, in tree order, while the label count stays within `max`. */
  choose(maxDepth: number, max: number): void {
    const root = this.#root;
    root.shown = true;
    root.hidden = root.children.size;
    let labels = 1 + (root.hidden > 0 ? 1 : 0);
    const queue: PathEntry[] = [root];
    for (let i = 0; i < queue.length; i++) {
      const parent = queue[i];
      for (const child of parent.children.values()) {
        if (child.folded || child.depth > maxDepth) continue;
        const delta = 1 + (child.children.size > 0 ? 1 : 0) - (parent.hidden === 1 ? 1 : 0);
        if (labels + delta > max) continue;
        labels += delta;
        parent.hidden--;
        child.shown = true;
        child.hidden = child.children.size;
        queue.push(child);
      }
    }
    this.#folded = this.#entries - queue.length;
  }

  /** The label of `path`, or undefined for a path outside the root. */
  label(path: string): string | undefined {
    const rest = this.#relative(path);
    if (rest === undefined) return undefined;
    let e = this.#root;
    for (const seg of rest) {
      const next = e.children.get(seg);
      if (next === undefined || !next.shown) return `${e.path}.${FOLDED_SEGMENT}`;
      e = next;
    }
    return e.path;
  }

  /** How many paths have no label of their own. */
  get folded(): number {
    return this.#folded;
  }

  #relative(path: string): string[] | undefined {
    if (path === this.#rootPath) return [];
    if (!path.startsWith(this.#rootPath + ".")) return undefined;
    return path.slice(this.#rootPath.length + 1).split(".");
  }
}

function entry(path: string, depth: number, folded: boolean): PathEntry {
  return { path, depth, folded, children: new Map(), shown: false, hidden: 0 };
}

/**
 * Writes the status of the global context (or `options.root`) as metrics for Prometheus: totals
 * as counters, live counts, metrics and context counts as gauges, lock hold and wait times,
 * task failures, warnings and the system metrics, every duration in seconds, with the context
 * path as the `path` label, bounded as {@linkcode OpenMetricsOptions} explains. A pure function
 * of the tree: it takes a status snapshot and changes nothing.
 *
 * `main(fn, { http: { port } })` serves it at `/metrics` (the Unix-socket endpoint does too),
 * choosing the format from the scraper's `Accept` header.
 *
 * @example The counters of a small service
 * ```ts
 * import { Context, openMetrics } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const proxy = root.child("http-proxy").create();
 * proxy.incrementTotal("requests", 3);
 * proxy.incrementLive("connections");
 * const text = openMetrics({ root });
 * assert.ok(text.includes("# TYPE fastn_app_requests counter"));
 * assert.ok(text.includes('fastn_app_requests_total{path="global.http-proxy"} 3'));
 * assert.ok(text.includes('fastn_live_connections{path="global.http-proxy"} 1'));
 * assert.ok(text.endsWith("# EOF\n"));
 * ```
 *
 * @example The Prometheus text format, for `promtool check metrics`
 * ```ts
 * import { Context, openMetrics } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * root.incrementTotal("requests");
 * const text = openMetrics({ root, format: "prometheus" });
 * assert.ok(text.includes("# TYPE fastn_app_requests_total counter"));
 * assert.ok(!text.includes("# EOF"));
 * ```
 *
 * @param options Which tree, the cardinality bounds, and the format.
 * @returns The exposition, one family after another, ending in a newline.
 * @throws {TypeError} for options of the wrong type (as {@linkcode status} does for `root` and
 * `system`).
 * @throws {RangeError} for a `maxDepth` or `maxFamilies` that is not a non-negative integer, a
 * `maxSeries` that is not an integer of at least 2, or an unknown `format`.
 */
export function openMetrics(options: OpenMetricsOptions = {}): string {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const maxDepth = integer(options.maxDepth, 4, 0, "options.maxDepth");
  const maxSeries = integer(options.maxSeries, 200, 2, "options.maxSeries");
  const maxFamilies = integer(options.maxFamilies, 100, 0, "options.maxFamilies");
  const format = options.format ?? "openmetrics";
  if (format !== "openmetrics" && format !== "prometheus") {
    throw new RangeError(
      `options.format must be "openmetrics" or "prometheus", got ${describe(format)}`,
    );
  }
  const root = rootOption(options.root);
  const { status, tree } = snapshot({ root, system: options.system });

  // Every path under the root that has something to show: live contexts first (tree order),
  // then the counter store's paths (ended contexts and folds), then lock holders and waiters.
  const paths = new PathLabels(root.path);
  const contexts: ContextStatus[] = [];
  const stack: ContextStatus[] = [status.global];
  while (stack.length > 0) {
    const c = stack.pop()!;
    contexts.push(c);
    paths.add(c.path);
    for (let i = c.children.length - 1; i >= 0; i--) stack.push(c.children[i]);
  }
  const nodes: PathNode[] = [];
  const top = internals.counterNode(root);
  if (top !== undefined) {
    const todo: PathNode[] = [top];
    while (todo.length > 0) {
      const n = todo.pop()!;
      if (n.cells !== undefined && n.cells.size > 0) {
        nodes.push(n);
        paths.add(n.path);
      }
      if (n.children !== undefined) {
        const kids = [...n.children.values()];
        for (let i = kids.length - 1; i >= 0; i--) todo.push(kids[i]);
      }
    }
  }
  const locks = status.activeLocks.filter((l) => paths.add(l.holder));
  const waiters = status.lockWaiters.filter((w) => paths.add(w.waiter));
  paths.choose(maxDepth, maxSeries);

  const families: Family[] = [];
  const family = (name: string, kind: Kind, help: string, unit?: string, limit?: number) => {
    const f = new Family(name, kind, help, unit, limit);
    families.push(f);
    return f;
  };

  // Counters, live counts and metrics, one family per (sanitized) name.
  const named = new Map<string, Family>();
  let omitted = 0;
  const omittedNames = new Set<string>();
  const namedFamily = (name: string, kind: Kind, help: string, unit?: string) => {
    let f = named.get(name);
    if (f === undefined) {
      if (named.size >= maxFamilies) {
        if (!omittedNames.has(name)) {
          omittedNames.add(name);
          omitted++;
        }
        return undefined;
      }
      f = new Family(name, kind, help, unit);
      named.set(name, f);
    }
    return f;
  };
  const failures = family(
    "fastn_task_failures",
    "counter",
    "Tasks that failed (rejected or threw), by context path.",
  );
  for (const n of nodes) {
    const label: Labels = [["path", paths.label(n.path)!]];
    for (const [name, cell] of n.cells!) {
      if (name === "failed") {
        failures.add(label, cell.total);
        continue;
      }
      const base = snake(name);
      if (cell.showsTotal) {
        namedFamily(
          `fastn_app_${base}`,
          "counter",
          `The total counter named ${name}, by context path.`,
        )?.add(label, cell.total);
      }
      if (cell.hasLive) {
        namedFamily(
          `fastn_live_${base}`,
          "gauge",
          `The live count named ${name}, by context path.`,
        )?.add(label, cell.live);
      }
    }
  }

  const ctxCount = family("fastn_contexts", "gauge", "Contexts in the tree, by context path.");
  const ctxCancelled = family(
    "fastn_contexts_cancelled",
    "gauge",
    "Cancelled contexts still in the tree, by context path.",
  );
  const ctxPastDeadline = family(
    "fastn_contexts_past_deadline",
    "gauge",
    "Contexts still in the tree whose deadline has passed, by context path.",
  );
  const ctxRunning = family("fastn_tasks_running", "gauge", "Tasks running, by context path.");
  const ctxAge = family(
    "fastn_context_age_seconds",
    "gauge",
    "The age of the oldest context, by context path.",
    "seconds",
  );
  for (const c of contexts) {
    const label: Labels = [["path", paths.label(c.path)!]];
    ctxCount.add(label, 1);
    ctxCancelled.add(label, c.cancelled ? 1 : 0);
    ctxPastDeadline.add(label, c.deadline !== null && c.deadline <= status.timestamp ? 1 : 0);
    ctxRunning.add(label, c.running);
    ctxAge.add(label, c.durationMs / 1000, true);
    for (const name in c.metrics) {
      const m = c.metrics[name];
      if (typeof m.value !== "number") continue;
      const base = snake(name);
      if (m.kind === "duration") {
        namedFamily(
          `fastn_metric_${withUnit(base, DURATION_SUFFIX, "seconds")}`,
          "gauge",
          `The duration metric named ${name}, by context path.`,
          "seconds",
        )?.add(label, m.value / 1000);
      } else if (m.kind === "bytes") {
        namedFamily(
          `fastn_metric_${withUnit(base, BYTES_SUFFIX, "bytes")}`,
          "gauge",
          `The bytes metric named ${name}, by context path.`,
          "bytes",
        )?.add(label, m.value);
      } else {
        namedFamily(`fastn_metric_${base}`, "gauge", `The ${m.kind} metric named ${name}, by path.`)
          ?.add(label, m.value);
      }
    }
  }
  // Name families in the order their names were first seen, after the task failures.
  families.splice(1, 0, ...named.values());

  const holders = family(
    "fastn_lock_holders",
    "gauge",
    "Holders of a named lock, by lock, kind and holding context path.",
    undefined,
    maxSeries,
  );
  const held = family(
    "fastn_lock_held_seconds",
    "gauge",
    "The longest current hold of a named lock, by lock, kind and holding context path.",
    "seconds",
    maxSeries,
  );
  for (const l of locks) {
    const labels = lockLabels(paths.label(l.holder)!, l.lockName, l.kind);
    holders.add(labels, 1);
    held.add(labels, l.heldMs / 1000, true);
  }
  const waiting = family(
    "fastn_lock_waiters",
    "gauge",
    "Waiters for a named lock, by lock, kind and waiting context path.",
    undefined,
    maxSeries,
  );
  const waited = family(
    "fastn_lock_wait_seconds",
    "gauge",
    "The longest current wait for a named lock, by lock, kind and waiting context path.",
    "seconds",
    maxSeries,
  );
  for (const w of waiters) {
    const labels = lockLabels(paths.label(w.waiter)!, w.lockName, w.kind);
    waiting.add(labels, 1);
    waited.add(labels, w.waitingMs / 1000, true);
  }
  family("fastn_deadlocks", "gauge", "Deadlock cycles of the tree not yet broken.")
    .add([], lockRegistry(tree).deadlocks.length);

  const byCode = family("fastn_warnings", "gauge", "Status warnings, by code.");
  for (const code of WARNING_CODES) byCode.add([["code", code]], 0);
  const bySeverity = family("fastn_warnings_by_severity", "gauge", "Status warnings, by severity.");
  for (const severity of SEVERITIES) bySeverity.add([["severity", severity]], 0);
  for (const w of status.warnings) {
    byCode.add([["code", w.code]], 1);
    bySeverity.add([["severity", w.severity]], 1);
  }

  const s = status.system;
  const gauge = (name: string, help: string, value: number | null | undefined, unit?: string) => {
    if (typeof value === "number" && Number.isFinite(value)) {
      family(name, "gauge", help, unit).add([], value);
    }
  };
  gauge(
    "fastn_system_cpu_usage_ratio",
    "CPU busy time over all cores, 0 to 1.",
    s.cpuUsagePercent === null ? null : s.cpuUsagePercent / 100,
    "ratio",
  );
  gauge("fastn_system_memory_used_bytes", "Memory in use.", s.memoryUsedBytes, "bytes");
  gauge("fastn_system_memory_total_bytes", "Installed memory.", s.memoryTotalBytes, "bytes");
  gauge(
    "fastn_system_disk_used_bytes",
    "Used space of the working directory's file system.",
    s.diskUsedBytes,
    "bytes",
  );
  gauge(
    "fastn_system_disk_total_bytes",
    "Size of the working directory's file system.",
    s.diskTotalBytes,
    "bytes",
  );
  gauge(
    "fastn_system_network_receive_bytes_per_second",
    "Bytes received per second, all interfaces but loopback.",
    s.networkRxBytesPerSec,
  );
  gauge(
    "fastn_system_network_transmit_bytes_per_second",
    "Bytes sent per second, all interfaces but loopback.",
    s.networkTxBytesPerSec,
  );
  gauge("fastn_system_load1", "The 1 minute load average.", s.loadAverage?.[0]);
  gauge("fastn_system_load5", "The 5 minute load average.", s.loadAverage?.[1]);
  gauge("fastn_system_load15", "The 15 minute load average.", s.loadAverage?.[2]);
  gauge(
    "fastn_system_uptime_seconds",
    "How long the machine has been up.",
    s.uptimeMs === null ? null : s.uptimeMs / 1000,
    "seconds",
  );
  gauge(
    "fastn_process_resident_memory_bytes",
    "This process's resident set size.",
    s.processRssBytes,
    "bytes",
  );
  gauge(
    "fastn_process_heap_used_bytes",
    "This process's JavaScript heap in use.",
    s.processHeapUsedBytes,
    "bytes",
  );
  gauge(
    "fastn_process_heap_total_bytes",
    "This process's JavaScript heap size.",
    s.processHeapTotalBytes,
    "bytes",
  );

  family(
    "fastn_export_folded_paths",
    "gauge",
    "Context paths counted in a .* label instead of one of their own (maxDepth, maxSeries).",
  ).add([], paths.folded);
  family(
    "fastn_export_omitted_families",
    "gauge",
    "Counter, live and metric name families left out by maxFamilies.",
  ).add([], omitted);

  return write(families, format);
}

const DURATION_SUFFIX = /_(ms|millis|milliseconds|msec|seconds|secs|sec|s)$/;
const BYTES_SUFFIX = /_(bytes|b)$/;

function withUnit(base: string, suffix: RegExp, unit: string): string {
  const bare = base.replace(suffix, "");
  return `${bare === "" ? base : bare}_${unit}`;
}

/**
 * A name as part of a metric name: accents dropped, snake case, lower case, `[a-z0-9_]` only,
 * no trailing `_total`; `unnamed` when nothing is left.
 * @internal
 */
export function snake(name: string): string {
  let s = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "") // accents: é → e
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_|_$/g, "");
  while (s.endsWith("_total")) s = s.slice(0, -"_total".length);
  return s === "" ? "unnamed" : s;
}

function lockLabels(path: string, lock: string, kind: string): Labels {
  return [["path", path], ["lock", escapeSegment(lock)], ["kind", kind]];
}

function integer(value: unknown, fallback: number, min: number, argument: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`${argument} must be a number, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${argument} must be an integer of at least ${min}, got ${value}`);
  }
  return value;
}

function write(families: Family[], format: "openmetrics" | "prometheus"): string {
  const om = format === "openmetrics";
  const out: string[] = [];
  for (const f of families) {
    if (f.size === 0) continue;
    const sampleName = f.kind === "counter" ? `${f.name}_total` : f.name;
    const name = om ? f.name : sampleName;
    const help = om ? escapeOpenMetricsHelp(f.help) : escapePrometheusHelp(f.help);
    if (om) {
      out.push(`# TYPE ${name} ${f.kind}`);
      if (f.unit !== undefined) out.push(`# UNIT ${name} ${f.unit}`);
      out.push(`# HELP ${name} ${help}`);
    } else {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${f.kind}`);
    }
    for (const s of f.samples()) {
      const labels = s.labels.length === 0
        ? ""
        : `{${s.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
      out.push(`${sampleName}${labels} ${number(s.value)}`);
    }
  }
  if (om) out.push("# EOF");
  return out.join("\n") + "\n";
}

function number(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeOpenMetricsHelp(v: string): string {
  return escapeLabel(v);
}

function escapePrometheusHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
