/**
 * A status received from outside this process (a local socket, a remote peer): checked against
 * the shape of {@linkcode Status} field by field, and every string in it (names, paths, lock
 * names, modes, holders, data, messages, and the keys of records) made safe to print, before
 * anything is drawn. Internal: the command line and the remote client use it.
 *
 * @module
 */

import { describe, safeText } from "../core/names.ts";
import type { Status } from "./types.ts";

/**
 * A received status that does not have the shape of a status: `field` is the path of the first
 * field that is wrong (`global.children[2].name`), and the message says what is wrong with it.
 * @internal
 */
export class ReceivedStatusError extends Error {
  /** The path of the wrong field, `status` for the whole value. */
  readonly field: string;

  /**
   * Makes the error for `field`.
   *
   * @param field The path of the wrong field.
   * @param problem What is wrong with it.
   */
  constructor(field: string, problem: string) {
    super(`not a valid status: ${safeText(`${field} ${problem}`)}`);
    this.name = "ReceivedStatusError";
    this.field = field;
  }
}

/** The most contexts a received status may hold. */
const MAX_CONTEXTS = 1_000_000;
/** The deepest nesting of a data value accepted. */
const MAX_DEPTH = 256;

/**
 * Checks that `value` (parsed JSON from outside the process) is a status, and returns a copy in
 * which every string and every record key is made safe for a terminal (see `safeText`): control
 * characters replaced, invisible and bidi characters escaped. Fields it does not know are kept
 * (cleaned the same way), so that a newer sender's additions still pass through.
 *
 * @throws {ReceivedStatusError} naming the first field that is missing or of the wrong type;
 * nothing is returned half-checked.
 * @internal
 */
export function checkReceivedStatus(value: unknown): Status {
  const s = object(value, "status");
  number(s.timestamp, "timestamp");
  const sys = object(s.system, "system");
  for (
    const k of [
      "cpuUsagePercent",
      "memoryUsedBytes",
      "memoryTotalBytes",
      "diskUsedBytes",
      "diskTotalBytes",
      "networkRxBytesPerSec",
      "networkTxBytesPerSec",
      "uptimeMs",
      "processRssBytes",
      "processHeapUsedBytes",
      "processHeapTotalBytes",
    ]
  ) {
    if (k in sys) nullable(sys[k], `system.${k}`, number);
  }
  if (sys.loadAverage !== undefined && sys.loadAverage !== null) {
    list(sys.loadAverage, "system.loadAverage").forEach((x, i) =>
      number(x, `system.loadAverage[${i}]`)
    );
  }
  checkTree(s.global);
  list(s.activeLocks, "activeLocks").forEach((x, i) => checkLock(x, `activeLocks[${i}]`));
  list(s.lockWaiters, "lockWaiters").forEach((x, i) => checkWaiter(x, `lockWaiters[${i}]`));
  list(s.warnings, "warnings").forEach((x, i) => {
    const at = `warnings[${i}]`;
    const w = object(x, at);
    string(w.message, `${at}.message`);
    string(w.severity, `${at}.severity`);
    optional(w.code, `${at}.code`, string);
    optional(w.contextPath, `${at}.contextPath`, string);
    if (w.paths !== undefined) strings(w.paths, `${at}.paths`);
  });
  return cleanCopy(s, "status", 0) as unknown as Status;
}

function checkTree(root: unknown): void {
  const stack: Array<[unknown, string]> = [[root, "global"]];
  let count = 0;
  while (stack.length > 0) {
    const [node, at] = stack.pop()!;
    const c = object(node, at);
    if (++count > MAX_CONTEXTS) {
      throw new ReceivedStatusError(at, `is past the limit of ${MAX_CONTEXTS} contexts`);
    }
    string(c.name, `${at}.name`);
    string(c.path, `${at}.path`);
    for (const k of ["durationMs", "idleMs", "running"]) number(c[k], `${at}.${k}`);
    optional(c.createdAt, `${at}.createdAt`, number);
    boolean(c.cancelled, `${at}.cancelled`);
    for (const k of ["cancelReason", "error"]) {
      if (c[k] !== undefined) nullable(c[k], `${at}.${k}`, string);
    }
    if (c.cancelledAt !== undefined) nullable(c.cancelledAt, `${at}.cancelledAt`, number);
    if (c.data !== undefined) object(c.data, `${at}.data`);
    if (c.metrics !== undefined) {
      const metrics = object(c.metrics, `${at}.metrics`);
      for (const key of Object.keys(metrics)) {
        const mat = `${at}.metrics[${JSON.stringify(key)}]`;
        const m = object(metrics[key], mat);
        string(m.kind, `${mat}.kind`);
        if (m.kind === "text") string(m.value, `${mat}.value`);
        else number(m.value, `${mat}.value`);
      }
    }
    for (const k of ["totalCounters", "liveCounters", "deepTotalCounters", "deepLiveCounters"]) {
      if (c[k] === undefined) continue;
      const counters = object(c[k], `${at}.${k}`);
      for (const key of Object.keys(counters)) {
        number(counters[key], `${at}.${k}[${JSON.stringify(key)}]`);
      }
    }
    for (const k of ["locksHeld", "locksWaited"]) {
      if (c[k] === undefined) continue;
      list(c[k], `${at}.${k}`).forEach((x, i) => index(x, `${at}.${k}[${i}]`));
    }
    const kids = list(c.children, `${at}.children`);
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], `${at}.children[${i}]`]);
  }
}

function checkLock(value: unknown, at: string): void {
  const l = object(value, at);
  if (l.lockName === undefined) string(l.name, `${at}.lockName`);
  else string(l.lockName, `${at}.lockName`);
  string(l.kind, `${at}.kind`);
  string(l.mode, `${at}.mode`);
  number(l.permits, `${at}.permits`);
  optional(l.capacity, `${at}.capacity`, number);
  if (l.holder === undefined) string(l.heldBy, `${at}.holder`);
  else string(l.holder, `${at}.holder`);
  number(l.heldMs, `${at}.heldMs`);
  optional(l.since, `${at}.since`, number);
  boolean(l.longHeld, `${at}.longHeld`);
  optional(l.leaked, `${at}.leaked`, boolean);
}

function checkWaiter(value: unknown, at: string): void {
  const w = object(value, at);
  string(w.lockName, `${at}.lockName`);
  string(w.kind, `${at}.kind`);
  string(w.mode, `${at}.mode`);
  number(w.permits, `${at}.permits`);
  string(w.waiter, `${at}.waiter`);
  number(w.waitingMs, `${at}.waitingMs`);
  optional(w.since, `${at}.since`, number);
  boolean(w.stuck, `${at}.stuck`);
  boolean(w.deadlocked, `${at}.deadlocked`);
  if (w.holders !== undefined) strings(w.holders, `${at}.holders`);
}

// A copy of a JSON value with every string and key made safe.
function cleanCopy(value: unknown, at: string, depth: number): unknown {
  if (typeof value === "string") return safeText(value);
  if (typeof value !== "object" || value === null) return value;
  if (depth > MAX_DEPTH) throw new ReceivedStatusError(at, `is nested deeper than ${MAX_DEPTH}`);
  if (Array.isArray(value)) return value.map((x, i) => cleanCopy(x, `${at}[${i}]`, depth + 1));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, safeText(key), {
      value: cleanCopy((value as Record<string, unknown>)[key], `${at}.${key}`, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

type Check = (value: unknown, at: string) => unknown;

function object(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ReceivedStatusError(at, `must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new ReceivedStatusError(at, `must be a list, got ${describe(value)}`);
  }
  return value;
}

function strings(value: unknown, at: string): void {
  list(value, at).forEach((x, i) => string(x, `${at}[${i}]`));
}

function string(value: unknown, at: string): string {
  if (typeof value !== "string") {
    throw new ReceivedStatusError(at, `must be a string, got ${describe(value)}`);
  }
  return value;
}

function number(value: unknown, at: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ReceivedStatusError(at, `must be a finite number, got ${describe(value)}`);
  }
  return value;
}

function index(value: unknown, at: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new ReceivedStatusError(at, `must be a non-negative integer, got ${describe(value)}`);
  }
  return value as number;
}

function boolean(value: unknown, at: string): boolean {
  if (typeof value !== "boolean") {
    throw new ReceivedStatusError(at, `must be true or false, got ${describe(value)}`);
  }
  return value;
}

function nullable(value: unknown, at: string, check: Check): void {
  if (value !== null) check(value, at);
}

function optional(value: unknown, at: string, check: Check): void {
  if (value !== undefined) check(value, at);
}
