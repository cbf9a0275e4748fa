/**
 * A named counting semaphore, made by `ctx.semaphore(name, permits)`: waiters are served in
 * order. Internal.
 *
 * @module
 */

import type { Context, ContextSemaphore, LockHolderInfo, SemaphoreGuard } from "../core/context.ts";
import type { LockMode, LockOptions } from "../core/options.ts";
import { current } from "../core/current.ts";
import { checkName, describe } from "../core/names.ts";
import type { WaitRecord } from "./deadlock.ts";
import {
  afterGrant,
  detach,
  enqueue,
  holderInfo,
  Holders,
  QueuedLock,
  refusal,
  touch,
} from "./wait_queue.ts";

class SemGuard implements SemaphoreGuard {
  readonly context: Context;
  readonly permits: number;
  #lock: Semaphore;
  #released = false;
  /** When it was taken, as an offset from the tree's base: a small integer, no heap number. */
  #at: number;

  constructor(lock: Semaphore, context: Context, since: number, permits: number) {
    this.#lock = lock;
    this.context = context;
    this.#at = since - lock.tree.base;
    this.permits = permits;
  }

  get since(): number {
    return this.#lock.tree.base + this.#at;
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

/** Checks a permit count; returns the error, or undefined. */
function badPermits(n: unknown, capacity: number): Error | undefined {
  if (typeof n !== "number") return new TypeError(`n must be a number, got ${describe(n)}`);
  if (!Number.isInteger(n) || n < 1) {
    return new RangeError(`n must be a positive integer, got ${n}`);
  }
  if (n > capacity) {
    return new RangeError(`n (${n}) must not exceed the semaphore's ${capacity} permits`);
  }
  return undefined;
}

class Semaphore extends QueuedLock implements ContextSemaphore {
  readonly capacity: number;
  #available: number;
  #holders = new Holders<SemGuard>();

  constructor(owner: Context, name: string, permits: number) {
    super(owner, name);
    this.capacity = this.#available = permits;
  }

  get kind(): "semaphore" {
    return "semaphore";
  }

  get available(): number {
    return this.#available;
  }

  get busy(): boolean {
    return this.#holders.size !== 0 || this.q.head !== undefined;
  }

  acquire(n: number = 1, options?: LockOptions): Promise<SemaphoreGuard> {
    if (n !== 1) {
      const bad = badPermits(n, this.capacity);
      if (bad !== undefined) return Promise.reject(bad);
    }
    if (options !== undefined) {
      const no = refusal(options);
      if (no !== undefined) return no;
    }
    if (this.q.head === undefined && this.#available >= n) {
      return Promise.resolve(this.#take(current(), n));
    }
    return enqueue(this, current(), "permits", n, options);
  }

  tryAcquire(n: number = 1): SemaphoreGuard | undefined {
    if (n !== 1) {
      const bad = badPermits(n, this.capacity);
      if (bad !== undefined) throw bad;
    }
    return this.q.head === undefined && this.#available >= n ? this.#take(current(), n) : undefined;
  }

  #take(ctx: Context, n: number): SemGuard {
    const now = this.touchNow(ctx);
    const g = new SemGuard(this, ctx, now, n);
    if (!this.listed) this.registry.list(this);
    this.#holders.add(g);
    this.#available -= n;
    this.tree.changed();
    return g;
  }

  unlock(g: SemGuard): void {
    if (!this.#holders.delete(g)) return;
    this.#available += g.permits;
    this.releasedBy(g.context);
  }

  /** Grants what the queue's head allows. */
  drain(now: number): void {
    const q = this.q;
    for (let w = q.head; w !== undefined && w.permits <= this.#available; w = q.head) {
      q.remove(w);
      detach(w);
      touch(w.ctx, this.tree, now);
      const g = new SemGuard(this, w.ctx, now, w.permits);
      this.#holders.add(g);
      this.#available -= w.permits;
      w.resolve(g);
      afterGrant(w, q);
    }
  }

  holders(): LockHolderInfo[] {
    const out: LockHolderInfo[] = [];
    for (const g of this.#holders) out.push(holderInfo(g.context, "permits", g.permits, g.since));
    return out;
  }

  blockers(_rec: WaitRecord, into: Context[]): void {
    for (const g of this.#holders) into.push(g.context);
  }

  grantable(rec: WaitRecord, free: ReadonlySet<Context>): boolean {
    let stuck = 0;
    for (const g of this.#holders) {
      if (g.context !== rec.ctx && !free.has(g.context)) stuck += g.permits;
    }
    const room = this.capacity - stuck;
    for (let w = this.q.head; w !== undefined; w = w.next) {
      if (w.permits > room) return false;
      if (w.ctx === rec.ctx) return true;
    }
    return false;
  }

  waitMode(): LockMode {
    return "permits";
  }

  mayClose(): boolean {
    return true;
  }
}

/**
 * Makes a semaphore owned by `owner`. Internal: use `ctx.semaphore(name, permits)`.
 * @internal
 */
export function newSemaphore(owner: Context, name: string, permits: number): ContextSemaphore {
  checkName(name, "name");
  if (typeof permits !== "number") {
    throw new TypeError(`permits must be a number, got ${describe(permits)}`);
  }
  if (!Number.isSafeInteger(permits) || permits < 1) {
    throw new RangeError(`permits must be a positive integer, got ${permits}`);
  }
  return new Semaphore(owner, name, permits);
}
