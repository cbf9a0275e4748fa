/**
 * Reading a recording: an index of its moments (full snapshots and deltas across segments), the
 * status of any moment, finding the first moment a warning or a name shows, and diffs.
 *
 * @module
 */

import { describe } from "../core/names.ts";
import type { JsonValue } from "../core/json.ts";
import type { Status } from "./types.ts";
import {
  applyDelta,
  type Delta,
  RECORDING_FORMAT,
  RECORDING_VERSION,
  RecordingError,
  RecordingVersionError,
  type RecState,
  stateMatches,
  stateOf,
  statusOf,
} from "./recording_format.ts";
import { listSegments } from "./recording_writer.ts";

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
