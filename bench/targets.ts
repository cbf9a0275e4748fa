/**
 * Helpers the benches share to report a measured ratio against its target: the verdict, one
 * markdown table for all targets of a run, the median, percentiles of a sample, and the
 * scavenge count and pause time read from V8's `--trace-gc` output.
 *
 * ```ts
 * import { formatTargets, type Target } from "./targets.ts";
 * const rows: Target[] = [{ name: "current() / getStore()", value: 1.02, op: "<=", limit: 1.5 }];
 * console.log(formatTargets(rows));
 * ```
 *
 * @module
 */

/** One target: a measured ratio (or amount) and the bound it must keep. */
export interface Target {
  /** What is compared, e.g. `"spawn / als.run(new store)"`. */
  name: string;
  /** The measured value, usually a ratio of two measurements from the same run. */
  value: number;
  /** Whether `value` must stay at or under `limit` (`"<="`) or at or over it (`">="`). */
  op: "<=" | ">=";
  /** The bound. */
  limit: number;
  /** The unit printed after the value and the bound; `"×"` for a ratio. @default {"×"} */
  unit?: string;
  /** The two sides of the ratio or other context, printed in the last column. */
  detail?: string;
  /** A stretch goal: printed as such, and not counted as missed. @default {false} */
  moonshot?: boolean;
  /** Why this run's value cannot be judged (it then counts as not met). @default {undefined} */
  invalid?: string;
}

/**
 * Whether a target is met.
 *
 * @example
 * ```ts
 * import { met } from "./targets.ts";
 * if (!met({ name: "x", value: 0.9, op: ">=", limit: 0.85 })) throw new Error("missed");
 * ```
 */
export function met(t: Target): boolean {
  if (t.invalid !== undefined || !Number.isFinite(t.value)) return false;
  return t.op === "<=" ? t.value <= t.limit : t.value >= t.limit;
}

function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/**
 * A markdown table of targets, one row each, with its verdict, and a closing line that counts
 * the targets missed.
 *
 * @example
 * ```ts
 * import { formatTargets } from "./targets.ts";
 * const text = formatTargets([{ name: "a / b", value: 1.2, op: "<=", limit: 1.5 }]);
 * if (!text.includes("met")) throw new Error("no verdict");
 * ```
 */
export function formatTargets(rows: readonly Target[]): string {
  const lines = [
    "| target | measured | bound | verdict | detail |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const t of rows) {
    const unit = t.unit ?? "×";
    const verdict = t.invalid !== undefined
      ? `**NOT JUDGED**: ${t.invalid}`
      : met(t)
      ? "met"
      : t.moonshot
      ? "moonshot not reached"
      : "**NOT MET**";
    lines.push(
      `| ${t.name} | ${num(t.value)}${unit} | ${t.op === "<=" ? "≤" : "≥"} ${num(t.limit)}${unit}${
        t.moonshot ? " (moonshot)" : ""
      } | ${verdict} | ${t.detail ?? ""} |`,
    );
  }
  const missed = rows.filter((t) => !t.moonshot && !met(t)).length;
  lines.push("");
  lines.push(
    missed === 0
      ? `all ${rows.filter((t) => !t.moonshot).length} targets met`
      : `${missed} of ${rows.filter((t) => !t.moonshot).length} targets NOT met`,
  );
  return lines.join("\n");
}

/**
 * The median of a non-empty list.
 *
 * @example
 * ```ts
 * import { median } from "./targets.ts";
 * if (median([3, 1, 2]) !== 2) throw new Error("wrong");
 * ```
 */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median: xs must not be empty");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The `p` quantile (0 ≤ p ≤ 1) of an ascending sample, nearest rank: the smallest value with at
 * least `p` of the sample at or below it.
 *
 * @example
 * ```ts
 * import { percentile } from "./targets.ts";
 * const sorted = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
 * if (percentile(sorted, 0.99) !== 990) throw new Error("wrong");
 * ```
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError("percentile: sorted must not be empty");
  if (!(p >= 0 && p <= 1)) throw new RangeError(`percentile: p must be in [0, 1], got ${p}`);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}

/** Scavenges (minor GCs) read from V8's `--trace-gc` output. */
export interface Scavenges {
  /** How many scavenges the output reports. */
  count: number;
  /** Their pause time added up, in milliseconds. */
  ms: number;
  /** The longest single pause, in milliseconds. */
  maxMs: number;
}

/**
 * Counts the scavenges in V8's `--trace-gc` output and adds up their pause times, e.g. from
 * `… ms: Scavenge 3.8 (4.8) -> 3.2 (5.2) MB, pooled: 0.0 MB, 0.99 / 0.00 ms (average mu = …`.
 *
 * @example
 * ```ts
 * import { parseScavenges } from "./targets.ts";
 * const s = parseScavenges("[1:0x1]  14 ms: Scavenge 3.8 (4.8) -> 3.2 (5.2) MB, 0.99 / 0.00 ms");
 * if (s.count !== 1 || s.ms !== 0.99) throw new Error("wrong");
 * ```
 */
export function parseScavenges(text: string): Scavenges {
  let count = 0, ms = 0, maxMs = 0;
  for (const m of text.matchAll(/ms: Scavenge\b[^\n]*?MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \//g)) {
    const pause = Number(m[1]);
    count++;
    ms += pause;
    if (pause > maxMs) maxMs = pause;
  }
  return { count, ms, maxMs };
}
