/**
 * The flight recorder's format: a versioned header line, full snapshots and deltas, each a JSON
 * line; the flat state a recording carries, and how a delta is made from two states and applied.
 * Described for readers in `docs/recording.md`.
 *
 * @module
 */

import type { JsonValue } from "../core/json.ts";
import { isSecretKey, REDACTED, redactValue } from "./redact.ts";
import type { Status } from "./types.ts";

/** The name in the first line of every segment. */
export const RECORDING_FORMAT = "fastn-context-recording";
/** The format version this code writes and the newest it reads. */
export const RECORDING_VERSION = 1;
/** The default bound of a recording: 64 MiB. */
export const DEFAULT_RECORDING_BYTES: number = 64 * 1024 * 1024;
/** The smallest `maxBytes` accepted. */
export const MIN_RECORDING_BYTES = 16 * 1024;
/** A full snapshot is written again after this many deltas... */
export const FULL_EVERY_DELTAS = 1_000;
/** ...or when the last one is this old (ms, on the status clock). */
export const FULL_EVERY_MS = 5 * 60 * 1000;

// ── errors ─────────────────────────────────────────────────────────────────────────────────────

/**
 * A recording that cannot be read: missing, not a recording, or damaged before its first
 * snapshot.
 *
 * @example
 * ```ts
 * import { openRecording, RecordingError } from "./recording.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => openRecording("/nonexistent/rec.jsonl"), RecordingError);
 * ```
 */
export class RecordingError extends Error {
  /** Why: `missing`, `format` (not a recording or damaged), or `version` (a newer format). */
  readonly kind: "missing" | "format" | "version";
  /** Makes the error. */
  constructor(kind: "missing" | "format" | "version", message: string) {
    super(message);
    this.name = "RecordingError";
    this.kind = kind;
  }
}

/**
 * A recording written in a newer format than this code reads.
 *
 * @example
 * ```ts
 * import { RecordingError, RecordingVersionError } from "./recording.ts";
 * import assert from "node:assert/strict";
 *
 * const e = new RecordingVersionError("rec.jsonl", 2);
 * assert.ok(e instanceof RecordingError);
 * assert.match(e.message, /format version 2/);
 * ```
 */
export class RecordingVersionError extends RecordingError {
  /** The version the file says it has. */
  readonly version: number;
  /** Makes the error for `file` in format `version`. */
  constructor(file: string, version: number) {
    super(
      "version",
      `${file} is a recording in format version ${version}; this @fastn/context reads version ` +
        `${RECORDING_VERSION} and older: replay it with a newer @fastn/context`,
    );
    this.name = "RecordingVersionError";
    this.version = version;
  }
}

// ── the state a recording carries: flat contexts, derived times left out ────────────────────────

/**
 * One context as a recording keeps it: a `ContextStatus` without `children`, `durationMs` and
 * `idleMs` (derived from the time), with its key, its parent's key and when it was last active.
 * @internal
 */
export interface FlatContext {
  /** Unique in one moment: the parent's key, `.`, the path segment, `#n` for the n-th namesake. */
  key: string;
  /** The parent's key; `null` for the root. */
  parent: string | null;
  /** `timestamp - idleMs`. */
  activeAt: number;
  /** When it was made. */
  createdAt: number;
  /** The other fields of its `ContextStatus`. */
  [field: string]: unknown;
}

/**
 * The status of one moment as a recording carries it.
 * @internal
 */
export interface RecState {
  /** The status's timestamp. */
  at: number;
  /** The root's key. */
  root: string;
  /** Every context by key. */
  contexts: Map<string, FlatContext>;
  /** The keys of each context's children, oldest first. */
  kids: Map<string, string[]>;
  /** `activeLocks` without `heldMs`. */
  locks: Record<string, unknown>[];
  /** `lockWaiters` without `waitingMs`. */
  waiters: Record<string, unknown>[];
  /** `warnings`. */
  warnings: unknown[];
  /** `system`. */
  system: Record<string, unknown>;
}

/**
 * What changed from one moment to the next (a `"k":"d"` line).
 * @internal
 */
export interface Delta {
  /** The status's timestamp. */
  at: number;
  /** `"d"`. */
  k: "d";
  /** Contexts gone (or replaced: then also in `add`). */
  del?: string[];
  /** Contexts that came, parents first. */
  add?: FlatContext[];
  /** Changed fields of contexts that stayed. */
  set?: Record<string, Record<string, unknown>>;
  /** Children lists that are not "the old ones, less the gone, plus the new at the end". */
  order?: Record<string, string[]>;
  /** The new `activeLocks` (without `heldMs`). */
  locks?: Record<string, unknown>[];
  /** The new `lockWaiters` (without `waitingMs`). */
  waiters?: Record<string, unknown>[];
  /** The new `warnings`. */
  warnings?: unknown[];
  /** Changed system metrics. */
  system?: Record<string, unknown>;
}

// The next four functions are also the web dashboard's (src/dashboard_page.ts embeds their
// source): they use nothing but each other and the language.

/**
 * The flat state of a status.
 * @internal
 */
export function stateOf(status: Status): RecState {
  const at = status.timestamp;
  const contexts = new Map<string, FlatContext>();
  const kids = new Map<string, string[]>();
  // deno-lint-ignore no-explicit-any
  type Node = any;
  const stack: Array<[Node, string, string | null]> = [[status.global, status.global.path, null]];
  while (stack.length > 0) {
    const [c, key, parent] = stack.pop()!;
    const f: FlatContext = { key, parent, activeAt: at - c.idleMs, createdAt: c.createdAt };
    for (const field in c) {
      if (field !== "children" && field !== "durationMs" && field !== "idleMs") {
        f[field] = c[field];
      }
    }
    contexts.set(key, f);
    const children = c.children;
    if (children === undefined || children.length === 0) continue;
    const seen = new Map<string, number>();
    const list: string[] = [];
    const cut = String(c.path).length + 1;
    for (const k of children) {
      let seg = String(k.path).slice(cut);
      if (seg.includes("#")) seg = seg.replaceAll("#", "%23");
      const n = seen.get(seg) ?? 0;
      seen.set(seg, n + 1);
      list.push(n > 0 ? key + "." + seg + "#" + n : key + "." + seg);
    }
    kids.set(key, list);
    for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], list[i], key]);
  }
  const locks = (status.activeLocks ?? []).map((l) => {
    const { heldMs: _h, ...rest } = l;
    return rest;
  });
  const waiters = (status.lockWaiters ?? []).map((w) => {
    const { waitingMs: _w, ...rest } = w;
    return rest;
  });
  return {
    at,
    root: status.global.path,
    contexts,
    kids,
    locks,
    waiters,
    warnings: status.warnings ?? [],
    system: (status.system ?? {}) as unknown as Record<string, unknown>,
  };
}

/**
 * Applies a delta to a state, in place.
 * @internal
 */
export function applyDelta(state: RecState, d: Delta): void {
  state.at = d.at;
  for (const key of d.del ?? []) {
    const f = state.contexts.get(key);
    if (f === undefined) continue;
    state.contexts.delete(key);
    if (f.parent === null) continue;
    const list = state.kids.get(f.parent);
    if (list === undefined) continue;
    const i = list.indexOf(key);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) state.kids.delete(f.parent);
  }
  for (const f of d.add ?? []) {
    state.contexts.set(f.key, f);
    if (f.parent === null) {
      state.root = f.key;
      continue;
    }
    const list = state.kids.get(f.parent);
    if (list === undefined) state.kids.set(f.parent, [f.key]);
    else list.push(f.key);
  }
  for (const key in d.set ?? {}) {
    const f = state.contexts.get(key);
    if (f !== undefined) state.contexts.set(key, Object.assign({}, f, d.set![key]));
  }
  for (const parent in d.order ?? {}) {
    const list = d.order![parent];
    if (list.length === 0) state.kids.delete(parent);
    else state.kids.set(parent, list.slice());
  }
  if (d.locks !== undefined) state.locks = d.locks;
  if (d.waiters !== undefined) state.waiters = d.waiters;
  if (d.warnings !== undefined) state.warnings = d.warnings;
  if (d.system !== undefined) state.system = Object.assign({}, state.system, d.system);
}

/**
 * The status of a state: what `statusJson()` gave at that moment.
 * @internal
 */
export function statusOf(state: RecState): Status {
  const at = state.at;
  // deno-lint-ignore no-explicit-any
  const build = (key: string): any => {
    const f = state.contexts.get(key)!;
    const { key: _k, parent: _p, activeAt, ...rest } = f;
    const out = rest as Record<string, unknown>;
    out.durationMs = Math.max(0, at - f.createdAt);
    out.idleMs = Math.max(0, at - activeAt);
    out.children = (state.kids.get(key) ?? []).map(build);
    return out;
  };
  return {
    timestamp: at,
    // deno-lint-ignore no-explicit-any
    system: state.system as any,
    global: build(state.root),
    // deno-lint-ignore no-explicit-any
    activeLocks: state.locks.map((l: any) => ({ ...l, heldMs: Math.max(0, at - l.since) })),
    // deno-lint-ignore no-explicit-any
    lockWaiters: state.waiters.map((w: any) => ({ ...w, waitingMs: Math.max(0, at - w.since) })),
    // deno-lint-ignore no-explicit-any
    warnings: state.warnings as any,
  };
}

/**
 * Whether `query` shows in a state: `deadlock` (a deadlock warning or a deadlocked waiter), any
 * warning code, or a context's name or path.
 * @internal
 */
export function stateMatches(state: RecState, query: string): boolean {
  // deno-lint-ignore no-explicit-any
  for (const w of state.warnings as any[]) if (w && w.code === query) return true;
  if (query === "deadlock") {
    // deno-lint-ignore no-explicit-any
    for (const w of state.waiters as any[]) if (w.deadlocked) return true;
  }
  for (const f of state.contexts.values()) if (f.name === query || f.path === query) return true;
  return false;
}

/** The source of the functions the web dashboard shares with the reader. */
export const SHARED_REPLAY_SOURCE: string = [stateOf, applyDelta, statusOf, stateMatches]
  .map((f) => f.toString()).join("\n");

// ── deltas ─────────────────────────────────────────────────────────────────────────────────────

// Deep equality of JSON values, key order included (it shows in the dashboard).
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i];
    if (k !== kb[i]) return false;
    if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/**
 * What changed from `prev` to `next`; `undefined` when nothing did (time passing changes
 * nothing: durations are derived from it).
 * @internal
 */
export function deltaOf(prev: RecState, next: RecState): Delta | undefined {
  const d: Delta = { at: next.at, k: "d" };
  const add: FlatContext[] = [];
  const del: string[] = [];
  const gone = new Set<string>();
  const set: Record<string, Record<string, unknown>> = {};
  let anySet = false;
  for (const [key, n] of next.contexts) {
    const p = prev.contexts.get(key);
    if (p === undefined) {
      add.push(n);
      continue;
    }
    if (p.createdAt !== n.createdAt) {
      // Another context under the same key: the old one went, a new one came.
      del.push(key);
      gone.add(key);
      add.push(n);
      continue;
    }
    let changes: Record<string, unknown> | undefined;
    for (const f in n) {
      if (f === "activeAt") {
        if (Math.abs(n.activeAt - p.activeAt) > 1e-3) (changes ??= {}).activeAt = n.activeAt;
      } else if (!same(p[f], n[f])) (changes ??= {})[f] = n[f];
    }
    if (changes !== undefined) {
      set[key] = changes;
      anySet = true;
    }
  }
  for (const key of prev.contexts.keys()) {
    if (!next.contexts.has(key)) {
      del.push(key);
      gone.add(key);
    }
  }
  if (del.length > 0) d.del = del;
  if (add.length > 0) d.add = add;
  if (anySet) d.set = set;
  // Children lists: what applying del and add gives, unless it is not the real order.
  const added = new Map<string, string[]>();
  for (const f of add) {
    if (f.parent === null) continue;
    const l = added.get(f.parent);
    if (l === undefined) added.set(f.parent, [f.key]);
    else l.push(f.key);
  }
  if (del.length > 0 || add.length > 0) {
    const order: Record<string, string[]> = {};
    let anyOrder = false;
    const parents = new Set<string>([...added.keys()]);
    for (const key of del) {
      const p = prev.contexts.get(key)?.parent;
      if (p !== null && p !== undefined) parents.add(p);
    }
    for (const parent of parents) {
      if (!next.contexts.has(parent)) continue;
      const actual = next.kids.get(parent) ?? [];
      const expected =
        (gone.has(parent) && !prev.kids.has(parent) ? [] : prev.kids.get(parent) ?? [])
          .filter((k) => !gone.has(k)).concat(added.get(parent) ?? []);
      if (!sameList(expected, actual)) {
        order[parent] = actual;
        anyOrder = true;
      }
    }
    if (anyOrder) d.order = order;
  }
  if (!same(prev.locks, next.locks)) d.locks = next.locks;
  if (!same(prev.waiters, next.waiters)) d.waiters = next.waiters;
  if (!same(prev.warnings, next.warnings)) d.warnings = next.warnings;
  let system: Record<string, unknown> | undefined;
  for (const f in next.system) {
    if (!same(prev.system[f], next.system[f])) (system ??= {})[f] = next.system[f];
  }
  if (system !== undefined) d.system = system;
  return Object.keys(d).length === 2 ? undefined : d;
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Every value that leaves the process is redacted as in every other output: the statuses are
// already (status() redacts), but a peer of another version or configuration may not be.
/**
 * Redacts a state's data and text metrics by key name, with this process's secret keys.
 * @internal
 */
export function redactState(state: RecState): void {
  for (const [key, f] of state.contexts) {
    const data = f.data as Record<string, JsonValue> | undefined;
    const metrics = f.metrics as Record<string, { kind: string; value: unknown }> | undefined;
    let out: FlatContext | undefined;
    if (data !== undefined && data !== null && Object.keys(data).length > 0) {
      const r = redactValue(data);
      if (r !== data) (out ??= { ...f }).data = r;
    }
    if (metrics !== undefined && metrics !== null) {
      for (const name in metrics) {
        const m = metrics[name];
        if (m?.kind === "text" && m.value !== REDACTED && isSecretKey(name)) {
          const copy = { ...metrics, [name]: { kind: "text", value: REDACTED } };
          (out ??= { ...f }).metrics = copy;
        }
      }
    }
    if (out !== undefined) state.contexts.set(key, out);
  }
}
