/**
 * Heap cost of live contexts: at most 200 bytes per idle child context (issue 14; issue 2 asked
 * 400), and at most 400 bytes for what `spawn()` adds to a pending task.
 *
 * Each scenario makes 100,000 children of a fresh root and keeps them; `gc()` runs before both
 * readings of `Deno.memoryUsage().heapUsed`, and the delta over 100,000 is the cost of one
 * context. What the measurement itself needs (the array that keeps the contexts, names made up
 * front) is allocated before the first reading. Every scenario runs in a function of its own and
 * is repeated; the median is shown.
 *
 * Run with `deno task bench:memory`, i.e.
 * `deno run --allow-all --v8-flags=--expose-gc bench/memory.ts`. Prints each row's bytes and its
 * ratio to its bound, and exits 1 when a target is missed. With `--json` it prints the rows as one
 * JSON line instead (what `deno task bench` reads).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { Context } from "../mod.ts";

/** The bound for an idle child context (issue 14). */
const IDLE_LIMIT = 200;
/** The bound for what spawn() adds to a pending task (issue 2). */
const SPAWN_LIMIT = 400;
const json = Deno.args.includes("--json");
const N = 100_000;
const ROUNDS = 3;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("run with --v8-flags=--expose-gc (deno task bench:memory)");
  Deno.exit(2);
}

async function heapUsed(): Promise<number> {
  // Several passes with a turn of the event loop between them, so that sweeping and finalizers
  // left over from a previous scenario are done before the reading.
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 5));
  }
  gc!();
  return Deno.memoryUsage().heapUsed;
}

/** Bytes per item of `make(i)` for i < N; `prepare` runs before the first reading. */
async function perItem(make: (i: number) => unknown, prepare?: () => void): Promise<number> {
  const keep: unknown[] = new Array(N).fill(undefined);
  prepare?.();
  const before = await heapUsed();
  for (let i = 0; i < N; i++) keep[i] = make(i);
  const after = await heapUsed();
  // Keep everything reachable up to the second reading.
  if (keep[N - 1] === undefined) throw new Error("nothing was kept");
  return (after - before) / N;
}

interface Scenario {
  name: string;
  /** The bound in bytes, when a target applies. */
  limit?: number;
  run(): Promise<number>;
}

const never = () => new Promise<never>(() => {});

const scenarios: Scenario[] = [
  {
    name: 'idle: root.child("c" + i).create()  (name strings included)',
    limit: IDLE_LIMIT,
    run() {
      const root = Context.root("global");
      return perItem((i) => root.child("c" + i).create());
    },
  },
  {
    name: "idle: distinct names, made before the first reading",
    limit: IDLE_LIMIT,
    run() {
      const root = Context.root("global");
      let names: string[] = [];
      return perItem(
        (i) => root.child(names[i]).create(),
        () => (names = Array.from({ length: N }, (_, i) => "c" + i)),
      );
    },
  },
  {
    name: 'idle: root.child("conn").create()  (equal names)',
    limit: IDLE_LIMIT,
    run() {
      const root = Context.root("global");
      return perItem(() => root.child("conn").create());
    },
  },
  {
    name: "ended: made, ended and dropped (what stays behind)",
    async run() {
      const root = Context.root("global");
      const before = await heapUsed();
      for (let i = 0; i < N; i++) root.child("c" + i).create().end();
      const after = await heapUsed();
      if (root.ended) throw new Error("unreachable");
      return (after - before) / N;
    },
  },
  // A pending task as a user writes it, against the same task under a bare
  // AsyncLocalStorage.run: the frame and the suspended async function are what any context
  // propagation costs; the difference is what spawn() adds (the context, its settle reaction).
  {
    name: "(reference) pending: als.run(store, async () => { await never })",
    run() {
      const als = new AsyncLocalStorage<object>();
      const store = {};
      const pending = never();
      const task = async () => {
        await pending;
      };
      return perItem(() => als.run(store, task));
    },
  },
  {
    name: 'pending: root.child("c" + i).spawn(async () => { await never })',
    run() {
      const root = Context.root("global");
      const pending = never();
      const task = async () => {
        await pending;
      };
      return perItem((i) => root.child("c" + i).spawn(task));
    },
  },
];

const results = new Map<string, number>();
for (const s of scenarios) {
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(await s.run());
  runs.sort((a, b) => a - b);
  results.set(s.name, runs[ROUNDS >> 1]);
}

const rows: Array<{ name: string; bytes: number; limit?: number }> = scenarios.map((s) => ({
  name: s.name,
  bytes: results.get(s.name)!,
  limit: s.limit,
}));
const [reference, pending] = rows.slice(-2);
rows.push({
  name: "pending: what spawn() adds (difference of the two above)",
  bytes: pending.bytes - reference.bytes,
  limit: SPAWN_LIMIT,
});

const failed = rows.some((r) => r.limit !== undefined && r.bytes > r.limit);
if (json) {
  console.log(JSON.stringify({ n: N, rounds: ROUNDS, rows }));
} else {
  const width = Math.max(...rows.map((r) => r.name.length));
  console.log(
    `heap per context: ${N.toLocaleString("en")} contexts, median of ${ROUNDS} ` +
      `(Deno ${Deno.version.deno})`,
  );
  for (const r of rows) {
    const verdict = r.limit === undefined
      ? ""
      : `${(r.bytes / r.limit).toFixed(2)}× of ≤ ${r.limit} B  ${
        r.bytes <= r.limit ? "met" : "NOT MET"
      }`;
    console.log(`${r.name.padEnd(width)}  ${r.bytes.toFixed(1).padStart(7)} B  ${verdict}`);
  }
}
if (failed && !json) Deno.exit(1);
