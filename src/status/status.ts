/**
 * Status snapshots: the whole context tree with timing, cancellation, data, metrics and
 * counters, plus active locks, lock waiters, warnings and system metrics.
 *
 * Taking a snapshot is synchronous: it awaits nothing, takes no lock and allocates in proportion
 * to the tree (contexts, counter paths, locks) only.
 *
 * @module
 */

import { config } from "../core/config.ts";
import { type Context, internals } from "../core/context.ts";
import { rootOption } from "../core/current.ts";
import type { PathNode } from "../core/counters.ts";
import { describe, escapeSegment } from "../core/names.ts";
import { renderStatus } from "./render.ts";
import { sharedSampler } from "./system_metrics.ts";
import { dataRecord, metricRecord } from "./redact.ts";
import type {
  ContextStatus,
  LockStatus,
  LockWaiter,
  Status,
  StatusOptions,
  StatusWarning,
  SystemMetrics,
} from "./types.ts";
import { DeadlineExceededError, errorText } from "../core/errors.ts";
import { systemAlerts } from "./alerts.ts";
import type { Tree } from "../core/tree.ts";
import { lockRegistry } from "../locks/registry.ts";
import {
  type CancelCandidate,
  collectWarnings,
  type HeldEntry,
  type WaiterEntry,
} from "./warnings.ts";

// A Status made by status(): the same fields, plus the dashboard as its text.
class StatusSnapshot implements Status {
  timestamp: number;
  system: SystemMetrics;
  global: ContextStatus;
  activeLocks: LockStatus[];
  lockWaiters: LockWaiter[];
  warnings: StatusWarning[];

  constructor(s: Status) {
    this.timestamp = s.timestamp;
    this.system = s.system;
    this.global = s.global;
    this.activeLocks = s.activeLocks;
    this.lockWaiters = s.lockWaiters;
    this.warnings = s.warnings;
  }

  toString(): string {
    return renderStatus(this);
  }
}

/**
 * Takes a status snapshot of the global context (or `options.root`): the tree with timing,
 * cancellation, data, metrics and counters, the active locks and their waiters, warnings and
 * system metrics. `String(s)` is the dashboard; see {@linkcode renderStatus} for options.
 *
 * @example A snapshot of a small tree
 * ```ts
 * import { Context, status } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * let t = 1_000_000;
 * const root = Context.root("global", { now: () => t });
 * const proxy = root.child("http-proxy").create();
 * proxy.incrementTotal("requests", 3);
 * t += 2_500;
 * const s = status({ root });
 * assert.deepEqual(s.global.children[0].name, "http-proxy");
 * assert.deepEqual(s.global.children[0].durationMs, 2_500);
 * assert.deepEqual(s.global.deepTotalCounters, { requests: 3 });
 * assert.ok(String(s).includes("http-proxy (2.5s active"));
 * ```
 *
 * @param options Which tree, and system metrics to use instead of the machine's.
 * @returns The snapshot.
 * @throws {TypeError} when `options.root` is not a Context or `options.system` is neither an
 * object nor a function.
 */
export function status(options: StatusOptions = {}): Status {
  return new StatusSnapshot(snapshot(options).status);
}

/**
 * The same status with the dashboard as its text (`String(s)`).
 * @internal
 */
export function withDashboard(s: Status): Status {
  return new StatusSnapshot(s);
}

/**
 * Takes a status snapshot as plain JSON-safe data (no methods), ready for `JSON.stringify`.
 *
 * @example
 * ```ts
 * import { Context, statusJson } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * root.child("worker").withData("queue", "emails").create();
 * const json = statusJson({ root });
 * assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
 * assert.deepEqual(json.global.children[0].data, { queue: "emails" });
 * ```
 *
 * @param options As for {@linkcode status}.
 * @returns The snapshot as plain data.
 * @throws {TypeError} as {@linkcode status}.
 */
export function statusJson(options: StatusOptions = {}): Status {
  return snapshot(options).status;
}

/**
 * A snapshot and when, on the tree's clock, a warning would appear or go with no change.
 * @internal
 */
export interface Snapshot {
  status: Status;
  nextChangeAt: number;
  tree: Tree;
}

const EMPTY_INDEXES: number[] = Object.freeze([]) as unknown as number[];
const EMPTY_CHILDREN: ContextStatus[] = Object.freeze([]) as unknown as ContextStatus[];
const EMPTY_RECORD: Record<string, never> = Object.freeze({}) as Record<string, never>;

interface NodeCounters {
  total: Record<string, number>;
  live: Record<string, number>;
  deepTotal: Record<string, number>;
  deepLive: Record<string, number>;
}

/**
 * Takes a snapshot; the stream also needs `nextChangeAt`.
 * @internal
 */
export function snapshot(options: StatusOptions = {}): Snapshot {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const root = rootOption(options.root);
  const sys = options.system;
  if (sys !== undefined && (typeof sys !== "object" || sys === null) && typeof sys !== "function") {
    throw new TypeError(
      `options.system must be a SystemMetrics object or a function, got ${describe(sys)}`,
    );
  }
  const system = sys === undefined
    ? sharedSampler().sample()
    : typeof sys === "function"
    ? sys()
    : sys;

  const tree = internals.tree(root);
  const now = tree.now();

  // Locks first, so that each context can point at its entries.
  const { held, waiters, heldAt, waitedAt } = collectLocks(tree, now);
  const activeLocks: LockStatus[] = held.map((h) => ({
    lockName: h.lock,
    name: h.lock,
    kind: h.kind,
    mode: h.mode,
    permits: h.permits,
    capacity: h.capacity,
    holder: h.context.path,
    heldBy: h.context.path,
    heldMs: h.heldMs,
    since: h.since,
    longHeld: h.longHeld,
    leaked: h.leaked,
  }));
  const lockWaiters: LockWaiter[] = waiters.map((w) => {
    const holders = w.holders.map((c) => c.path);
    return {
      lockName: w.lock,
      kind: w.kind,
      mode: w.mode,
      permits: w.permits,
      waiter: w.context.path,
      waitingMs: w.waitingMs,
      since: w.since,
      stuck: w.stuck,
      deadlocked: w.deadlocked,
      holders,
      heldBy: holders,
    };
  });

  const rootNode = internals.counterNode(root);
  const counts = rootNode === undefined ? undefined : countersBelow(rootNode);

  // The tree, parents before children (each child is made while its parent is visited).
  const cancelled: CancelCandidate[] = [];
  const top = contextStatus(root, now, rootNode, counts, heldAt, waitedAt, root.deadline);
  const stack: Array<{ ctx: Context; st: ContextStatus; node: PathNode | undefined }> = [
    { ctx: root, st: top, node: rootNode },
  ];
  while (stack.length > 0) {
    const { ctx, st, node } = stack.pop()!;
    const first = internals.firstChild(ctx);
    const kids: ContextStatus[] = first === undefined ? st.children : (st.children = []);
    for (let c = first; c !== undefined; c = internals.nextSibling(c)) {
      const cnode = node?.children?.get(escapeSegment(c.name));
      const inherited = st.deadline ?? undefined;
      const own = internals.ownDeadline(c);
      const deadline = own !== undefined && (inherited === undefined || own < inherited)
        ? own
        : inherited;
      const cst = contextStatus(c, now, cnode, counts, heldAt, waitedAt, deadline);
      kids.push(cst);
      if (
        cst.cancelled || internals.firstChild(c) !== undefined ||
        (cst.deadline !== null && cst.deadline <= now)
      ) {
        stack.push({ ctx: c, st: cst, node: cnode });
      }
    }
    // Past its deadline counts as cancelled then, even if the deadline's timer is late.
    const pastDeadline = st.deadline !== null && st.deadline <= now;
    if ((st.cancelled || pastDeadline) && (st.running > 0 || kids.length > 0)) {
      const byDeadline = pastDeadline &&
        (!st.cancelled || internals.cancelError(ctx) instanceof DeadlineExceededError);
      cancelled.push({
        context: ctx,
        cancelledAt: byDeadline ? st.deadline! : st.cancelledAt ?? now,
        deadline: byDeadline ? st.deadline! : undefined,
        running: st.running,
        children: kids.length,
      });
    }
  }
  // A context is visited after its parent, so `cancelled` lists ancestors first.

  const { warnings, nextChangeAt } = collectWarnings({
    tree,
    now,
    rootPath: root.path,
    wholeTree: root.parent === undefined,
    held,
    waiters,
    cancelled,
    system: systemAlerts(tree).judge(system, root.path),
  });

  return {
    status: {
      timestamp: now,
      system,
      global: top,
      activeLocks,
      lockWaiters,
      warnings,
    },
    nextChangeAt,
    tree,
  };
}

function contextStatus(
  ctx: Context,
  now: number,
  node: PathNode | undefined,
  counts: Map<PathNode, NodeCounters> | undefined,
  heldAt: Map<Context, number[]>,
  waitedAt: Map<Context, number[]>,
  deadline: number | undefined,
): ContextStatus {
  const data = internals.data(ctx);
  const metrics = internals.metrics(ctx);
  let total: Record<string, number> = EMPTY_RECORD, live: Record<string, number> = EMPTY_RECORD;
  let deepTotal = total, deepLive = live;
  if (node !== undefined) {
    const c = node.children === undefined ? undefined : counts?.get(node);
    if (c !== undefined) {
      ({ total, live, deepTotal, deepLive } = c);
    } else {
      ({ total, live } = ownCounters(node));
      deepTotal = total;
      deepLive = live;
    }
  }
  const cancelled = ctx.cancelled;
  const reason = cancelled ? ctx.cancelReason : undefined;
  const error = internals.lastError(ctx);
  return {
    name: ctx.name,
    path: ctx.path,
    createdAt: ctx.createdAt,
    durationMs: Math.max(0, now - ctx.createdAt),
    idleMs: Math.max(0, now - internals.lastActivity(ctx)),
    running: internals.running(ctx),
    cancelled,
    cancelReason: reason === undefined ? null : errorText(reason),
    cancelledAt: cancelled ? internals.cancelledAt(ctx) ?? null : null,
    deadline: deadline ?? null,
    error: error === undefined ? null : errorText(error),
    data: data === undefined || data.size === 0
      ? EMPTY_RECORD
      : dataRecord(data, internals.secrets(ctx)),
    metrics: metrics === undefined || metrics.size === 0 ? EMPTY_RECORD : metricRecord(metrics),
    totalCounters: total,
    liveCounters: live,
    deepTotalCounters: deepTotal,
    deepLiveCounters: deepLive,
    locksHeld: heldAt.size === 0 ? EMPTY_INDEXES : heldAt.get(ctx) ?? EMPTY_INDEXES,
    locksWaited: waitedAt.size === 0 ? EMPTY_INDEXES : waitedAt.get(ctx) ?? EMPTY_INDEXES,
    children: EMPTY_CHILDREN,
  };
}

/** The counters of one path as status shows them (shared empty records when it has none). */
function ownCounters(
  node: PathNode,
): { total: Record<string, number>; live: Record<string, number> } {
  if (node.cells === undefined || node.cells.size === 0) {
    return { total: EMPTY_RECORD, live: EMPTY_RECORD };
  }
  const total: Record<string, number> = {};
  const live: Record<string, number> = {};
  for (const [name, cell] of node.cells) {
    if (cell.showsTotal) total[name] = cell.total;
    if (cell.hasLive) live[name] = cell.live;
  }
  return { total, live };
}

/**
 * Own and deep counters of the counter paths from `top` down that have paths below them. A leaf
 * path's deep counters are its own, made when its context is visited.
 */
function countersBelow(top: PathNode): Map<PathNode, NodeCounters> {
  const out = new Map<PathNode, NodeCounters>();
  const order: PathNode[] = [];
  const stack: PathNode[] = [top];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.children === undefined || n.children.size === 0) continue;
    order.push(n);
    for (const k of n.children.values()) stack.push(k);
  }
  // Children before parents.
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i];
    const { total, live } = ownCounters(n);
    let deepTotal: Record<string, number> | undefined;
    let deepLive: Record<string, number> | undefined;
    for (const k of n.children!.values()) {
      const kc = out.get(k);
      if (kc !== undefined) {
        if (kc.deepTotal !== EMPTY_RECORD) addInto(deepTotal ??= { ...total }, kc.deepTotal);
        if (kc.deepLive !== EMPTY_RECORD) addInto(deepLive ??= { ...live }, kc.deepLive);
      } else if (k.cells !== undefined && k.cells.size > 0) {
        // A leaf path: its cells straight in.
        for (const [name, cell] of k.cells) {
          if (cell.showsTotal) {
            deepTotal ??= { ...total };
            deepTotal[name] = (deepTotal[name] ?? 0) + cell.total;
          }
          if (cell.hasLive) {
            deepLive ??= { ...live };
            deepLive[name] = (deepLive[name] ?? 0) + cell.live;
          }
        }
      }
    }
    out.set(n, { total, live, deepTotal: deepTotal ?? total, deepLive: deepLive ?? live });
  }
  return out;
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const k in from) into[k] = (into[k] ?? 0) + from[k];
}

interface CollectedLocks {
  held: HeldEntry[];
  waiters: WaiterEntry[];
  heldAt: Map<Context, number[]>;
  waitedAt: Map<Context, number[]>;
}

function collectLocks(tree: Tree, now: number): CollectedLocks {
  const held: HeldEntry[] = [];
  const waiters: WaiterEntry[] = [];
  const heldAt = new Map<Context, number[]>();
  const waitedAt = new Map<Context, number[]>();
  if (lockRegistry(tree).locks.size === 0) return { held, waiters, heldAt, waitedAt };
  const inDeadlock = new Map<Context, Set<string>>();
  for (const d of lockRegistry(tree).deadlocks) {
    for (const m of d.members) {
      let s = inDeadlock.get(m.context);
      if (s === undefined) inDeadlock.set(m.context, s = new Set());
      s.add(m.lockName);
    }
  }
  for (const lock of lockRegistry(tree).locks) {
    const hs = lock.holders();
    const holders = hs.map((h) => h.context);
    for (const h of hs) {
      const heldMs = Math.max(0, now - h.since);
      held.push({
        lock: lock.name,
        kind: lock.kind,
        mode: h.mode,
        permits: h.permits,
        capacity: lock.capacity,
        context: h.context,
        since: h.since,
        heldMs,
        leaked: h.context.ended,
        longHeld: heldMs > config.longHeldLockMs,
      });
    }
    for (const w of lock.waiters()) {
      const waitingMs = Math.max(0, now - w.since);
      waiters.push({
        lock: lock.name,
        kind: lock.kind,
        mode: w.mode,
        permits: w.permits,
        context: w.context,
        since: w.since,
        waitingMs,
        stuck: waitingMs > config.stuckWaiterMs,
        deadlocked: inDeadlock.get(w.context)?.has(lock.name) ?? false,
        holders,
      });
    }
  }
  // Longest first; sort is stable, so equal times keep registry order.
  held.sort((a, b) => a.since - b.since);
  waiters.sort((a, b) => a.since - b.since);
  for (let i = 0; i < held.length; i++) push(heldAt, held[i].context, i);
  for (let i = 0; i < waiters.length; i++) push(waitedAt, waiters[i].context, i);
  return { held, waiters, heldAt, waitedAt };
}

function push(map: Map<Context, number[]>, ctx: Context, i: number): void {
  const list = map.get(ctx);
  if (list === undefined) map.set(ctx, [i]);
  else list.push(i);
}
