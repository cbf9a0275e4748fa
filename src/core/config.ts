/**
 * The library's thresholds and bounds, kept in one place.
 *
 * @module
 */

import { checkName } from "./names.ts";

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
   * CPU busy over the sampling window (since the previous reading) at or above this percentage
   * is reported as `cpu-high` (warning).
   * @default {90}
   */
  cpuHighPercent: number;
  /**
   * CPU busy at or above this percentage makes `cpu-high` critical.
   * @default {98}
   */
  cpuCriticalPercent: number;
  /**
   * Memory in use (total less available) at or above this percentage of installed memory is
   * reported as `memory-high` (warning).
   * @default {90}
   */
  memoryHighPercent: number;
  /**
   * Memory in use at or above this percentage makes `memory-high` critical.
   * @default {97}
   */
  memoryCriticalPercent: number;
  /**
   * Used space at or above this percentage of the file system holding the working directory is
   * reported as `disk-full` (warning).
   * @default {90}
   */
  diskFullPercent: number;
  /**
   * Used disk space at or above this percentage makes `disk-full` critical.
   * @default {97}
   */
  diskCriticalPercent: number;
  /**
   * The 1 minute load average at or above this many times the CPU count is reported as
   * `load-high` (warning).
   * @default {2}
   */
  loadHighPerCore: number;
  /**
   * The 1 minute load average at or above this many times the CPU count makes `load-high`
   * critical.
   * @default {4}
   */
  loadCriticalPerCore: number;
  /**
   * This process's resident set size at or above this percentage of installed memory is
   * reported as `process-memory-high` (warning).
   * @default {70}
   */
  processMemoryHighPercent: number;
  /**
   * This process's resident set size at or above this percentage of installed memory makes
   * `process-memory-high` critical.
   * @default {85}
   */
  processMemoryCriticalPercent: number;
  /**
   * Hysteresis of the system alerts, as a fraction of each level: an alert raised at a level
   * clears (or drops from critical to warning) only once the reading is below the level less
   * this fraction of it (90% clears below 85.5% with the default), so a reading that wavers
   * around a level does not make the alert come and go. From 0 to below 1.
   * @default {0.05}
   */
  alertHysteresis: number;
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
  /**
   * Data keys (and keys inside data values, keys of thrown objects and cancel reasons, the names
   * of `[name, value]` pairs, and text metric keys) whose values every status shows as
   * `"[redacted]"`. A key matches when, lower-cased and with everything but letters and digits
   * taken out, it contains one of these, written the same way: `"api_key"` matches `apiKey`,
   * `X-Api-Key` and `stripe_api_key`. An entry of at most 4 letters and digits must be a whole
   * word of the key instead (words split at separators, at `aB` and between letters and digits):
   * `"pin"` matches `pin`, `card_pin` and `cardPin`, not `spinner` or `pinned`. Values stored with
   * `{ secret: true }` are redacted whatever their key. At most 256 entries of 1 to 256
   * characters.
   * @default {["token", "password", "passwd", "passphrase", "pwd", "secret", "api_key", "apikey", "access_key", "authorization", "auth", "bearer", "jwt", "cookie", "session_id", "private_key", "ssh_key", "credential", "pin", "otp", "cvv"]}
   */
  secretKeys: readonly string[];
}

/** The default of {@linkcode Config.secretKeys}. */
const SECRET_KEYS: readonly string[] = Object.freeze([
  "token",
  "password",
  "passwd",
  "passphrase",
  "pwd",
  "secret",
  "api_key",
  "apikey",
  "access_key",
  "authorization",
  "auth",
  "bearer",
  "jwt",
  "cookie",
  "session_id",
  "private_key",
  "ssh_key",
  "credential",
  "pin",
  "otp",
  "cvv",
]);

const DEFAULTS: Config = Object.freeze({
  longHeldLockMs: 10_000,
  criticalHeldLockMs: 60_000,
  stuckWaiterMs: 5_000,
  ignoredCancelMs: 5_000,
  cpuHighPercent: 90,
  cpuCriticalPercent: 98,
  memoryHighPercent: 90,
  memoryCriticalPercent: 97,
  diskFullPercent: 90,
  diskCriticalPercent: 97,
  loadHighPerCore: 2,
  loadCriticalPerCore: 4,
  processMemoryHighPercent: 70,
  processMemoryCriticalPercent: 85,
  alertHysteresis: 0.05,
  failedTaskWarningMs: 300_000,
  maxRecentEvents: 100,
  maxCounterKeys: 100_000,
  secretKeys: SECRET_KEYS,
});

/** The settings in force. Internal: read it, change it only through {@linkcode configure}. */
export const config: Config = { ...DEFAULTS };

const INTEGER_KEYS = new Set(["maxRecentEvents", "maxCounterKeys"]);
/** Each critical level and the warning level it must not be below. */
const LEVEL_PAIRS: ReadonlyArray<readonly [keyof Config & string, keyof Config & string]> = [
  ["criticalHeldLockMs", "longHeldLockMs"],
  ["cpuCriticalPercent", "cpuHighPercent"],
  ["memoryCriticalPercent", "memoryHighPercent"],
  ["diskCriticalPercent", "diskFullPercent"],
  ["loadCriticalPerCore", "loadHighPerCore"],
  ["processMemoryCriticalPercent", "processMemoryHighPercent"],
];
const MAX_SECRET_KEYS = 256;

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
 * @example Also redact values under keys that contain "ssn"
 * ```ts
 * import { configure, Context, statusJson } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const before = configure();
 * configure({ secretKeys: [...before.secretKeys, "ssn"] });
 * const root = Context.root("global");
 * root.setData("customer_ssn", "078-05-1120");
 * assert.deepEqual(statusJson({ root }).global.data, { customer_ssn: "[redacted]" });
 * configure(before);
 * ```
 *
 * @param options The fields to change.
 * @returns A copy of the settings now in force.
 * @throws {TypeError} for an unknown field, a value that is not a number (for `secretKeys`: not
 * an array of strings, or a string with a control character).
 * @throws {RangeError} for a negative, non-finite or (for counts) non-integer value, a critical
 * level below its warning level (`criticalHeldLockMs` below `longHeldLockMs`,
 * `memoryCriticalPercent` below `memoryHighPercent`, …), an `alertHysteresis` of 1 or more, or a `secretKeys` entry that is empty or longer
 * than 256 characters (or more than 256 entries).
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
    if (key === "secretKeys") {
      next.secretKeys = checkSecretKeys(value);
      continue;
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
    (next as unknown as Record<string, number>)[key] = value;
  }
  for (const [critical, high] of LEVEL_PAIRS) {
    if (next[critical] < next[high]) {
      throw new RangeError(
        `options.${critical} (${next[critical]}) must not be below ${high} (${next[high]})`,
      );
    }
  }
  if (next.alertHysteresis >= 1) {
    throw new RangeError(
      `options.alertHysteresis must be below 1 (a fraction), got ${next.alertHysteresis}`,
    );
  }
  Object.assign(config, next);
  return { ...config };
}

function checkSecretKeys(value: unknown): readonly string[] {
  if (!Array.isArray(value)) {
    throw new TypeError(`options.secretKeys must be an array of strings, got ${typeof value}`);
  }
  if (value.length > MAX_SECRET_KEYS) {
    throw new RangeError(
      `options.secretKeys must have at most ${MAX_SECRET_KEYS} entries, got ${value.length}`,
    );
  }
  value.forEach((k, i) => checkName(k, `options.secretKeys[${i}]`));
  return Object.freeze([...value]);
}
