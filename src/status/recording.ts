/**
 * The flight recorder: a status stream written as JSON lines (a versioned header, a full
 * snapshot, then deltas, a full snapshot again every so often), in rotated segment files bounded
 * by `maxBytes`; and the reader that indexes a recording and rebuilds the status of any moment.
 * The format is described in `docs/recording.md`.
 *
 * @module
 */

import type { Context } from "../core/context.ts";
import { global } from "../core/current.ts";
import { describe } from "../core/names.ts";
import { isSecretKey, REDACTED, redactValue } from "./redact.ts";
import { statusJson } from "./status.ts";
import type { Status, StatusOptions } from "./types.ts";
import { statusStream } from "./stream.ts";
import type { JsonValue } from "../core/json.ts";

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
function redactState(state: RecState): void {
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

// ── the writer ─────────────────────────────────────────────────────────────────────────────────

/**
 * Options of {@linkcode RecordingWriter}.
 * @internal
 */
export interface RecordingWriterOptions {
  /**
   * The most bytes the recording keeps on disk (every segment together); the oldest segments go.
   * @default {64 MiB}
   */
  maxBytes?: number;
  /**
   * What is recorded, written in each segment's first line.
   * @default {{ kind: "process", pid: Deno.pid }}
   */
  source?: Record<string, JsonValue>;
  /**
   * A full snapshot after this many deltas.
   * @default {1000}
   */
  fullEveryDeltas?: number;
  /**
   * A full snapshot when the last one is this old, ms.
   * @default {300000}
   */
  fullEveryMs?: number;
}

/**
 * Checks `path` and `maxBytes` of a recording option; throws a TypeError or RangeError naming
 * `argument`.
 * @internal
 */
export function checkRecordOptions(
  value: unknown,
  argument: string,
): { path: string; maxBytes: number } {
  if (typeof value !== "object" || value === null) {
    throw new TypeError(
      `${argument} must be an object { path, maxBytes? }, got ${describe(value)}`,
    );
  }
  const { path, maxBytes = DEFAULT_RECORDING_BYTES } = value as {
    path?: unknown;
    maxBytes?: unknown;
  };
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`${argument}.path must be a non-empty string, got ${describe(path)}`);
  }
  if (typeof maxBytes !== "number") {
    throw new TypeError(`${argument}.maxBytes must be a number, got ${describe(maxBytes)}`);
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_RECORDING_BYTES) {
    throw new RangeError(
      `${argument}.maxBytes must be an integer of at least ${MIN_RECORDING_BYTES}, got ${maxBytes}`,
    );
  }
  return { path, maxBytes };
}

const encoder = new TextEncoder();

/**
 * Writes statuses to a recording: the first as a full snapshot, then what changed. Every record
 * is one line written with one system call as soon as it is made (nothing is kept in memory to
 * be lost), in a file of mode 0600. When the current segment (`path`) reaches a quarter of
 * `maxBytes` it is renamed `path.<n>` and a new one starts with a full snapshot; the oldest
 * segments are removed so that all of them together stay within `maxBytes`. A recording already
 * at `path` is kept as the newest old segment.
 *
 * @example
 * ```ts
 * import { Context, statusJson } from "@fastn/context";
 * import { openRecording, RecordingWriter } from "./recording.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = Deno.makeTempDirSync();
 * const root = Context.root("global");
 * const writer = new RecordingWriter(`${dir}/rec.jsonl`);
 * writer.write(statusJson({ root }));
 * root.child("job").create();
 * writer.write(statusJson({ root }));
 * writer.close();
 * const rec = openRecording(`${dir}/rec.jsonl`);
 * assert.deepEqual(rec.length, 2);
 * assert.deepEqual(rec.statusAt(1).global.children[0].name, "job");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class RecordingWriter {
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #segmentBytes: number;
  readonly #source: Record<string, JsonValue>;
  readonly #fullEveryDeltas: number;
  readonly #fullEveryMs: number;
  #file: Deno.FsFile | undefined;
  #size = 0;
  #frames = 0;
  #seq: number;
  readonly #old: Array<{ path: string; size: number }> = [];
  #oldBytes = 0;
  #prev: RecState | undefined;
  #deltas = 0;
  #lastFullAt = -Infinity;
  /** Bytes written so far (every segment). */
  bytesWritten = 0;
  /** Records written so far (full snapshots and deltas). */
  framesWritten = 0;

  /**
   * Opens a recording at `path`.
   * @throws {TypeError} / {RangeError} for a bad path or option; the file system's error when
   * the file cannot be made.
   */
  constructor(path: string, options: RecordingWriterOptions = {}) {
    const { maxBytes } = checkRecordOptions({ path, maxBytes: options.maxBytes }, "recording");
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#segmentBytes = Math.floor(maxBytes / 4);
    this.#source = options.source ?? { kind: "process", pid: Deno.pid };
    this.#fullEveryDeltas = options.fullEveryDeltas ?? FULL_EVERY_DELTAS;
    this.#fullEveryMs = options.fullEveryMs ?? FULL_EVERY_MS;
    const segments = listSegments(path);
    this.#seq = 0;
    for (const s of segments.old) {
      this.#old.push({ path: s.path, size: s.size });
      this.#oldBytes += s.size;
      this.#seq = Math.max(this.#seq, s.seq);
    }
    if (segments.current !== undefined) this.#retire();
    this.#open();
    this.#trim();
  }

  /** The path of the current segment. */
  get path(): string {
    return this.#path;
  }

  /**
   * Records a status: a full snapshot when due, else what changed since the last one (nothing
   * when nothing did). Returns whether a line was written.
   */
  write(status: Status): boolean {
    if (this.#file === undefined) throw new Error(`the recording ${this.#path} is closed`);
    const next = stateOf(status);
    redactState(next);
    const fullDue = this.#prev === undefined || this.#deltas >= this.#fullEveryDeltas ||
      next.at - this.#lastFullAt >= this.#fullEveryMs;
    let line: string;
    let full = fullDue;
    if (fullDue) line = fullLine(next);
    else {
      const d = deltaOf(this.#prev!, next);
      if (d === undefined) return false;
      line = JSON.stringify(d) + "\n";
    }
    let bytes = encoder.encode(line);
    let head: Uint8Array | undefined;
    if (this.#size > 0 && this.#size + bytes.length > this.#segmentBytes) {
      this.#retire();
      this.#open();
      if (!full) bytes = encoder.encode(fullLine(next));
      full = true;
    }
    if (this.#size === 0) head = encoder.encode(this.#header(next.at));
    const out = head === undefined ? bytes : concat(head, bytes);
    writeAll(this.#file!, out);
    this.#size += out.length;
    this.bytesWritten += out.length;
    this.framesWritten++;
    this.#frames++;
    if (full) {
      this.#deltas = 0;
      this.#lastFullAt = next.at;
    } else this.#deltas++;
    this.#prev = next;
    this.#trim();
    return true;
  }

  /** Closes the current segment. Writing after it throws; closing twice is a no-op. */
  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  #header(at: number): string {
    return JSON.stringify({
      [RECORDING_FORMAT]: RECORDING_VERSION,
      at,
      segment: this.#seq + 1,
      source: this.#source,
    }) + "\n";
  }

  #open(): void {
    this.#file = Deno.openSync(this.#path, { append: true, createNew: true, mode: 0o600 });
    this.#size = 0;
    this.#frames = 0;
  }

  // The current segment becomes the newest old one.
  #retire(): void {
    this.#file?.close();
    this.#file = undefined;
    const size = fileSize(this.#path);
    if (size === 0) {
      Deno.removeSync(this.#path);
      return;
    }
    const to = `${this.#path}.${++this.#seq}`;
    Deno.renameSync(this.#path, to);
    this.#old.push({ path: to, size });
    this.#oldBytes += size;
  }

  #trim(): void {
    while (this.#old.length > 0 && this.#oldBytes + this.#size > this.#maxBytes) {
      const s = this.#old.shift()!;
      this.#oldBytes -= s.size;
      try {
        Deno.removeSync(s.path);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
  }
}

function fullLine(state: RecState): string {
  return JSON.stringify({ at: state.at, k: "f", status: statusOf(state) }) + "\n";
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
}

function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** The segments of a recording: `path.<n>` oldest first, and `path` itself when it exists. */
function listSegments(
  path: string,
): { old: Array<{ path: string; seq: number; size: number }>; current: string | undefined } {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const base = path.slice(slash + 1);
  const old: Array<{ path: string; seq: number; size: number }> = [];
  let current: string | undefined;
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { old, current };
    throw e;
  }
  for (const e of entries) {
    if (!e.isFile) continue;
    if (e.name === base) {
      current = path;
      continue;
    }
    if (!e.name.startsWith(base + ".")) continue;
    const suffix = e.name.slice(base.length + 1);
    if (!/^[1-9][0-9]{0,9}$/.test(suffix)) continue;
    const p = slash < 0 ? e.name : `${dir === "/" ? "" : dir}/${e.name}`;
    old.push({ path: p, seq: Number(suffix), size: fileSize(p) });
  }
  old.sort((a, b) => a.seq - b.seq);
  return { old, current };
}

// ── recording a tree in this process (main's `record` option) ──────────────────────────────────

/**
 * A recorder of this process's status stream.
 * @internal
 */
export interface Recorder {
  /** Writes the status of now, if it changed (a crash, an uncaught error, exit). */
  flush(): void;
  /** Flushes, stops the stream and closes the file. */
  close(): Promise<void>;
}

/**
 * Options of {@linkcode startRecording}.
 * @internal
 */
export interface StartRecordingOptions extends StatusOptions {
  /** The recording's path. */
  path: string;
  /**
   * The bound on disk.
   * @default {64 MiB}
   */
  maxBytes?: number;
  /**
   * The process's name, written in the header.
   * @default {undefined}
   */
  name?: string;
  /**
   * Where a failure to write goes (the recording then stops; the application runs on).
   * @default {ignored}
   */
  onError?: (error: unknown) => void;
  /**
   * The least time between two records, ms.
   * @default {1000}
   */
  minIntervalMs?: number;
}

/**
 * Records the status stream of `options.root` (the global context by default) until closed.
 * What the stream holds back when the process is about to go (an uncaught error, an unhandled
 * rejection, `unload`) is written first.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import { openRecording, startRecording } from "./recording.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = Deno.makeTempDirSync();
 * const root = Context.root("global");
 * const recorder = startRecording({ root, path: `${dir}/rec.jsonl`, minIntervalMs: 0 });
 * root.child("job").create();
 * await recorder.close();
 * assert.ok(openRecording(`${dir}/rec.jsonl`).length >= 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 * @internal
 */
export function startRecording(options: StartRecordingOptions): Recorder {
  const { path, maxBytes } = checkRecordOptions(options, "options.record");
  const root: Context = options.root ?? global();
  const source: Record<string, JsonValue> = { kind: "process", pid: Deno.pid };
  if (options.name !== undefined) source.name = options.name;
  const writer = new RecordingWriter(path, { maxBytes, source });
  const stop = new AbortController();
  let failed = false;
  const fail = (e: unknown): void => {
    if (failed) return;
    failed = true;
    stop.abort();
    writer.close();
    options.onError?.(e);
  };
  const write = (s: Status): void => {
    if (failed) return;
    try {
      writer.write(s);
    } catch (e) {
      fail(e);
    }
  };
  const loop = (async () => {
    try {
      for await (
        const s of statusStream({
          root,
          system: options.system,
          signal: stop.signal,
          minIntervalMs: options.minIntervalMs,
        })
      ) write(s);
    } catch (e) {
      fail(e);
    }
  })();
  const flush = (): void => {
    if (!failed && !stop.signal.aborted) write(statusJson({ root, system: options.system }));
  };
  const events = ["error", "unhandledrejection", "unload"];
  for (const e of events) globalThis.addEventListener(e, flush);
  return {
    flush,
    async close() {
      flush();
      for (const e of events) globalThis.removeEventListener(e, flush);
      stop.abort();
      await loop;
      writer.close();
    },
  };
}

// ── the reader ─────────────────────────────────────────────────────────────────────────────────

const decoder = new TextDecoder();
const PREFIX = /^\{"at":(-?[0-9.eE+-]+),"k":"([fd])"/;

interface Frame {
  at: number;
  full: boolean;
  seg: number;
  start: number;
  end: number;
}

/**
 * A change between two moments of a recording (see {@linkcode Recording.diff}).
 * @internal
 */
export interface RecordingDiff {
  /** The first moment. */
  from: number;
  /** The second moment. */
  to: number;
  /** Paths of contexts there at `to` and not at `from`. */
  contextsStarted: string[];
  /** Paths of contexts there at `from` and not at `to`. */
  contextsEnded: string[];
  /** Locks held at `to` and not at `from`: `name (kind, mode) by path`. */
  locksTaken: string[];
  /** Locks held at `from` and not at `to`. */
  locksReleased: string[];
  /** Waits there at `to` and not at `from`: `path waits for name`. */
  waitsStarted: string[];
  /** Waits there at `from` and not at `to`. */
  waitsEnded: string[];
  /** Warnings at `to` and not at `from`: `code: message`. */
  warningsAppeared: string[];
  /** Warnings at `from` and not at `to`. */
  warningsCleared: string[];
  /** Counter keys (`path.name`, `path.live_name`) that changed, with both values. */
  counters: Record<string, { from: number | null; to: number | null; delta: number }>;
}

/**
 * A recording opened for replay: the frames (each full snapshot or delta is one moment) and an
 * index of the full snapshots, so that any moment is rebuilt from the nearest snapshot before it
 * and at most `FULL_EVERY_DELTAS` deltas.
 *
 * @example
 * ```ts
 * import { Context, statusJson } from "@fastn/context";
 * import { openRecording, RecordingWriter } from "./recording.ts";
 * import assert from "node:assert/strict";
 *
 * const dir = Deno.makeTempDirSync();
 * let t = 1_000;
 * const root = Context.root("global", { now: () => t });
 * const w = new RecordingWriter(`${dir}/r.jsonl`);
 * w.write(statusJson({ root }));
 * t += 500;
 * root.child("late").create();
 * w.write(statusJson({ root }));
 * w.close();
 * const rec = openRecording(`${dir}/r.jsonl`);
 * assert.deepEqual(rec.indexAt(1_200), 0);
 * assert.deepEqual(rec.find("late"), 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class Recording {
  /** The path given. */
  readonly path: string;
  /** What was skipped while reading (a truncated last line, a damaged line). */
  readonly notes: string[] = [];
  /** The source each segment's header names, oldest first. */
  readonly sources: Record<string, JsonValue>[] = [];
  readonly #files: string[] = [];
  readonly #bytes: Uint8Array[] = [];
  readonly #frames: Frame[] = [];
  #cache: { i: number; state: RecState } | undefined;

  /** Reads the recording's segments and indexes them. Use {@linkcode openRecording}. */
  constructor(path: string, segments: Array<{ file: string; bytes: Uint8Array }>) {
    this.path = path;
    for (const s of segments) this.#index(s.file, s.bytes);
  }

  /** How many moments it holds. */
  get length(): number {
    return this.#frames.length;
  }

  /** When the first moment was recorded (epoch ms); `NaN` when it is empty. */
  get startedAt(): number {
    return this.#frames[0]?.at ?? NaN;
  }

  /** When the last moment was recorded (epoch ms); `NaN` when it is empty. */
  get endedAt(): number {
    return this.#frames[this.#frames.length - 1]?.at ?? NaN;
  }

  /** When moment `i` was recorded. */
  atOf(i: number): number {
    this.#check(i);
    return this.#frames[i].at;
  }

  /** The last moment at or before `time` (epoch ms); -1 when `time` is before the first. */
  indexAt(time: number): number {
    let lo = 0, hi = this.#frames.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#frames[mid].at <= time) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /**
   * The status of moment `i`, as `statusJson()` gave it then; with `at` (no earlier than the
   * moment), as it stood at that later time: nothing had changed, durations had grown.
   */
  statusAt(i: number, at?: number): Status {
    const state = this.#stateAt(i);
    if (at === undefined || at === state.at) return statusOf(state);
    if (!(at >= state.at)) {
      throw new RangeError(`at must be no earlier than moment ${i} (${state.at}), got ${at}`);
    }
    return statusOf({ ...state, at });
  }

  /**
   * The first moment from `from` on where `query` shows (`deadlock`, a warning code, a
   * context's name or path); -1 when it never does.
   */
  find(query: string, from = 0): number {
    if (this.#frames.length === 0 || from >= this.#frames.length) return -1;
    const state = this.#stateAt(Math.max(0, from));
    if (stateMatches(state, query)) return Math.max(0, from);
    for (let i = Math.max(0, from) + 1; i < this.#frames.length; i++) {
      const s = this.#stateAt(i);
      if (stateMatches(s, query)) return i;
    }
    return -1;
  }

  /** What changed between moments `a` and `b`. */
  diff(a: number, b: number): RecordingDiff {
    const sa = copyState(this.#stateAt(a));
    const sb = this.#stateAt(b);
    const ctxIds = (s: RecState): Map<string, string> => {
      const m = new Map<string, string>();
      for (const f of s.contexts.values()) m.set(`${f.key}@${f.createdAt}`, String(f.path));
      return m;
    };
    const ca = ctxIds(sa), cb = ctxIds(sb);
    const only = (x: Map<string, string>, y: Map<string, string>): string[] =>
      [...x].filter(([k]) => !y.has(k)).map(([, v]) => v);
    // deno-lint-ignore no-explicit-any
    type Any = any;
    const keyed = (list: unknown[], id: (x: Any) => string, text: (x: Any) => string) =>
      new Map(list.map((x) => [id(x), text(x)]));
    const lockIds = (s: RecState): Map<string, string> =>
      keyed(
        s.locks,
        (l) => `${l.name}|${l.heldBy}|${l.since}|${l.mode}`,
        (l) => `${l.name} (${l.kind}, ${l.mode}) by ${l.heldBy}`,
      );
    const waitIds = (s: RecState): Map<string, string> =>
      keyed(
        s.waiters,
        (w) => `${w.lockName}|${w.waiter}|${w.since}`,
        (w) => `${w.waiter} waits for ${w.lockName}`,
      );
    const warnIds = (s: RecState): Map<string, string> =>
      keyed(s.warnings, (w) => `${w.code}|${w.contextPath}`, (w) => `${w.code}: ${w.message}`);
    const la = lockIds(sa), lb = lockIds(sb);
    const wa = waitIds(sa), wb = waitIds(sb);
    const xa = warnIds(sa), xb = warnIds(sb);
    const counters: RecordingDiff["counters"] = {};
    const ka = counterValues(sa), kb = counterValues(sb);
    for (const key of new Set([...ka.keys(), ...kb.keys()])) {
      const from = ka.get(key) ?? null, to = kb.get(key) ?? null;
      if ((from ?? 0) === (to ?? 0)) continue;
      counters[key] = { from, to, delta: (to ?? 0) - (from ?? 0) };
    }
    return {
      from: sa.at,
      to: sb.at,
      contextsStarted: only(cb, ca),
      contextsEnded: only(ca, cb),
      locksTaken: only(lb, la),
      locksReleased: only(la, lb),
      waitsStarted: only(wb, wa),
      waitsEnded: only(wa, wb),
      warningsAppeared: only(xb, xa),
      warningsCleared: only(xa, xb),
      counters,
    };
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.#frames.length) {
      throw new RangeError(
        `moment must be an integer from 0 to ${this.#frames.length - 1}, got ${describe(i)}`,
      );
    }
  }

  #stateAt(i: number): RecState {
    this.#check(i);
    let f = i;
    while (!this.#frames[f].full) f--;
    let state: RecState;
    let from: number;
    const c = this.#cache;
    if (c !== undefined && c.i >= f && c.i <= i) {
      state = c.state;
      from = c.i + 1;
    } else {
      state = stateOf((this.#parse(f) as { status: Status }).status);
      from = f + 1;
    }
    for (let j = from; j <= i; j++) applyDelta(state, this.#parse(j) as Delta);
    this.#cache = { i, state };
    return state;
  }

  #parse(i: number): unknown {
    const fr = this.#frames[i];
    return JSON.parse(decoder.decode(this.#bytes[fr.seg].subarray(fr.start, fr.end)));
  }

  #index(file: string, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const seg = this.#bytes.length;
    this.#files.push(file);
    this.#bytes.push(bytes);
    let pos = 0;
    let line = 0;
    let haveFull = false;
    while (pos < bytes.length) {
      const nl = bytes.indexOf(10, pos);
      line++;
      if (nl < 0) {
        this.notes.push(
          `${file}: line ${line} is incomplete (${bytes.length - pos} bytes without an end of ` +
            `line): skipped, the recorder stopped in the middle of writing it`,
        );
        break;
      }
      const start = pos;
      pos = nl + 1;
      if (line === 1) {
        this.#header(file, bytes.subarray(start, nl));
        continue;
      }
      const m = PREFIX.exec(decoder.decode(bytes.subarray(start, Math.min(nl, start + 64))));
      if (m === null) {
        this.notes.push(`${file}: line ${line} is not a record: skipped`);
        continue;
      }
      const full = m[2] === "f";
      if (!full && !haveFull) {
        this.notes.push(`${file}: line ${line} is a change before any snapshot: skipped`);
        continue;
      }
      if (full) {
        // A damaged snapshot would break every moment up to the next one: check it now.
        try {
          JSON.parse(decoder.decode(bytes.subarray(start, nl)));
        } catch {
          this.notes.push(`${file}: line ${line} is a damaged snapshot: skipped`);
          haveFull = false;
          continue;
        }
        haveFull = true;
      }
      this.#frames.push({ at: Number(m[1]), full, seg, start, end: nl });
    }
  }

  #header(file: string, bytes: Uint8Array): void {
    let h: Record<string, unknown>;
    try {
      h = JSON.parse(decoder.decode(bytes));
    } catch {
      throw new RecordingError(
        "format",
        `${file} is not a @fastn/context recording: its first line is not JSON`,
      );
    }
    const version = h?.[RECORDING_FORMAT];
    if (typeof version !== "number") {
      throw new RecordingError(
        "format",
        `${file} is not a @fastn/context recording: its first line has no ` +
          `"${RECORDING_FORMAT}" version`,
      );
    }
    if (version > RECORDING_VERSION) throw new RecordingVersionError(file, version);
    this.sources.push((h.source ?? {}) as Record<string, JsonValue>);
  }
}

function copyState(s: RecState): RecState {
  return {
    ...s,
    contexts: new Map(s.contexts),
    kids: new Map([...s.kids].map(([k, v]) => [k, v.slice()])),
  };
}

// Every counter key of a moment: `path.name` for totals, `path.live_name` for live counts.
function counterValues(s: RecState): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of s.contexts.values()) {
    for (const [k, v] of Object.entries((f.totalCounters ?? {}) as Record<string, number>)) {
      out.set(`${f.path}.${k}`, v);
    }
    for (const [k, v] of Object.entries((f.liveCounters ?? {}) as Record<string, number>)) {
      out.set(`${f.path}.live_${k}`, v);
    }
  }
  return out;
}

/**
 * Opens the recording at `path`: its old segments (`path.1`, `path.2`, …) and `path` itself.
 *
 * @example
 * ```ts
 * import { openRecording, RecordingError } from "./recording.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => openRecording("/nonexistent/rec.jsonl"), RecordingError);
 * ```
 *
 * @throws {RecordingError} when there is no recording there, it is not one, or
 * {@linkcode RecordingVersionError} when it is in a newer format.
 */
export function openRecording(path: string): Recording {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`path must be a non-empty string, got ${describe(path)}`);
  }
  const { old, current } = listSegments(path);
  const files = old.map((s) => s.path);
  if (current !== undefined) files.push(current);
  if (files.length === 0) {
    throw new RecordingError(
      "missing",
      `${path}: no such recording (no file ${path} or ${path}.N)`,
    );
  }
  const segments: Array<{ file: string; bytes: Uint8Array }> = [];
  for (const file of files) {
    try {
      segments.push({ file, bytes: Deno.readFileSync(file) });
    } catch (e) {
      // A segment removed by a running recorder between the listing and the read.
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
  }
  return new Recording(path, segments);
}
