/**
 * Redaction: what every status output shows in place of a secret (data marked
 * `{ secret: true }`, and values under keys named like secrets, see `secretKeys` of
 * `configure()`).
 *
 * @module
 */

import type { JsonValue } from "../core/json.ts";
import type { MetricValue } from "../core/metric.ts";
import { isSecretKey, REDACTED, redactValue } from "../core/secrets.ts";

export { isSecretKey, REDACTED, redactValue } from "../core/secrets.ts";

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
