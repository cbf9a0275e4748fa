/**
 * The context tree: {@linkcode Context} (a named, cancellable node with its data, metrics,
 * counters and deadline), {@linkcode ContextBuilder} (how a child is made), and the shapes of the
 * named locks a context hands out ({@linkcode ContextMutex} and the rest; their implementation is
 * in `src/locks/`, registered through {@linkcode provideLocks}).
 *
 * Why these share one file: each names the others. `child()` returns a builder whose `spawn()`
 * hands a `Context` to its task; `mutex()` returns a lock whose holders and guards are contexts.
 * Split across files, they would import each other, and the project allows no import cycle,
 * type-only ones included. Everything about a context that does not name one lives beside it:
 * `errors.ts`, `options.ts`, `current.ts` (`current()`, `global()`), `deadlines.ts`, `tree.ts`,
 * `counters.ts`, `names.ts`, `json.ts`, `metric.ts`. Read top to bottom: the state bits, the
 * `Context` class (cancellation first, then activity, locks, data and metrics, counters, leaving
 * the tree), the builder, then the lock shapes.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Cell, PathNode } from "./counters.ts";
import { type JsonValue, toJsonValue } from "./json.ts";
import { checkMetric, type MetricValue } from "./metric.ts";
import { checkName, describe, escapeSegment } from "./names.ts";
import { Tree } from "./tree.ts";
import { CancelledError, ContextEndedError, DeadlineExceededError } from "./errors.ts";
import { DeadlineQueue, DEFAULT_TIMERS } from "./deadlines.ts";
import type {
  CounterOptions,
  DataOptions,
  LockKind,
  LockMode,
  LockOptions,
  RootOptions,
} from "./options.ts";

/** The running task's context. Internal: read it with `current()`. @internal */
export const als: AsyncLocalStorage<Context> = new AsyncLocalStorage<Context>();

// #state bits
const CANCELLED = 1;
const ENDED = 2;
const END_REQUESTED = 4;
const SPAWNED = 8;
/** A counter changed since activity was last read: the context was active since then. */
const COUNTED = 16;

/** The most data keys, and separately metric keys, one context keeps. */
export const MAX_KEYS_PER_CONTEXT = 1024;

/** Why and when a subtree was cancelled; shared by every context the cancel reached. */
interface CancelCause {
  readonly reason: unknown;
  readonly origin: Context;
  readonly at: number;
  error: CancelledError | undefined;
}

/** A task function: it gets the context it runs in. */
export type Task<T> = (ctx: Context) => T | PromiseLike<T>;

/**
 * Internal accessors other modules of this package use; not part of the public API.
 * @internal
 */
export interface ContextInternals {
  tree(ctx: Context): Tree;
  firstChild(ctx: Context): Context | undefined;
  nextSibling(ctx: Context): Context | undefined;
  lastActivity(ctx: Context): number;
  touchAt(ctx: Context, at: number): void;
  /**
   * Marks `ctx` active at `at`, a stamp of `tree`, or at a stamp of its own tree when that one
   * runs on another clock.
   */
  touchFrom(ctx: Context, tree: Tree, at: number): void;
  cancelledAt(ctx: Context): number | undefined;
  cancelError(ctx: Context): CancelledError;
  running(ctx: Context): number;
  lastError(ctx: Context): unknown;
  data(ctx: Context): ReadonlyMap<string, JsonValue> | undefined;
  metrics(ctx: Context): ReadonlyMap<string, MetricValue> | undefined;
  secrets(ctx: Context): ReadonlySet<string> | undefined;
  counterNode(ctx: Context): PathNode | undefined;
  /** The context's own deadline: set on it and earlier than the one it inherits. */
  ownDeadline(ctx: Context): number | undefined;
  /** What the locks keep about the waits of `ctx` (see `src/locks/deadlock.ts`). */
  waits(ctx: Context): object | undefined;
  /**
   * Keeps `waits` with `ctx` (undefined: none); while kept, a cancel of `ctx` calls the
   * `cancelWaits` of the locks.
   */
  setWaits(ctx: Context, waits: object | undefined): void;
}

// Set by Context's static block: what ContextBuilder may do that the public API does not offer.
let makeChild: (parent: Context, name: string, state: number) => Context;
let runIn: <T>(ctx: Context, task: Task<T>) => Promise<T>;
let expireIn: (ctx: Context) => void;
let setDeadline: (
  ctx: Context,
  deadline: number | undefined,
  timeoutMs: number | undefined,
) => void;
let initialize: (
  ctx: Context,
  data: FlatData | undefined,
  metrics: Array<[string, MetricValue]> | undefined,
  secrets: string[] | undefined,
) => void;
// A task's settle and failure handlers: in its context's frame, or given the context.
let settledHere: () => void;
let failedHere: (error: unknown) => void;
let settledIn: (ctx: Context) => void;
let failedIn: (ctx: Context, error: unknown) => void;
// The last name child() accepted; starts as an object no caller can pass.
let lastChildName: unknown = {};

/** @internal */
export const internals: ContextInternals = {} as ContextInternals;

/**
 * A named node of the context tree. Each context owns its cancellation: cancelling it cancels
 * every descendant, with the reason kept. Children register with their parent and leave the tree
 * once their task has settled and their own children have left.
 *
 * @example A service with a child task
 * ```ts
 * import { Context, current } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const answer = await root.child("remote-access")
 *   .withData("peer", "alice")
 *   .spawn(async (ctx) => {
 *     await Promise.resolve();
 *     assert.deepEqual(current(), ctx);
 *     ctx.incrementTotal("commands");
 *     return 42;
 *   });
 * assert.deepEqual(answer, 42);
 * assert.deepEqual(root.getTotal("commands", { deep: true }), 1);
 * ```
 */
export class Context {
  /** The context's name. */
  readonly name: string;
  /** The parent context; undefined for a root. */
  readonly parent: Context | undefined;
  #tree: Tree;
  // Times are kept as offsets from the tree's start (`Tree.base`): small integers that V8 stores
  // in the object itself, where epoch milliseconds would each need a boxed number.
  #created: number;
  #active: number;
  #state: number;
  #tasks = 0;
  #first: Context | undefined = undefined;
  #last: Context | undefined = undefined;
  #prev: Context | undefined = undefined;
  #next: Context | undefined = undefined;
  /** The counter store's node of this path, resolved on first count, released on leaving. */
  #node: PathNode | undefined = undefined;
  /** Live counts this context raised and has not lowered: cell, count, cell, count, … */
  #held: Array<Cell | number> | undefined = undefined;
  /** What few contexts need, made on first use: a spawn allocates as little as possible. */
  #rare: RareState | undefined = undefined;
  // Data: as handed over by the builder (key, value, key, value, …) until first read or set.
  #data: Map<string, JsonValue> | FlatData | undefined = undefined;
  // What the locks keep about this context's waits, from its first wait on (see `LockFactory`).
  #waits: object | undefined = undefined;

  private constructor(tree: Tree, parent: Context | undefined, name: string, state: number) {
    this.name = name;
    this.parent = parent;
    this.#tree = tree;
    this.#created = this.#active = tree.stamp() - tree.base;
    this.#state = state;
    if (parent !== undefined) {
      if (parent.#state & CANCELLED) {
        this.#state |= CANCELLED;
      }
      const last = parent.#last;
      if (last === undefined) parent.#first = this;
      else {
        last.#next = this;
        this.#prev = last;
      }
      parent.#last = this;
      tree.changed();
    }
  }

  /**
   * When the context was made, epoch ms (the tree's clock, a coarse stamp: see
   * {@linkcode RootOptions.now}).
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("global", { now: () => 1_700_000_000_000 });
   * assert.equal(root.createdAt, 1_700_000_000_000);
   * ```
   */
  get createdAt(): number {
    return this.#tree.base + this.#created;
  }

  #rareState(): RareState {
    return this.#rare ??= new RareState();
  }

  /**
   * Makes a new root context with a tree of its own: its own counters, lock registry and clock.
   * Applications use {@linkcode global}; roots of their own suit tests and libraries.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * let t = 1_000;
   * const root = Context.root("test", { now: () => t });
   * t += 250;
   * assert.deepEqual(root.duration(), 250);
   * ```
   *
   * @example A root with a deadline
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const t = 1_000;
   * using job = Context.root("batch-job", { now: () => t, timeoutMs: 60_000 });
   * assert.equal(job.deadline, 61_000);
   * assert.equal(job.remaining(), 60_000);
   * ```
   *
   * @param name The root's name: 1 to 256 characters, no control characters.
   * @param options A clock and timers for the tree, and a deadline for the root.
   * @throws {TypeError} / {RangeError} for a bad name, a clock that is not a function, timers
   * without `setTimeout`/`clearTimeout`, or a deadline or timeout as `withDeadline()` and
   * `withTimeout()` refuse them.
   */
  static root(name: string, options: RootOptions = {}): Context {
    checkName(name, "name");
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`options must be an object, got ${describe(options)}`);
    }
    const now = options.now ?? Date.now;
    if (typeof now !== "function") {
      throw new TypeError(`options.now must be a function, got ${describe(now)}`);
    }
    const timers = options.timers ?? DEFAULT_TIMERS;
    if (
      typeof timers !== "object" || timers === null || typeof timers.setTimeout !== "function" ||
      typeof timers.clearTimeout !== "function"
    ) {
      throw new TypeError(
        `options.timers must have setTimeout and clearTimeout functions, got ${describe(timers)}`,
      );
    }
    const deadline = options.deadline === undefined
      ? undefined
      : checkDeadline(options.deadline, "options.deadline");
    const timeoutMs = options.timeoutMs === undefined
      ? undefined
      : checkTimeout(options.timeoutMs, "options.timeoutMs");
    const root = new Context(new Tree(now, timers), undefined, name, 0);
    if (deadline !== undefined || timeoutMs !== undefined) setDeadline(root, deadline, timeoutMs);
    return root;
  }

  /**
   * When this context's deadline passes, epoch ms: its own (`withTimeout()`, `withDeadline()`)
   * or an ancestor's, whichever is earlier; undefined when neither has one. When it passes the
   * context is cancelled with a {@linkcode DeadlineExceededError}.
   *
   * @example A child never outlives its parent's deadline
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const t = 0;
   * const root = Context.root("svc", { now: () => t });
   * using req = root.child("request").withTimeout(2_000).create();
   * using db = req.child("db").withTimeout(5_000).create(); // the parent's is earlier
   * using plain = req.child("log").create();
   * assert.deepEqual([req.deadline, db.deadline, plain.deadline], [2_000, 2_000, 2_000]);
   * assert.equal(root.deadline, undefined);
   * ```
   */
  get deadline(): number | undefined {
    // A context keeps a deadline of its own only when it is earlier than the one it inherits,
    // and deadlines never change: the nearest one up the chain is the earliest.
    // deno-lint-ignore no-this-alias
    for (let c: Context | undefined = this; c !== undefined; c = c.parent) {
      const r = c.#rare;
      if (r !== undefined && r.at !== Infinity) return r.at;
    }
    return undefined;
  }

  /**
   * The ms left until {@linkcode Context.deadline} (0 once it has passed), or `Infinity` without
   * one. Handy as the timeout of an operation that takes one.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * let t = 0;
   * const root = Context.root("svc", { now: () => t });
   * using req = root.child("request").withTimeout(2_000).create();
   * t = 1_500;
   * assert.equal(req.remaining(), 500);
   * assert.equal(root.remaining(), Infinity);
   * ```
   */
  remaining(): number {
    const d = this.deadline;
    return d === undefined ? Infinity : Math.max(0, d - this.#tree.now());
  }

  /**
   * The dotted path from the root, each name escaped (`.` → `%2E`, `%` → `%25`, `*` → `%2A`).
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const c = Context.root("global").child("http-proxy").create().child("v1.2").create();
   * assert.deepEqual(c.path, "global.http-proxy.v1%2E2");
   * ```
   */
  get path(): string {
    const rare = this.#rareState();
    return rare.path ??= this.parent === undefined
      ? escapeSegment(this.name)
      : `${this.parent.path}.${escapeSegment(this.name)}`;
  }

  /**
   * An `AbortSignal` aborted when this context or an ancestor is cancelled; its `reason` is a
   * {@linkcode CancelledError}. Made on first use.
   *
   * @example Passing the context's cancellation to fetch-like APIs
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("svc");
   * const child = root.child("req").create();
   * const signal = child.signal;
   * root.cancel("shutdown");
   * assert.ok(signal.aborted);
   * ```
   */
  get signal(): AbortSignal {
    const rare = this.#rareState();
    let c = rare.controller;
    if (c === undefined) {
      c = rare.controller = new AbortController();
      if (this.#state & CANCELLED) c.abort(errorOf(this.#cause()!));
    }
    return c.signal;
  }

  /**
   * Whether this context or an ancestor was cancelled.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("svc");
   * root.cancel();
   * assert.deepEqual(root.cancelled, true);
   * ```
   */
  get cancelled(): boolean {
    return (this.#state & CANCELLED) !== 0;
  }

  /**
   * The reason given to the first `cancel()` that reached this context (undefined while it is not
   * cancelled, or when no reason was given).
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("svc");
   * const child = root.child("job").create();
   * root.cancel("SIGTERM");
   * child.cancel("too late");
   * assert.deepEqual(child.cancelReason, "SIGTERM");
   * ```
   */
  get cancelReason(): unknown {
    return this.#cause()?.reason;
  }

  /**
   * Whether this context has left the tree.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const ctx = Context.root("svc").child("conn").create();
   * ctx.end();
   * assert.deepEqual(ctx.ended, true);
   * ```
   */
  get ended(): boolean {
    return (this.#state & ENDED) !== 0;
  }

  /**
   * Starts building a child context named `name`; finish with `spawn()` or `create()`.
   *
   * @example
   * ```ts
   * import { Context, Metric } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("global");
   * const conn = root.child("conn").withData("peer", "alice")
   *   .withMetric("bytes", Metric.bytes(0)).create();
   * assert.deepEqual(conn.getData("peer"), "alice");
   * conn.end();
   * ```
   *
   * @param name The child's name: 1 to 256 characters, no control characters.
   * @throws {TypeError} / {RangeError} for a bad name.
   */
  child(name: string): ContextBuilder {
    // A pool of children shares one name: a name just checked is not checked again.
    if (name !== lastChildName) {
      checkName(name, "name");
      lastChildName = name;
    }
    return new ContextBuilder(this, name, CREATE_TOKEN);
  }

  /**
   * Runs `task` in this context, without making a child: `current()` is this context inside it.
   * The returned promise gives the task's value or rethrows its error; an error nobody awaits is
   * kept for status, counted in this context's `failed` total, and never crashes the process.
   * A task that stops because its context was cancelled (it rejects with a `CancelledError` while
   * the context is cancelled, as `ctx.signal.throwIfAborted()` and lock waits do) has not failed:
   * that rejection is neither counted nor kept.
   *
   * @example
   * ```ts
   * import { Context, current } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("svc");
   * assert.deepEqual(await root.spawn(() => current().name), "svc");
   * ```
   *
   * @param task The function to run; it gets this context.
   * @returns The task's result.
   * @throws {TypeError} when `task` is not a function.
   * @throws {ContextEndedError} when this context has left the tree: nothing runs.
   */
  spawn<T>(task: Task<T>): Promise<T> {
    if (typeof task !== "function") {
      throw new TypeError(`task must be a function, got ${describe(task)}`);
    }
    if (this.#state & ENDED) throw new ContextEndedError(this.path);
    return this.#run(task);
  }

  /**
   * Resolves once this context is cancelled (at once when it already is).
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   *
   * const root = Context.root("svc");
   * setTimeout(() => root.cancel("done"), 0);
   * await root.wait();
   * ```
   */
  wait(): Promise<void> {
    if (this.#state & CANCELLED) return Promise.resolve();
    const rare = this.#rareState();
    let w = rare.waiting;
    if (w === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      w = rare.waiting = { promise, resolve };
    }
    return w.promise;
  }

  /**
   * Cancels this context and every descendant. The first cancel wins: a context already cancelled
   * keeps its reason. Cancelling does not stop tasks by force; they see `cancelled`, `signal`
   * and `wait()`, and lock waits in them give up.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("svc");
   * const leaf = root.child("a").create().child("b").create();
   * root.cancel("shutdown");
   * assert.deepEqual([leaf.cancelled, leaf.cancelReason], [true, "shutdown"]);
   * ```
   *
   * @param reason Why; kept, shown in status and carried by the signal's `CancelledError`.
   */
  cancel(reason?: unknown): void {
    if (this.#state & CANCELLED) return;
    this.#cancelWith({ reason, origin: this, at: this.#tree.now(), error: undefined });
  }

  #cancelWith(cause: CancelCause): void {
    const stack: Context[] = [this];
    while (stack.length > 0) {
      const c = stack.pop()!;
      if (c.#state & CANCELLED) continue;
      c.#state |= CANCELLED;
      // Only this context keeps the cause; descendants find it by walking up (#cause()), so a
      // cancel allocates nothing per descendant.
      const rare = c.#rare;
      if (rare !== undefined) {
        if (c === this) rare.cause = cause;
        // A cancelled context's deadline has nothing left to do.
        if (rare.slot >= 0) c.#tree.deadlines!.remove(rare);
        if (rare.controller !== undefined || rare.waiting !== undefined) c.#fire(rare, cause);
      } else if (c === this) c.#rare = new RareState(cause);
      if (c.#waits !== undefined) {
        try {
          locks!.cancelWaits(c, errorOf(cause));
        } catch { /* a lock must never break a cancel */ }
      }
      for (let k = c.#first; k !== undefined; k = k.#next) stack.push(k);
    }
    this.#tree.changed();
  }

  // The cancel that reached this context: its own, or that of the nearest ancestor that has one.
  // A cancelled context never gets a second cause, so the nearest one is the one that reached it.
  #cause(): CancelCause | undefined {
    if (!(this.#state & CANCELLED)) return undefined;
    // deno-lint-ignore no-this-alias
    for (let c: Context | undefined = this; c !== undefined; c = c.parent) {
      const cause = c.#rare?.cause;
      if (cause !== undefined) return cause;
    }
    return undefined;
  }

  // The deadline of this context has passed.
  #expire(): void {
    if (this.#state & (CANCELLED | ENDED)) return;
    const error = new DeadlineExceededError(this.path, this.#rare!.at);
    this.#cancelWith({ reason: error.reason, origin: this, at: this.#tree.now(), error });
  }

  #fire(rare: RareState, cause: CancelCause): void {
    rare.controller?.abort(errorOf(cause));
    if (rare.waiting !== undefined) rare.waiting.resolve();
  }

  /**
   * Ends a context made with `create()`: cancels it (reason `"ended"`), ends its descendants, and
   * lets it leave the tree once its tasks and spawned children are done. Ending it again, while
   * it waits for them, also ends what was made under it in the meantime; once it has left, a
   * no-op. `using` calls it.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("svc");
   * {
   *   using conn = root.child("conn").create();
   *   conn.incrementLive("connections");
   *   assert.deepEqual(root.getLive("connections", { deep: true }), 1);
   * }
   * assert.deepEqual(root.getLive("connections", { deep: true }), 0);
   * ```
   */
  end(): void {
    if (this.#state & ENDED) return;
    this.cancel("ended");
    // Every descendant is asked to end too: created ones have nobody else to end them, spawned
    // ones still leave only once their task settles. Leaves first, so each parent can follow.
    const order: Context[] = [];
    const stack: Context[] = [this];
    while (stack.length > 0) {
      const c = stack.pop()!;
      c.#state |= END_REQUESTED;
      order.push(c);
      for (let k = c.#first; k !== undefined; k = k.#next) stack.push(k);
    }
    for (let i = order.length - 1; i >= 0; i--) order[i].#maybeLeave();
  }

  /** Same as {@linkcode Context.end}, for `using`. */
  [Symbol.dispose](): void {
    this.end();
  }

  /**
   * Marks this context active now. Lock operations, `setData()`, `addMetric()` and counting
   * (`incrementTotal()`, `incrementLive()`, `decrementLive()`) do it by themselves; long loops
   * that do none of these should call it so status does not show them idle. To keep counting as
   * cheap as a `Map` update, a count is stamped with the time when activity is next read (a
   * status, `idleDuration()`): with a status stream open that is within a second of the count.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * let t = 0;
   * const ctx = Context.root("svc", { now: () => t });
   * t = 500;
   * ctx.touch();
   * t = 700;
   * assert.deepEqual(ctx.idleDuration(), 200);
   * ```
   */
  touch(): void {
    this.#active = this.#tree.stamp() - this.#tree.base;
  }

  /**
   * How long this context has existed, in ms.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * let t = 0;
   * const ctx = Context.root("svc", { now: () => t });
   * t = 1_500;
   * assert.deepEqual(ctx.duration(), 1_500);
   * ```
   */
  duration(): number {
    return this.#tree.now() - this.#tree.base - this.#created;
  }

  /**
   * How long since this context was last active, in ms.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * let t = 0;
   * const ctx = Context.root("svc", { now: () => t });
   * t = 80;
   * assert.deepEqual(ctx.idleDuration(), 80);
   * ```
   */
  idleDuration(): number {
    return this.#tree.now() - this.#tree.base - this.#lastActive();
  }

  // When this context was last active, as an offset from the tree's base. Counting marks a
  // context active with one bit (a clock read would cost more than the count); the bit is turned
  // into a time here, when activity is read: the count happened since the previous read.
  #lastActive(): number {
    if (this.#state & COUNTED) {
      this.#state &= ~COUNTED;
      this.#active = this.#tree.now() - this.#tree.base;
    }
    return this.#active;
  }

  /**
   * Makes a named mutex guarding `value`, owned by this context: status shows who holds it
   * (`current()` at `lock()`), who waits for it and for how long, and deadlock cycles through
   * it. Each call makes a new lock; names need not be unique.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const ctx = Context.root("app");
   * const m = ctx.mutex("session-output-lock", { lines: 0 });
   * {
   *   using g = await m.lock();
   *   g.value.lines++;
   * } // released here
   * const g = m.tryLock()!;
   * assert.deepEqual(g.value.lines, 1);
   * g.release();
   * g.release(); // a no-op
   * ```
   *
   * @param name The lock's name: 1 to 256 characters, no control characters.
   * @param value The protected value, reached through a guard.
   * @throws {TypeError} / {RangeError} for a bad name.
   */
  mutex<T>(name: string, value: T): ContextMutex<T> {
    return lockFactory().mutex(this, name, value);
  }

  /**
   * Makes a named reader-writer lock guarding `value`, owned by this context. Readers share it;
   * a waiting writer is not overtaken by readers that come after it.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const ctx = Context.root("app");
   * const table = ctx.rwlock("user-table", new Map<string, string>());
   * {
   *   using w = await table.write();
   *   w.value.set("alice", "online");
   * }
   * using r = await table.read();
   * assert.deepEqual(r.value.get("alice"), "online");
   * ```
   *
   * @param name The lock's name: 1 to 256 characters, no control characters.
   * @param value The protected value, reached through a guard.
   * @throws {TypeError} / {RangeError} for a bad name.
   */
  rwlock<T>(name: string, value: T): ContextRwLock<T> {
    return lockFactory().rwlock(this, name, value);
  }

  /**
   * Makes a named counting semaphore with `permits` permits, owned by this context. Waiters are
   * served in order.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const ctx = Context.root("app");
   * const pool = ctx.semaphore("pool", 12);
   * {
   *   using p = await pool.acquire(2);
   *   assert.deepEqual(pool.available, 10);
   * }
   * assert.deepEqual(pool.available, 12);
   * assert.throws(() => ctx.semaphore("pool", 0), RangeError);
   * ```
   *
   * @param name The lock's name: 1 to 256 characters, no control characters.
   * @param permits A positive integer.
   * @throws {TypeError} / {RangeError} for a bad name or permit count.
   */
  semaphore(name: string, permits: number): ContextSemaphore {
    return lockFactory().semaphore(this, name, permits);
  }

  /**
   * Stores a JSON value under `key`, replacing what was there. The value is copied. With
   * `{ secret: true }` every status shows it as `"[redacted]"` (values under keys named like
   * secrets, such as `password` or `api_key`, are redacted anyway).
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const ctx = Context.root("svc");
   * ctx.setData("last_command", "ls -la");
   * assert.deepEqual(ctx.getData("last_command"), "ls -la");
   * // @ts-expect-error: a bigint is not JSON
   * assert.throws(() => ctx.setData("n", 1n), TypeError);
   * ctx.setData("session", "f3a9c1", { secret: true });
   * assert.deepEqual(ctx.getData("session"), "f3a9c1");
   * ```
   *
   * @param key 1 to 256 characters, no control characters.
   * @param value A JSON value: no bigint, function, undefined, cycle, NaN or class instance.
   * @param options `secret: true` to keep the value out of every status.
   * @throws {TypeError} / {RangeError} for a bad key, a non-JSON value, a bad option, or a
   * 1,025th key.
   */
  setData(key: string, value: JsonValue, options?: DataOptions): void {
    checkName(key, "key");
    const v = toJsonValue(value, "value");
    const secret = options === undefined ? false : secretOption(options);
    const data = this.#dataMap() ?? (this.#data = new Map());
    if (!data.has(key) && data.size >= MAX_KEYS_PER_CONTEXT) {
      throw new RangeError(`a context keeps at most ${MAX_KEYS_PER_CONTEXT} data keys`);
    }
    data.set(key, v);
    if (secret) (this.#rareState().secrets ??= new Set()).add(key);
    this.#active = this.#tree.stamp() - this.#tree.base;
    this.#tree.changed();
  }

  // The data as a map, made from the builder's list at the first read or set.
  #dataMap(): Map<string, JsonValue> | undefined {
    const d = this.#data;
    if (d === undefined || d instanceof Map) return d;
    const map = new Map<string, JsonValue>();
    for (let i = 0; i < d.length; i += 2) map.set(d[i] as string, d[i + 1]);
    return this.#data = map;
  }

  /**
   * The JSON value stored under `key`, or undefined. Treat it as read-only.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const ctx = Context.root("svc");
   * ctx.setData("peer", { id: "alice", port: 22 });
   * assert.deepEqual(ctx.getData("peer"), { id: "alice", port: 22 });
   * assert.deepEqual(ctx.getData("missing"), undefined);
   * ```
   *
   * @throws {TypeError} when `key` is not a string.
   */
  getData(key: string): JsonValue | undefined {
    if (typeof key !== "string") throw new TypeError(`key must be a string, got ${describe(key)}`);
    return this.#dataMap()?.get(key);
  }

  /**
   * Sets the metric `key` shown beside this context in status.
   *
   * @example
   * ```ts
   * import { Context, Metric } from "@fastn/context";
   *
   * const ctx = Context.root("svc");
   * ctx.addMetric("bytes_processed", Metric.bytes(15_200_000));
   * ```
   *
   * @param key 1 to 256 characters, no control characters.
   * @param metric A value made by {@linkcode Metric}.
   * @throws {TypeError} / {RangeError} for a bad key or metric, or a 1,025th key.
   */
  addMetric(key: string, metric: MetricValue): void {
    checkName(key, "key");
    const m = checkMetric(metric, "metric");
    const metrics = this.#rareState().metrics ??= new Map();
    if (!metrics.has(key) && metrics.size >= MAX_KEYS_PER_CONTEXT) {
      throw new RangeError(`a context keeps at most ${MAX_KEYS_PER_CONTEXT} metric keys`);
    }
    metrics.set(key, m);
    this.#active = this.#tree.stamp() - this.#tree.base;
    this.#tree.changed();
  }

  /**
   * Adds `amount` to the total counter `name` of this context's path (key `<path>.<name>`).
   * Totals never go down and outlive the context.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const proxy = Context.root("global").child("http-proxy").create();
   * proxy.incrementTotal("requests");
   * proxy.incrementTotal("bytes", 4096);
   * assert.deepEqual(proxy.getTotal("bytes"), 4096);
   * ```
   *
   * @param name The counter: 1 to 256 characters, no control characters.
   * @param amount A non-negative safe integer.
   * @throws {TypeError} / {RangeError} for a bad name or amount.
   */
  incrementTotal(name: string, amount = 1): void {
    if (amount !== 1) checkAmount(amount);
    const cell = this.#node?.cells?.get(name) ?? this.#cell(name);
    cell.total += amount;
    this.#state |= COUNTED;
    this.#tree.changed();
  }

  /**
   * Raises the live counter `name` (key `<path>.live_<name>`) by one. What this context raised
   * and did not lower is lowered when it ends, so a crashed task leaves no live count behind.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("global");
   * const conn = root.child("conn").create();
   * conn.incrementLive("connections");
   * assert.deepEqual(conn.getLive("connections"), 1);
   * conn.end();
   * assert.deepEqual(root.getLive("connections", { deep: true }), 0);
   * ```
   *
   * @throws {TypeError} / {RangeError} for a bad name.
   */
  incrementLive(name: string): void {
    const cell = this.#node?.cells?.get(name) ?? this.#cell(name);
    if (this.#state & ENDED) return; // it would be lowered again at once
    cell.live++;
    cell.hasLive = true;
    this.#state |= COUNTED;
    this.#hold(cell, 1);
    this.#tree.changed();
  }

  /**
   * Lowers the live counter `name` by one. Below zero it stays at zero and a `live-below-zero`
   * warning is kept for status; it never throws for that.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const ctx = Context.root("svc");
   * ctx.incrementLive("requests");
   * ctx.decrementLive("requests");
   * ctx.decrementLive("requests"); // stays 0, reported
   * assert.deepEqual(ctx.getLive("requests"), 0);
   * ```
   *
   * @throws {TypeError} / {RangeError} for a bad name.
   */
  decrementLive(name: string): void {
    const cell = this.#node?.cells?.get(name) ?? this.#cell(name);
    cell.hasLive = true;
    if (cell.live === 0) {
      this.#tree.recordBelowZero(this.path, name);
      return;
    }
    cell.live--;
    this.#state |= COUNTED;
    if (!(this.#state & ENDED)) this.#hold(cell, -1);
    this.#tree.changed();
  }

  /**
   * The total counter `name` of this context's path, or with `{ deep: true }` the sum over this
   * context and all descendants, ended ones included.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("global");
   * await root.child("a").spawn((ctx) => ctx.incrementTotal("requests", 2));
   * await root.child("b").spawn((ctx) => ctx.incrementTotal("requests", 3));
   * assert.deepEqual(root.getTotal("requests"), 0);
   * assert.deepEqual(root.getTotal("requests", { deep: true }), 5);
   * ```
   *
   * @throws {TypeError} / {RangeError} for a bad name.
   */
  getTotal(name: string, options?: CounterOptions): number {
    return this.#read(name, options, false);
  }

  /**
   * The live counter `name` of this context's path, or with `{ deep: true }` the sum over this
   * context and its descendants.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("global");
   * root.child("conn").create().incrementLive("connections");
   * assert.deepEqual(root.getLive("connections", { deep: true }), 1);
   * ```
   *
   * @throws {TypeError} / {RangeError} for a bad name.
   */
  getLive(name: string, options?: CounterOptions): number {
    return this.#read(name, options, true);
  }

  #read(name: string, options: CounterOptions | undefined, live: boolean): number {
    if (!options?.deep) {
      const cell = this.#node?.cells?.get(name);
      if (cell !== undefined) return live ? cell.live : cell.total;
    }
    checkName(name, "name");
    const store = this.#tree.counters;
    const node = this.#node ?? store.find(this.path);
    if (node === undefined) return 0;
    if (options?.deep) return store.sum(node, name, live);
    const cell = node.cells?.get(name);
    return cell === undefined ? 0 : live ? cell.live : cell.total;
  }

  // The slow path of counting: check the name, then find or make the cell at this path.
  #cell(name: string): Cell {
    checkName(name, "name");
    const node = this.#state & ENDED ? this.#nodeUnheld() : this.#resolveNode();
    return this.#tree.counters.cell(node, name);
  }

  // Notes a change of a live count this context raised (d = 1) or lowered (d = -1).
  #hold(cell: Cell, d: number): void {
    const h = this.#held;
    if (h === undefined) {
      this.#held = [cell, d];
      return;
    }
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === cell) {
        h[i + 1] = (h[i + 1] as number) + d;
        return;
      }
    }
    h.push(cell, d);
  }

  #resolveNode(): PathNode {
    let node = this.#node;
    if (node === undefined) {
      const store = this.#tree.counters;
      const parentNode = this.parent === undefined ? undefined : this.parent.#resolveNode();
      node = this.#node = store.node(parentNode, escapeSegment(this.name));
      store.acquire(node);
    }
    return node;
  }

  #nodeUnheld(): PathNode {
    const store = this.#tree.counters;
    const parentNode = this.parent === undefined
      ? undefined
      : this.parent.#state & ENDED
      ? this.parent.#nodeUnheld()
      : this.parent.#resolveNode();
    return store.node(parentNode, escapeSegment(this.name));
  }

  #run<T>(task: Task<T>): Promise<T> {
    this.#tasks++;
    return als.run(this, start, this, task) as Promise<T>;
  }

  #settled(): void {
    this.#tasks--;
    this.#maybeLeave();
  }

  #failed(error: unknown): void {
    // Stopping because of a cancel is what a task should do, not a failure.
    if ((this.#state & CANCELLED) && error instanceof CancelledError) return this.#settled();
    this.#rareState().error = error;
    try {
      (this.#node?.cells?.get("failed") ?? this.#cell("failed")).total++;
      this.#tree.recordFailure(this.path, error);
    } finally {
      this.#settled();
    }
  }

  #maybeLeave(): void {
    // deno-lint-ignore no-this-alias
    let c: Context | undefined = this;
    while (c !== undefined) {
      if (c.#tasks !== 0 || c.#first !== undefined) return;
      const s = c.#state;
      if ((s & ENDED) || !(s & (SPAWNED | END_REQUESTED))) return;
      c.#leave();
      c = c.parent;
    }
  }

  #leave(): void {
    this.#state |= ENDED;
    const rare = this.#rare;
    if (rare !== undefined && rare.slot >= 0) this.#tree.deadlines!.remove(rare);
    const parent = this.parent;
    if (parent !== undefined) {
      const prev = this.#prev, next = this.#next;
      if (prev === undefined) parent.#first = next;
      else prev.#next = next;
      if (next === undefined) parent.#last = prev;
      else next.#prev = prev;
      this.#prev = this.#next = undefined;
    }
    const h = this.#held;
    if (h !== undefined) {
      for (let i = 0; i < h.length; i += 2) {
        const cell = h[i] as Cell, n = h[i + 1] as number;
        if (n > 0) cell.live = Math.max(0, cell.live - n);
      }
      this.#held = undefined;
    }
    if (this.#node !== undefined) {
      this.#tree.counters.release(this.#node);
      this.#node = undefined;
    }
    this.#tree.changed();
  }

  static {
    Object.assign(
      internals,
      {
        tree: (c: Context) => c.#tree,
        firstChild: (c: Context) => c.#first,
        nextSibling: (c: Context) => c.#next,
        lastActivity: (c: Context) => c.#tree.base + c.#lastActive(),
        touchAt: (c: Context, at: number) => {
          c.#state &= ~COUNTED;
          c.#active = at - c.#tree.base;
        },
        ownDeadline: (c: Context) => {
          const at = c.#rare?.at;
          return at === Infinity ? undefined : at;
        },
        touchFrom: (c: Context, tree: Tree, at: number) => {
          const t = c.#tree;
          c.#state &= ~COUNTED;
          c.#active = (t === tree || t.stamp === tree.stamp ? at : t.stamp()) - t.base;
        },
        cancelledAt: (c: Context) => c.#cause()?.at,
        cancelError: (c: Context) => errorOf(c.#cause() ?? missingCause(c)),
        running: (c: Context) => c.#tasks,
        lastError: (c: Context) => c.#rare?.error,
        data: (c: Context) => c.#dataMap(),
        metrics: (c: Context) => c.#rare?.metrics,
        secrets: (c: Context) => c.#rare?.secrets,
        counterNode: (c: Context) => c.#node ?? c.#tree.counters.find(c.path),
        waits: (c: Context) => c.#waits,
        setWaits: (c: Context, waits: object | undefined) => {
          c.#waits = waits;
        },
      } satisfies ContextInternals,
    );
    makeChild = (parent, name, state) => {
      if (parent.#state & ENDED) throw new ContextEndedError(parent.path);
      return new Context(parent.#tree, parent, name, state);
    };
    runIn = (ctx, task) => ctx.#run(task);
    setDeadline = (ctx, deadline, timeoutMs) => {
      const tree = ctx.#tree;
      // The clock was read as the context was made: no second read.
      const now = tree.base + ctx.#created;
      const at = timeoutMs === undefined
        ? deadline!
        : deadline === undefined
        ? now + timeoutMs
        : Math.min(deadline, now + timeoutMs);
      const inherited = ctx.parent?.deadline;
      if (inherited !== undefined && inherited <= at) return; // the parent's comes first
      const rare = ctx.#rareState();
      rare.at = at;
      rare.owner = ctx;
      if (ctx.#state & CANCELLED) return;
      if (at <= now) ctx.#expire();
      else {(tree.deadlines ??= new DeadlineQueue<RareState>(tree.now, tree.timers, expire)).add(
          rare,
        );}
    };
    initialize = (ctx, data, metrics, secrets) => {
      ctx.#data = data; // the builder copies it before it changes it again
      if (metrics !== undefined) ctx.#rareState().metrics = new Map(metrics);
      if (secrets !== undefined) ctx.#rareState().secrets = new Set(secrets);
    };
    expireIn = (ctx) => ctx.#expire();
    settledHere = () => als.getStore()!.#settled();
    failedHere = (error) => als.getStore()!.#failed(error);
    settledIn = (ctx) => ctx.#settled();
    failedIn = (ctx, error) => ctx.#failed(error);
  }
}

const promiseThen = Promise.prototype.then;

// Runs `task` inside the AsyncLocalStorage frame of `ctx` (called by `als.run`). The settle
// reactions are registered here, in that frame, so they find `ctx` with `als.getStore()` and a
// task needs no closures of its own: about 150 bytes less per pending task. A promise whose
// `then` is not the built-in one might call back from another frame, so it gets closures.
function start<T>(ctx: Context, task: Task<T>): Promise<T> {
  let p: Promise<T>;
  try {
    const r = task(ctx);
    p = r instanceof Promise ? r : Promise.resolve(r);
  } catch (e) {
    p = Promise.reject(e);
  }
  if (p.then === promiseThen) p.then(settledHere, failedHere);
  else p.then(() => settledIn(ctx), (e) => failedIn(ctx, e));
  return p;
}

// The rarely needed state of a context, in one object made on first use. All fields are set in
// the constructor so that every RareState has the same shape.
class RareState {
  cause: CancelCause | undefined;
  path: string | undefined = undefined;
  controller: AbortController | undefined = undefined;
  waiting: { promise: Promise<void>; resolve: () => void } | undefined = undefined;
  metrics: Map<string, MetricValue> | undefined = undefined;
  /** Data keys marked `{ secret: true }`. */
  secrets: Set<string> | undefined = undefined;
  error: unknown = undefined;
  /**
   * Its own deadline (epoch ms), when it has one earlier than the one it inherits; Infinity
   * otherwise. The rare state is the entry of the tree's deadline queue: `slot` is its place
   * there (-1: not queued) and `owner` the context it belongs to.
   */
  at = Infinity;
  slot = -1;
  owner: Context | undefined = undefined;

  constructor(cause?: CancelCause) {
    this.cause = cause;
  }
}

/** Data as a list: key, value, key, value, … (a later key replaces an earlier one). */
type FlatData = Array<string | JsonValue>;

const CREATE_TOKEN = Symbol("ContextBuilder");

/**
 * Configures a child context before it starts: data, metrics, then `spawn()` (with a task) or
 * `create()` (without one). Made by {@linkcode Context.child}. A builder may be used more than
 * once; each use makes a new child.
 *
 * @example
 * ```ts
 * import { Context, Metric } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const n = await root.child("remote-shell-handler")
 *   .withData("shell", "bash")
 *   .withMetric("commands_executed", Metric.counter(0))
 *   .spawn((ctx) => ctx.getData("shell"));
 * assert.deepEqual(n, "bash");
 * ```
 */
export class ContextBuilder {
  #parent: Context;
  #name: string;
  #data: FlatData | undefined = undefined;
  // Whether #data was handed to a context (it is copied before the next change).
  #dataGiven = false;
  #metrics: Array<[string, MetricValue]> | undefined = undefined;
  #secrets: string[] | undefined = undefined;
  #deadline: number | undefined = undefined;
  #timeout: number | undefined = undefined;

  /** Made by {@linkcode Context.child}; not to be called directly. */
  constructor(parent: Context, name: string, token: symbol) {
    if (token !== CREATE_TOKEN) throw new TypeError("use ctx.child(name) to make a ContextBuilder");
    this.#parent = parent;
    this.#name = name;
  }

  /**
   * Adds initial data to the child (see {@linkcode Context.setData}); `{ secret: true }` keeps
   * the value out of every status.
   *
   * @example
   * ```ts
   * import { Context, statusJson } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("g");
   * const c = root.child("s").withData("peer", "alice")
   *   .withData("session", "f3a9c1", { secret: true }).create();
   * assert.deepEqual(c.getData("peer"), "alice");
   * assert.deepEqual(c.getData("session"), "f3a9c1");
   * const [shown] = statusJson({ root }).global.children;
   * assert.deepEqual(shown.data, { peer: "alice", session: "[redacted]" });
   * ```
   *
   * @param key 1 to 256 characters, no control characters.
   * @param value A JSON value.
   * @param options `secret: true` to keep the value out of every status.
   * @throws {TypeError} / {RangeError} for a bad key, a non-JSON value or a bad option.
   */
  withData(key: string, value: JsonValue, options?: DataOptions): this {
    checkName(key, "key");
    const v = toJsonValue(value, "value");
    const secret = options === undefined ? false : secretOption(options);
    if ((this.#data?.length ?? 0) >= 2 * MAX_KEYS_PER_CONTEXT) {
      throw new RangeError(`a context keeps at most ${MAX_KEYS_PER_CONTEXT} data keys`);
    }
    if (this.#dataGiven) {
      this.#data = this.#data!.slice();
      this.#dataGiven = false;
    }
    if (this.#data === undefined) this.#data = [key, v]; // an array of just that size
    else this.#data.push(key, v);
    if (secret) (this.#secrets ??= []).push(key);
    return this;
  }

  /**
   * Adds an initial metric to the child (see {@linkcode Context.addMetric}).
   *
   * @example
   * ```ts
   * import { Context, Metric } from "@fastn/context";
   *
   * Context.root("g").child("s").withMetric("commands", Metric.counter(0)).create();
   * ```
   *
   * @throws {TypeError} / {RangeError} for a bad key or metric.
   */
  withMetric(key: string, metric: MetricValue): this {
    checkName(key, "key");
    const m = checkMetric(metric, "metric");
    if ((this.#metrics?.length ?? 0) >= MAX_KEYS_PER_CONTEXT) {
      throw new RangeError(`a context keeps at most ${MAX_KEYS_PER_CONTEXT} metric keys`);
    }
    (this.#metrics ??= []).push([key, m]);
    return this;
  }

  /**
   * Gives the child a deadline `ms` from when it is made (`spawn()` or `create()`), on the tree's
   * clock: when it passes, the child is cancelled with a {@linkcode DeadlineExceededError}. The
   * child keeps the earlier of this deadline and its parent's; called more than once, the
   * earliest wins. `0` makes a child that is cancelled at once; `Infinity` sets none. The
   * deadline needs no timer of its own (one timer per tree serves the earliest), and ending the
   * child removes it at once. Like `AbortSignal.timeout()`, a deadline does not keep the process
   * alive by itself: a process with nothing else left to do exits without waiting for it.
   *
   * @example A request that may take 20 ms, doing work that would take a second
   * ```ts
   * import { Context, DeadlineExceededError } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("svc");
   * const err = await root.child("request").withTimeout(20).spawn(async (ctx) => {
   *   await new Promise<void>((done) => {
   *     const work = setTimeout(done, 1_000);
   *     ctx.signal.addEventListener("abort", () => (clearTimeout(work), done()));
   *   });
   *   return ctx.signal.reason; // the deadline came first
   * });
   * assert.ok(err instanceof DeadlineExceededError);
   * ```
   *
   * @param ms A non-negative number of ms, or `Infinity`.
   * @throws {TypeError} / {RangeError} when `ms` is not a number, or is negative or NaN.
   */
  withTimeout(ms: number): this {
    const t = checkTimeout(ms, "ms");
    if (t !== undefined && !(t >= (this.#timeout ?? Infinity))) this.#timeout = t;
    return this;
  }

  /**
   * Gives the child a deadline at `epochMs` (the tree's clock), as {@linkcode withTimeout} does;
   * a deadline already past makes a child that is cancelled at once.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const t = 1_000;
   * const root = Context.root("svc", { now: () => t });
   * using job = root.child("job").withDeadline(3_000).withTimeout(1_000).create();
   * assert.equal(job.deadline, 2_000); // the earlier of the two
   * ```
   *
   * @param epochMs Epoch ms, or `Infinity` for none.
   * @throws {TypeError} / {RangeError} when `epochMs` is not a number, or is NaN or -Infinity.
   */
  withDeadline(epochMs: number): this {
    const d = checkDeadline(epochMs, "epochMs");
    if (d !== undefined && !(d >= (this.#deadline ?? Infinity))) this.#deadline = d;
    return this;
  }

  /**
   * Makes the child and runs `task` in it. The child leaves the tree once the task has settled
   * and its own children have left. The promise gives the task's value or rethrows its error; an
   * error nobody awaits is kept for status and never crashes the process. A `CancelledError` the
   * task stops with once its context is cancelled is not a failure (see `Context.spawn`).
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   * import assert from "node:assert/strict";
   *
   * const root = Context.root("g");
   * assert.deepEqual(await root.child("job").spawn((ctx) => ctx.path), "g.job");
   * ```
   *
   * @throws {TypeError} when `task` is not a function.
   * @throws {ContextEndedError} when the parent has left the tree.
   */
  spawn<T>(task: Task<T>): Promise<T> {
    if (typeof task !== "function") {
      throw new TypeError(`task must be a function, got ${describe(task)}`);
    }
    return runIn(this.#make(SPAWNED), task);
  }

  /**
   * Makes the child without a task (one per connection, say). It leaves the tree on `end()` or
   * at the end of a `using` block.
   *
   * @example
   * ```ts
   * import { Context } from "@fastn/context";
   *
   * const root = Context.root("g");
   * using conn = root.child("conn").create();
   * conn.incrementTotal("bytes", 10);
   * ```
   *
   * @throws {ContextEndedError} when the parent has left the tree.
   */
  create(): Context {
    return this.#make(0);
  }

  #make(state: number): Context {
    const ctx = makeChild(this.#parent, this.#name, state);
    // Already checked and copied by withData()/withMetric(): hand them over as they are.
    if (this.#data !== undefined || this.#metrics !== undefined) {
      initialize(ctx, this.#data, this.#metrics, this.#secrets);
      if (this.#data !== undefined) this.#dataGiven = true;
    }
    if (this.#deadline !== undefined || this.#timeout !== undefined) {
      setDeadline(ctx, this.#deadline, this.#timeout);
    }
    return ctx;
  }
}

// A tree's deadline queue calls this when a context's deadline passes.
function expire(rare: RareState): void {
  expireIn(rare.owner!);
}
function checkTimeout(ms: unknown, name: string): number | undefined {
  if (typeof ms !== "number") throw new TypeError(`${name} must be a number, got ${describe(ms)}`);
  if (!(ms >= 0)) throw new RangeError(`${name} must be a non-negative number of ms, got ${ms}`);
  return ms === Infinity ? undefined : ms;
}

function checkDeadline(at: unknown, name: string): number | undefined {
  if (typeof at !== "number") throw new TypeError(`${name} must be a number, got ${describe(at)}`);
  if (Number.isNaN(at) || at === -Infinity) {
    throw new RangeError(`${name} must be an epoch time in ms (or Infinity), got ${at}`);
  }
  return at === Infinity ? undefined : at;
}

function errorOf(cause: CancelCause): CancelledError {
  return cause.error ??= new CancelledError(cause.origin.path, cause.reason);
}

function missingCause(c: Context): CancelCause {
  return { reason: undefined, origin: c, at: internals.lastActivity(c), error: undefined };
}

function secretOption(options: unknown): boolean {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`options must be an object, got ${describe(options)}`);
  }
  const secret = (options as DataOptions).secret;
  if (secret !== undefined && typeof secret !== "boolean") {
    throw new TypeError(`options.secret must be a boolean, got ${describe(secret)}`);
  }
  return secret === true;
}

function checkAmount(amount: unknown): void {
  if (typeof amount !== "number") {
    throw new TypeError(`amount must be a number, got ${describe(amount)}`);
  }
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError(`amount must be a non-negative safe integer, got ${amount}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The named locks a context hands out: their public shapes live here, beside `Context`, because
// each names the other (a lock's holders are contexts; `ctx.mutex()` returns a lock). The
// implementations live in `src/locks/`, which registers them with `provideLocks()` when it
// loads, so that this module imports nothing from it.

/**
 * What makes the named locks of {@linkcode Context.mutex}, {@linkcode Context.rwlock} and
 * {@linkcode Context.semaphore}. Internal: `src/locks/` provides it.
 * @internal
 */
export interface LockFactory {
  /** Makes a mutex owned by `owner` (arguments already checked by nothing: it checks them). */
  mutex<T>(owner: Context, name: string, value: T): ContextMutex<T>;
  /** Makes a reader-writer lock owned by `owner`. */
  rwlock<T>(owner: Context, name: string, value: T): ContextRwLock<T>;
  /** Makes a semaphore owned by `owner`. */
  semaphore(owner: Context, name: string, permits: number): ContextSemaphore;
  /** Makes every wait of `ctx`, which was cancelled, give up with `error`. */
  cancelWaits(ctx: Context, error: CancelledError): void;
}

let locks: LockFactory | undefined;

/**
 * Registers the lock implementations. Internal: called once by `src/locks/locks.ts`.
 * @internal
 */
export function provideLocks(factory: LockFactory): void {
  locks = factory;
}

function lockFactory(): LockFactory {
  if (locks === undefined) {
    throw new Error(
      "named locks are not loaded: import Context from @fastn/context (mod.ts), which loads them",
    );
  }
  return locks;
}

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
  /** When it was taken, epoch ms on the lock's tree clock (a coarse stamp: see {@linkcode RootOptions.now}). */
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
  /** When the wait started, epoch ms on the lock's tree clock (a coarse stamp: see {@linkcode RootOptions.now}). */
  readonly since: number;
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
  /** When the lock was taken, epoch ms on the lock's tree clock (a coarse stamp: see {@linkcode RootOptions.now}). */
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
  /** When the lock was taken, epoch ms on the lock's tree clock (a coarse stamp: see {@linkcode RootOptions.now}). */
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
  /** When the lock was taken, epoch ms on the lock's tree clock (a coarse stamp: see {@linkcode RootOptions.now}). */
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
  /** When they were taken, epoch ms on the lock's tree clock (a coarse stamp: see {@linkcode RootOptions.now}). */
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
