/**
 * How costs grow with the tree: a snapshot, a snapshot rendered as the dashboard, a cancel of the
 * whole tree, and a stream update (from a change to the stream's next snapshot), at 1,000 /
 * 10,000 / 100,000 live contexts. Prints a Markdown table for the README.
 *
 * ```sh
 * deno task bench:scaling
 * ```
 *
 * @module
 */

import { Context, renderStatus, statusJson, statusStream, type SystemMetrics } from "../mod.ts";
import { TINY_SYSTEM } from "../tests/fixtures/system.ts";

const SIZES = [1_000, 10_000, 100_000];

// Fixed system metrics: this measures the tree, not /proc.
const system: SystemMetrics = TINY_SYSTEM;

/** A tree shaped like a service: 10 services, sessions of 10 tasks each. */
function build(n: number): Context {
  const root = Context.root("global");
  const services = Array.from({ length: 10 }, (_, i) => root.child(`service-${i}`).create());
  let made = 10;
  for (let s = 0; made < n; s++) {
    const session = services[s % 10].child(`session-${s}`).withData("peer", `p${s}`).create();
    session.incrementTotal("requests", s);
    made++;
    for (let t = 0; t < 9 && made < n; t++, made++) {
      session.child(`task-${t}`).create().incrementLive("busy");
    }
  }
  return root;
}

function time(fn: () => void, minMs = 200): number {
  fn(); // warm
  let runs = 0;
  const t0 = performance.now();
  do {
    fn();
    runs++;
  } while (performance.now() - t0 < minMs && runs < 1000);
  return (performance.now() - t0) / runs;
}

async function streamUpdate(root: Context): Promise<number> {
  const ac = new AbortController();
  const it = statusStream({ root, system, minIntervalMs: 0, signal: ac.signal });
  await it.next(); // the first snapshot
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    root.child(`change-${i}`).create();
    await it.next();
    samples.push(performance.now() - t0);
  }
  ac.abort();
  await it.return?.();
  samples.sort((a, b) => a - b);
  return samples[2];
}

function fmt(ms: number): string {
  return ms >= 100
    ? `${ms.toFixed(0)} ms`
    : ms >= 1
    ? `${ms.toFixed(1)} ms`
    : `${(ms * 1000).toFixed(0)} µs`;
}

const rows: string[] = [];
for (const n of SIZES) {
  const root = build(n);
  const snap = time(() => statusJson({ root, system }));
  const render = time(() => renderStatus(statusJson({ root, system }), { color: false }));
  const update = await streamUpdate(root);
  let cancel = 0;
  for (let i = 0; i < 3; i++) {
    const r = build(n);
    const t0 = performance.now();
    r.cancel("bench");
    cancel += (performance.now() - t0) / 3;
  }
  rows.push(
    `| ${n.toLocaleString("en-US")} | ${fmt(snap)} | ${fmt(render)} | ${fmt(cancel)} | ${
      fmt(update)
    } |`,
  );
  console.error(`measured ${n}`);
}
console.log(
  `| live contexts | snapshot (statusJson) | snapshot + dashboard | cancel the tree | stream update |
| --- | --- | --- | --- | --- |
${rows.join("\n")}`,
);
