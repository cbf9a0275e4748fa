/**
 * What the three lock kinds share: the base class {@linkcode QueuedLock} (names, tree, registry
 * listing, the queue of waiters, the give-up and cancel paths), the checks of a call's options,
 * the queue (first come, first served, O(1) removal), the slow path that starts a wait with its
 * signal, timeout and deadlock check, and the holder set. Internal.
 *
 * @module
 */

import {
  type Context,
  internals,
  type LockHolderInfo,
  type LockWaiterInfo,
  type NamedLock,
} from "../core/context.ts";
import type { LockKind, LockMode, LockOptions } from "../core/options.ts";
import { describe } from "../core/names.ts";
import type { Tree } from "../core/tree.ts";
import { checkDeadlock, endWait, type GraphLock, startWait, type WaitRecord } from "./deadlock.ts";
import { LockTimeoutError, waitCancelError } from "./errors.ts";
import { type ListedLock, type LockRegistry, lockRegistry } from "./registry.ts";

/** Marks `ctx` active at `now` (a stamp of the lock's tree), or at a stamp of its own tree. */
export const touch: (ctx: Context, tree: Tree, now: number) => void = internals.touchFrom;

/**
 * What every lock kind shares: its name, owner and tree, its listing in the tree's registry, its
 * queue of waiters, and the paths by which waits give up (a signal, a timeout, a cancel).
 */
export abstract class QueuedLock implements GraphLock, ListedLock {
  readonly name: string;
  readonly owner: Context;
  readonly tree: Tree;
  /** The tree's lock registry, looked up once. */
  readonly registry: LockRegistry;
  listed = false;
  /** The waiters, first come, first served. */
  readonly q: Queue = new Queue();

  constructor(owner: Context, name: string) {
    this.owner = owner;
    this.name = name;
    this.tree = internals.tree(owner);
    this.registry = lockRegistry(this.tree);
  }

  abstract readonly kind: LockKind;
  abstract readonly capacity: number;
  abstract readonly busy: boolean;
  abstract holders(): LockHolderInfo[];
  abstract blockers(rec: WaitRecord, into: Context[]): void;
  abstract grantable(rec: WaitRecord, free: ReadonlySet<Context>): boolean;
  abstract waitMode(rec: WaitRecord): LockMode;
  /** False when a new wait of `ctx` surely closes no cycle (a cheap test before the check). */
  abstract mayClose(ctx: Context): boolean;
  /** Grants what the queue's head allows now that waits have left. */
  abstract drain(now: number): void;

  /** Reads the tree's stamp and marks `ctx` active at it: how every take and release starts. */
  touchNow(ctx: Context): number {
    const now = this.tree.stamp();
    touch(ctx, this.tree, now);
    return now;
  }

  /** After `ctx` released what may let waiters go: grants what the queue allows, tells the tree. */
  releasedBy(ctx: Context): void {
    this.drain(this.touchNow(ctx));
    this.tree.changed();
  }

  waiters(): LockWaiterInfo[] {
    return this.q.infos();
  }

  /** Ends the wait `w` with `reason` (its signal aborted or its timeout passed). */
  giveUp(w: Waiter, reason: unknown): void {
    if (!w.queued) return;
    this.q.remove(w);
    detach(w);
    this.releasedBy(w.ctx); // waits behind one that gave up may go now
    w.reject(reason);
  }

  cancelWaits(ctx: Context, error: unknown): void {
    // All of ctx's waits leave before anything is granted: none of them gets the lock now.
    const gone = withdrawAll(this.q, ctx);
    if (gone.length === 0) return;
    this.releasedBy(ctx);
    for (const w of gone) w.reject(error);
  }
}

/** One pending wait. */
export class Waiter {
  readonly lock: QueuedLock;
  readonly ctx: Context;
  readonly mode: LockMode;
  readonly permits: number;
  readonly since: number;
  // deno-lint-ignore no-explicit-any
  resolve: (guard: any) => void = noop;
  reject: (reason: unknown) => void = noop;
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  queued = true;
  rec: WaitRecord | undefined = undefined;
  signal: AbortSignal | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  timeoutMs = Infinity;

  constructor(lock: QueuedLock, ctx: Context, mode: LockMode, permits: number, since: number) {
    this.lock = lock;
    this.ctx = ctx;
    this.mode = mode;
    this.permits = permits;
    this.since = since;
  }

  /** The abort listener. */
  handleEvent(): void {
    this.lock.giveUp(this, this.signal!.reason);
  }

  info(): LockWaiterInfo {
    return { context: this.ctx, mode: this.mode, permits: this.permits, since: this.since };
  }
}

export function noop(): void {}

/** A FIFO of waiters with O(1) removal. */
export class Queue {
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;

  push(w: Waiter): void {
    const t = this.tail;
    if (t === undefined) this.head = w;
    else {
      t.next = w;
      w.prev = t;
    }
    this.tail = w;
  }

  remove(w: Waiter): void {
    const p = w.prev, n = w.next;
    if (p === undefined) this.head = n;
    else p.next = n;
    if (n === undefined) this.tail = p;
    else n.prev = p;
    w.prev = w.next = undefined;
    w.queued = false;
  }

  infos(): LockWaiterInfo[] {
    const out: LockWaiterInfo[] = [];
    for (let w = this.head; w !== undefined; w = w.next) out.push(w.info());
    return out;
  }
}

/**
 * The holders of a shared lock, oldest first: a set that keeps its first member in a field, so
 * that a lock taken and released by one holder at a time never touches a `Set`.
 */
export class Holders<G> {
  size = 0;
  #first: G | undefined = undefined;
  #rest: Set<G> | undefined = undefined;

  add(g: G): void {
    if (this.size === 0) this.#first = g;
    else (this.#rest ??= new Set()).add(g);
    this.size++;
  }

  delete(g: G): boolean {
    if (this.#first === g) this.#first = undefined;
    else if (this.#rest === undefined || !this.#rest.delete(g)) return false;
    this.size--;
    return true;
  }

  [Symbol.iterator](): Iterator<G> {
    const all: G[] = [];
    if (this.#first !== undefined) all.push(this.#first);
    if (this.#rest !== undefined) all.push(...this.#rest);
    return all[Symbol.iterator]();
  }
}

export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The promise a `lock()`, `read()`, `write()` or `acquire()` call returns at once when its
 * options are bad or its signal is already aborted; undefined when the call goes on.
 */
export function refusal(options: LockOptions | undefined): Promise<never> | undefined {
  if (options === undefined) return undefined;
  const bad = badOptions(options);
  if (bad !== undefined) return Promise.reject(bad);
  if (options.signal?.aborted) return Promise.reject(options.signal.reason);
  return undefined;
}

/** Checks wait options; returns the error to reject with, or undefined. */
function badOptions(options: unknown): Error | undefined {
  if (typeof options !== "object" || options === null) {
    return new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const { signal, timeoutMs } = options as LockOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return new TypeError(`options.signal must be an AbortSignal, got ${describe(signal)}`);
  }
  if (timeoutMs !== undefined) {
    if (typeof timeoutMs !== "number") {
      return new TypeError(`options.timeoutMs must be a number, got ${describe(timeoutMs)}`);
    }
    if (!(timeoutMs >= 0)) {
      return new RangeError(`options.timeoutMs must be a non-negative number, got ${timeoutMs}`);
    }
  }
  return undefined;
}

/**
 * The slow path: `ctx` starts waiting on `lock` (which is held). Gives up at once when `ctx` is
 * cancelled or the timeout is 0.
 */
export function enqueue<G>(
  lock: QueuedLock,
  ctx: Context,
  mode: LockMode,
  permits: number,
  options: LockOptions | undefined,
): Promise<G> {
  const q = lock.q;
  const tree = lock.tree;
  const now = tree.stamp();
  touch(ctx, tree, now);
  const timeoutMs = options?.timeoutMs ?? Infinity;
  if (ctx.cancelled || timeoutMs === 0) {
    tree.changed();
    return Promise.reject(
      ctx.cancelled
        ? waitCancelError(internals.cancelError(ctx), lock, ctx)
        : timeoutError(lock, ctx, timeoutMs),
    );
  }
  const w = new Waiter(lock, ctx, mode, permits, now);
  const p = new Promise<G>((resolve, reject) => {
    w.resolve = resolve;
    w.reject = reject;
  });
  q.push(w);
  w.rec = startWait(ctx, lock, mode === "write");
  tree.changed(); // the lock is in the registry already: only a held lock has waiters
  // The waiter is complete before anything below runs: the first setTimeout() of a process may
  // run queued jobs (Deno loads timers lazily), which may grant the lock or give the wait up.
  const signal = options?.signal;
  if (signal !== undefined) {
    w.signal = signal;
    signal.addEventListener("abort", w, { once: true });
  }
  if (timeoutMs <= MAX_TIMER_MS && w.queued) {
    w.timeoutMs = timeoutMs;
    const timer = setTimeout(onTimeout, timeoutMs, w);
    if (w.queued) w.timer = timer;
    else clearTimeout(timer);
  }
  if (w.queued && lock.mayClose(ctx)) checkDeadlock(ctx);
  return p;
}

export function onTimeout(w: Waiter): void {
  w.timer = undefined;
  if (w.queued) w.lock.giveUp(w, timeoutError(w.lock, w.ctx, w.timeoutMs));
}

export function timeoutError(lock: NamedLock, ctx: Context, timeoutMs: number): LockTimeoutError {
  return new LockTimeoutError({
    lockName: lock.name,
    kind: lock.kind,
    waiter: ctx.path,
    holders: lock.holders().map((h) => h.context.path),
    timeoutMs,
  });
}

/** Ends a wait that left the queue: stops its signal listener and timer, updates the graph. */
export function detach(w: Waiter): void {
  if (w.signal !== undefined) w.signal.removeEventListener("abort", w);
  if (w.timer !== undefined) {
    clearTimeout(w.timer);
    w.timer = undefined;
  }
  endWait(w.rec!, w.mode === "write");
}

/**
 * After a hand-off to `ctx`: the waiters left now wait for `ctx`, which closes a cycle if `ctx`
 * itself still waits for something.
 */
export function afterGrant(w: Waiter, q: Queue): void {
  if (q.head !== undefined && w.rec!.all.recs.length > 0) checkDeadlock(w.ctx);
}

/** Takes every waiter of `ctx` out of `q` (a cancelled context gives all its waits up). */
export function withdrawAll(q: Queue, ctx: Context): Waiter[] {
  const gone: Waiter[] = [];
  for (let w = q.head; w !== undefined;) {
    const next = w.next;
    if (w.ctx === ctx) {
      q.remove(w);
      detach(w);
      gone.push(w);
    }
    w = next;
  }
  return gone;
}

export function released(kind: LockKind, name: string): TypeError {
  return new TypeError(`the guard of ${kind} "${name}" was released`);
}

export function holderInfo(
  context: Context,
  mode: LockMode,
  permits: number,
  since: number,
): LockHolderInfo {
  return { context, mode, permits, since };
}
