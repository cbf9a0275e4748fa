/**
 * The options of a context and of what it hands out: {@linkcode RootOptions} of
 * `Context.root()`, {@linkcode CounterOptions} of the counter reads, {@linkcode DataOptions} of
 * `setData()`/`withData()`, and {@linkcode LockOptions} of a lock wait with the lock kinds and
 * modes. Kept apart from `context.ts` because none of them names a context.
 *
 * @module
 */

import type { DeadlineTimers } from "./deadlines.ts";

/** Options of {@linkcode Context.root}. */
export interface RootOptions {
  /**
   * The clock of the whole tree, in epoch milliseconds. Tests pass a fake one.
   *
   * Lock, waiter and activity timestamps (a guard's or holder's `since`, a waiter's `since`,
   * `createdAt`, the last activity behind `idleDuration()`) are coarse stamps: with the default
   * `Date.now` the time is re-read at least once per turn of the event loop and at least every 64
   * lock or activity events, whichever comes first, so a stamp is never staler than one turn of
   * the event loop. An injected clock is read at every event, so tests see exact times.
   * `duration()` and `idleDuration()` measure up to an exact reading, as do cancel times and status.
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * A deadline for the root, epoch ms: when it passes the root (and so the whole tree) is
   * cancelled with a {@linkcode DeadlineExceededError}. With `timeoutMs` too, the earlier wins.
   * @default {undefined (no deadline)}
   */
  deadline?: number;
  /**
   * A deadline this many ms from now (the tree's clock), as `deadline`.
   * @default {undefined (no deadline)}
   */
  timeoutMs?: number;
  /**
   * The timers the tree's deadlines use: one at a time per tree, armed for the earliest
   * deadline. Tests pass their own to fire deadlines without waiting.
   * @default {setTimeout and clearTimeout, unref'd}
   */
  timers?: DeadlineTimers;
}

/** Options of {@linkcode Context.getTotal} and {@linkcode Context.getLive}. */
export interface CounterOptions {
  /**
   * Add up this context's counter and that of every descendant, ended ones included.
   * @default {false}
   */
  deep?: boolean;
}

/**
 * Options of {@linkcode Context.setData} and {@linkcode ContextBuilder.withData}.
 *
 * @example A secret the application reads and no status shows
 * ```ts
 * import { Context, type DataOptions, statusJson } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const secret: DataOptions = { secret: true };
 * root.setData("dsn", "postgres://app:hunter2@db/app", secret);
 * assert.deepEqual(root.getData("dsn"), "postgres://app:hunter2@db/app");
 * assert.deepEqual(statusJson({ root }).global.data, { dsn: "[redacted]" });
 * ```
 */
export interface DataOptions {
  /**
   * Show the value as `"[redacted]"` in every status (`status()`, `statusJson()`, the dashboard,
   * the stream, and what is built on them); `getData()` still returns it. Once marked, the key
   * stays secret for the life of the context. Keys named like secrets (see `secretKeys` of
   * `configure()`) are redacted without it.
   * @default {false}
   */
  secret?: boolean;
}

/** The kinds of named lock. */
export type LockKind = "mutex" | "rwlock" | "semaphore";

/**
 * How a lock is held or wanted: `exclusive` (a mutex), `read` or `write` (an rwlock), `permits`
 * (a semaphore; see `permits`).
 */
export type LockMode = "exclusive" | "read" | "write" | "permits";

/**
 * Options of a lock wait: `lock()`, `read()`, `write()`, `acquire()`. The wait also gives up
 * when the waiting context (`current()`) is cancelled, with its `CancelledError`; when that is
 * because its deadline passed, with a `DeadlineExceededError` whose message names the lock, the
 * waiter and the holders (a `CancelledError` too, so the task has not failed; `timeoutMs` below
 * gives a `LockTimeoutError` instead).
 *
 * @example Give up after a timeout or on a signal
 * ```ts
 * import { Context, LockTimeoutError } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const m = Context.root("app").mutex("m", 0);
 * const held = m.tryLock()!;
 * await assert.rejects(m.lock({ timeoutMs: 1 }), LockTimeoutError);
 * const ac = new AbortController();
 * const waiting = m.lock({ signal: ac.signal });
 * ac.abort("not needed");
 * await assert.rejects(waiting, (e) => e === "not needed");
 * assert.deepEqual(m.waiters(), []);
 * held.release();
 * ```
 */
export interface LockOptions {
  /**
   * Gives up the wait when aborted: the promise rejects with `signal.reason`. A signal already
   * aborted rejects at once, even when the lock is free.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Gives up the wait after this many milliseconds with a {@linkcode LockTimeoutError}.
   * `0` never waits; `Infinity` (or anything above 2³¹−1) waits without a timer.
   * @default {Infinity}
   */
  timeoutMs?: number;
}
