/**
 * A named mutex guarding a value, made by `ctx.mutex(name, value)`. Internal.
 *
 * @module
 */

import {
  type Context,
  type ContextMutex,
  internals,
  type LockHolderInfo,
  type LockMode,
  type LockOptions,
  type LockWaiterInfo,
  type MutexGuard,
  type NamedLock,
} from "../core/context.ts";
import { current } from "../core/current.ts";
import { checkName } from "../core/names.ts";
import type { Tree } from "../core/tree.ts";
import {
  checkDeadlock,
  type GraphLock,
  isWaiting,
  type WaitRecord,
  waitsElsewhere,
} from "./deadlock.ts";
import { lockRegistry } from "./registry.ts";
import {
  badOptions,
  detach,
  enqueue,
  holderInfo,
  Queue,
  released,
  touch,
  type Waiter,
  withdrawAll,
} from "./wait_queue.ts";

class MutexGuardImpl<T> implements MutexGuard<T> {
  readonly context: Context;
  readonly since: number;
  #lock: Mutex<T>;
  #released = false;

  constructor(lock: Mutex<T>, context: Context, since: number) {
    this.#lock = lock;
    this.context = context;
    this.since = since;
  }

  get value(): T {
    if (this.#released) throw released("mutex", this.#lock.name);
    return this.#lock.value;
  }

  set value(v: T) {
    if (this.#released) throw released("mutex", this.#lock.name);
    this.#lock.value = v;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#lock.unlock(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

class Mutex<T> implements ContextMutex<T>, GraphLock {
  readonly name: string;
  readonly owner: Context;
  readonly tree: Tree;
  /** The tree's active locks (see `registry.ts`), looked up once. */
  readonly active: Set<NamedLock>;
  /** The protected value; guards read it. */
  value: T;
  #holder: MutexGuardImpl<T> | undefined = undefined;
  #q = new Queue();

  constructor(owner: Context, name: string, value: T) {
    this.owner = owner;
    this.name = name;
    this.value = value;
    this.tree = internals.tree(owner);
    this.active = lockRegistry(this.tree).locks;
  }

  get kind(): "mutex" {
    return "mutex";
  }

  get capacity(): number {
    return 1;
  }

  lock(options?: LockOptions): Promise<MutexGuard<T>> {
    if (options === undefined) {
      if (this.#holder === undefined) return Promise.resolve(this.#take(current()));
      return enqueue(this, this.#q, current(), "exclusive", 1, undefined);
    }
    const bad = badOptions(options);
    if (bad !== undefined) return Promise.reject(bad);
    if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    if (this.#holder === undefined) return Promise.resolve(this.#take(current()));
    return enqueue(this, this.#q, current(), "exclusive", 1, options);
  }

  tryLock(): MutexGuard<T> | undefined {
    return this.#holder === undefined ? this.#take(current()) : undefined;
  }

  #take(ctx: Context): MutexGuardImpl<T> {
    const tree = this.tree;
    const now = tree.now();
    touch(ctx, tree, now);
    const g = this.#holder = new MutexGuardImpl(this, ctx, now);
    this.active.add(this);
    tree.changed();
    return g;
  }

  unlock(g: MutexGuardImpl<T>): void {
    if (this.#holder !== g) return;
    const tree = this.tree;
    const now = tree.now();
    touch(g.context, tree, now);
    const w = this.#q.head;
    if (w === undefined) {
      this.#holder = undefined;
      this.active.delete(this);
      tree.changed();
      return;
    }
    this.#q.remove(w);
    detach(w);
    touch(w.ctx, tree, now);
    const next = this.#holder = new MutexGuardImpl(this, w.ctx, now);
    tree.changed();
    w.resolve(next);
    // Waits of w.ctx on this mutex are blocked by w.ctx itself: only waits elsewhere can close
    // a cycle through the new holder.
    if (this.#q.head !== undefined && waitsElsewhere(w.rec!, this)) checkDeadlock(w.ctx);
  }

  mayClose(ctx: Context): boolean {
    const h = this.#holder;
    return h !== undefined && h.context !== ctx && isWaiting(h.context);
  }

  giveUp(w: Waiter, reason: unknown): void {
    if (!w.queued) return;
    this.#q.remove(w);
    detach(w);
    touch(w.ctx, this.tree, this.tree.now());
    this.tree.changed();
    w.reject(reason);
  }

  holders(): LockHolderInfo[] {
    const h = this.#holder;
    return h === undefined ? [] : [holderInfo(h.context, "exclusive", 1, h.since)];
  }

  waiters(): LockWaiterInfo[] {
    return this.#q.infos();
  }

  blockers(_rec: WaitRecord, into: Context[]): void {
    if (this.#holder !== undefined) into.push(this.#holder.context);
  }

  grantable(rec: WaitRecord, free: ReadonlySet<Context>): boolean {
    const h = this.#holder;
    return h === undefined || h.context === rec.ctx || free.has(h.context);
  }

  waitMode(): LockMode {
    return "exclusive";
  }

  cancelWaits(ctx: Context, error: unknown): void {
    const gone = withdrawAll(this.#q, ctx);
    if (gone.length === 0) return;
    touch(ctx, this.tree, this.tree.now());
    this.tree.changed();
    for (const w of gone) w.reject(error);
  }
}

/**
 * Makes a mutex owned by `owner`. Internal: use `ctx.mutex(name, value)`.
 * @internal
 */
export function newMutex<T>(owner: Context, name: string, value: T): ContextMutex<T> {
  checkName(name, "name");
  return new Mutex(owner, name, value);
}
