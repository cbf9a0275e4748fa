/**
 * Named locks that know who holds them and who waits: {@linkcode ContextMutex},
 * {@linkcode ContextRwLock} and {@linkcode ContextSemaphore}, made by `ctx.mutex()`,
 * `ctx.rwlock()` and `ctx.semaphore()`.
 *
 * The holder or waiter is `current()` at the call. Every acquire, release, wait start and give-up
 * marks that context active and calls `tree.changed()` on the tree of the lock's owner, whose
 * `locks` registry holds the lock while it is held or waited on.
 *
 * For status:
 * - holders and waiters: iterate `tree.locks` and call `holders()` / `waiters()` (oldest first,
 *   queue order); `since` is on the tree's clock.
 * - leaked guards: a holder whose `context.ended` is true holds a leaked guard;
 *   {@linkcode leakedGuards} lists them for a tree.
 * - deadlocks: `tree.deadlocks` (see `deadlock.ts`).
 *
 * Fast paths (a free lock) allocate only the guard and its resolved promise, run no deadlock
 * check and make no `Error`; waits, hand-offs and give-ups take the slow path. Their cost is
 * mostly the two clock reads (take, release) and the registry's `Set` add and delete.
 *
 * @module
 */

import { type Context, current, internals } from "../core/context.ts";
import {
  checkDeadlock,
  endWait,
  type GraphLock,
  isWaiting,
  startWait,
  type WaitRecord,
  waitsElsewhere,
} from "./deadlock.ts";
import { checkName, describe } from "../core/names.ts";
import type { LockKind, LockMode, RegisteredLock, Tree } from "../core/tree.ts";

export type { LockKind, LockMode } from "../core/tree.ts";

// LockHolderInfo and LockWaiterInfo are the shapes the registry (tree.ts) reports and status
// reads; they are defined here, once, with the public API.

/**
 * One holder of a named lock, as `holders()` reports it.
 *
 * @example
 * ```ts
 * import { Context, type LockHolderInfo } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const sem = Context.root("app").semaphore("pool", 4);
 * const g = sem.tryAcquire(3)!;
 * const [h]: LockHolderInfo[] = sem.holders();
 * assert.deepEqual([h.mode, h.permits, h.context.name], ["permits", 3, "global"]);
 * g.release();
 * ```
 */
export interface LockHolderInfo {
  /** The context that holds the lock (`current()` when it was taken). */
  readonly context: Context;
  /** `exclusive` (mutex), `read` or `write` (rwlock), `permits` (semaphore). */
  readonly mode: LockMode;
  /** For a semaphore: how many permits. 1 otherwise. */
  readonly permits: number;
  /** When it was taken, epoch ms on the lock's tree clock. */
  readonly since: number;
}

/**
 * One waiter of a named lock, as `waiters()` reports it, in queue order.
 *
 * @example
 * ```ts
 * import { Context, type LockWaiterInfo } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const rw = Context.root("app").rwlock("table", 0);
 * const r = rw.tryRead()!;
 * const w = rw.write();
 * const [waiter]: LockWaiterInfo[] = rw.waiters();
 * assert.deepEqual([waiter.mode, waiter.permits], ["write", 1]);
 * r.release();
 * (await w).release();
 * ```
 */
export interface LockWaiterInfo {
  /** The context that waits (`current()` when the wait started). */
  readonly context: Context;
  /** How it wants the lock: `exclusive`, `read`, `write` or `permits`. */
  readonly mode: LockMode;
  /** For a semaphore: how many permits it asks for. 1 otherwise. */
  readonly permits: number;
  /** When the wait started, epoch ms on the lock's tree clock. */
  readonly since: number;
}

/**
 * Options of a lock wait: `lock()`, `read()`, `write()`, `acquire()`. The wait also gives up
 * when the waiting context (`current()`) is cancelled.
 *
 * @example Give up after a timeout or on a signal
 * ```ts
 * import { Context, LockTimeoutError } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const m = Context.root("app").mutex("m", 0);
 * const held = m.tryLock()!;
 * await assert.rejects(m.lock({ timeoutMs: 1 }), LockTimeoutError);
 * const ac = new AbortController();
 * const waiting = m.lock({ signal: ac.signal });
 * ac.abort("not needed");
 * await assert.rejects(waiting, (e) => e === "not needed");
 * assert.deepEqual(m.waiters(), []);
 * held.release();
 * ```
 */
export interface LockOptions {
  /**
   * Gives up the wait when aborted: the promise rejects with `signal.reason`. A signal already
   * aborted rejects at once, even when the lock is free.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Gives up the wait after this many milliseconds with a {@linkcode LockTimeoutError}.
   * `0` never waits; `Infinity` (or anything above 2³¹−1) waits without a timer.
   * @default {Infinity}
   */
  timeoutMs?: number;
}

/**
 * What a {@linkcode LockTimeoutError} is made from.
 *
 * @example
 * ```ts
 * import { LockTimeoutError, type LockTimeoutInit } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const init: LockTimeoutInit = {
 *   lockName: "pool",
 *   kind: "semaphore",
 *   waiter: "global.worker",
 *   holders: ["global.job"],
 *   timeoutMs: 500,
 * };
 * assert.match(new LockTimeoutError(init).message, /global\.worker.*500 ms.*global\.job/);
 * ```
 */
export interface LockTimeoutInit {
  /** The lock's name. */
  lockName: string;
  /** The lock's kind. */
  kind: LockKind;
  /** The path of the context that waited. */
  waiter: string;
  /** The paths of the contexts that held the lock when the wait gave up. */
  holders: readonly string[];
  /** How long it waited, in ms. */
  timeoutMs: number;
}

/**
 * The error a lock wait rejects with when its `timeoutMs` runs out. Its message names the lock,
 * the waiter and the holders.
 *
 * @example
 * ```ts
 * import { Context, LockTimeoutError } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("app");
 * const m = root.mutex("session-output-lock", 0);
 * const held = await root.child("stdout").spawn(() => m.lock());
 * const err = await root.child("stderr").spawn(() => m.lock({ timeoutMs: 1 }))
 *   .catch((e) => e);
 * assert.ok(err instanceof LockTimeoutError);
 * assert.deepEqual(err.holders, ["app.stdout"]);
 * assert.match(err.message, /"session-output-lock".*app\.stderr.*app\.stdout/);
 * held.release();
 * ```
 */
export class LockTimeoutError extends Error {
  /** The lock's name. */
  readonly lockName: string;
  /** The lock's kind. */
  readonly kind: LockKind;
  /** The path of the context that waited. */
  readonly waiter: string;
  /** The paths of the contexts that held the lock when the wait gave up. */
  readonly holders: readonly string[];
  /** How long it waited, in ms. */
  readonly timeoutMs: number;

  /**
   * Makes the error; its message is built from `init`.
   *
   * @param init The lock, the waiter, the holders and the timeout.
   */
  constructor(init: LockTimeoutInit) {
    const held = init.holders.length === 0
      ? "held by nobody"
      : init.holders.length <= 3
      ? `held by ${init.holders.join(", ")}`
      : `held by ${init.holders.slice(0, 3).join(", ")} and ${init.holders.length - 3} more`;
    super(
      `${init.kind} "${init.lockName}": ${init.waiter} gave up waiting after ${init.timeoutMs} ms (${held})`,
    );
    this.name = "LockTimeoutError";
    this.lockName = init.lockName;
    this.kind = init.kind;
    this.waiter = init.waiter;
    this.holders = Object.freeze([...init.holders]);
    this.timeoutMs = init.timeoutMs;
  }
}

/**
 * The hold on a {@linkcode ContextMutex}: gives the protected value and releases the lock with
 * `release()` or at the end of a `using` block.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const m = Context.root("app").mutex("state", { lines: 0 });
 * {
 *   using g = await m.lock();
 *   g.value.lines++;
 *   g.value = { lines: g.value.lines + 1 };
 * }
 * assert.deepEqual(m.tryLock()?.value, { lines: 2 });
 * ```
 */
export interface MutexGuard<T> extends Disposable {
  /** The protected value; assigning replaces it. Throws a `TypeError` once released. */
  value: T;
  /** The context that holds the lock. */
  readonly context: Context;
  /** When the lock was taken, epoch ms on the lock's tree clock. */
  readonly since: number;
  /** Releases the lock (hands it to the first waiter). A second call does nothing. */
  release(): void;
}

/**
 * A shared hold on a {@linkcode ContextRwLock}: the protected value, read-only.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const rw = Context.root("app").rwlock("users", new Map([["alice", 1]]));
 * using a = await rw.read();
 * using b = await rw.read(); // readers share
 * assert.deepEqual(a.value.get("alice"), b.value.get("alice"));
 * ```
 */
export interface ReadGuard<T> extends Disposable {
  /** The protected value. Throws a `TypeError` once released, or when assigned. */
  readonly value: T;
  /** The context that holds the lock. */
  readonly context: Context;
  /** When the lock was taken, epoch ms on the lock's tree clock. */
  readonly since: number;
  /** Releases this read hold. A second call does nothing. */
  release(): void;
}

/**
 * The exclusive hold on a {@linkcode ContextRwLock}: the protected value, to read and replace.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const rw = Context.root("app").rwlock("config", { debug: false });
 * {
 *   using w = await rw.write();
 *   w.value = { debug: true };
 * }
 * assert.deepEqual(rw.tryRead()?.value, { debug: true });
 * ```
 */
export interface WriteGuard<T> extends Disposable {
  /** The protected value; assigning replaces it. Throws a `TypeError` once released. */
  value: T;
  /** The context that holds the lock. */
  readonly context: Context;
  /** When the lock was taken, epoch ms on the lock's tree clock. */
  readonly since: number;
  /** Releases the lock. A second call does nothing. */
  release(): void;
}

/**
 * Permits taken from a {@linkcode ContextSemaphore}, given back all at once.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const pool = Context.root("app").semaphore("db-pool", 4);
 * {
 *   using p = await pool.acquire(3);
 *   assert.deepEqual(p.permits, 3);
 *   assert.deepEqual(pool.available, 1);
 * }
 * assert.deepEqual(pool.available, 4);
 * ```
 */
export interface SemaphoreGuard extends Disposable {
  /** How many permits this guard holds. */
  readonly permits: number;
  /** The context that holds them. */
  readonly context: Context;
  /** When they were taken, epoch ms on the lock's tree clock. */
  readonly since: number;
  /** Gives the permits back. A second call does nothing. */
  release(): void;
}

/**
 * What every named lock shows status: its name, kind, owner, holders and waiters.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("app");
 * const m = root.mutex("m", 0);
 * const g = await root.child("job").spawn(() => m.lock());
 * assert.deepEqual(m.holders().map((h) => [h.context.path, h.mode]), [["app.job", "exclusive"]]);
 * assert.deepEqual(m.waiters(), []);
 * g.release();
 * ```
 */
export interface NamedLock {
  /** The lock's name, as given. */
  readonly name: string;
  /** `"mutex"`, `"rwlock"` or `"semaphore"`. */
  readonly kind: LockKind;
  /** The context the lock was made on. */
  readonly owner: Context;
  /** The semaphore's permits; 1 for the others. */
  readonly capacity: number;
  /** Who holds it now, oldest first. */
  holders(): LockHolderInfo[];
  /** Who waits for it now, in the order they will be served. */
  waiters(): LockWaiterInfo[];
}

/**
 * A named mutex guarding a value, made by `ctx.mutex(name, value)`. Waiters are served first
 * come, first served.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("app");
 * const out = root.mutex("session-output-lock", [] as string[]);
 * await Promise.all(["a", "b", "c"].map((s) =>
 *   root.child(s).spawn(async () => {
 *     using g = await out.lock({ timeoutMs: 1_000 });
 *     g.value.push(s);
 *   })
 * ));
 * assert.deepEqual(out.tryLock()?.value, ["a", "b", "c"]);
 * ```
 */
export interface ContextMutex<T> extends NamedLock {
  /** `"mutex"`. */
  readonly kind: "mutex";
  /**
   * Takes the lock for `current()`, waiting behind earlier waiters. Rejects with `signal.reason`,
   * a {@linkcode LockTimeoutError}, or the context's `CancelledError` when the waiting context
   * is cancelled; a bad option rejects with a `TypeError`/`RangeError`. A context that is
   * already cancelled still takes a free lock (clean-up code needs locks) but gives up at once
   * where it would wait.
   */
  lock(options?: LockOptions): Promise<MutexGuard<T>>;
  /** Takes the lock if it is free, without waiting; undefined otherwise. */
  tryLock(): MutexGuard<T> | undefined;
}

/**
 * A named reader-writer lock guarding a value, made by `ctx.rwlock(name, value)`. Readers share
 * it, a writer has it alone; waiters are served in order, and a waiting writer is not overtaken
 * by readers that come after it.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const rw = Context.root("app").rwlock("user-table", new Map<string, number>());
 * {
 *   using w = await rw.write();
 *   w.value.set("alice", 1);
 * }
 * using r = await rw.read();
 * assert.deepEqual(r.value.get("alice"), 1);
 * assert.deepEqual(rw.tryWrite(), undefined); // a reader holds it
 * ```
 */
export interface ContextRwLock<T> extends NamedLock {
  /** `"rwlock"`. */
  readonly kind: "rwlock";
  /** Takes a shared hold for `current()`; rejects like {@linkcode ContextMutex.lock}. */
  read(options?: LockOptions): Promise<ReadGuard<T>>;
  /** Takes the exclusive hold for `current()`; rejects like {@linkcode ContextMutex.lock}. */
  write(options?: LockOptions): Promise<WriteGuard<T>>;
  /** A shared hold if no writer holds or waits; undefined otherwise. */
  tryRead(): ReadGuard<T> | undefined;
  /** The exclusive hold if nobody holds or waits; undefined otherwise. */
  tryWrite(): WriteGuard<T> | undefined;
}

/**
 * A named counting semaphore, made by `ctx.semaphore(name, permits)`. Waiters are served in
 * order: a small request does not overtake a large one that waits before it.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const pool = Context.root("app").semaphore("pool", 12);
 * using p = await pool.acquire();
 * using q = await pool.acquire(2, { timeoutMs: 500 });
 * assert.deepEqual(pool.available, 9);
 * assert.deepEqual(pool.tryAcquire(10), undefined);
 * await assert.rejects(pool.acquire(13), RangeError);
 * ```
 */
export interface ContextSemaphore extends NamedLock {
  /** `"semaphore"`. */
  readonly kind: "semaphore";
  /** Permits free right now. */
  readonly available: number;
  /**
   * Takes `n` permits for `current()`, waiting in order. Rejects with a `RangeError` when `n`
   * is not a whole number from 1 to `capacity`, and otherwise like {@linkcode ContextMutex.lock}.
   */
  acquire(n?: number, options?: LockOptions): Promise<SemaphoreGuard>;
  /** `n` permits if they are free and nobody waits; undefined otherwise. */
  tryAcquire(n?: number): SemaphoreGuard | undefined;
}

/**
 * A lock whose guard's holder context has ended. Internal, for status.
 * @internal
 */
export interface LeakedGuard {
  /** The lock. */
  readonly lock: RegisteredLock;
  /** The holder; `holder.context.ended` is true. */
  readonly holder: LockHolderInfo;
}

/**
 * The guards in `tree` whose holder context has ended (left the tree while holding). Internal,
 * for status; the same can be read from `holders()` of each lock in `tree.locks`.
 * @internal
 */
export function leakedGuards(tree: Tree): LeakedGuard[] {
  const out: LeakedGuard[] = [];
  for (const lock of tree.locks) {
    for (const holder of lock.holders()) {
      if (holder.context.ended) out.push({ lock, holder });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Internals

type AnyLock = GraphLock & {
  giveUp(w: Waiter, reason: unknown): void;
  /** False when a new wait of `ctx` surely closes no cycle (a cheap test before the check). */
  mayClose(ctx: Context): boolean;
};

/** Marks `ctx` active at `now` (on the lock's tree clock), or on its own tree's clock. */
function touch(ctx: Context, tree: Tree, now: number): void {
  const t = internals.tree(ctx);
  internals.touchAt(ctx, t === tree || t.now === tree.now ? now : t.now());
}

/** One pending wait. */
class Waiter {
  readonly lock: AnyLock;
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

  constructor(lock: AnyLock, ctx: Context, mode: LockMode, permits: number, since: number) {
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

function noop(): void {}

/** A FIFO of waiters with O(1) removal. */
class Queue {
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
class Holders<G> {
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

const MAX_TIMER_MS = 2_147_483_647;

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
function enqueue<G>(
  lock: AnyLock,
  q: Queue,
  ctx: Context,
  mode: LockMode,
  permits: number,
  options: LockOptions | undefined,
): Promise<G> {
  const tree = lock.tree;
  const now = tree.now();
  touch(ctx, tree, now);
  const timeoutMs = options?.timeoutMs ?? Infinity;
  if (ctx.cancelled || timeoutMs === 0) {
    tree.changed();
    return Promise.reject(
      ctx.cancelled ? internals.cancelError(ctx) : timeoutError(lock, ctx, timeoutMs),
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

function onTimeout(w: Waiter): void {
  w.timer = undefined;
  if (w.queued) w.lock.giveUp(w, timeoutError(w.lock, w.ctx, w.timeoutMs));
}

function timeoutError(lock: RegisteredLock, ctx: Context, timeoutMs: number): LockTimeoutError {
  return new LockTimeoutError({
    lockName: lock.name,
    kind: lock.kind,
    waiter: ctx.path,
    holders: lock.holders().map((h) => h.context.path),
    timeoutMs,
  });
}

/** Ends a wait that left the queue: stops its signal listener and timer, updates the graph. */
function detach(w: Waiter): void {
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
function afterGrant(w: Waiter, q: Queue): void {
  if (q.head !== undefined && w.rec!.all.recs.length > 0) checkDeadlock(w.ctx);
}

/** Takes every waiter of `ctx` out of `q` (a cancelled context gives all its waits up). */
function withdrawAll(q: Queue, ctx: Context): Waiter[] {
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

function released(kind: LockKind, name: string): TypeError {
  return new TypeError(`the guard of ${kind} "${name}" was released`);
}

function holderInfo(
  context: Context,
  mode: LockMode,
  permits: number,
  since: number,
): LockHolderInfo {
  return { context, mode, permits, since };
}

// --- mutex -----------------------------------------------------------------------------------

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
  /** The protected value; guards read it. */
  value: T;
  #holder: MutexGuardImpl<T> | undefined = undefined;
  #q = new Queue();

  constructor(owner: Context, name: string, value: T) {
    this.owner = owner;
    this.name = name;
    this.value = value;
    this.tree = internals.tree(owner);
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
    tree.locks.add(this);
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
      tree.locks.delete(this);
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

// --- rwlock ----------------------------------------------------------------------------------

class RwGuard<T> implements ReadGuard<T>, WriteGuard<T> {
  readonly context: Context;
  readonly since: number;
  #lock: RwLock<T>;
  #write: boolean;
  #released = false;

  constructor(lock: RwLock<T>, context: Context, since: number, write: boolean) {
    this.#lock = lock;
    this.context = context;
    this.since = since;
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

class RwLock<T> implements ContextRwLock<T>, GraphLock {
  readonly name: string;
  readonly owner: Context;
  readonly tree: Tree;
  /** The protected value; guards read it. */
  value: T;
  #writer: RwGuard<T> | undefined = undefined;
  #readers = new Holders<RwGuard<T>>();
  #q = new Queue();

  constructor(owner: Context, name: string, value: T) {
    this.owner = owner;
    this.name = name;
    this.value = value;
    this.tree = internals.tree(owner);
  }

  get kind(): "rwlock" {
    return "rwlock";
  }

  get capacity(): number {
    return 1;
  }

  read(options?: LockOptions): Promise<ReadGuard<T>> {
    if (options !== undefined) {
      const bad = badOptions(options);
      if (bad !== undefined) return Promise.reject(bad);
      if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    }
    if (this.#writer === undefined && this.#q.head === undefined) {
      return Promise.resolve(this.#takeRead(current()));
    }
    return enqueue(this, this.#q, current(), "read", 1, options);
  }

  write(options?: LockOptions): Promise<WriteGuard<T>> {
    if (options !== undefined) {
      const bad = badOptions(options);
      if (bad !== undefined) return Promise.reject(bad);
      if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    }
    if (this.#writer === undefined && this.#readers.size === 0) {
      return Promise.resolve(this.#takeWrite(current()));
    }
    return enqueue(this, this.#q, current(), "write", 1, options);
  }

  tryRead(): ReadGuard<T> | undefined {
    return this.#writer === undefined && this.#q.head === undefined
      ? this.#takeRead(current())
      : undefined;
  }

  tryWrite(): WriteGuard<T> | undefined {
    return this.#writer === undefined && this.#readers.size === 0
      ? this.#takeWrite(current())
      : undefined;
  }

  #takeRead(ctx: Context): RwGuard<T> {
    const tree = this.tree;
    const now = tree.now();
    touch(ctx, tree, now);
    const g = new RwGuard(this, ctx, now, false);
    if (this.#readers.size === 0) tree.locks.add(this);
    this.#readers.add(g);
    tree.changed();
    return g;
  }

  #takeWrite(ctx: Context): RwGuard<T> {
    const tree = this.tree;
    const now = tree.now();
    touch(ctx, tree, now);
    const g = this.#writer = new RwGuard(this, ctx, now, true);
    tree.locks.add(this);
    tree.changed();
    return g;
  }

  unlockRead(g: RwGuard<T>): void {
    if (!this.#readers.delete(g)) return;
    const tree = this.tree;
    const now = tree.now();
    touch(g.context, tree, now);
    if (this.#readers.size === 0) this.#drain(now);
    tree.changed();
  }

  unlockWrite(g: RwGuard<T>): void {
    if (this.#writer !== g) return;
    this.#writer = undefined;
    const tree = this.tree;
    const now = tree.now();
    touch(g.context, tree, now);
    this.#drain(now);
    tree.changed();
  }

  /** Grants what the queue's head allows; unregisters the lock when it is free. */
  #drain(now: number): void {
    const q = this.#q;
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
    if (this.#writer === undefined && this.#readers.size === 0) this.tree.locks.delete(this);
  }

  #grant(w: Waiter, now: number): void {
    const q = this.#q;
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

  giveUp(w: Waiter, reason: unknown): void {
    if (!w.queued) return;
    this.#q.remove(w);
    detach(w);
    const now = this.tree.now();
    touch(w.ctx, this.tree, now);
    this.#drain(now); // readers behind a writer that gave up may go now
    this.tree.changed();
    w.reject(reason);
  }

  holders(): LockHolderInfo[] {
    const w = this.#writer;
    if (w !== undefined) return [holderInfo(w.context, "write", 1, w.since)];
    const out: LockHolderInfo[] = [];
    for (const r of this.#readers) out.push(holderInfo(r.context, "read", 1, r.since));
    return out;
  }

  waiters(): LockWaiterInfo[] {
    return this.#q.infos();
  }

  blockers(rec: WaitRecord, into: Context[]): void {
    const writer = this.#writer;
    if (writer !== undefined) into.push(writer.context);
    if (rec.writes > 0) {
      for (const r of this.#readers) into.push(r.context);
    }
    if (rec.count > rec.writes) {
      // A read wait also waits for every writer queued before it.
      for (let w = this.#q.head; w !== undefined; w = w.next) {
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
      for (let w = this.#q.head; w !== undefined; w = w.next) {
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

  cancelWaits(ctx: Context, error: unknown): void {
    // All of ctx's waits leave before anything is granted: none of them gets the lock now.
    const gone = withdrawAll(this.#q, ctx);
    if (gone.length === 0) return;
    const now = this.tree.now();
    touch(ctx, this.tree, now);
    this.#drain(now);
    this.tree.changed();
    for (const w of gone) w.reject(error);
  }
}

// --- semaphore -------------------------------------------------------------------------------

class SemGuard implements SemaphoreGuard {
  readonly context: Context;
  readonly since: number;
  readonly permits: number;
  #lock: Semaphore;
  #released = false;

  constructor(lock: Semaphore, context: Context, since: number, permits: number) {
    this.#lock = lock;
    this.context = context;
    this.since = since;
    this.permits = permits;
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

class Semaphore implements ContextSemaphore, GraphLock {
  readonly name: string;
  readonly owner: Context;
  readonly tree: Tree;
  readonly capacity: number;
  #available: number;
  #holders = new Holders<SemGuard>();
  #q = new Queue();

  constructor(owner: Context, name: string, permits: number) {
    this.owner = owner;
    this.name = name;
    this.capacity = this.#available = permits;
    this.tree = internals.tree(owner);
  }

  get kind(): "semaphore" {
    return "semaphore";
  }

  get available(): number {
    return this.#available;
  }

  acquire(n: number = 1, options?: LockOptions): Promise<SemaphoreGuard> {
    if (n !== 1) {
      const bad = badPermits(n, this.capacity);
      if (bad !== undefined) return Promise.reject(bad);
    }
    if (options !== undefined) {
      const bad = badOptions(options);
      if (bad !== undefined) return Promise.reject(bad);
      if (options.signal?.aborted) return Promise.reject(options.signal.reason);
    }
    if (this.#q.head === undefined && this.#available >= n) {
      return Promise.resolve(this.#take(current(), n));
    }
    return enqueue(this, this.#q, current(), "permits", n, options);
  }

  tryAcquire(n: number = 1): SemaphoreGuard | undefined {
    if (n !== 1) {
      const bad = badPermits(n, this.capacity);
      if (bad !== undefined) throw bad;
    }
    return this.#q.head === undefined && this.#available >= n
      ? this.#take(current(), n)
      : undefined;
  }

  #take(ctx: Context, n: number): SemGuard {
    const tree = this.tree;
    const now = tree.now();
    touch(ctx, tree, now);
    const g = new SemGuard(this, ctx, now, n);
    if (this.#holders.size === 0) tree.locks.add(this);
    this.#holders.add(g);
    this.#available -= n;
    tree.changed();
    return g;
  }

  unlock(g: SemGuard): void {
    if (!this.#holders.delete(g)) return;
    this.#available += g.permits;
    const tree = this.tree;
    const now = tree.now();
    touch(g.context, tree, now);
    this.#drain(now);
    tree.changed();
  }

  #drain(now: number): void {
    const q = this.#q;
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
    if (this.#holders.size === 0) this.tree.locks.delete(this);
  }

  giveUp(w: Waiter, reason: unknown): void {
    if (!w.queued) return;
    this.#q.remove(w);
    detach(w);
    const now = this.tree.now();
    touch(w.ctx, this.tree, now);
    this.#drain(now); // smaller requests behind a large one that gave up may go now
    this.tree.changed();
    w.reject(reason);
  }

  holders(): LockHolderInfo[] {
    const out: LockHolderInfo[] = [];
    for (const g of this.#holders) out.push(holderInfo(g.context, "permits", g.permits, g.since));
    return out;
  }

  waiters(): LockWaiterInfo[] {
    return this.#q.infos();
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
    for (let w = this.#q.head; w !== undefined; w = w.next) {
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

  cancelWaits(ctx: Context, error: unknown): void {
    // All of ctx's waits leave before anything is granted: none of them gets the lock now.
    const gone = withdrawAll(this.#q, ctx);
    if (gone.length === 0) return;
    const now = this.tree.now();
    touch(ctx, this.tree, now);
    this.#drain(now);
    this.tree.changed();
    for (const w of gone) w.reject(error);
  }
}

// --- factories, used by Context ---------------------------------------------------------------

/**
 * Makes a mutex owned by `owner`. Internal: use `ctx.mutex(name, value)`.
 * @internal
 */
export function newMutex<T>(owner: Context, name: string, value: T): ContextMutex<T> {
  checkName(name, "name");
  return new Mutex(owner, name, value);
}

/**
 * Makes an rwlock owned by `owner`. Internal: use `ctx.rwlock(name, value)`.
 * @internal
 */
export function newRwLock<T>(owner: Context, name: string, value: T): ContextRwLock<T> {
  checkName(name, "name");
  return new RwLock(owner, name, value);
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
