/**
 * The errors a lock wait rejects with when its time runs out: its own `timeoutMs`
 * ({@linkcode LockTimeoutError}) or its context's deadline (a `DeadlineExceededError` that names
 * the lock).
 *
 * @module
 */

import type { Context, NamedLock } from "../core/context.ts";
import type { LockKind } from "../core/options.ts";
import { DeadlineExceededError, heldText } from "../core/errors.ts";

/**
 * What a {@linkcode LockTimeoutError} is made from.
 *
 * @example
 * ```ts
 * import { LockTimeoutError, type LockTimeoutInit } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const init: LockTimeoutInit = {
 *   lockName: "pool",
 *   kind: "semaphore",
 *   waiter: "global.worker",
 *   holders: ["global.job"],
 *   timeoutMs: 500,
 * };
 * assert.match(new LockTimeoutError(init).message, /global\.worker.*500 ms.*global\.job/);
 * ```
 */
export interface LockTimeoutInit {
  /** The lock's name. */
  lockName: string;
  /** The lock's kind. */
  kind: LockKind;
  /** The path of the context that waited. */
  waiter: string;
  /** The paths of the contexts that held the lock when the wait gave up. */
  holders: readonly string[];
  /** How long it waited, in ms. */
  timeoutMs: number;
}

/**
 * The error a lock wait rejects with when its `timeoutMs` runs out. Its message names the lock,
 * the waiter and the holders.
 *
 * @example
 * ```ts
 * import { Context, LockTimeoutError } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("app");
 * const m = root.mutex("session-output-lock", 0);
 * const held = await root.child("stdout").spawn(() => m.lock());
 * const err = await root.child("stderr").spawn(() => m.lock({ timeoutMs: 1 }))
 *   .catch((e) => e);
 * assert.ok(err instanceof LockTimeoutError);
 * assert.deepEqual(err.holders, ["app.stdout"]);
 * assert.match(err.message, /"session-output-lock".*app\.stderr.*app\.stdout/);
 * held.release();
 * ```
 */
export class LockTimeoutError extends Error {
  /** The lock's name. */
  readonly lockName: string;
  /** The lock's kind. */
  readonly kind: LockKind;
  /** The path of the context that waited. */
  readonly waiter: string;
  /** The paths of the contexts that held the lock when the wait gave up. */
  readonly holders: readonly string[];
  /** How long it waited, in ms. */
  readonly timeoutMs: number;

  /**
   * Makes the error; its message is built from `init`.
   *
   * @param init The lock, the waiter, the holders and the timeout.
   */
  constructor(init: LockTimeoutInit) {
    const held = heldText(init.holders);
    super(
      `${init.kind} "${init.lockName}": ${init.waiter} gave up waiting after ${init.timeoutMs} ms (${held})`,
    );
    this.name = "LockTimeoutError";
    this.lockName = init.lockName;
    this.kind = init.kind;
    this.waiter = init.waiter;
    this.holders = Object.freeze([...init.holders]);
    this.timeoutMs = init.timeoutMs;
  }
}

/**
 * The error a wait of `waiter` on `lock` rejects with when its context is cancelled with
 * `error`: a deadline's error is made again naming the lock, the waiter and the holders; any
 * other cancellation as it is.
 * @internal
 */
export function waitCancelError(error: unknown, lock: NamedLock, waiter: Context): unknown {
  if (!(error instanceof DeadlineExceededError) || error.lock !== undefined) return error;
  return new DeadlineExceededError(error.contextPath, error.deadline, {
    lock: {
      lockName: lock.name,
      kind: lock.kind,
      waiter: waiter.path,
      holders: lock.holders().map((h) => h.context.path),
    },
  });
}
