/**
 * Human formats used by the dashboard: durations (`2h 15m 32s`, `12.3s`), byte sizes (`15.2MB`)
 * and grouped numbers (`1,234`).
 *
 * @module
 */

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Formats a duration in milliseconds the way the dashboard shows it. Under a minute: seconds with
 * one decimal (`12.3s`, `0.1s`; `30s` when the decimal is 0). From a minute up: the three largest
 * units that matter, trailing zero units left out (`2h 15m 32s`, `1h 45m`, `5d 12h 45m`).
 *
 * @example
 * ```ts
 * import { formatDuration } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(formatDuration(8_130), "8.1s");
 * assert.deepEqual(formatDuration(8_130_000 + 32_000), "2h 16m 2s");
 * assert.deepEqual(formatDuration(6_300_000), "1h 45m");
 * ```
 *
 * @param ms A duration in milliseconds; negative values count as 0.
 * @returns The duration as text.
 * @throws {TypeError} when `ms` is not a number.
 */
export function formatDuration(ms: number): string {
  if (typeof ms !== "number") throw new TypeError(`ms must be a number, got ${typeof ms}`);
  if (!(ms > 0)) return ms === Infinity ? "∞" : "0s";
  if (ms === Infinity) return "∞";
  const tenths = Math.round(ms / 100);
  if (tenths < 600) {
    return tenths % 10 === 0 ? `${tenths / 10}s` : `${Math.floor(tenths / 10)}.${tenths % 10}s`;
  }
  let rest = Math.round(ms / SECOND) * SECOND;
  const parts: string[] = [];
  for (const [size, unit] of UNITS) {
    if (parts.length === 0 && rest < size) continue;
    const n = Math.floor(rest / size);
    rest -= n * size;
    parts.push(`${n}${unit}`);
    if (parts.length === 3) break;
  }
  while (parts.length > 1 && parts[parts.length - 1].startsWith("0")) parts.pop();
  return parts.join(" ");
}

const UNITS: ReadonlyArray<readonly [number, string]> = [
  [DAY, "d"],
  [HOUR, "h"],
  [MINUTE, "m"],
  [SECOND, "s"],
];

const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];

/**
 * Formats a byte count with decimal (SI) units: one decimal under 100 of a unit, dropped when it
 * is 0 (`15.2MB`, `16GB`, `125KB`, `512B`).
 *
 * @example
 * ```ts
 * import { formatBytes } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(formatBytes(15_200_000), "15.2MB");
 * assert.deepEqual(formatBytes(16_000_000_000), "16GB");
 * assert.deepEqual(formatBytes(512), "512B");
 * ```
 *
 * @param bytes A number of bytes; negative values count as 0.
 * @returns The size as text.
 * @throws {TypeError} when `bytes` is not a number.
 */
export function formatBytes(bytes: number): string {
  if (typeof bytes !== "number") {
    throw new TypeError(`bytes must be a number, got ${typeof bytes}`);
  }
  if (!(bytes > 0)) return "0B";
  let unit = 0;
  let value = bytes;
  // Round first, so that 999_960 shows as 1MB rather than 1000KB.
  while (unit < BYTE_UNITS.length - 1 && roundSize(value) >= 1000) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : roundSize(value)}${BYTE_UNITS[unit]}`;
}

function roundSize(value: number): number {
  return value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
}

/**
 * Formats a number with thousands separators (`1,234`); a fraction keeps up to two decimals.
 *
 * @example
 * ```ts
 * import { formatNumber } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(formatNumber(15_432), "15,432");
 * assert.deepEqual(formatNumber(-1_234_567.891), "-1,234,567.89");
 * ```
 *
 * @param n The number.
 * @returns The number as text.
 * @throws {TypeError} when `n` is not a number.
 */
export function formatNumber(n: number): string {
  if (typeof n !== "number") throw new TypeError(`n must be a number, got ${typeof n}`);
  if (!Number.isFinite(n)) return String(n);
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(n);
  let int = Math.trunc(abs);
  let frac = Math.round((abs - int) * 100);
  if (frac === 100) {
    int++;
    frac = 0;
  }
  let s = String(int);
  if (int >= 1000) {
    if (int >= 1e21) return `${sign}${s}`;
    let out = "";
    let i = s.length;
    while (i > 3) {
      out = `,${s.slice(i - 3, i)}${out}`;
      i -= 3;
    }
    s = s.slice(0, i) + out;
  }
  if (frac !== 0) {
    s += frac % 10 === 0 ? `.${frac / 10}` : `.${String(frac).padStart(2, "0")}`;
  }
  return sign + s;
}

/**
 * Formats a percentage: one decimal when `decimals` is true (`12.3%`), else rounded (`13%`).
 * @internal
 */
export function formatPercent(value: number, decimals: boolean): string {
  if (!Number.isFinite(value)) return "n/a";
  return decimals ? `${Math.round(value * 10) / 10}%` : `${Math.round(value)}%`;
}

/**
 * Whether to colour what is written to `stream`: it is a terminal and `NO_COLOR` is not set.
 * The one rule behind the dashboard's, `main()`'s and the command line's colours.
 * @internal
 */
export function colorFor(stream: { isTerminal(): boolean }): boolean {
  try {
    return !Deno.noColor && stream.isTerminal();
  } catch {
    return false;
  }
}
