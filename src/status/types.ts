/**
 * The shape of a status: {@linkcode Status} and what it holds (contexts, locks, lock waiters,
 * warnings, system metrics), as `status()`, `statusJson()`, the stream, the local endpoint and
 * remote peers give it.
 *
 * @module
 */

import type { Context } from "../core/context.ts";
import type { LockKind, LockMode } from "../core/options.ts";
import type { JsonValue } from "../core/json.ts";
import type { MetricValue } from "../core/metric.ts";
import type { SystemMetrics } from "./system_metrics.ts";
import type { StatusWarning } from "./warnings.ts";

export type { SystemMetrics } from "./system_metrics.ts";
export type { StatusWarning, WarningCode, WarningSeverity } from "./warnings.ts";

/**
 * One context of a status, with its children. Durations are ms, times epoch ms.
 *
 * **Same-named siblings share counters.** Siblings with the same name (a pool of `worker`s) have
 * the same `path`, and counters are kept by path: each of them carries the same
 * `totalCounters`, `liveCounters` and deep counters, the pool's together. A consumer that adds
 * up counters over contexts must count each `path` once (the dashboard shows them on the first
 * sibling, and "counters shared with the first" on the others).
 *
 * @example Own and deep counters
 * ```ts
 * import { Context, type ContextStatus, status } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const chat = root.child("chat").create();
 * chat.incrementTotal("messages", 2);
 * chat.child("alice").create().incrementTotal("messages", 3);
 * const c: ContextStatus = status({ root }).global.children[0];
 * assert.deepEqual([c.totalCounters, c.deepTotalCounters], [{ messages: 2 }, { messages: 5 }]);
 * ```
 */
export interface ContextStatus {
  /** The context's name. */
  name: string;
  /** Its dotted path, names escaped as in counter keys. */
  path: string;
  /** When it was made. */
  createdAt: number;
  /** How long it has existed, at the status's timestamp. */
  durationMs: number;
  /** How long since it was last active. */
  idleMs: number;
  /** How many of its tasks are running (`spawn`s not settled yet). */
  running: number;
  /** Whether it, or an ancestor, was cancelled. */
  cancelled: boolean;
  /** The cancel reason as text; `null` when not cancelled or no reason was given. */
  cancelReason: string | null;
  /** When the cancel reached it; `null` when not cancelled. */
  cancelledAt: number | null;
  /**
   * Its deadline, epoch ms: its own or an ancestor's, whichever is earlier; `null` without one.
   * Once it has passed the context is cancelled with a `DeadlineExceededError`.
   */
  deadline: number | null;
  /** The last error a task of it failed with, as text; `null` when none failed. */
  error: string | null;
  /** Its data (treat as read-only). */
  data: Record<string, JsonValue>;
  /** Its metrics (treat as read-only). */
  metrics: Record<string, MetricValue>;
  /** The total counters of its path, by counter name (shared with same-named siblings). */
  totalCounters: Record<string, number>;
  /** The live counters of its path, by counter name. */
  liveCounters: Record<string, number>;
  /** Its total counters plus those of every path below it, ended contexts included. */
  deepTotalCounters: Record<string, number>;
  /** Its live counters plus those of every path below it. */
  deepLiveCounters: Record<string, number>;
  /** Indexes into {@linkcode Status.activeLocks} of the locks it holds. */
  locksHeld: number[];
  /** Indexes into {@linkcode Status.lockWaiters} of its waits. */
  locksWaited: number[];
  /** Its child contexts, oldest first. */
  children: ContextStatus[];
}

/**
 * One holder of a named lock (a semaphore or an rwlock held for read may have several).
 *
 * @example
 * ```ts
 * import { Context, type LockStatus, status } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const m = root.mutex("config", {});
 * using _guard = await m.lock();
 * const [held]: LockStatus[] = status({ root }).activeLocks;
 * assert.deepEqual([held.lockName, held.kind, held.holder], ["config", "mutex", "global"]);
 * ```
 */
export interface LockStatus {
  /** The lock's name. */
  lockName: string;
  /**
   * The lock's name, as {@linkcode LockStatus.lockName}.
   * @deprecated Read `lockName`, the field {@linkcode LockWaiter} has too. Kept for clients of
   * 0.1, which read `name`.
   */
  name: string;
  /** Which kind of lock. */
  kind: LockKind;
  /** How it is held: `exclusive`, `read`, `write` or `permits`. */
  mode: LockMode;
  /** Permits held (semaphores); 1 otherwise. */
  permits: number;
  /** The semaphore's permit count; 1 otherwise. */
  capacity: number;
  /** The path of the holding context. */
  holder: string;
  /**
   * The path of the holding context, as {@linkcode LockStatus.holder}.
   * @deprecated Read `holder`. Kept for clients of 0.1, which read `heldBy`.
   */
  heldBy: string;
  /** How long it has been held. */
  heldMs: number;
  /** When it was taken. */
  since: number;
  /** Held past `longHeldLockMs`. */
  longHeld: boolean;
  /** Its holder has ended: a leaked guard. */
  leaked: boolean;
}

/**
 * One context waiting for a named lock.
 *
 * @example
 * ```ts
 * import { Context, type LockWaiter, status } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const m = root.mutex("config", {});
 * const guard = await m.lock();
 * const waiting = root.child("reader").spawn(() => m.lock());
 * const [w]: LockWaiter[] = status({ root }).lockWaiters;
 * assert.deepEqual([w.lockName, w.waiter, w.holders], ["config", "global.reader", ["global"]]);
 * guard.release();
 * (await waiting).release();
 * ```
 */
export interface LockWaiter {
  /** The lock's name. */
  lockName: string;
  /** Which kind of lock. */
  kind: LockKind;
  /** How it is wanted: `exclusive`, `read`, `write` or `permits`. */
  mode: LockMode;
  /** Permits asked for (semaphores); 1 otherwise. */
  permits: number;
  /** The path of the waiting context. */
  waiter: string;
  /** How long it has waited. */
  waitingMs: number;
  /** When the wait started. */
  since: number;
  /** Waiting past `stuckWaiterMs`. */
  stuck: boolean;
  /** Part of a deadlock cycle. */
  deadlocked: boolean;
  /** The paths of the lock's current holders. */
  holders: string[];
  /**
   * The paths of the lock's current holders, as {@linkcode LockWaiter.holders}.
   * @deprecated Read `holders`. Kept for clients of 0.1, which read `heldBy`.
   */
  heldBy: string[];
}

/**
 * A status snapshot: plain data that survives `JSON.stringify`. Objects made by
 * {@linkcode status} also turn into the dashboard with `String(s)`. Treat it as read-only: to
 * stay cheap, a snapshot shares data values with the contexts, and empty records and lists
 * between contexts (they are frozen).
 *
 * @example Sending a status as JSON and showing it elsewhere
 * ```ts
 * import { Context, renderStatus, type Status, statusJson } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const wire = JSON.stringify(statusJson({ root }));
 * const s: Status = JSON.parse(wire);
 * assert.ok(renderStatus(s, { color: false }).startsWith("fastn Status Dashboard"));
 * ```
 */
export interface Status {
  /** When it was taken, epoch ms (the tree's clock). */
  timestamp: number;
  /** The machine's resource usage. */
  system: SystemMetrics;
  /** The root context (the global one unless another root was asked for) and its subtree. */
  global: ContextStatus;
  /** Every holder of a lock of the tree, longest held first. */
  activeLocks: LockStatus[];
  /** Every waiter for a lock of the tree, longest waiting first. */
  lockWaiters: LockWaiter[];
  /** Likely trouble, most severe first. */
  warnings: StatusWarning[];
}

/**
 * Options of {@linkcode status}, {@linkcode statusJson} and `statusStream`.
 *
 * @example A fixed system line, for a screen that does not change between runs
 * ```ts
 * import { Context, status, type StatusOptions } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const options: StatusOptions = {
 *   root: Context.root("global"),
 *   system: () => ({
 *     cpuUsagePercent: 5, memoryUsedBytes: null, memoryTotalBytes: null, diskUsedBytes: null,
 *     diskTotalBytes: null, networkRxBytesPerSec: null, networkTxBytesPerSec: null,
 *     loadAverage: null, uptimeMs: null, processRssBytes: null, processHeapUsedBytes: null,
 *     processHeapTotalBytes: null, unavailable: {},
 *   }),
 * };
 * assert.deepEqual(status(options).system.cpuUsagePercent, 5);
 * ```
 */
export interface StatusOptions {
  /**
   * The context to report with its subtree: any context of any tree. Locks, deadlocks and
   * recent failures are those of its tree.
   * @default {global()}
   */
  root?: Context;
  /**
   * System metrics to report instead of reading them (tests pass fixed values), or a function
   * giving them.
   * @default {the machine's, read and cached on demand}
   */
  system?: SystemMetrics | (() => SystemMetrics);
}
