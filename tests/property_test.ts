/**
 * Property-based tests of the public API against a simple model (fast-check, fixed seeds).
 *
 * Each run builds a tree of its own and plays a random sequence of operations on it: make
 * children (with a task or without), finish or fail tasks, cancel and end contexts, count, store
 * data and metrics, make locks, wait for them (with signals and timeouts), try them, release
 * them, give up waits. Bad arguments are mixed in. After every operation the tree, the counters,
 * the locks and a status snapshot are checked against the model:
 *
 * - every bad call throws (or rejects with) a TypeError/RangeError naming its argument, and the
 *   status and counters are exactly what they were before it;
 * - the tree holds exactly the contexts the model says are alive, and never an ended one;
 * - totals never go down and equal the model's; a live count is never held up by an ended
 *   context;
 * - no lock has two writers, a writer beside readers, or more permits out than it has; holders
 *   and waiters are exactly those the model saw granted and pending, in the order they asked;
 *   nobody waits for a lock they could have; a `try…()` succeeds exactly when the lock is free;
 * - every snapshot is consistent: every waiter waits for a lock that is held, every holder is in
 *   the tree or reported as a leaked guard, every index points where it should, every deadlock
 *   member really waits.
 *
 * At the end of each run everything is released, cancelled and ended, and nothing is left: the
 * tree is empty, the lock registry is empty, every permit is back, every live count is 0.
 *
 * @module
 */

import { NO_SYSTEM } from "./fixtures/system.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CancelledError,
  configure,
  Context,
  ContextEndedError,
  counters,
  LockTimeoutError,
  Metric,
  type MetricValue,
  type Status,
  statusJson,
  type SystemMetrics,
} from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { BAD_AMOUNTS } from "./fixtures/bad_amounts.ts";
import { lockRegistry } from "../src/locks/registry.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const SYSTEM: SystemMetrics = NO_SYSTEM;

// ---- what the runs generate ----------------------------------------------------------------

const GOOD_NAMES = ["a", "b", "worker", "x.y", "100%", "*", "live_x", "__proto__", "failed"];
const BAD_NAMES: unknown[] = ["", "x".repeat(257), "tab\there", "nul\u0000", 42, null, undefined];

const nameArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...GOOD_NAMES) },
  { weight: 2, arbitrary: fc.string({ minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_NAMES) },
);

type Tagged<T> = { ok: true; v: T } | { ok: false; v: unknown; type: ErrorConstructor };

const cycle: Record<string, unknown> = {};
cycle.self = cycle;

const amountArb: fc.Arbitrary<Tagged<number | undefined>> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(undefined, 0, 1, 2, 1_000).map(good) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...BAD_AMOUNTS).map(([v, type]) => bad(v, type)),
  },
);

const valueArb: fc.Arbitrary<Tagged<unknown>> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.oneof(
      fc.constantFrom<unknown>(1, "s", null, true, { a: [1, 2] }, { auth: { password: "pw" } }),
      fc.jsonValue({ maxDepth: 2 }),
    ).map(good),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(
      1n,
      () => 1,
      undefined,
      NaN,
      Infinity,
      new Date(0),
      new Map(),
      cycle,
      [, 1],
      Symbol("s"),
      { deep: { er: [new Date(0)] } },
    ).map((v) => bad(v, TypeError)),
  },
);

const dataOptionsArb: fc.Arbitrary<Tagged<unknown>> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(undefined, { secret: true }, { secret: false }).map(good),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>("secret", { secret: "yes" }).map((v) => bad(v, TypeError)),
  },
);

const metricArb: fc.Arbitrary<Tagged<MetricValue>> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      Metric.counter(1),
      Metric.gauge(1.5),
      Metric.text("t"),
      Metric.bytes(10),
      Metric.duration(5),
    ).map(good),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<[unknown, ErrorConstructor]>(
      [{ kind: "nope", value: 1 }, TypeError],
      [{ kind: "counter", value: "x" }, TypeError],
      [{ kind: "counter", value: -1 }, RangeError],
      [{ kind: "text", value: 5 }, TypeError],
      [null, TypeError],
      [5, TypeError],
    ).map(([v, type]) => bad(v, type)),
  },
);

const permitsArb: fc.Arbitrary<Tagged<number>> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }).map(good) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<[unknown, ErrorConstructor]>(
      [0, RangeError],
      [-1, RangeError],
      [1.5, RangeError],
      [NaN, RangeError],
      [2 ** 53, RangeError],
      ["2", TypeError],
    ).map(([v, type]) => bad(v, type)),
  },
);

/** How a wait is asked for: its options, or bad ones. */
type WaitOptions = "none" | "signal" | "aborted" | "timeout0" | "infinite" | "far";
const BAD_WAIT_OPTIONS: Array<[unknown, ErrorConstructor]> = [
  [{ timeoutMs: -1 }, RangeError],
  [{ timeoutMs: NaN }, RangeError],
  [{ timeoutMs: "5" }, TypeError],
  [{ signal: {} }, TypeError],
  ["opts", TypeError],
  [null, TypeError],
];
const waitOptionsArb: fc.Arbitrary<Tagged<WaitOptions>> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom<WaitOptions>(
      "none",
      "none",
      "signal",
      "signal",
      "aborted",
      "timeout0",
      "infinite",
      "far",
    ).map(good),
  },
  { weight: 1, arbitrary: fc.constantFrom(...BAD_WAIT_OPTIONS).map(([v, type]) => bad(v, type)) },
);

/** A permit count asked of a semaphore: a multiple of its capacity, or a bad value. */
const askArb: fc.Arbitrary<Tagged<number>> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }).map(good) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<[unknown, ErrorConstructor]>(
      [0, RangeError],
      [-2, RangeError],
      [1.5, RangeError],
      [99, RangeError],
      ["1", TypeError],
    ).map(([v, type]) => bad(v, type)),
  },
);

const indexArb = fc.nat({ max: 1_000 });

type Op =
  | { t: "create" | "spawn"; p: number; name: unknown }
  | { t: "settle"; i: number; fail: boolean }
  | { t: "cancel" | "end"; i: number; spareRoot?: boolean }
  | { t: "total"; i: number; name: unknown; amount: Tagged<number | undefined> }
  | { t: "live"; i: number; name: unknown; up: boolean }
  | { t: "data"; i: number; key: unknown; value: Tagged<unknown>; options: Tagged<unknown> }
  | { t: "metric"; i: number; key: unknown; metric: Tagged<MetricValue> }
  | { t: "makeLock"; i: number; kind: LockKind; name: unknown; permits: Tagged<number> }
  | {
    t: "wait";
    l: number;
    i: number;
    write: boolean;
    n: Tagged<number>;
    options: Tagged<WaitOptions>;
  }
  | { t: "try"; l: number; i: number; write: boolean; n: Tagged<number> }
  | { t: "release"; g: number }
  | { t: "abort"; w: number }
  | { t: "advance"; ms: number }
  | { t: "badStatus"; which: number };

type LockKind = "mutex" | "rwlock" | "semaphore";

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant("create" as const), p: indexArb, name: nameArb }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant("spawn" as const), p: indexArb, name: nameArb }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ t: fc.constant("settle" as const), i: indexArb, fail: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cancel" as const), i: indexArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("end" as const), i: indexArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("total" as const),
      i: indexArb,
      name: nameArb,
      amount: amountArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("live" as const),
      i: indexArb,
      name: nameArb,
      up: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("data" as const),
      i: indexArb,
      key: nameArb,
      value: valueArb,
      options: dataOptionsArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("metric" as const),
      i: indexArb,
      key: nameArb,
      metric: metricArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("makeLock" as const),
      i: indexArb,
      kind: fc.constantFrom<LockKind>("mutex", "rwlock", "semaphore"),
      name: nameArb,
      permits: permitsArb,
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant("wait" as const),
      l: indexArb,
      i: indexArb,
      write: fc.boolean(),
      n: askArb,
      options: waitOptionsArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("try" as const),
      l: indexArb,
      i: indexArb,
      write: fc.boolean(),
      n: askArb,
    }),
  },
  { weight: 6, arbitrary: fc.record({ t: fc.constant("release" as const), g: indexArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("abort" as const), w: indexArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant("advance" as const),
      ms: fc.integer({ min: 1, max: 90_000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("badStatus" as const), which: fc.nat({ max: 5 }) }),
  },
);

function good<T>(v: T): Tagged<T> {
  return { ok: true, v };
}

function bad(v: unknown, type: ErrorConstructor): Tagged<never> {
  return { ok: false, v, type };
}

// ---- the model ---------------------------------------------------------------------------------

interface MCtx {
  ctx: Context;
  kind: "root" | "created" | "spawned";
  parent: MCtx | undefined;
  /** A spawned context's task: pending until settled by an operation. */
  gate: { resolve(): void; reject(e: Error): void } | undefined;
  endRequested: boolean;
  cancelled: boolean;
  ended: boolean;
  /** Live counts raised minus lowered, by counter name, while it is in the tree. */
  held: Map<string, number>;
  /** Data as stored, and which keys are secret. */
  data: Map<string, { value: unknown; secret: boolean }>;
}

interface MLock {
  kind: LockKind;
  capacity: number;
  // deno-lint-ignore no-explicit-any
  lock: any;
  name: string;
}

interface MGuard {
  guard: { release(): void; readonly context: Context; value?: unknown };
  lock: MLock;
  holder: MCtx;
  mode: string;
  permits: number;
  released: boolean;
}

interface MWait {
  seq: number;
  lock: MLock;
  ctx: MCtx;
  mode: string;
  permits: number;
  options: WaitOptions;
  ac: AbortController | undefined;
  aborted: boolean;
  state: "pending" | "granted" | "rejected";
  error: unknown;
  guard: MGuard | undefined;
  seen: boolean;
}

interface Cell {
  total: number;
  live: number;
}

/** Figures over all runs, reported at the end. */
const tally = {
  runs: 0,
  operations: 0,
  badCalls: 0,
  checks: 0,
  snapshots: 0,
  grants: 0,
  giveUps: 0,
};

class World {
  now = 1_000_000;
  readonly root: Context;
  readonly ctxs: MCtx[] = [];
  readonly locks: MLock[] = [];
  readonly guards: MGuard[] = [];
  readonly waits: MWait[] = [];
  readonly cells = new Map<string, Map<string, Cell>>();
  /** Every counter name ever used, for the deep checks. */
  readonly names = new Set<string>();
  readonly folding: boolean;
  #seq = 0;
  #lastTotals: Record<string, number> = {};

  constructor(folding: boolean) {
    this.folding = folding;
    this.root = Context.root("global", { now: () => this.now });
    this.ctxs.push(this.#model(this.root, "root", undefined));
  }

  #model(ctx: Context, kind: MCtx["kind"], parent: MCtx | undefined): MCtx {
    return {
      ctx,
      kind,
      parent,
      gate: undefined,
      endRequested: false,
      cancelled: parent?.cancelled ?? false,
      ended: false,
      held: new Map(),
      data: new Map(),
    };
  }

  cell(path: string, name: string): Cell {
    let byName = this.cells.get(path);
    if (byName === undefined) this.cells.set(path, byName = new Map());
    let cell = byName.get(name);
    if (cell === undefined) byName.set(name, cell = { total: 0, live: 0 });
    this.names.add(name);
    return cell;
  }

  alive(): MCtx[] {
    return this.ctxs.filter((c) => !c.ended);
  }

  tasks(c: MCtx): number {
    let n = c.gate === undefined ? 0 : 1;
    for (const w of this.waits) if (w.ctx === c && w.state === "pending") n++;
    return n;
  }

  /** The contexts that leave now by the model's rule, leaves first; their live counts drop. */
  settleTree(): void {
    for (let changed = true; changed;) {
      changed = false;
      for (const c of this.ctxs) {
        if (c.ended || !(c.kind === "spawned" || c.endRequested)) continue;
        if (this.tasks(c) > 0 || this.ctxs.some((k) => k.parent === c && !k.ended)) continue;
        c.ended = true;
        changed = true;
        for (const [name, n] of c.held) {
          if (n > 0) {
            const cell = this.cell(c.ctx.path, name);
            cell.live = Math.max(0, cell.live - n);
          }
        }
        c.held.clear();
      }
    }
  }

  fingerprint(): string {
    return JSON.stringify(statusJson({ root: this.root, system: SYSTEM })) +
      JSON.stringify(counters("", { root: this.root }));
  }

  /** Runs a call that must fail: it throws (or its promise rejects) with `type`, naming `arg`. */
  async refused(
    call: () => unknown,
    type: new (...args: Any[]) => Error,
    arg: RegExp,
    what: string,
  ): Promise<void> {
    tally.badCalls++;
    const before = this.fingerprint();
    let error: unknown;
    try {
      const r = call();
      if (r instanceof Promise) await r;
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof type, `${what}: expected a ${type.name}, got ${String(error)}`);
    assert.match((error as Error).message, arg, what);
    await this.flush();
    assert.equal(this.fingerprint(), before, `${what} changed something`);
  }

  // ---- operations ----

  async apply(op: Op): Promise<void> {
    tally.operations++;
    switch (op.t) {
      case "create":
      case "spawn":
        return await this.#child(op);
      case "settle": {
        const pending = this.ctxs.filter((c) => c.gate !== undefined);
        if (pending.length === 0) return;
        const c = pending[op.i % pending.length];
        const gate = c.gate!;
        c.gate = undefined;
        if (op.fail && c.ctx.cancelled && op.i % 2 === 0) {
          // The task stops because its context was cancelled: that is not a failure.
          gate.reject(c.ctx.signal.reason);
        } else if (op.fail) {
          this.cell(c.ctx.path, "failed").total++;
          gate.reject(new Error("the task failed on purpose"));
        } else gate.resolve();
        return;
      }
      case "cancel": {
        const c = this.#pick(op);
        c.ctx.cancel("cancelled on purpose"); // an ended context is marked cancelled too
        this.#cancelModel(c);
        return;
      }
      case "end": {
        const c = this.#pick(op);
        c.ctx.end();
        if (c.ended) return;
        this.#cancelModel(c);
        const mark = (m: MCtx): void => {
          m.endRequested = true;
          for (const k of this.ctxs) if (k.parent === m && !k.ended) mark(k);
        };
        mark(c);
        return;
      }
      case "total":
        return await this.#total(op);
      case "live":
        return await this.#live(op);
      case "data":
        return await this.#data(op);
      case "metric": {
        const c = this.ctxs[op.i % this.ctxs.length];
        if (!validName(op.key)) {
          return await this.refused(
            () => c.ctx.addMetric(op.key as Any, op.metric.v as Any),
            nameError(op.key),
            /^key /,
            "addMetric with a bad key",
          );
        }
        if (!op.metric.ok) {
          return await this.refused(
            () => c.ctx.addMetric(op.key as string, op.metric.v as Any),
            op.metric.type,
            /^metric(\.value|\.kind)? /,
            "addMetric with a bad metric",
          );
        }
        c.ctx.addMetric(op.key as string, op.metric.v);
        return;
      }
      case "makeLock":
        return await this.#makeLock(op);
      case "wait":
        return await this.#wait(op);
      case "try":
        return await this.#try(op);
      case "release": {
        if (this.guards.length === 0) return;
        const g = this.guards[op.g % this.guards.length];
        g.guard.release(); // a second release is a no-op
        if (!g.released) {
          g.released = true;
          if (g.lock.kind !== "semaphore") {
            assert.throws(() => g.guard.value, TypeError, "a released guard's value");
          }
        }
        return;
      }
      case "abort": {
        // Mostly a wait still pending; now and then one already over (a late abort).
        const signalled = this.waits.filter((w) => w.ac !== undefined);
        const pending = signalled.filter((w) => w.state === "pending");
        const pool = pending.length > 0 && op.w % 8 !== 0 ? pending : signalled;
        if (pool.length === 0) return;
        const w = pool[op.w % pool.length];
        w.aborted = true;
        w.ac!.abort("gave up on purpose");
        return;
      }
      case "advance":
        this.now += op.ms;
        return;
      case "badStatus": {
        const calls: Array<[() => unknown, ErrorConstructor, RegExp]> = [
          [() => statusJson({ root: 42 as Any }), TypeError, /^options\.root must be a Context/],
          [() => statusJson({ system: 5 as Any }), TypeError, /^options\.system must be/],
          [() => statusJson(null as Any), TypeError, /^options must be an object/],
          [() => counters(5 as Any), TypeError, /^prefix must be a string/],
          [() => this.root.spawn(42 as Any), TypeError, /^task must be a function/],
          [() => configure({ stuckWaiterMs: -1 }), RangeError, /^options\.stuckWaiterMs must be/],
        ];
        const [call, type, message] = calls[op.which % calls.length];
        return await this.refused(call, type, message, "a bad status call");
      }
    }
  }

  /** The context a cancel or an end is for: any, or any but the root. */
  #pick(op: { i: number; spareRoot?: boolean }): MCtx {
    if (!op.spareRoot || this.ctxs.length === 1) return this.ctxs[op.i % this.ctxs.length];
    return this.ctxs[1 + op.i % (this.ctxs.length - 1)];
  }

  #cancelModel(c: MCtx): void {
    const mark = (m: MCtx): void => {
      m.cancelled = true;
      for (const k of this.ctxs) if (k.parent === m && !k.ended) mark(k);
    };
    if (!c.cancelled) mark(c);
  }

  async #child(op: { t: "create" | "spawn"; p: number; name: unknown }): Promise<void> {
    const parent = this.ctxs[op.p % this.ctxs.length];
    if (!validName(op.name)) {
      return await this.refused(
        () => parent.ctx.child(op.name as Any),
        nameError(op.name),
        /^name /,
        "child with a bad name",
      );
    }
    const name = op.name as string;
    if (parent.ended) {
      const make = op.t === "create"
        ? () => parent.ctx.child(name).create()
        : op.p % 2 === 0
        ? () => parent.ctx.child(name).spawn(() => {})
        : () => parent.ctx.spawn(() => parent.ctx.incrementTotal(name)); // would change a total
      const what = op.t === "spawn" && op.p % 2 === 1
        ? "a task in an ended context"
        : "child of an ended context";
      return await this.refused(make, ContextEndedError, /has ended/, what);
    }
    if (op.t === "create") {
      const ctx = parent.ctx.child(name).create();
      this.ctxs.push(this.#model(ctx, "created", parent));
      return;
    }
    let resolve!: () => void, reject!: (e: Error) => void;
    const gate = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    let made: Context | undefined;
    const handle = parent.ctx.child(name).spawn(async (ctx) => {
      made = ctx;
      await gate;
    });
    handle.catch(() => {}); // the failure is counted on the context; nobody needs it here
    const m = this.#model(made!, "spawned", parent);
    m.gate = { resolve, reject };
    this.ctxs.push(m);
  }

  async #total(op: Extract<Op, { t: "total" }>): Promise<void> {
    const c = this.ctxs[op.i % this.ctxs.length];
    const amount = op.amount.v as number | undefined;
    if (!op.amount.ok) {
      return await this.refused(
        () => c.ctx.incrementTotal(op.name as Any, amount as Any),
        op.amount.type,
        /^amount must be/,
        "incrementTotal with a bad amount",
      );
    }
    if (!validName(op.name)) {
      return await this.refused(
        () => c.ctx.incrementTotal(op.name as Any, amount),
        nameError(op.name),
        /^name /,
        "incrementTotal with a bad name",
      );
    }
    c.ctx.incrementTotal(op.name as string, amount);
    this.cell(c.ctx.path, op.name as string).total += amount ?? 1;
  }

  async #live(op: Extract<Op, { t: "live" }>): Promise<void> {
    const c = this.ctxs[op.i % this.ctxs.length];
    if (!validName(op.name)) {
      const call = op.up
        ? () => c.ctx.incrementLive(op.name as Any)
        : () => c.ctx.decrementLive(op.name as Any);
      return await this.refused(call, nameError(op.name), /^name /, "a live count, bad name");
    }
    const name = op.name as string;
    const cell = this.cell(c.ctx.path, name);
    if (op.up) {
      c.ctx.incrementLive(name);
      if (c.ended) return; // an ended context raises nothing
      cell.live++;
      c.held.set(name, (c.held.get(name) ?? 0) + 1);
    } else {
      c.ctx.decrementLive(name);
      if (cell.live === 0) return; // stays 0, reported
      cell.live--;
      if (!c.ended) c.held.set(name, (c.held.get(name) ?? 0) - 1);
    }
  }

  async #data(op: Extract<Op, { t: "data" }>): Promise<void> {
    const c = this.ctxs[op.i % this.ctxs.length];
    const call = () => c.ctx.setData(op.key as Any, op.value.v as Any, op.options.v as Any);
    if (!validName(op.key)) {
      return await this.refused(call, nameError(op.key), /^key /, "setData with a bad key");
    }
    if (!op.value.ok) {
      return await this.refused(call, op.value.type, /^value/, "setData with a bad value");
    }
    if (!op.options.ok) {
      return await this.refused(call, op.options.type, /^options/, "setData, bad options");
    }
    call();
    const key = op.key as string;
    const secret = (op.options.v as { secret?: boolean } | undefined)?.secret === true ||
      (c.data.get(key)?.secret ?? false);
    c.data.set(key, { value: structuredClone(op.value.v), secret });
  }

  async #makeLock(op: Extract<Op, { t: "makeLock" }>): Promise<void> {
    const c = this.ctxs[op.i % this.ctxs.length];
    const make = (): unknown =>
      op.kind === "mutex"
        ? c.ctx.mutex(op.name as Any, { n: 0 })
        : op.kind === "rwlock"
        ? c.ctx.rwlock(op.name as Any, { n: 0 })
        : c.ctx.semaphore(op.name as Any, op.permits.v as Any);
    if (!validName(op.name)) {
      return await this.refused(make, nameError(op.name), /^name /, "a lock with a bad name");
    }
    if (op.kind === "semaphore" && !op.permits.ok) {
      return await this.refused(make, op.permits.type, /^permits must be/, "bad permits");
    }
    this.locks.push({
      kind: op.kind,
      capacity: op.kind === "semaphore" ? op.permits.v as number : 1,
      lock: make(),
      name: op.name as string,
    });
  }

  /** A context to run a lock operation in: one in the tree. */
  #runner(i: number): MCtx | undefined {
    const alive = this.alive();
    return alive.length === 0 ? undefined : alive[i % alive.length];
  }

  async #wait(op: Extract<Op, { t: "wait" }>): Promise<void> {
    if (this.locks.length === 0) return;
    const l = this.locks[op.l % this.locks.length];
    const c = this.#runner(op.i);
    if (c === undefined) return;
    const n = l.kind === "semaphore" ? op.n : good(1);
    const mode = l.kind === "mutex"
      ? "exclusive"
      : l.kind === "rwlock"
      ? (op.write ? "write" : "read")
      : "permits";
    const ask = (options: unknown): Promise<unknown> =>
      l.kind === "mutex"
        ? l.lock.lock(options)
        : l.kind === "rwlock"
        ? (op.write ? l.lock.write(options) : l.lock.read(options))
        : l.lock.acquire(n.v, options);
    if (!n.ok) {
      return await this.refused(() => ask(undefined), n.type, /^n /, "acquire with a bad n");
    }
    if (n.v > l.capacity) {
      return await this.refused(() => ask(undefined), RangeError, /^n \(/, "n over capacity");
    }
    if (!op.options.ok) {
      const v = op.options.v;
      return await this.refused(() => ask(v), op.options.type, /^options/, "a wait, bad options");
    }
    const kind = op.options.v;
    const ac = kind === "signal" ? new AbortController() : undefined;
    const options = kind === "none"
      ? undefined
      : kind === "signal"
      ? { signal: ac!.signal }
      : kind === "aborted"
      ? { signal: AbortSignal.abort("aborted before") }
      : { timeoutMs: kind === "timeout0" ? 0 : kind === "infinite" ? Infinity : 1e12 };
    const w: MWait = {
      seq: this.#seq++,
      lock: l,
      ctx: c,
      mode,
      permits: n.v,
      options: kind,
      ac,
      aborted: false,
      state: "pending",
      error: undefined,
      guard: undefined,
      seen: false,
    };
    this.waits.push(w);
    const p = c.ctx.spawn(() => ask(options));
    p.then(
      (guard) => {
        w.state = "granted";
        const g: MGuard = {
          guard: guard as MGuard["guard"],
          lock: l,
          holder: c,
          mode,
          permits: n.v,
          released: false,
        };
        w.guard = g;
        this.guards.push(g);
      },
      (error) => {
        w.state = "rejected";
        w.error = error;
        // The wait's task failed, unless it gave up because its context was cancelled.
        if (!(error instanceof CancelledError && c.ctx.cancelled)) {
          this.cell(c.ctx.path, "failed").total++;
        }
      },
    );
  }

  async #try(op: Extract<Op, { t: "try" }>): Promise<void> {
    if (this.locks.length === 0) return;
    const l = this.locks[op.l % this.locks.length];
    const c = this.#runner(op.i);
    if (c === undefined) return;
    if (l.kind === "semaphore" && (!op.n.ok || op.n.v > l.capacity)) {
      const type = op.n.ok ? RangeError : op.n.type;
      return await this.refused(() => l.lock.tryAcquire(op.n.v), type, /^n /, "tryAcquire, bad n");
    }
    const holders = l.lock.holders();
    const waiting = l.lock.waiters().length > 0;
    const n = l.kind === "semaphore" ? op.n.v as number : 1;
    const expected = l.kind === "mutex"
      ? holders.length === 0
      : l.kind === "rwlock"
      ? (op.write ? holders.length === 0 : !waiting && holders.every((h: Any) => h.mode === "read"))
      : !waiting && l.lock.available >= n;
    let guard: MGuard["guard"] | undefined;
    await c.ctx.spawn(() => {
      guard = l.kind === "mutex"
        ? l.lock.tryLock()
        : l.kind === "rwlock"
        ? (op.write ? l.lock.tryWrite() : l.lock.tryRead())
        : l.lock.tryAcquire(n);
    });
    assert.equal(guard !== undefined, expected, `try on ${l.kind} "${l.name}"`);
    if (guard !== undefined) {
      assert.equal(guard.context, c.ctx);
      const mode = l.kind === "mutex"
        ? "exclusive"
        : l.kind === "rwlock"
        ? (op.write ? "write" : "read")
        : "permits";
      this.guards.push({ guard, lock: l, holder: c, mode, permits: n, released: false });
    }
  }

  // ---- checks ----

  /**
   * Lets every promise reaction that is due run (nothing here waits for a timer or I/O), and
   * checks that a snapshot taken between any two of the first ones is consistent too: in the
   * middle of hand-offs, give-ups and departures.
   */
  async flush(): Promise<void> {
    for (let i = 0; i < 40; i++) {
      await Promise.resolve();
      if (i < 6) {
        tally.snapshots++;
        this.#checkSnapshot(statusJson({ root: this.root, system: SYSTEM }));
      }
    }
  }

  check(): void {
    tally.checks++;
    this.#checkWaits();
    this.settleTree();
    this.#checkTree();
    this.#checkCounters();
    this.#checkLocks();
    this.#checkSnapshot(statusJson({ root: this.root, system: SYSTEM }));
  }

  #checkWaits(): void {
    for (const w of this.waits) {
      if (w.seen || w.state === "pending") continue;
      w.seen = true;
      if (w.state === "granted") {
        tally.grants++;
        // First come, first served: nobody who asked before is still waiting.
        for (const other of this.waits) {
          if (other.lock === w.lock && other.seq < w.seq) {
            assert.notEqual(other.state, "pending", `a wait on "${w.lock.name}" was overtaken`);
          }
        }
        continue;
      }
      tally.giveUps++;
      const e = w.error;
      if (e instanceof CancelledError) assert.ok(w.ctx.ctx.cancelled, "cancelled, not cancelled");
      else if (e instanceof LockTimeoutError) assert.equal(w.options, "timeout0");
      else if (e === "aborted before") assert.equal(w.options, "aborted");
      else if (e === "gave up on purpose") assert.ok(w.aborted);
      else assert.fail(`a wait was rejected for no reason: ${String(e)}`);
    }
    for (const w of this.waits) {
      if (w.state === "pending") {
        assert.ok(!w.ctx.ctx.cancelled, "a cancelled context still waits");
        assert.ok(!w.aborted, "an aborted wait still waits");
      }
    }
  }

  #checkTree(): void {
    const inTree = new Set<Context>();
    if (!this.root.ended) {
      const stack = [this.root];
      while (stack.length > 0) {
        const c = stack.pop()!;
        assert.ok(!c.ended, `the tree holds an ended context ${c.path}`);
        inTree.add(c);
        for (let k = internals.firstChild(c); k !== undefined; k = internals.nextSibling(k)) {
          stack.push(k);
        }
      }
    }
    for (const m of this.ctxs) {
      assert.equal(m.ctx.ended, m.ended, `${m.ctx.path} (${m.kind}) ended: ${m.ctx.ended}`);
      assert.equal(inTree.has(m.ctx), !m.ended, `${m.ctx.path} in the tree`);
      assert.equal(m.ctx.cancelled, m.cancelled, `${m.ctx.path} cancelled`);
      for (const [key, { value }] of m.data) assert.deepEqual(m.ctx.getData(key), value);
    }
    assert.equal(inTree.size, this.alive().length);
  }

  #checkCounters(): void {
    const deep = (path: string, name: string): [number, number] => {
      let total = 0, live = 0;
      for (const [p, byName] of this.cells) {
        if (p !== path && !p.startsWith(path + ".")) continue;
        const c = byName.get(name);
        if (c) {
          total += c.total;
          live += c.live;
        }
      }
      return [total, live];
    };
    for (const name of this.names) {
      const [total, live] = deep(this.root.path, name);
      assert.equal(this.root.getTotal(name, { deep: true }), total, `deep total ${name}`);
      assert.equal(this.root.getLive(name, { deep: true }), live, `deep live ${name}`);
    }
    for (const [path, byName] of this.cells) {
      for (const [name, cell] of byName) {
        // A live count is never held up by an ended context: it is at most what the contexts
        // still in the tree raised.
        let raised = 0;
        for (const m of this.ctxs) {
          if (!m.ended && m.ctx.path === path) raised += Math.max(0, m.held.get(name) ?? 0);
        }
        assert.ok(cell.live <= raised, `${path}.live_${name} ${cell.live} > ${raised}`);
      }
    }
    if (this.folding) return;
    for (const m of this.ctxs) {
      const byName = this.cells.get(m.ctx.path);
      if (byName === undefined) continue;
      for (const [name, cell] of byName) {
        assert.equal(m.ctx.getTotal(name), cell.total, `${m.ctx.path}.${name}`);
        assert.equal(m.ctx.getLive(name), cell.live, `${m.ctx.path}.live_${name}`);
        if (!m.ended) {
          assert.equal(m.ctx.getTotal(name, { deep: true }), deep(m.ctx.path, name)[0]);
        }
      }
    }
    // Totals never go down.
    const now = counters("", { root: this.root });
    for (const [key, value] of Object.entries(this.#lastTotals)) {
      assert.ok((now[key] ?? 0) >= value, `${key} went down from ${value} to ${now[key]}`);
    }
    this.#lastTotals = Object.fromEntries(
      Object.entries(now).filter(([k]) => !/\.live_[^.]*$/.test(k)),
    );
  }

  #checkLocks(): void {
    const registry = lockRegistry(internals.tree(this.root)).locks;
    for (const l of this.locks) {
      const holders = l.lock.holders() as Array<
        { context: Context; mode: string; permits: number }
      >;
      const waiters = l.lock.waiters() as Array<
        { context: Context; mode: string; permits: number }
      >;
      // Safety.
      if (l.kind === "mutex") assert.ok(holders.length <= 1, "a mutex with two holders");
      if (l.kind === "rwlock" && holders.some((h) => h.mode === "write")) {
        assert.equal(holders.length, 1, "a writer beside others");
      }
      const out = holders.reduce((s, h) => s + h.permits, 0);
      if (l.kind === "semaphore") {
        assert.ok(out <= l.capacity, `${out} permits out of ${l.capacity}`);
        assert.equal(l.lock.available, l.capacity - out);
      }
      // Holders and waiters are what the model saw granted and pending, in order.
      const held = this.guards.filter((g) => g.lock === l && !g.released);
      assert.deepEqual(
        holders.map((h) => [h.context, h.mode, h.permits]).sort(order),
        held.map((g) => [g.holder.ctx, g.mode, g.permits]).sort(order),
        `holders of ${l.kind} "${l.name}"`,
      );
      const pending = this.waits.filter((w) => w.lock === l && w.state === "pending");
      assert.deepEqual(
        waiters.map((w) => [w.context, w.mode, w.permits]),
        pending.map((w) => [w.ctx.ctx, w.mode, w.permits]),
        `waiters of ${l.kind} "${l.name}"`,
      );
      // Nobody waits for what they could have now.
      if (waiters.length > 0) {
        const head = waiters[0];
        const free = l.kind === "semaphore"
          ? l.capacity - out >= head.permits
          : l.kind === "mutex" || head.mode === "write"
          ? holders.length === 0
          : !holders.some((h) => h.mode === "write");
        assert.ok(!free, `the first waiter of ${l.kind} "${l.name}" could go but waits`);
      }
      // Only a lock in use is in the registry.
      assert.equal(registry.has(l.lock), holders.length + waiters.length > 0, "the registry");
    }
    for (const finding of lockRegistry(internals.tree(this.root)).deadlocks) {
      for (const m of finding.members) {
        const waits = this.waits.some((w) =>
          w.state === "pending" && w.ctx.ctx === m.context && w.lock.name === m.lockName
        );
        assert.ok(waits, `deadlock member ${m.context.path} does not wait for "${m.lockName}"`);
      }
    }
  }

  #checkSnapshot(s: Status): void {
    const paths = new Map<string, number>();
    const visit = (c: Status["global"]): void => {
      paths.set(c.path, (paths.get(c.path) ?? 0) + 1);
      for (const i of c.locksHeld) assert.equal(s.activeLocks[i].heldBy, c.path);
      for (const i of c.locksWaited) assert.equal(s.lockWaiters[i].waiter, c.path);
      for (const k of c.children) visit(k);
    };
    if (!this.root.ended) visit(s.global);
    for (const w of s.lockWaiters) {
      assert.ok(w.heldBy.length > 0, `${w.waiter} waits for "${w.lockName}", which nobody holds`);
      for (const h of w.heldBy) {
        assert.ok(
          s.activeLocks.some((a) => a.name === w.lockName && a.kind === w.kind && a.heldBy === h),
          `${w.waiter} waits for "${w.lockName}" held by ${h}, not among the active locks`,
        );
      }
      assert.ok(paths.has(w.waiter), `waiter ${w.waiter} is not in the tree`);
    }
    for (const a of s.activeLocks) {
      assert.ok(
        a.leaked || paths.has(a.heldBy),
        `holder ${a.heldBy} neither in the tree nor leaked`,
      );
      if (a.leaked) {
        assert.ok(s.warnings.some((w) => w.code === "leaked-guard"), "a leaked guard not warned");
      }
    }
    // Secret data never shows.
    for (const m of this.ctxs) {
      if (m.ended) continue;
      for (const [key, { secret }] of m.data) {
        if (!secret) continue;
        const st = find(s.global, m.ctx);
        if (st !== undefined) assert.equal(st.data[key], "[redacted]");
      }
    }
  }

  /** Ends everything; nothing may be left. */
  async finish(): Promise<void> {
    this.root.cancel("the run is over");
    this.#cancelModel(this.ctxs[0]);
    for (const c of this.ctxs) {
      if (c.gate !== undefined) {
        c.gate.resolve();
        c.gate = undefined;
      }
    }
    await this.flush();
    for (const g of this.guards) {
      g.guard.release();
      g.released = true;
    }
    await this.flush();
    this.root.end();
    for (const c of this.ctxs) if (!c.ended) c.endRequested = true;
    await this.flush();
    this.check();
    assert.ok(this.root.ended, "the root ended");
    assert.equal(internals.firstChild(this.root), undefined, "the tree is empty");
    assert.equal(
      lockRegistry(internals.tree(this.root)).locks.size,
      0,
      "the lock registry is empty",
    );
    assert.equal(
      lockRegistry(internals.tree(this.root)).deadlocks.length,
      0,
      "no deadlock is left",
    );
    for (const l of this.locks) {
      if (l.kind === "semaphore") assert.equal(l.lock.available, l.capacity, "permits back");
      assert.deepEqual(l.lock.waiters(), []);
    }
    for (const name of this.names) {
      assert.equal(this.root.getLive(name, { deep: true }), 0, `live_${name} is back to 0`);
    }
  }
}

/** The status of `ctx` in `st` (the root's): siblings may share a path, so walk by position. */
function find(st: Status["global"], ctx: Context): Status["global"] | undefined {
  const chain: Context[] = [];
  for (let c: Context | undefined = ctx; c !== undefined; c = c.parent) chain.unshift(c);
  let at: Status["global"] | undefined = st;
  for (let i = 1; i < chain.length && at !== undefined; i++) {
    let index = 0;
    let k = internals.firstChild(chain[i - 1]);
    while (k !== undefined && k !== chain[i]) {
      k = internals.nextSibling(k);
      index++;
    }
    at = k === undefined ? undefined : at.children[index];
  }
  return at;
}

function order(a: unknown[], b: unknown[]): number {
  const ka = `${(a[0] as Context).path}|${a[1]}|${a[2]}`;
  const kb = `${(b[0] as Context).path}|${b[1]}|${b[2]}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function validName(name: unknown): boolean {
  return typeof name === "string" && name.length > 0 && name.length <= 256 &&
    // deno-lint-ignore no-control-regex
    !/[\u0000-\u001f\u007f-\u009f]/.test(name);
}

function nameError(name: unknown): ErrorConstructor {
  return typeof name === "string" && (name.length === 0 || name.length > 256)
    ? RangeError
    : TypeError;
}

async function play(ops: Op[], folding: boolean): Promise<void> {
  tally.runs++;
  const world = new World(folding);
  for (const op of ops) {
    await world.apply(op);
    await world.flush();
    world.check();
  }
  await world.finish();
}

// ---- the properties -------------------------------------------------------------------------

Deno.test("random sequences of tree, counter, data and lock operations keep every invariant", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 10, maxLength: 150, size: "max" }),
      (ops) => play(ops, false),
    ),
    { seed: 20_261_124, numRuns: 400 },
  );
});

Deno.test("with a counter store small enough to fold, deep totals and live counts stay exact", async () => {
  const before = configure();
  configure({ maxCounterKeys: 6 });
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 10, maxLength: 150, size: "max" }),
        (ops) => play(ops, true),
      ),
      { seed: 9_112_026, numRuns: 150 },
    );
  } finally {
    configure(before);
  }
});

Deno.test("lock-heavy sequences keep every lock invariant", async () => {
  const lockOp = fc.oneof(
    { weight: 2, arbitrary: opArb },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant("wait" as const),
        l: fc.nat({ max: 3 }),
        i: indexArb,
        write: fc.boolean(),
        n: askArb,
        options: waitOptionsArb,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant("try" as const),
        l: fc.nat({ max: 3 }),
        i: indexArb,
        write: fc.boolean(),
        n: askArb,
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant("release" as const), g: indexArb }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("abort" as const), w: indexArb }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constantFrom("cancel" as const, "end" as const),
        i: indexArb,
        spareRoot: fc.constant(true),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant("create" as const), p: indexArb, name: nameArb }),
    },
  );
  const prelude: Op[] = [
    { t: "spawn", p: 0, name: "a" },
    { t: "spawn", p: 0, name: "b" },
    { t: "create", p: 0, name: "c" },
    { t: "create", p: 0, name: "d" },
    { t: "spawn", p: 3, name: "e" },
    { t: "makeLock", i: 0, kind: "mutex", name: "m", permits: good(1) },
    { t: "makeLock", i: 0, kind: "rwlock", name: "rw", permits: good(1) },
    { t: "makeLock", i: 0, kind: "semaphore", name: "pool", permits: good(3) },
    { t: "makeLock", i: 1, kind: "mutex", name: "m2", permits: good(1) },
  ];
  await fc.assert(
    fc.asyncProperty(
      fc.array(lockOp, { minLength: 20, maxLength: 200, size: "max" }),
      (ops) => play([...prelude, ...ops], false),
    ),
    { seed: 4_242, numRuns: 400 },
  );
});

Deno.test("the figures of the property runs", () => {
  console.log(
    `property runs: ${tally.runs}, operations tried: ${tally.operations} ` +
      `(${tally.badCalls} bad calls refused, changing nothing), invariant checks: ${tally.checks}, ` +
      `snapshots checked mid-operation: ${tally.snapshots}, ` +
      `lock grants: ${tally.grants}, waits given up: ${tally.giveUps}`,
  );
  assert.ok(tally.operations > 10_000);
});

Deno.test("a total counted by an ended context is kept when that very count folds the store", () => {
  const before = configure();
  configure({ maxCounterKeys: 2 });
  try {
    const root = Context.root("global");
    const conn = root.child("conn").create();
    conn.incrementTotal("opened");
    conn.end();
    root.incrementTotal("seen");
    conn.incrementTotal("late"); // the third cell: the store folds global.conn, then counts
    assert.deepEqual(root.getTotal("late", { deep: true }), 1);
    assert.deepEqual(root.getTotal("opened", { deep: true }), 1);
  } finally {
    configure(before);
  }
});

Deno.test("ending a context again also ends the children made under it since", async () => {
  const root = Context.root("global");
  const conn = root.child("conn").create();
  let release!: () => void;
  const flushing = conn.child("flush").spawn(() => new Promise<void>((r) => (release = r)));
  conn.end(); // it waits for "flush"
  const late = conn.child("late").create(); // made while conn waits
  conn.end();
  assert.ok(late.ended, "the late child was ended");
  release();
  await flushing;
  assert.ok(conn.ended);
  assert.equal(internals.firstChild(root), undefined);
});
