/**
 * Redaction: what every status output shows in place of a secret (data marked
 * `{ secret: true }`, and values under keys named like secrets, see `secretKeys` of
 * `configure()`).
 *
 * @module
 */

import { config } from "../core/config.ts";
import type { JsonValue } from "../core/json.ts";
import type { MetricValue } from "../core/metric.ts";

/** What every status shows in place of a secret value. */
export const REDACTED = "[redacted]";

// The secret key names of `config.secretKeys` as one pattern, remade when configure() changes
// them, and what it said about recent keys (bounded: a key is tested once, not per snapshot).
let secretKeysSeen: readonly string[] | undefined;
let secretPattern: RegExp | undefined;
const secretKeyCache = new Map<string, boolean>();
const MAX_CACHED_KEYS = 10_000;

/** A key as the secret key names are matched: lower case, letters and digits only. */
function squash(key: string): string {
  return key.toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");
}

/**
 * Whether values under `key` are secret by their name (see `secretKeys` of `configure()`).
 * @internal
 */
export function isSecretKey(key: string): boolean {
  const keys = config.secretKeys;
  if (keys !== secretKeysSeen) {
    secretKeysSeen = keys;
    secretKeyCache.clear();
    const parts = keys.map(squash).filter((k) => k !== "");
    secretPattern = parts.length === 0 ? undefined : new RegExp(parts.join("|"), "u");
  }
  let secret = secretKeyCache.get(key);
  if (secret === undefined) {
    secret = secretPattern !== undefined && secretPattern.test(squash(key));
    if (secretKeyCache.size >= MAX_CACHED_KEYS) secretKeyCache.clear();
    secretKeyCache.set(key, secret);
  }
  return secret;
}

/**
 * `value` with the values under secret-named keys, at any depth, replaced by `"[redacted]"`; the
 * value itself (no copy) when it has none.
 * @internal
 */
export function redactValue(value: JsonValue): JsonValue {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    let out: JsonValue[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const r = redactValue(value[i]);
      if (r !== value[i]) (out ??= value.slice())[i] = r;
    }
    return out ?? value;
  }
  let out: Record<string, JsonValue> | undefined;
  for (const key of Object.keys(value)) {
    const v = value[key];
    const r = isSecretKey(key) ? REDACTED : redactValue(v);
    if (r !== v) {
      out ??= { ...value };
      Object.defineProperty(out, key, { value: r, enumerable: true, writable: true });
    }
  }
  return out ?? value;
}

/**
 * A context's data for status: secret keys (marked or named like secrets) redacted.
 * @internal
 */
export function dataRecord(
  data: ReadonlyMap<string, JsonValue>,
  secrets: ReadonlySet<string> | undefined,
): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of data) {
    out[k] = (secrets !== undefined && secrets.has(k)) || isSecretKey(k)
      ? REDACTED
      : redactValue(v);
  }
  return out;
}

/**
 * A context's metrics for status: text metrics under secret-named keys redacted.
 * @internal
 */
export function metricRecord(
  metrics: ReadonlyMap<string, MetricValue>,
): Record<string, MetricValue> {
  const out: Record<string, MetricValue> = {};
  for (const [k, m] of metrics) {
    out[k] = m.kind === "text" && isSecretKey(k) ? { kind: "text", value: REDACTED } : m;
  }
  return out;
}
