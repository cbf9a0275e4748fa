/**
 * The cost of a deadline (issue 15): creating and ending a child with `withTimeout()` against
 * the same without, measured in the same run. Target: at most 1.5× (`group: "deadline"`). The
 * ratio is printed at the end, as well as shown by `deno bench`.
 *
 * Run with `deno task bench` or `deno bench --allow-all bench/deadline_bench.ts`.
 *
 * @module
 */

import { Context } from "../mod.ts";

const root = Context.root("global");
const svc = root.child("svc").create();
// A long-lived context with a deadline, as a service keeps: the queue is not empty, the timer is
// armed once and stays armed.
const keeper = svc.child("keeper").withTimeout(3_600_000).create();

Deno.bench("create + end a child", { group: "deadline", baseline: true }, () => {
  svc.child("req").create().end();
});

Deno.bench("create + end a child withTimeout(2_000)", { group: "deadline" }, () => {
  svc.child("req").withTimeout(2_000).create().end();
});

// The same measured by hand, to print the ratio (Deno.bench shows it too, as "x slower").
function perOp(fn: () => void, n: number): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - t0) / n;
}

globalThis.addEventListener("unload", () => {
  const plain = () => svc.child("req").create().end();
  const timed = () => svc.child("req").withTimeout(2_000).create().end();
  const N = 100_000;
  // Rounds alternate the two sides; the fastest round of each is compared, so a noisy machine
  // (or a GC landing in one round) moves neither side alone.
  let a = Infinity, b = Infinity;
  for (let round = 0; round < 10; round++) {
    a = Math.min(a, perOp(plain, N));
    b = Math.min(b, perOp(timed, N));
  }
  console.log(
    `deadline: create+end withTimeout ${(b * 1e6).toFixed(0)} ns / without ${
      (a * 1e6).toFixed(0)
    } ns = ${(b / a).toFixed(2)}× (target ≤ 1.5×)`,
  );
  keeper.end();
});
