/**
 * A named mutex guarding a value, made by `ctx.mutex(name, value)`. Internal.
 *
 * @module
 */

import type { Context, ContextMutex, LockHolderInfo, MutexGuard } from "../core/context.ts";
import type { LockMode, LockOptions } from "../core/options.ts";
import { current } from "../core/current.ts";
import { checkName } from "../core/names.ts";
import { checkDeadlock, isWaiting, type WaitRecord, waitsElsewhere } from "./deadlock.ts";
import { detach, enqueue, holderInfo, QueuedLock, refusal, released, touch } from "./wait_queue.ts";

class MutexGuardImpl<T> implements MutexGuard<T> {
  readonly context: Context;
  #lock: Mutex<T>;
  /** When it was taken, as an offset from the tree's base: a small integer, no heap number. */
  #at: number;

  constructor(lock: Mutex<T>, context: Context, since: number) {
    this.#lock = lock;
    this.context = context;
    this.#at = since - lock.tree.base;
  }

  get value(): T {
    if (!this.#lock.heldBy(this)) throw released("mutex", this.#lock.name);
    return this.#lock.value;
  }

  set value(v: T) {
    if (!this.#lock.heldBy(this)) throw released("mutex", this.#lock.name);
    this.#lock.value = v;
  }

  get since(): number {
    return this.#lock.tree.base + this.#at;
  }

  release(): void {
    this.#lock.unlock(this); // a no-op once released: a released guard holds the mutex no more
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

class Mutex<T> extends QueuedLock implements ContextMutex<T> {
  /** The protected value; guards read it. */
  value: T;
  #holder: MutexGuardImpl<T> | undefined = undefined;

  constructor(owner: Context, name: string, value: T) {
    super(owner, name);
    this.value = value;
  }

  get kind(): "mutex" {
    return "mutex";
  }

  get capacity(): number {
    return 1;
  }

  get busy(): boolean {
    return this.#holder !== undefined || this.q.head !== undefined;
  }

  lock(options?: LockOptions): Promise<MutexGuard<T>> {
    if (options !== undefined) {
      const no = refusal(options);
      if (no !== undefined) return no;
    }
    if (this.#holder === undefined) return Promise.resolve(this.#take(current()));
    return enqueue(this, current(), "exclusive", 1, options);
  }

  /** Whether `g` holds the mutex (a guard does from its take to its release). */
  heldBy(g: MutexGuardImpl<T>): boolean {
    return this.#holder === g;
  }

  tryLock(): MutexGuard<T> | undefined {
    return this.#holder === undefined ? this.#take(current()) : undefined;
  }

  #take(ctx: Context): MutexGuardImpl<T> {
    const now = this.touchNow(ctx);
    const g = this.#holder = new MutexGuardImpl(this, ctx, now);
    if (!this.listed) this.registry.list(this);
    this.tree.changed();
    return g;
  }

  unlock(g: MutexGuardImpl<T>): void {
    if (this.#holder !== g) return;
    const tree = this.tree;
    const now = this.touchNow(g.context);
    const w = this.q.head;
    if (w === undefined) {
      this.#holder = undefined;
      tree.changed();
      return;
    }
    this.q.remove(w);
    detach(w);
    touch(w.ctx, tree, now);
    const next = this.#holder = new MutexGuardImpl(this, w.ctx, now);
    tree.changed();
    w.resolve(next);
    // Waits of w.ctx on this mutex are blocked by w.ctx itself: only waits elsewhere can close
    // a cycle through the new holder.
    if (this.q.head !== undefined && waitsElsewhere(w.rec!, this)) checkDeadlock(w.ctx);
  }

  mayClose(ctx: Context): boolean {
    const h = this.#holder;
    return h !== undefined && h.context !== ctx && isWaiting(h.context);
  }

  holders(): LockHolderInfo[] {
    const h = this.#holder;
    return h === undefined ? [] : [holderInfo(h.context, "exclusive", 1, h.since)];
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

  drain(): void {
    // A mutex with waiters is held: a wait that leaves frees nothing.
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
