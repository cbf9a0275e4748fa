/**
 * The errors of the context tree: {@linkcode CancelledError} (a cancellation, not a failure), its
 * subclass {@linkcode DeadlineExceededError}, and {@linkcode ContextEndedError}; and how any
 * thrown value or cancel reason is written as text.
 *
 * @module
 */

import { redactedJson } from "./secrets.ts";

/**
 * The error a cancelled context's {@linkcode Context.signal} is aborted with, and that lock
 * waits reject with when their context is cancelled. `reason` is the value given to
 * {@linkcode Context.cancel}.
 *
 * @example Telling a cancellation from a failure
 * ```ts
 * import { CancelledError, Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const ctx = Context.root("svc");
 * ctx.cancel("shutdown");
 * const err = ctx.signal.reason;
 * assert.ok(err instanceof CancelledError);
 * assert.deepEqual(err.reason, "shutdown");
 * assert.deepEqual(err.message, 'context "svc" was cancelled: shutdown');
 * ```
 */
export class CancelledError extends Error {
  /** The reason given to `cancel()`. */
  readonly reason: unknown;
  /** The path of the context `cancel()` was called on. */
  readonly contextPath: string;

  /**
   * Makes the error for a cancel of the context at `contextPath`.
   *
   * @param contextPath The path of the context that was cancelled.
   * @param reason The reason given to `cancel()`.
   */
  constructor(contextPath: string, reason: unknown) {
    super(`context "${contextPath}" was cancelled: ${reasonText(reason)}`);
    this.name = "CancelledError";
    this.reason = reason;
    this.contextPath = contextPath;
  }
}

/**
 * What a {@linkcode DeadlineExceededError} says about the lock wait it ended.
 *
 * @example
 * ```ts
 * import { DeadlineExceededError, type DeadlineLockWait } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const lock: DeadlineLockWait = {
 *   lockName: "db",
 *   kind: "mutex",
 *   waiter: "global.request",
 *   holders: ["global.migrate"],
 * };
 * const err = new DeadlineExceededError("global.request", 0, { lock });
 * assert.match(err.message, /mutex "db": global\.request .*deadline.*held by global\.migrate/);
 * ```
 */
export interface DeadlineLockWait {
  /** The lock's name. */
  readonly lockName: string;
  /** The lock's kind: `mutex`, `rwlock` or `semaphore`. */
  readonly kind: string;
  /** The path of the context that waited. */
  readonly waiter: string;
  /** The paths of the contexts that held the lock when the wait ended. */
  readonly holders: readonly string[];
}

/**
 * Options of the {@linkcode DeadlineExceededError} constructor.
 *
 * @example
 * ```ts
 * import { DeadlineExceededError, type DeadlineExceededOptions } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const options: DeadlineExceededOptions = {
 *   lock: { lockName: "pool", kind: "semaphore", waiter: "app.job", holders: [] },
 * };
 * const err = new DeadlineExceededError("app.job", Date.UTC(2030, 0, 1), options);
 * assert.match(err.message, /semaphore "pool".*2030-01-01T00:00:00\.000Z; held by nobody/);
 * ```
 */
export interface DeadlineExceededOptions {
  /**
   * The lock wait the deadline ended, when it ended one: the message then names the lock, the
   * waiter and the holders.
   * @default {undefined}
   */
  lock?: DeadlineLockWait;
}

/**
 * The cancellation of a context whose deadline passed (`withTimeout()`, `withDeadline()`, or the
 * `deadline`/`timeoutMs` options of `Context.root()`). It is a {@linkcode CancelledError}, so code
 * that handles cancellation handles it too, and a task that stops with it has not failed. Its
 * message names the context and the deadline; `reason` is `"deadline exceeded"`.
 *
 * A lock wait that the deadline ends rejects with one of these too (not with a
 * `LockTimeoutError`, which is for the wait's own `timeoutMs`): its message then also names the
 * lock and its holders, and `lock` says which.
 *
 * @example
 * ```ts
 * import { CancelledError, Context, DeadlineExceededError } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * let t = 0;
 * const root = Context.root("svc", { now: () => t });
 * const req = root.child("request").withTimeout(0).create(); // already due: cancelled at once
 * const err = req.signal.reason;
 * assert.ok(err instanceof DeadlineExceededError && err instanceof CancelledError);
 * assert.equal(err.deadline, 0);
 * assert.match(err.message, /context "svc.request" .*deadline/);
 * req.end();
 * ```
 */
export class DeadlineExceededError extends CancelledError {
  /** The deadline that passed, epoch ms. */
  readonly deadline: number;
  /** The lock wait the deadline ended, if it ended one. */
  readonly lock: DeadlineLockWait | undefined;

  /**
   * Makes the error for the deadline of the context at `contextPath`.
   *
   * @param contextPath The path of the context whose deadline passed.
   * @param deadline The deadline, epoch ms.
   * @param options The lock wait it ended, if any.
   */
  constructor(contextPath: string, deadline: number, options: DeadlineExceededOptions = {}) {
    super(contextPath, DEADLINE_EXCEEDED);
    const when = deadlineText(deadline);
    const lock = options.lock;
    this.message = lock === undefined
      ? `context "${contextPath}" was cancelled: deadline exceeded (deadline ${when})`
      : `${lock.kind} "${lock.lockName}": ${lock.waiter} gave up waiting: the deadline of context "${contextPath}" was reached (${when}; ${
        heldText(lock.holders)
      })`;
    this.name = "DeadlineExceededError";
    this.deadline = deadline;
    this.lock = lock === undefined
      ? undefined
      : Object.freeze({ ...lock, holders: Object.freeze([...lock.holders]) });
  }
}

/** The `reason` of a deadline's cancellation. */
const DEADLINE_EXCEEDED = "deadline exceeded";

function deadlineText(deadline: number): string {
  const d = new Date(deadline);
  return Number.isNaN(d.getTime()) ? String(deadline) : d.toISOString();
}

/**
 * `held by a, b, c and 2 more` (or `held by nobody`): the holders of a lock for an error message.
 * @internal
 */
export function heldText(holders: readonly string[]): string {
  return holders.length === 0
    ? "held by nobody"
    : holders.length <= 3
    ? `held by ${holders.join(", ")}`
    : `held by ${holders.slice(0, 3).join(", ")} and ${holders.length - 3} more`;
}

/**
 * Thrown when a child is made under, or a task spawned in, a context that has already left the
 * tree: its task settled with no descendants left, or it was ended. Nothing runs and nothing
 * changes, so work can never hide from status in a context status no longer shows.
 *
 * @example
 * ```ts
 * import { Context, ContextEndedError } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const conn = Context.root("svc").child("conn").create();
 * conn.end();
 * assert.throws(() => conn.child("late").create(), ContextEndedError);
 * assert.throws(() => conn.spawn(() => "late work"), ContextEndedError);
 * ```
 */
export class ContextEndedError extends Error {
  /** The path of the context that had ended. */
  readonly contextPath: string;

  /**
   * Makes the error for the context at `contextPath`.
   *
   * @param contextPath The path of the context that had ended.
   */
  constructor(contextPath: string) {
    super(
      `context "${contextPath}" has ended: no child can be made and no task spawned in it`,
    );
    this.name = "ContextEndedError";
    this.contextPath = contextPath;
  }
}

/**
 * The text of a thrown value or a cancel reason for status: `Name: message` for an error, a
 * string as it is, anything else as JSON (or `String()` when it has none) with the values under
 * secret-named keys, and of secret-named pairs, redacted (see `secretKeys` of `configure()`).
 * @internal
 */
export function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return typeof error === "string" ? error : redactedJson(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * A cancel reason as text: {@linkcode errorText}, or `no reason given` for `undefined`.
 * @internal
 */
export function reasonText(reason: unknown): string {
  return reason === undefined ? "no reason given" : errorText(reason);
}
