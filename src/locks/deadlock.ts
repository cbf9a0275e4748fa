/**
 * The wait-for graph over every named lock (mutex, rwlock, semaphore) and the deadlock findings
 * made from it.
 *
 * Nodes are contexts, compared by identity (never by path). A context waits for a lock through
 * one or more pending waits (several simple-spawned tasks may share a context); it is blocked by
 * the contexts that hold the lock, or, for an rwlock reader, by the writer that holds it or waits
 * ahead of it.
 *
 * The check runs only on slow paths: when a wait starts behind a holder that is itself waiting,
 * and when a lock is handed to a context that still waits for something else. It reduces the part
 * of the graph reachable from that context (every context that can go on is assumed to release
 * what it holds, as in Holt's graph reduction, so a semaphore with permits held outside the cycle
 * is no deadlock), and reports one cycle among the contexts that stay blocked. A finding goes to
 * `tree.deadlocks` of every tree whose lock is in the cycle, is delivered to {@linkcode onDeadlock}
 * listeners in a microtask, and leaves `tree.deadlocks` as soon as any member stops waiting.
 *
 * What a context graph cannot tell: a context that waits for a lock it holds itself is not
 * reported (another task sharing the context may hold it and release it), and a cycle through a
 * context that runs several tasks at once may be one that a task outside the cycle would break.
 *
 * @module
 */

import { Context, internals } from "../core/context.ts";
import { describe } from "../core/names.ts";
import type { NamedLock } from "../core/context.ts";
import type { LockKind, LockMode } from "../core/options.ts";
import type { Tree } from "../core/tree.ts";
import type { DeadlockFinding, DeadlockMember } from "./deadlock_types.ts";
import { lockRegistry } from "./registry.ts";
import { waitCancelError } from "./errors.ts";

export type { DeadlockFinding, DeadlockMember } from "./deadlock_types.ts";

/**
 * A lock as the wait-for graph sees it. Internal: implemented by the lock classes.
 * @internal
 */
export interface GraphLock extends NamedLock {
  /** The tree of the lock's owner. */
  readonly tree: Tree;
  /** Pushes the contexts that block the waits of `rec` (they may repeat or be `rec.ctx`). */
  blockers(rec: WaitRecord, into: Context[]): void;
  /**
   * Whether a wait of `rec` would be granted once every context in `free`, and `rec.ctx`
   * itself, had released this lock.
   */
  grantable(rec: WaitRecord, free: ReadonlySet<Context>): boolean;
  /** How `rec.ctx` waits for this lock, for a finding. */
  waitMode(rec: WaitRecord): LockMode;
  /** Makes every wait of `ctx` on this lock give up with `error`. */
  cancelWaits(ctx: Context, error: unknown): void;
}

/**
 * The pending waits of one context on one lock. Internal.
 * @internal
 */
export class WaitRecord {
  readonly ctx: Context;
  readonly lock: GraphLock;
  /** Every pending wait of `ctx`. */
  readonly all: ContextWaits;
  /** Pending waits of `ctx` on `lock`. */
  count = 0;
  /** How many of them are rwlock write waits. */
  writes = 0;
  /** Active findings this record is a member of. */
  findings: DeadlockFinding[] | undefined = undefined;

  constructor(ctx: Context, lock: GraphLock, all: ContextWaits) {
    this.ctx = ctx;
    this.lock = lock;
    this.all = all;
  }
}

/**
 * The pending waits of one context. Kept with the context (`internals.setWaits`) while it waits,
 * so that an ended context that waited once keeps nothing of it; a cancel of the context makes
 * them give up ({@linkcode cancelAllWaits}).
 * @internal
 */
export class ContextWaits {
  readonly ctx: Context;
  readonly recs: WaitRecord[] = [];

  constructor(ctx: Context) {
    this.ctx = ctx;
  }
}

/** Bookkeeping of an active finding. */
interface Active {
  readonly records: readonly WaitRecord[];
  readonly trees: readonly Tree[];
}

interface Listener {
  readonly fn: (finding: DeadlockFinding) => void;
  readonly tree: Tree | undefined;
}

/** The waits kept with `ctx`, if it has ever waited. */
const waitsOf = internals.waits as (ctx: Context) => ContextWaits | undefined;
const active = new Map<DeadlockFinding, Active>();
let listeners: readonly Listener[] = [];
const scratch: Context[] = [];

/**
 * Records that `ctx` starts one wait on `lock`. The caller checks `ctx.cancelled` first.
 * @internal
 */
export function startWait(ctx: Context, lock: GraphLock, write: boolean): WaitRecord {
  let entry = waitsOf(ctx);
  if (entry === undefined) internals.setWaits(ctx, entry = new ContextWaits(ctx));
  const recs = entry.recs;
  let rec: WaitRecord | undefined;
  for (let i = 0; i < recs.length; i++) {
    if (recs[i].lock === lock) {
      rec = recs[i];
      break;
    }
  }
  if (rec === undefined) {
    rec = new WaitRecord(ctx, lock, entry);
    recs.push(rec);
  }
  rec.count++;
  if (write) rec.writes++;
  return rec;
}

/**
 * Records that one wait of `rec` ended (granted or given up). When `rec.ctx` no longer waits for
 * the lock, the findings it is a member of are withdrawn.
 * @internal
 */
export function endWait(rec: WaitRecord, write: boolean): void {
  if (write) rec.writes--;
  if (--rec.count > 0) return;
  const recs = rec.all.recs;
  const i = recs.indexOf(rec);
  if (i >= 0) {
    recs[i] = recs[recs.length - 1];
    recs.pop();
  }
  if (recs.length === 0) internals.setWaits(rec.ctx, undefined);
  const fs = rec.findings;
  if (fs !== undefined) {
    rec.findings = undefined;
    for (const f of fs) withdraw(f);
  }
}

/**
 * Whether `ctx` has any pending lock wait.
 * @internal
 */
export function isWaiting(ctx: Context): boolean {
  const entry = waitsOf(ctx);
  return entry !== undefined && entry.recs.length > 0;
}

/**
 * Whether the context of `rec` (a wait that just ended) waits for any lock other than `lock`.
 * @internal
 */
export function waitsElsewhere(rec: WaitRecord, lock: GraphLock): boolean {
  const recs = rec.all.recs;
  return recs.length > 1 || (recs.length === 1 && recs[0].lock !== lock);
}

/**
 * Makes every wait of `ctx`, which was cancelled, give up with `error`. Called by the cancel of a
 * context that has waited (see `provideLocks`).
 * @internal
 */
export function cancelAllWaits(ctx: Context, error: unknown): void {
  const entry = waitsOf(ctx);
  if (entry === undefined || entry.recs.length === 0) return;
  for (const rec of entry.recs.slice()) {
    rec.lock.cancelWaits(ctx, waitCancelError(error, rec.lock, ctx));
  }
}

/**
 * Looks for a deadlock that involves `start`'s waits. Cheap when no context blocking `start` is
 * itself waiting (the usual case); otherwise reduces the reachable graph and reports a cycle.
 * @internal
 */
export function checkDeadlock(start: Context): void {
  const entry = waitsOf(start);
  if (entry === undefined) return;
  let deeper = false;
  const recs = entry.recs;
  for (let i = 0; i < recs.length && !deeper; i++) {
    scratch.length = 0;
    recs[i].lock.blockers(recs[i], scratch);
    for (let j = 0; j < scratch.length; j++) {
      const b = scratch[j];
      if (b !== start && isWaiting(b)) {
        deeper = true;
        break;
      }
    }
  }
  scratch.length = 0;
  if (!deeper) return;
  const stuck = deadlocked(start);
  if (stuck.size === 0) return;
  const cycle = findCycle(start, stuck);
  if (cycle !== undefined) report(cycle);
  // A context of several tasks can be in more than one cycle at once: name every stuck context
  // in some finding.
  for (const c of stuck) {
    if (c === start || waitsOf(c)!.recs.some((r) => r.findings !== undefined)) continue;
    const other = findCycle(c, stuck);
    if (other !== undefined) report(other);
  }
}

/**
 * The contexts reachable from `start` that stay blocked after reduction: repeatedly, a context
 * that waits for nothing, or one of whose waits could be granted once the contexts already
 * known to go on release, is taken to go on.
 */
function deadlocked(start: Context): Set<Context> {
  const order: Context[] = [start];
  const seen = new Set<Context>(order);
  const tmp: Context[] = [];
  for (let i = 0; i < order.length; i++) {
    const entry = waitsOf(order[i]);
    if (entry === undefined) continue;
    for (const rec of entry.recs) {
      tmp.length = 0;
      rec.lock.blockers(rec, tmp);
      for (const b of tmp) {
        if (!seen.has(b)) {
          seen.add(b);
          order.push(b);
        }
      }
    }
  }
  const free = new Set<Context>();
  for (const c of order) if (!isWaiting(c)) free.add(c);
  for (let changed = true; changed;) {
    changed = false;
    for (const c of order) {
      if (free.has(c)) continue;
      for (const rec of waitsOf(c)!.recs) {
        if (rec.lock.grantable(rec, free)) {
          free.add(c);
          changed = true;
          break;
        }
      }
    }
  }
  const stuck = new Set<Context>();
  for (const c of order) if (!free.has(c)) stuck.add(c);
  return stuck;
}

interface Frame {
  readonly ctx: Context;
  readonly recs: readonly WaitRecord[];
  ri: number;
  bi: number;
  readonly blockers: Context[];
}

/**
 * A cycle among `stuck` reachable from `start`, as the wait records of its members in order:
 * one through `start` if there is one, else any.
 */
function findCycle(start: Context, stuck: ReadonlySet<Context>): WaitRecord[] | undefined {
  const path: Frame[] = [];
  const onPath = new Map<Context, number>();
  const done = new Set<Context>();
  let fallback: WaitRecord[] | undefined; // a cycle that does not pass through `start`
  const enter = (ctx: Context): void => {
    onPath.set(ctx, path.length);
    path.push({ ctx, recs: waitsOf(ctx)?.recs ?? [], ri: -1, bi: 0, blockers: [] });
  };
  if (!stuck.has(start)) {
    // `start` is blocked behind a cycle it is not part of: look from the contexts it waits for.
    for (const c of stuck) {
      const cycle = findCycle(c, stuck);
      if (cycle !== undefined) return cycle;
    }
    return undefined;
  }
  enter(start);
  while (path.length > 0) {
    const top = path[path.length - 1];
    if (top.bi >= top.blockers.length) {
      if (++top.ri >= top.recs.length) {
        path.pop();
        onPath.delete(top.ctx);
        done.add(top.ctx);
        continue;
      }
      top.blockers.length = 0;
      top.bi = 0;
      top.recs[top.ri].lock.blockers(top.recs[top.ri], top.blockers);
      continue;
    }
    const b = top.blockers[top.bi++];
    if (b === top.ctx || !stuck.has(b) || done.has(b)) continue;
    const at = onPath.get(b);
    if (at === 0) return path.map((f) => f.recs[f.ri]); // back to start: the cycle it closed
    if (at !== undefined) fallback ??= path.slice(at).map((f) => f.recs[f.ri]);
    else enter(b);
  }
  return fallback;
}

function report(cycle: WaitRecord[]): void {
  const known = cycle[0].findings;
  if (known !== undefined) {
    for (const f of known) {
      const a = active.get(f)!;
      if (a.records.length === cycle.length && cycle.every((r) => a.records.includes(r))) return;
    }
  }
  const members: DeadlockMember[] = cycle.map((rec) =>
    Object.freeze({
      context: rec.ctx,
      lockName: rec.lock.name,
      kind: rec.lock.kind as LockKind,
      mode: rec.lock.waitMode(rec),
    })
  );
  const finding: DeadlockFinding = Object.freeze({
    members: Object.freeze(members),
    detectedAt: cycle[0].lock.tree.now(),
  });
  const trees: Tree[] = [];
  for (const rec of cycle) {
    if (!trees.includes(rec.lock.tree)) trees.push(rec.lock.tree);
    (rec.findings ??= []).push(finding);
  }
  active.set(finding, { records: cycle, trees });
  for (const t of trees) {
    lockRegistry(t).deadlocks.push(finding);
    t.changed();
  }
  if (listeners.length > 0) queueMicrotask(() => deliver(finding, trees));
}

function withdraw(finding: DeadlockFinding): void {
  const a = active.get(finding);
  if (a === undefined) return;
  active.delete(finding);
  for (const rec of a.records) {
    const fs = rec.findings;
    if (fs === undefined) continue;
    const i = fs.indexOf(finding);
    if (i >= 0) fs.splice(i, 1);
    if (fs.length === 0) rec.findings = undefined;
  }
  for (const t of a.trees) {
    const found = lockRegistry(t).deadlocks;
    const i = found.indexOf(finding);
    if (i >= 0) found.splice(i, 1);
    t.changed();
  }
}

function deliver(finding: DeadlockFinding, trees: readonly Tree[]): void {
  if (!active.has(finding)) return; // broken before anyone heard of it
  for (const l of listeners) {
    if (l.tree !== undefined && !trees.includes(l.tree)) continue;
    try {
      l.fn(finding);
    } catch (error) {
      console.error("an onDeadlock listener threw:", error);
    }
  }
}

/**
 * A registration that ends with `release()` or at the end of a `using` block.
 *
 * @example
 * ```ts
 * import { onDeadlock } from "@fastn/context";
 *
 * {
 *   using _sub = onDeadlock((f) => console.error(f.members.length, "tasks deadlocked"));
 *   // ... run the work to watch
 * } // released here
 * ```
 */
export interface Subscription extends Disposable {
  /**
   * Ends the registration; calling it again does nothing.
   *
   * @example
   * ```ts
   * import { onDeadlock } from "@fastn/context";
   *
   * const sub = onDeadlock(() => {});
   * sub.release();
   * sub.release(); // a no-op
   * ```
   */
  release(): void;
}

/**
 * Options of {@linkcode onDeadlock}.
 *
 * @example Only the findings of one tree
 * ```ts
 * import { Context, onDeadlock } from "@fastn/context";
 *
 * const root = Context.root("tests");
 * using _sub = onDeadlock((f) => console.error(f), { root });
 * ```
 */
export interface DeadlockListenerOptions {
  /**
   * Only hear of cycles through locks of this context's tree (any context of it).
   * @default {undefined} every tree
   */
  root?: Context;
}

/**
 * Calls `listener` with every deadlock cycle found from now on, in a microtask after the wait
 * that closed the cycle started (a cycle broken before then is not delivered). The same findings
 * stay in the status while they last. A listener that throws is logged and kept.
 *
 * @example Two tasks that take two mutexes in opposite order
 * ```ts
 * import { Context, type DeadlockFinding, onDeadlock } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("app");
 * const a = root.mutex("a", 0), b = root.mutex("b", 0);
 * const found = Promise.withResolvers<DeadlockFinding>();
 * using _sub = onDeadlock(found.resolve, { root });
 * const gotA = Promise.withResolvers<void>(), gotB = Promise.withResolvers<void>();
 * const one = root.child("one").create(), two = root.child("two").create();
 * const t1 = one.spawn(async () => {
 *   using _a = await a.lock();
 *   gotA.resolve();
 *   await gotB.promise;
 *   using _b = await b.lock();
 * });
 * const t2 = two.spawn(async () => {
 *   using _b = await b.lock();
 *   gotB.resolve();
 *   await gotA.promise;
 *   using _a = await a.lock();
 * });
 * const finding = await found.promise;
 * assert.deepEqual(finding.members.map((m) => [m.context.name, m.lockName]).sort(), [
 *   ["one", "b"],
 *   ["two", "a"],
 * ]);
 * one.cancel("break the cycle");
 * await assert.rejects(t1);
 * await t2;
 * ```
 *
 * @param listener Gets each finding.
 * @param options `root`: only findings of that context's tree.
 * @returns The subscription; `release()` it (or `using`) to stop listening.
 * @throws {TypeError} when `listener` is not a function or `options.root` not a Context.
 */
export function onDeadlock(
  listener: (finding: DeadlockFinding) => void,
  options: DeadlockListenerOptions = {},
): Subscription {
  if (typeof listener !== "function") {
    throw new TypeError(`listener must be a function, got ${describe(listener)}`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const root = options.root;
  if (root !== undefined && !(root instanceof Context)) {
    throw new TypeError(`options.root must be a Context, got ${describe(root)}`);
  }
  const entry: Listener = { fn: listener, tree: root && internals.tree(root) };
  listeners = [...listeners, entry];
  let live = true;
  const release = (): void => {
    if (!live) return;
    live = false;
    listeners = listeners.filter((l) => l !== entry);
  };
  return { release, [Symbol.dispose]: release };
}
