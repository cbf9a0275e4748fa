/**
 * The library's thresholds and bounds, kept in one place.
 *
 * @module
 */

/** Thresholds for status warnings and bounds on what the library keeps. */
export interface Config {
  /**
   * A lock held longer than this is reported as `lock-held-long` (warning).
   * @default {10000}
   */
  longHeldLockMs: number;
  /**
   * A lock held longer than this is reported as `lock-held-long` with severity critical.
   * @default {60000}
   */
  criticalHeldLockMs: number;
  /**
   * A lock waiter waiting longer than this is reported as `waiter-stuck`.
   * @default {5000}
   */
  stuckWaiterMs: number;
  /**
   * A context still running this long after it was cancelled is reported as
   * `ignores-cancellation`.
   * @default {5000}
   */
  ignoredCancelMs: number;
  /**
   * How long a failed task stays in status as a `task-failed` warning.
   * @default {300000}
   */
  failedTaskWarningMs: number;
  /**
   * How many recent task failures and live-below-zero events are kept for status.
   * @default {100}
   */
  maxRecentEvents: number;
  /**
   * The most counter cells (a context path and a counter name) the counter store keeps.
   * Past it, the counters of ended contexts are folded into their parent's `*` path, oldest
   * first, so deep totals stay right while the store stays bounded.
   * @default {100000}
   */
  maxCounterKeys: number;
}

const DEFAULTS: Config = Object.freeze({
  longHeldLockMs: 10_000,
  criticalHeldLockMs: 60_000,
  stuckWaiterMs: 5_000,
  ignoredCancelMs: 5_000,
  failedTaskWarningMs: 300_000,
  maxRecentEvents: 100,
  maxCounterKeys: 100_000,
});

/** The settings in force. Internal: read it, change it only through {@linkcode configure}. */
export const config: Config = { ...DEFAULTS };

const INTEGER_KEYS = new Set(["maxRecentEvents", "maxCounterKeys"]);

/**
 * Changes thresholds and bounds. Fields left out keep their value; `configure()` with no fields
 * returns the settings in force. Every field is checked before any is applied.
 *
 * @example Make the stuck-waiter warning fire sooner
 * ```ts
 * import { configure } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const before = configure();
 * configure({ stuckWaiterMs: 2_000 });
 * assert.deepEqual(configure().stuckWaiterMs, 2_000);
 * configure(before);
 * ```
 *
 * @param options The fields to change.
 * @returns A copy of the settings now in force.
 * @throws {TypeError} for an unknown field or a value that is not a number.
 * @throws {RangeError} for a negative, non-finite or (for counts) non-integer value, or
 * `criticalHeldLockMs` below `longHeldLockMs`.
 */
export function configure(options: Partial<Config> = {}): Config {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("options must be an object");
  }
  const next: Config = { ...config };
  for (const [key, value] of Object.entries(options)) {
    if (!(key in DEFAULTS)) {
      throw new TypeError(
        `options.${key} is not a setting; known: ${Object.keys(DEFAULTS).join(", ")}`,
      );
    }
    if (typeof value !== "number") {
      throw new TypeError(`options.${key} must be a number, got ${typeof value}`);
    }
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`options.${key} must be a non-negative finite number, got ${value}`);
    }
    if (INTEGER_KEYS.has(key) && (!Number.isSafeInteger(value) || value < 1)) {
      throw new RangeError(`options.${key} must be a positive integer, got ${value}`);
    }
    next[key as keyof Config] = value;
  }
  if (next.criticalHeldLockMs < next.longHeldLockMs) {
    throw new RangeError(
      `options.criticalHeldLockMs (${next.criticalHeldLockMs}) must not be below longHeldLockMs (${next.longHeldLockMs})`,
    );
  }
  Object.assign(config, next);
  return { ...config };
}
