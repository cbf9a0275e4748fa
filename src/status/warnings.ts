/**
 * Status warnings: what a status flags as likely trouble, each with a code, a severity and the
 * context concerned. Thresholds come from {@linkcode configure}.
 *
 * @module
 */

import { config } from "../core/config.ts";
import { errorText } from "../core/errors.ts";
import type { Context } from "../core/context.ts";
import { unescapeSegment } from "../core/names.ts";
import { formatDuration } from "./format.ts";
import type { DeadlockFinding } from "../locks/deadlock.ts";
import type { LockKind, LockMode } from "../core/options.ts";
import type { Tree } from "../core/tree.ts";
import { lockRegistry } from "../locks/registry.ts";

/**
 * How serious a warning is.
 *
 * @example
 * ```ts
 * import type { WarningSeverity } from "@fastn/context";
 *
 * const icons: Record<WarningSeverity, string> = { info: "ℹ️", warning: "⚠️", critical: "🚨" };
 * console.log(icons.critical);
 * ```
 */
export type WarningSeverity = "info" | "warning" | "critical";

/**
 * What a warning is about:
 * - `deadlock`: a cycle of contexts each waiting for a lock the next holds (critical);
 * - `lock-held-long`: a lock held past `longHeldLockMs` (critical past `criticalHeldLockMs`);
 * - `waiter-stuck`: a context waiting for a lock past `stuckWaiterMs`;
 * - `leaked-guard`: a lock still held by a context that has ended (critical);
 * - `ignores-cancellation`: a context still running `ignoredCancelMs` after it was cancelled;
 * - `live-below-zero`: a live count lowered below zero (recently);
 * - `task-failed`: a task failed within `failedTaskWarningMs`;
 * - `cpu-high`, `memory-high`, `disk-full`, `load-high`, `process-memory-high`: a reading of the
 *   machine (CPU busy, memory in use, disk space used, 1 minute load per CPU, this process's RSS
 *   against installed memory) at or past its level in `configure()` (`cpuHighPercent`,
 *   `memoryHighPercent`, `diskFullPercent`, `loadHighPerCore`, `processMemoryHighPercent`;
 *   critical at the matching `…Critical…` level). Judged only while a status is taken or a stream
 *   is open; an alert clears only once the reading is below its level less `alertHysteresis`.
 *
 * @example
 * ```ts
 * import { Context, status, type WarningCode } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * root.decrementLive("connections");
 * const codes: WarningCode[] = status({ root }).warnings.map((w) => w.code);
 * assert.ok(codes.includes("live-below-zero")); // and `cpu-high` & co. on a busy machine
 * ```
 */
export type WarningCode =
  | "deadlock"
  | "lock-held-long"
  | "waiter-stuck"
  | "leaked-guard"
  | "ignores-cancellation"
  | "live-below-zero"
  | "task-failed"
  | "cpu-high"
  | "memory-high"
  | "disk-full"
  | "load-high"
  | "process-memory-high";

/**
 * One warning of a status.
 *
 * @example A failed task
 * ```ts
 * import { Context, status, type StatusWarning } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * await root.child("job").spawn(() => Promise.reject(new Error("boom"))).catch(() => {});
 * const warnings: StatusWarning[] = status({ root }).warnings;
 * const w = warnings.find((w) => w.code === "task-failed")!;
 * assert.deepEqual([w.severity, w.contextPath, w.paths], ["warning", "global.job", ["global.job"]]);
 * ```
 */
export interface StatusWarning {
  /** What kind of trouble. */
  code: WarningCode;
  /** How serious. */
  severity: WarningSeverity;
  /** A sentence for people, naming the contexts and locks concerned. */
  message: string;
  /** The path of the context concerned (for a deadlock, the first member of the cycle). */
  contextPath: string;
  /** Every context path the warning concerns, `contextPath` first (a deadlock names them all). */
  paths: string[];
  /**
   * When the condition began (epoch ms), for a warning whose message says how long it has
   * lasted (a lock held, a wait, a cancel ignored, a failure's age): that duration is the
   * status's `timestamp` minus `since`, so a reader that redraws later can advance it.
   */
  since?: number;
}

/** A held lock as the snapshot collects it.
 * @internal
 */
export interface HeldEntry {
  readonly lock: string;
  readonly kind: LockKind;
  readonly mode: LockMode;
  readonly permits: number;
  readonly capacity: number;
  readonly context: Context;
  readonly since: number;
  readonly heldMs: number;
  readonly leaked: boolean;
  readonly longHeld: boolean;
}

/** A lock waiter as the snapshot collects it.
 * @internal
 */
export interface WaiterEntry {
  readonly lock: string;
  readonly kind: LockKind;
  readonly mode: LockMode;
  readonly permits: number;
  readonly context: Context;
  readonly since: number;
  readonly waitingMs: number;
  readonly stuck: boolean;
  readonly deadlocked: boolean;
  readonly holders: readonly Context[];
}

/** A cancelled context that still runs tasks or has children.
 * @internal
 */
export interface CancelCandidate {
  readonly context: Context;
  readonly cancelledAt: number;
  /** The deadline that cancelled it (or is past without its timer having fired yet). */
  readonly deadline?: number;
  readonly running: number;
  readonly children: number;
}

/** What {@linkcode collectWarnings} needs.
 * @internal
 */
export interface WarningInput {
  readonly tree: Tree;
  readonly now: number;
  /** The path of the snapshot's root: events of other subtrees are left out. */
  readonly rootPath: string;
  /** Whether the snapshot's root is the root of its tree (then no event is left out). */
  readonly wholeTree: boolean;
  readonly held: readonly HeldEntry[];
  readonly waiters: readonly WaiterEntry[];
  /**
   * Cancelled contexts with tasks or children, ancestors before descendants. A context whose
   * deadline passed counts as cancelled at its deadline, even before its timer fired.
   */
  readonly cancelled: readonly CancelCandidate[];
  /** The system alerts judged for this status. */
  readonly system?: readonly StatusWarning[];
}

/**
 * The warnings, and when (tree clock) the next one would appear or go without any change.
 * @internal
 */
export interface WarningResult {
  warnings: StatusWarning[];
  nextChangeAt: number;
}

const SEVERITY_ORDER: Record<WarningSeverity, number> = { critical: 0, warning: 1, info: 2 };

/** Derives the warnings of a snapshot.
 * @internal
 */
export function collectWarnings(input: WarningInput): WarningResult {
  const { now, tree } = input;
  const out: StatusWarning[] = [];
  let next = Infinity;
  const soon = (at: number): void => {
    if (at > now && at < next) next = at;
  };

  for (const d of lockRegistry(tree).deadlocks) {
    if (d.members.length > 0) out.push(deadlockWarning(d));
  }

  for (const h of input.held) {
    const who = shortRef(h.context.path);
    if (h.leaked) {
      out.push(warn(
        "leaked-guard",
        "critical",
        `Leaked guard: "${h.lock}" is still held by ${who}, which has ended (${
          formatDuration(h.heldMs)
        } held)`,
        [h.context.path],
        h.since,
      ));
      continue;
    }
    if (h.heldMs > config.longHeldLockMs) {
      const critical = h.heldMs > config.criticalHeldLockMs;
      out.push(warn(
        "lock-held-long",
        critical ? "critical" : "warning",
        `Long-held lock "${h.lock}" (${formatDuration(h.heldMs)}) held by ${who} may indicate ${
          critical ? "a deadlock" : "deadlock or blocked I/O"
        }`,
        [h.context.path],
        h.since,
      ));
      if (!critical) soon(h.since + config.criticalHeldLockMs + 1);
    } else {
      soon(h.since + config.longHeldLockMs + 1);
    }
  }

  for (const w of input.waiters) {
    if (w.deadlocked) continue; // the deadlock warning says it
    if (w.stuck) {
      const holders = w.holders.map((c) => shortRef(c.path));
      out.push(warn(
        "waiter-stuck",
        "warning",
        `${shortRef(w.context.path)} stuck waiting for "${w.lock}" (${
          formatDuration(w.waitingMs)
        })${holders.length > 0 ? `, held by ${holders.join(", ")}` : ""}`,
        [w.context.path, ...w.holders.map((c) => c.path)],
        w.since,
      ));
    } else {
      soon(w.since + config.stuckWaiterMs + 1);
    }
  }

  ignoringCancellation(input, out, soon);
  recentEvents(input, out, soon);
  if (input.system !== undefined) out.push(...input.system);

  out.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
  return { warnings: out, nextChangeAt: next };
}

// A cancelled context past the threshold is flagged when it runs tasks itself, or when it has
// children none of which (nor their descendants) is flagged: the warning points where the
// shutdown is held up, not at every ancestor of it.
function ignoringCancellation(
  input: WarningInput,
  out: StatusWarning[],
  soon: (at: number) => void,
): void {
  const list = input.cancelled;
  if (list.length === 0) return;
  const covered = new Set<Context>();
  const flagged: StatusWarning[] = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const c = list[i];
    const late = input.now - c.cancelledAt;
    if (late <= config.ignoredCancelMs) {
      soon(c.cancelledAt + config.ignoredCancelMs + 1);
      continue;
    }
    const ctx = c.context;
    const reason = ctx.cancelReason;
    // A deadline says so: "after its deadline passed", not "after it was cancelled (deadline…)".
    const byDeadline = c.deadline !== undefined;
    const after = byDeadline ? "its deadline passed" : "it was cancelled";
    const why = byDeadline || reason === undefined ? "" : ` (${errorText(reason)})`;
    if (c.running > 0) {
      flagged.push(warn(
        "ignores-cancellation",
        "warning",
        `${shortRef(ctx.path)} still runs ${c.running} task${c.running === 1 ? "" : "s"} ${
          formatDuration(late)
        } after ${after}${why}`,
        [ctx.path],
        c.cancelledAt,
      ));
    } else if (c.children > 0 && !covered.has(ctx)) {
      flagged.push(warn(
        "ignores-cancellation",
        "warning",
        `${shortRef(ctx.path)} still has ${c.children} child context${
          c.children === 1 ? "" : "s"
        } ${formatDuration(late)} after ${after}${why}`,
        [ctx.path],
        c.cancelledAt,
      ));
    } else if (!covered.has(ctx)) {
      continue;
    }
    if (ctx.parent !== undefined) covered.add(ctx.parent);
  }
  for (let i = flagged.length - 1; i >= 0; i--) out.push(flagged[i]);
}

function recentEvents(
  input: WarningInput,
  out: StatusWarning[],
  soon: (at: number) => void,
): void {
  const { tree, now } = input;
  const window = config.failedTaskWarningMs;
  const inScope = (path: string): boolean =>
    input.wholeTree || path === input.rootPath || path.startsWith(`${input.rootPath}.`);
  for (const f of tree.failures) {
    if (now - f.at > window || !inScope(f.contextPath)) continue;
    soon(f.at + window + 1);
    out.push(warn(
      "task-failed",
      "warning",
      `A task of ${shortRef(f.contextPath)} failed ${formatDuration(now - f.at)} ago: ${
        clip(f.message, 200)
      }`,
      [f.contextPath],
      f.at,
    ));
  }
  // One warning per path and counter, however often it happened.
  const seen = new Map<string, { warning: StatusWarning; times: number; counter: string }>();
  for (const b of tree.belowZero) {
    if (now - b.at > window || !inScope(b.contextPath)) continue;
    soon(b.at + window + 1);
    const key = `${b.contextPath}\u0000${b.counter}`;
    const had = seen.get(key);
    if (had !== undefined) {
      had.times++;
      continue;
    }
    const w = warn("live-below-zero", "warning", "", [b.contextPath]);
    seen.set(key, { warning: w, times: 1, counter: b.counter });
    out.push(w);
  }
  for (const [key, s] of seen) {
    const path = key.slice(0, key.indexOf("\u0000"));
    s.warning.message = `${shortRef(path)} lowered live count "${s.counter}" below zero${
      s.times > 1 ? ` (${s.times} times)` : ""
    }: more decrementLive than incrementLive`;
  }
}

function deadlockWarning(d: DeadlockFinding): StatusWarning {
  const m = d.members;
  const steps = m.map((member, i) => {
    const holder = m[(i + 1) % m.length].context;
    return `${shortRef(member.context.path)} waits for "${member.lockName}" held by ${
      shortRef(holder.path)
    }`;
  });
  return warn(
    "deadlock",
    "critical",
    `Deadlock: ${steps.join("; ")}`,
    m.map((member) => member.context.path),
  );
}

function warn(
  code: WarningCode,
  severity: WarningSeverity,
  message: string,
  paths: string[],
  since?: number,
): StatusWarning {
  const w: StatusWarning = { code, severity, message, contextPath: paths[0], paths };
  if (since !== undefined) w.since = since;
  return w;
}

/**
 * A warning's message as of `now`: the duration it gives (the status's `timestamp` minus the
 * warning's `since`) advanced to `now - since`. Messages of warnings without `since`, or
 * without that duration in them, are returned as they are.
 * @internal
 */
export function messageAt(w: StatusWarning, timestamp: number, now: number): string {
  if (w.since === undefined || now <= timestamp) return w.message;
  const then = formatDuration(Math.max(0, timestamp - w.since));
  const later = formatDuration(Math.max(0, now - w.since));
  if (then === later) return w.message;
  const at = findToken(w.message, then);
  return at < 0 ? w.message : w.message.slice(0, at) + later + w.message.slice(at + then.length);
}

// The first place `token` stands alone in `text` (not inside a longer number or word).
function findToken(text: string, token: string): number {
  for (let at = text.indexOf(token); at >= 0; at = text.indexOf(token, at + 1)) {
    const before = at === 0 ? "" : text[at - 1];
    const after = text[at + token.length] ?? "";
    if (!/[\w.]/.test(before) && !/[\w]/.test(after)) return at;
  }
  return -1;
}

/**
 * A short reference to a context for people: the last two segments of its path, unescaped
 * (`alice@bv478gen/stdout-handler`).
 * @internal
 */
export function shortRef(path: string): string {
  const last = path.lastIndexOf(".");
  if (last < 0) return unescapeSegment(path);
  const before = path.lastIndexOf(".", last - 1);
  return `${unescapeSegment(path.slice(before + 1, last))}/${
    unescapeSegment(path.slice(last + 1))
  }`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
