/**
 * A named reader-writer lock guarding a value, made by `ctx.rwlock(name, value)`: a waiting
 * writer is not overtaken by readers that come after it. Internal.
 *
 * @module
 */

import type {
  Context,
  ContextRwLock,
  LockHolderInfo,
  ReadGuard,
  WriteGuard,
} from "../core/context.ts";
import type { LockMode, LockOptions } from "../core/options.ts";
import { current } from "../core/current.ts";
import { checkName } from "../core/names.ts";
import type { WaitRecord } from "./deadlock.ts";
import {
  afterGrant,
  detach,
  enqueue,
  holderInfo,
  Holders,
  QueuedLock,
  refusal,
  released,
  touch,
  type Waiter,
} from "./wait_queue.ts";

class RwGuard<T> implements ReadGuard<T>, WriteGuard<T> {
  readonly context: Context;
  #lock: RwLock<T>;
  #write: boolean;
  #released = false;
  /** When it was taken, as an offset from the tree's base: a small integer, no heap number. */
  #at: number;

  constructor(lock: RwLock<T>, context: Context, since: number, write: boolean) {
    this.#lock = lock;
    this.context = context;
    this.#at = since - lock.tree.base;
    this.#write = write;
  }

  get value(): T {
    if (this.#released) throw released("rwlock", this.#lock.name);
    return this.#lock.value;
  }

  set value(v: T) {
    if (!this.#write) {
      throw new TypeError(`a read guard of rwlock "${this.#lock.name}" cannot replace the value`);
    }
    if (this.#released) throw released("rwlock", this.#lock.name);
    this.#lock.value = v;
  }

  get write(): boolean {
    return this.#write;
  }

  get since(): number {
    return this.#lock.tree.base + this.#at;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#write) this.#lock.unlockWrite(this);
    else this.#lock.unlockRead(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

class RwLock<T> extends QueuedLock implements ContextRwLock<T> {
  /** The protected value; guards read it. */
  value: T;
  #writer: RwGuard<T> | undefined = undefined;
  #readers = new Holders<RwGuard<T>>();

  constructor(owner: Context, name: string, value: T) {
    super(owner, name);
    this.value = value;
  }

  get kind(): "rwlock" {
    return "rwlock";
  }

  get capacity(): number {
    return 1;
  }

  get busy(): boolean {
    return this.#writer !== undefined || this.#readers.size !== 0 || this.q.head !== undefined;
  }

  read(options?: LockOptions): Promise<ReadGuard<T>> {
    if (options !== undefined) {
      const no = refusal(options);
      if (no !== undefined) return no;
    }
    if (this.#writer === undefined && this.q.head === undefined) {
      return Promise.resolve(this.#takeRead(current()));
    }
    return enqueue(this, current(), "read", 1, options);
  }

  write(options?: LockOptions): Promise<WriteGuard<T>> {
    if (options !== undefined) {
      const no = refusal(options);
      if (no !== undefined) return no;
    }
    if (this.#writer === undefined && this.#readers.size === 0) {
      return Promise.resolve(this.#takeWrite(current()));
    }
    return enqueue(this, current(), "write", 1, options);
  }

  tryRead(): ReadGuard<T> | undefined {
    return this.#writer === undefined && this.q.head === undefined
      ? this.#takeRead(current())
      : undefined;
  }

  tryWrite(): WriteGuard<T> | undefined {
    return this.#writer === undefined && this.#readers.size === 0
      ? this.#takeWrite(current())
      : undefined;
  }

  #takeRead(ctx: Context): RwGuard<T> {
    const now = this.touchNow(ctx);
    const g = new RwGuard(this, ctx, now, false);
    if (!this.listed) this.registry.list(this);
    this.#readers.add(g);
    this.tree.changed();
    return g;
  }

  #takeWrite(ctx: Context): RwGuard<T> {
    const now = this.touchNow(ctx);
    const g = this.#writer = new RwGuard(this, ctx, now, true);
    if (!this.listed) this.registry.list(this);
    this.tree.changed();
    return g;
  }

  unlockRead(g: RwGuard<T>): void {
    if (!this.#readers.delete(g)) return;
    const now = this.touchNow(g.context);
    if (this.#readers.size === 0) this.drain(now);
    this.tree.changed();
  }

  unlockWrite(g: RwGuard<T>): void {
    if (this.#writer !== g) return;
    this.#writer = undefined;
    this.releasedBy(g.context);
  }

  /** Grants what the queue's head allows. */
  drain(now: number): void {
    const q = this.q;
    let w = q.head;
    if (this.#writer === undefined) {
      if (w !== undefined && w.mode === "write") {
        if (this.#readers.size === 0) this.#grant(w, now);
      } else {
        while (w !== undefined && w.mode === "read") {
          const next = w.next;
          this.#grant(w, now);
          w = next;
        }
      }
    }
  }

  #grant(w: Waiter, now: number): void {
    const q = this.q;
    q.remove(w);
    detach(w);
    touch(w.ctx, this.tree, now);
    const write = w.mode === "write";
    const g = new RwGuard(this, w.ctx, now, write);
    if (write) this.#writer = g;
    else this.#readers.add(g);
    w.resolve(g);
    afterGrant(w, q);
  }

  holders(): LockHolderInfo[] {
    const w = this.#writer;
    if (w !== undefined) return [holderInfo(w.context, "write", 1, w.since)];
    const out: LockHolderInfo[] = [];
    for (const r of this.#readers) out.push(holderInfo(r.context, "read", 1, r.since));
    return out;
  }

  blockers(rec: WaitRecord, into: Context[]): void {
    const writer = this.#writer;
    if (writer !== undefined) into.push(writer.context);
    if (rec.writes > 0) {
      for (const r of this.#readers) into.push(r.context);
    }
    if (rec.count > rec.writes) {
      // A read wait also waits for every writer queued before it.
      for (let w = this.q.head; w !== undefined; w = w.next) {
        if (w.ctx === rec.ctx && w.mode === "read") break;
        if (w.mode === "write") into.push(w.ctx);
      }
    }
  }

  grantable(rec: WaitRecord, free: ReadonlySet<Context>): boolean {
    const ok = (c: Context): boolean => c === rec.ctx || free.has(c);
    const writer = this.#writer;
    if (writer !== undefined && !ok(writer.context)) return false;
    if (rec.writes > 0) {
      let all = true;
      for (const r of this.#readers) {
        if (!ok(r.context)) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    if (rec.count > rec.writes) {
      for (let w = this.q.head; w !== undefined; w = w.next) {
        if (w.ctx === rec.ctx && w.mode === "read") return true;
        if (w.mode === "write" && !ok(w.ctx)) return false;
      }
    }
    return false;
  }

  waitMode(rec: WaitRecord): LockMode {
    return rec.writes > 0 ? "write" : "read";
  }

  mayClose(): boolean {
    return true;
  }
}

/**
 * Makes an rwlock owned by `owner`. Internal: use `ctx.rwlock(name, value)`.
 * @internal
 */
export function newRwLock<T>(owner: Context, name: string, value: T): ContextRwLock<T> {
  checkName(name, "name");
  return new RwLock(owner, name, value);
}
