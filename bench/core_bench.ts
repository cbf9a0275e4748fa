/**
 * Benchmarks of the core (issues 2 and 14). Every target is a ratio against a baseline measured
 * in the same run (`group` + `baseline: true`), so that a noisy machine moves both sides together;
 * `deno task bench` (bench/summary.ts) runs all bench files in rounds and prints each ratio
 * against its target:
 *
 * | group              | target                                                                  |
 * | ------------------ | ----------------------------------------------------------------------- |
 * | `incrementTotal`   | ≤ 1× a `Map` get+set with a precomputed key                             |
 * | `counter-vs-prom`  | ≥ 5× faster than prom-client's labelled `inc()`                         |
 * | `current`          | ≤ 1.5× a bare `AsyncLocalStorage.getStore()`, both with a store set     |
 * | `spawn`            | child `spawn` + settle ≤ 2× `await als.run(store, fn)` (reused store),  |
 * |                    | and ≤ 1.5× `await als.run(new store, fn)` (a new store each call)       |
 * | `spawn, N other …` | spawn with 0, 1 and 3 other `AsyncLocalStorage`s holding a store       |
 * |                    | (reported, no target)                                                   |
 * | `cancel-100k`      | cancelling 100,000 contexts ≥ 5× faster than aborting an                |
 * |                    | `AbortSignal.any` fan-out of 100,000                                    |
 *
 * Run with `deno task bench`, or alone with `deno bench -A bench/core_bench.ts`.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { Counter, Registry } from "prom-client";
import { bind, Context, current } from "../mod.ts";

// ---------------------------------------------------------------------------------------------
// incrementTotal vs a Map get+set with a precomputed key

const root = Context.root("global");
const proxy = root.child("http-proxy").create();
proxy.incrementTotal("requests"); // resolve the cell once, as a long-lived context would

const map = new Map<string, number>();
const KEY = "global.http-proxy.requests";
map.set(KEY, 0);

Deno.bench("Map get+set (precomputed key)", {
  group: "incrementTotal",
  baseline: true,
}, () => {
  map.set(KEY, map.get(KEY)! + 1);
});

Deno.bench("ctx.incrementTotal(name)", { group: "incrementTotal" }, () => {
  proxy.incrementTotal("requests");
});

// ---------------------------------------------------------------------------------------------
// incrementTotal vs prom-client's labelled counter

const registry = new Registry();
const promCounter = new Counter({
  name: "requests_total",
  help: "requests",
  labelNames: ["path"],
  registers: [registry],
});
promCounter.inc({ path: "global.http-proxy" });

Deno.bench("ctx.incrementTotal(name)", {
  group: "counter-vs-prom",
  baseline: true,
}, () => {
  proxy.incrementTotal("requests");
});

Deno.bench('prom-client counter.inc({ path: "…" })', { group: "counter-vs-prom" }, () => {
  promCounter.inc({ path: "global.http-proxy" });
});

Deno.bench('prom-client counter.labels("…").inc()', { group: "counter-vs-prom" }, () => {
  promCounter.labels("global.http-proxy").inc();
});

// ---------------------------------------------------------------------------------------------
// current() vs AsyncLocalStorage.getStore(), both inside a running task with the store set

const als = new AsyncLocalStorage<object>();
const store = { name: "store" };

// Deno.bench calls `fn` outside any task. Both sides enter their store the same way, with one
// `als.run` per bench call (`bind()` is `als.run(ctx, fn)` with the context current when it was
// called), and then read it INNER times, so the per-call cost of entering is divided out.
const INNER = 1_000;
let sink: unknown;

function readStore(): void {
  for (let i = 0; i < INNER; i++) sink = als.getStore();
}
function readCurrent(): void {
  for (let i = 0; i < INNER; i++) sink = current();
}
async function readStoreAfterAwait(): Promise<void> {
  await null;
  readStore();
}
async function readCurrentAfterAwait(): Promise<void> {
  await null;
  readCurrent();
}

const [boundCurrent, boundCurrentAfterAwait] = await proxy.spawn(
  () => [bind(readCurrent), bind(readCurrentAfterAwait)] as const,
);
boundCurrent();
if (sink !== proxy) throw new Error("current() is not the bound context");

Deno.bench(`als.getStore() ×${INNER} in als.run`, {
  group: "current",
  baseline: true,
}, () => {
  als.run(store, readStore);
});

Deno.bench(`current() ×${INNER} in a context`, { group: "current" }, () => {
  boundCurrent();
});

// The same reads after an await: the store comes back with the continuation, not the `run`.
Deno.bench(`als.getStore() ×${INNER} after an await`, {
  group: "current-after-await",
  baseline: true,
}, async () => {
  await als.run(store, readStoreAfterAwait);
});

Deno.bench(`current() ×${INNER} after an await`, { group: "current-after-await" }, async () => {
  await boundCurrentAfterAwait();
});

// ---------------------------------------------------------------------------------------------
// child spawn + settle vs await als.run(store, asyncFn)

const spawner = root.child("spawner").create();
const asyncFn = async () => {};
const asyncTask = async (_ctx: Context) => {};

Deno.bench("await als.run(store, asyncFn)", {
  group: "spawn",
  baseline: true,
}, async () => {
  await als.run(store, asyncFn);
});

Deno.bench('await ctx.child("job").spawn(asyncFn)', { group: "spawn" }, async () => {
  await spawner.child("job").spawn(asyncTask);
});

Deno.bench("await ctx.spawn(asyncFn) (no child)", { group: "spawn" }, async () => {
  await spawner.spawn(asyncTask);
});

// The second reference: the same run with a new store object each call, of a Context's size
// (21 fields). Deno's AsyncLocalStorage keeps each store as the value of a WeakMap entry whose
// key is new per run, and V8's scavenger keeps such values alive through the next minor GC, so a
// new store costs a copy that a reused one does not. A child spawn pays this for its Context,
// which makes this row the floor of any library that gives each task a context of its own.
// deno-fmt-ignore
class FreshStore {
  a = 0; b = 0; c = 0; d = 0; e = 0; f = 0; g = 0; h = 0; i = 0; j = 0; k = 0;
  l = 0; m = 0; n = 0; o = 0; p = 0; q = 0; r = 0; s = 0; t = 0; u = 0;
}
Deno.bench("(reference) await als.run(new 192-byte store, asyncFn)", {
  group: "spawn",
}, async () => {
  await als.run(new FreshStore(), asyncFn);
});

// ---------------------------------------------------------------------------------------------
// spawn while other AsyncLocalStorage instances hold a store (other libraries in the same app:
// a tracer, a logger, a request-scoped DI container). Each bench call runs inside a snapshot of
// an async context where N other instances have a store (each entered with `run`),
// so every `run` our spawn does copies an async-context frame with N more entries. The same
// snapshot call wraps N = 0, so the rows differ only in N.

const others = [0, 1, 2].map(() => new AsyncLocalStorage<{ other: number }>());

function contextWith(n: number): <R>(fn: () => R) => R {
  let enter: () => <R>(fn: () => R) => R = () => AsyncLocalStorage.snapshot();
  for (let i = 0; i < n; i++) {
    const inner = enter;
    enter = () => others[i].run({ other: i }, inner);
  }
  const runIn = enter();
  if (n > 0 && runIn(() => others[n - 1].getStore()?.other) !== n - 1) {
    throw new Error(`the snapshot lost the other stores (n = ${n})`);
  }
  return runIn;
}

const spawnChild = (): Promise<void> => spawner.child("job").spawn(asyncTask);
const runFresh = (): Promise<void> => als.run(new FreshStore(), asyncFn);
for (const n of [0, 1, 3]) {
  const runIn = contextWith(n);
  Deno.bench(`${n} other: await als.run(new 192-byte store, asyncFn)`, {
    group: `spawn, ${n} other AsyncLocalStorage active`,
    baseline: true,
  }, async () => {
    await runIn(runFresh);
  });
  Deno.bench(`${n} other: await ctx.child("job").spawn(asyncFn)`, {
    group: `spawn, ${n} other AsyncLocalStorage active`,
  }, async () => {
    await runIn(spawnChild);
  });
}

// ---------------------------------------------------------------------------------------------
// cancelling 100,000 contexts vs aborting one AbortController with 100,000 AbortSignal.any

const N = 100_000;
const heavy = { n: 20, warmup: 3 };

Deno.bench({
  name: `abort 1 AbortController → ${N} AbortSignal.any`,
  group: "cancel-100k",
  baseline: true,
  ...heavy,
  fn(b) {
    const controller = new AbortController();
    const signals: AbortSignal[] = new Array(N);
    for (let i = 0; i < N; i++) signals[i] = AbortSignal.any([controller.signal]);
    b.start();
    controller.abort("shutdown");
    b.end();
    if (!signals[N - 1].aborted) throw new Error("not aborted");
  },
});

Deno.bench({
  name: `cancel root of ${N} children (flat)`,
  group: "cancel-100k",
  ...heavy,
  fn(b) {
    const r = Context.root("global");
    const kids: Context[] = new Array(N);
    for (let i = 0; i < N; i++) kids[i] = r.child("conn").create();
    b.start();
    r.cancel("shutdown");
    b.end();
    if (!kids[N - 1].cancelled) throw new Error("not cancelled");
  },
});

Deno.bench({
  name: `cancel root of a ${N}-context tree (100 × 1,000)`,
  group: "cancel-100k",
  ...heavy,
  fn(b) {
    const r = Context.root("global");
    let last!: Context;
    for (let i = 0; i < 100; i++) {
      const svc = r.child("svc" + i).create();
      for (let j = 0; j < 999; j++) last = svc.child("conn").create();
    }
    b.start();
    r.cancel("shutdown");
    b.end();
    if (!last.cancelled) throw new Error("not cancelled");
  },
});

// Informational: every context's `signal` taken beforehand, so the cancel aborts 100,000
// AbortControllers as well (the same work the baseline's dependent signals do).
Deno.bench({
  name: `cancel root of ${N} children, each .signal taken`,
  group: "cancel-100k",
  ...heavy,
  fn(b) {
    const r = Context.root("global");
    const signals: AbortSignal[] = new Array(N);
    for (let i = 0; i < N; i++) signals[i] = r.child("conn").create().signal;
    b.start();
    r.cancel("shutdown");
    b.end();
    if (!signals[N - 1].aborted) throw new Error("not aborted");
  },
});

export { sink };
