/**
 * The errors of the context tree: {@linkcode CancelledError} (a cancellation, not a failure) and
 * {@linkcode ContextEndedError}, and how any thrown value or cancel reason is written as text.
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
