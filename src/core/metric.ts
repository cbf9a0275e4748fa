/**
 * Metric values shown beside a context in a status: counters, gauges, durations, text and bytes.
 *
 * @module
 */

import { describe } from "./names.ts";

/** The five kinds of metric. */
export type MetricKind = "counter" | "gauge" | "duration" | "text" | "bytes";

/**
 * One metric value. `duration` is in milliseconds, `bytes` in bytes, `counter` a non-negative
 * safe integer, `gauge` any finite number, `text` a string of at most 1,024 characters.
 */
export interface MetricValue {
  /** Which kind of metric this is; it decides how the value is shown. */
  readonly kind: MetricKind;
  /** The value: a number for every kind but `text`. */
  readonly value: number | string;
}

/** The longest `text` metric accepted. */
export const MAX_METRIC_TEXT = 1024;

/**
 * Makes metric values, checking them.
 *
 * @example Every kind of metric
 * ```ts
 * import { Context, Metric } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const ctx = Context.root("example");
 * ctx.addMetric("commands", Metric.counter(3));
 * ctx.addMetric("load", Metric.gauge(0.75));
 * ctx.addMetric("uptime", Metric.duration(1_500));
 * ctx.addMetric("shell", Metric.text("bash"));
 * ctx.addMetric("processed", Metric.bytes(15_200_000));
 * assert.deepEqual(Metric.bytes(10), { kind: "bytes", value: 10 });
 * ```
 */
export const Metric: {
  /** A count: a non-negative safe integer. */
  counter(n: number): MetricValue;
  /** A measurement: any finite number. */
  gauge(x: number): MetricValue;
  /** A duration in milliseconds: a non-negative finite number. */
  duration(ms: number): MetricValue;
  /** A short text of at most 1,024 characters. */
  text(s: string): MetricValue;
  /** A size in bytes: a non-negative safe integer. */
  bytes(n: number): MetricValue;
} = {
  counter: (n) => checkMetric({ kind: "counter", value: n }, "n"),
  gauge: (x) => checkMetric({ kind: "gauge", value: x }, "x"),
  duration: (ms) => checkMetric({ kind: "duration", value: ms }, "ms"),
  text: (s) => checkMetric({ kind: "text", value: s }, "s"),
  bytes: (n) => checkMetric({ kind: "bytes", value: n }, "n"),
};

/**
 * Checks a metric value made by hand or by {@linkcode Metric} and returns a frozen copy.
 *
 * @throws {TypeError} for an unknown kind or a value of the wrong type.
 * @throws {RangeError} for a number out of its kind's range.
 */
export function checkMetric(metric: unknown, argument: string): MetricValue {
  if (typeof metric !== "object" || metric === null) {
    throw new TypeError(
      `${argument} must be a MetricValue (use Metric.counter() and friends), got ${
        describe(metric)
      }`,
    );
  }
  const { kind, value } = metric as { kind: unknown; value: unknown };
  const at = argument === "n" || argument === "x" || argument === "ms" || argument === "s"
    ? argument
    : `${argument}.value`;
  switch (kind) {
    case "counter":
    case "bytes":
      if (typeof value !== "number") {
        throw new TypeError(`${at} must be a number for a ${kind} metric, got ${describe(value)}`);
      }
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(
          `${at} must be a non-negative safe integer for a ${kind} metric, got ${value}`,
        );
      }
      break;
    case "gauge":
      if (typeof value !== "number") {
        throw new TypeError(`${at} must be a number for a gauge metric, got ${describe(value)}`);
      }
      if (!Number.isFinite(value)) {
        throw new RangeError(`${at} must be a finite number for a gauge metric, got ${value}`);
      }
      break;
    case "duration":
      if (typeof value !== "number") {
        throw new TypeError(
          `${at} must be a number of milliseconds for a duration metric, got ${describe(value)}`,
        );
      }
      if (!Number.isFinite(value) || value < 0) {
        throw new RangeError(
          `${at} must be a non-negative finite number of milliseconds, got ${value}`,
        );
      }
      break;
    case "text":
      if (typeof value !== "string") {
        throw new TypeError(`${at} must be a string for a text metric, got ${describe(value)}`);
      }
      if (value.length > MAX_METRIC_TEXT) {
        throw new RangeError(
          `${at} must be at most ${MAX_METRIC_TEXT} characters for a text metric, got ${value.length}`,
        );
      }
      break;
    default:
      throw new TypeError(
        `${argument}.kind must be one of "counter", "gauge", "duration", "text", "bytes", got ${
          describe(kind)
        }`,
      );
  }
  return Object.freeze({ kind, value });
}
