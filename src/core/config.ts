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
  failedTaskWarningMs: 300_000,
  maxRecentEvents: 100,
  maxCounterKeys: 100_000,
  secretKeys: SECRET_KEYS,
});

/** The settings in force. Internal: read it, change it only through {@linkcode configure}. */
export const config: Config = { ...DEFAULTS };

const INTEGER_KEYS = new Set(["maxRecentEvents", "maxCounterKeys"]);
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
 * @throws {RangeError} for a negative, non-finite or (for counts) non-integer value,
 * `criticalHeldLockMs` below `longHeldLockMs`, or a `secretKeys` entry that is empty or longer
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
  if (next.criticalHeldLockMs < next.longHeldLockMs) {
    throw new RangeError(
      `options.criticalHeldLockMs (${next.criticalHeldLockMs}) must not be below longHeldLockMs (${next.longHeldLockMs})`,
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
