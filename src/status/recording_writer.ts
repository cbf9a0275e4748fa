/**
 * Writing a recording: JSON lines in rotated segment files bounded by `maxBytes`, each line with
 * one system call; and recording this process's own status stream (`main`'s `record` option).
 *
 * @module
 */

import type { Context } from "../core/context.ts";
import { global } from "../core/current.ts";
import { describe } from "../core/names.ts";
import { statusJson } from "./status.ts";
import { statusStream } from "./stream.ts";
import type { JsonValue } from "../core/json.ts";
import type { Status, StatusOptions } from "./types.ts";
import { concat, writeAllSync } from "../core/bytes.ts";
import {
  DEFAULT_RECORDING_BYTES,
  deltaOf,
  FULL_EVERY_DELTAS,
  FULL_EVERY_MS,
  MIN_RECORDING_BYTES,
  RECORDING_FORMAT,
  RECORDING_VERSION,
  type RecState,
  redactState,
  stateOf,
  statusOf,
} from "./recording_format.ts";

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
    writeAllSync(this.#file!, out);
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

function fileSize(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** The segments of a recording: `path.<n>` oldest first, and `path` itself when it exists. */
/** @internal */
export function listSegments(
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
