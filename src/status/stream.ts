/**
 * A stream of status snapshots: one at once, then one after each change, at most once per
 * interval. While nothing changes there is no timer and no wake-up.
 *
 * @module
 */

import { describe } from "../core/names.ts";
import { type Snapshot, snapshot, withDashboard } from "./status.ts";
import type { Status, StatusOptions } from "./types.ts";
import type { Tree } from "../core/tree.ts";
import { internals } from "../core/context.ts";
import { rootOption } from "../core/current.ts";
import { systemAlerts } from "./alerts.ts";
import { CACHE_MS, sharedSampler } from "./system_metrics.ts";

/**
 * Options of {@linkcode statusStream}.
 *
 * @example Ending a stream from outside
 * ```ts
 * import { Context, statusStream, type StatusStreamOptions } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const ac = new AbortController();
 * const options: StatusStreamOptions = { root: Context.root("global"), signal: ac.signal };
 * let n = 0;
 * for await (const _ of statusStream(options)) {
 *   n++;
 *   ac.abort();
 * }
 * assert.deepEqual(n, 1);
 * ```
 */
export interface StatusStreamOptions extends StatusOptions {
  /**
   * Ends the stream when aborted: a pending `next()` resolves as done, the change listener and
   * any timer are released at once.
   * @default {undefined (the stream ends only when the loop ends)}
   */
  signal?: AbortSignal;
  /**
   * The least time between two snapshots, ms. Changes in between are gathered into the next one.
   * @default {1000}
   */
  minIntervalMs?: number;
  /**
   * While the stream waits for a change, how often it reads the machine (through the cache of
   * the system metrics) to judge the system alerts (`cpu-high`, `memory-high`, …): a snapshot
   * follows only when an alert is raised, cleared or changes severity, not every reading. Only
   * while the stream is open, and not at all when `system` is a fixed object.
   * @default {1000}
   */
  sampleIntervalMs?: number;
}

let timers = 0;

/**
 * How many stream timers are pending in this process, for tests.
 * @internal
 */
export function pendingStreamTimers(): number {
  return timers;
}

/**
 * Streams status snapshots of the global context (or `options.root`): the first at once, then
 * one only when something changed (a context started, ended or was cancelled, a lock was taken,
 * released or waited for, data, a metric or a counter changed), at most once per
 * `minIntervalMs`. A burst of changes gives one snapshot. While nothing changes the stream sets
 * no timer and takes no CPU, except to show a warning that is due by time alone (a lock held past
 * `longHeldLockMs`, a waiter stuck): then one timer waits for that moment; and, unless `system`
 * is a fixed object, to read the machine every `sampleIntervalMs` while it is open: a snapshot
 * follows when a system alert is raised or cleared (a threshold crossed either way), never for a
 * reading alone. With no stream open nothing is read. Ending the loop
 * (`break`, `return`) or aborting `options.signal` removes the change listener and clears any
 * timer.
 *
 * @example Watching a tree change
 * ```ts
 * import { Context, statusStream } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const seen: number[] = [];
 * for await (const s of statusStream({ root, minIntervalMs: 10 })) {
 *   seen.push(s.global.children.length);
 *   if (seen.length === 1) root.child("worker").create();
 *   else break;
 * }
 * assert.deepEqual(seen, [0, 1]);
 * ```
 *
 * @param options Which tree, the signal that ends the stream, and the least interval.
 * @returns An async iterable of snapshots (each one's `String()` is the dashboard).
 * @throws {TypeError} for a `root` that is not a Context, a `signal` that is not an AbortSignal,
 * or a `minIntervalMs` that is not a number.
 * @throws {RangeError} for a negative or non-finite `minIntervalMs`.
 */
export function statusStream(
  options: StatusStreamOptions = {},
): AsyncIterableIterator<Status, undefined, undefined> {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const { signal, minIntervalMs = 1000, sampleIntervalMs = CACHE_MS.cpu } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`options.signal must be an AbortSignal, got ${describe(signal)}`);
  }
  if (typeof minIntervalMs !== "number") {
    throw new TypeError(`options.minIntervalMs must be a number, got ${describe(minIntervalMs)}`);
  }
  if (!Number.isFinite(minIntervalMs) || minIntervalMs < 0) {
    throw new RangeError(
      `options.minIntervalMs must be a non-negative finite number, got ${minIntervalMs}`,
    );
  }
  if (typeof sampleIntervalMs !== "number") {
    throw new TypeError(
      `options.sampleIntervalMs must be a number, got ${describe(sampleIntervalMs)}`,
    );
  }
  if (!Number.isFinite(sampleIntervalMs) || sampleIntervalMs <= 0) {
    throw new RangeError(
      `options.sampleIntervalMs must be a positive finite number, got ${sampleIntervalMs}`,
    );
  }
  const root = rootOption(options.root);
  return new StatusStream(
    { root, system: options.system },
    signal,
    minIntervalMs,
    sampleIntervalMs,
  );
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

class StatusStream implements AsyncIterableIterator<Status, undefined, undefined> {
  readonly #options: StatusOptions;
  readonly #signal: AbortSignal | undefined;
  readonly #interval: number;
  readonly #tree: Tree;
  /** How often the machine is read while waiting; Infinity when `system` is a fixed object. */
  readonly #sampleMs: number;
  /** The system alerts of the last snapshot. */
  #alerts = "";
  #closed = false;
  #first = true;
  #seen = -1;
  #lastAt = -Infinity;
  #nextChangeAt = Infinity;
  #unlisten: (() => void) | undefined;
  #onAbort: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  #forChange = false;
  #timedOut = false;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(
    options: StatusOptions,
    signal: AbortSignal | undefined,
    interval: number,
    sampleMs: number,
  ) {
    this.#options = options;
    this.#signal = signal;
    this.#interval = interval;
    const sys = options.system;
    this.#sampleMs = sys === undefined || typeof sys === "function" ? sampleMs : Infinity;
    this.#tree = internals.tree(options.root!);
    if (signal?.aborted) {
      this.#closed = true;
      return;
    }
    this.#unlisten = this.#tree.listen(() => {
      if (this.#forChange) this.#wakeUp();
    });
    if (signal !== undefined) {
      this.#onAbort = () => this.#close();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Status, undefined, undefined> {
    return this;
  }

  next(): Promise<IteratorResult<Status, undefined>> {
    // Calls made before the previous one settled wait their turn.
    const p = this.#chain.then(() => this.#next());
    this.#chain = p.catch(() => {});
    return p;
  }

  return(): Promise<IteratorResult<Status, undefined>> {
    this.#close();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#close();
    return Promise.resolve();
  }

  async #next(): Promise<IteratorResult<Status, undefined>> {
    if (this.#closed) return DONE;
    if (!this.#first) {
      // Wait for a change, for the moment a warning becomes due, or for a system alert to be
      // raised or cleared (the machine read every #sampleMs meanwhile).
      while (!this.#closed && this.#tree.version === this.#seen) {
        const due = this.#nextChangeAt - this.#tree.now();
        if (due <= 0) break;
        const sampling = this.#sampleMs < due;
        const wait = Math.min(due, this.#sampleMs);
        await this.#sleep(Number.isFinite(wait) ? wait : undefined, true);
        if (!this.#timedOut) continue;
        if (!sampling || this.#closed || this.#alertsChanged()) break;
      }
      if (this.#closed) return DONE;
      const wait = this.#lastAt + this.#interval - performance.now();
      if (wait > 0) await this.#sleep(wait, false);
      if (this.#closed) return DONE;
    }
    this.#first = false;
    this.#seen = this.#tree.version;
    const snap: Snapshot = snapshot(this.#options);
    this.#alerts = systemAlerts(this.#tree).signature();
    this.#lastAt = performance.now();
    this.#nextChangeAt = snap.nextChangeAt;
    return { done: false, value: withDashboard(snap.status) };
  }

  // Reads the machine and judges the system alerts: whether they differ from the last snapshot's.
  #alertsChanged(): boolean {
    const sys = this.#options.system;
    const reading = typeof sys === "function" ? sys() : sharedSampler().sample();
    const alerts = systemAlerts(this.#tree);
    alerts.judge(reading, "");
    return alerts.signature() !== this.#alerts;
  }

  #sleep(ms: number | undefined, forChange: boolean): Promise<void> {
    this.#timedOut = false;
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#forChange = forChange;
      if (ms !== undefined) {
        timers++;
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          timers--;
          this.#timedOut = true;
          this.#wakeUp();
        }, Math.min(ms, 2_147_483_647));
      }
    });
  }

  #wakeUp(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      timers--;
    }
    const wake = this.#wake;
    this.#wake = undefined;
    this.#forChange = false;
    wake?.();
  }

  #close(): void {
    if (this.#closed && this.#unlisten === undefined) return;
    this.#closed = true;
    this.#unlisten?.();
    this.#unlisten = undefined;
    if (this.#onAbort !== undefined) {
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#onAbort = undefined;
    }
    this.#wakeUp();
  }
}
