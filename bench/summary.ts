/**
 * `deno task bench`: runs every bench file in bench/ (`deno bench --json`) for several rounds,
 * then `bench/memory.ts`, and prints every ratio against its target in one table. A ratio is
 * taken within a round (both sides measured minutes apart at most, on the same loaded machine)
 * and the median over rounds is reported, with each round's value beside it. Also prints the
 * informational ratios (spawn with other `AsyncLocalStorage` instances active) and writes
 * `bench/results/bench_summary.json`.
 *
 * ```sh
 * deno task bench                      # 3 rounds
 * deno task bench --rounds 1 --no-memory
 * deno task bench:raw                  # plain `deno bench`, its own tables, no summary
 * ```
 *
 * Exits 1 when a target (other than a moonshot) is missed or a row it needs is missing.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { formatTargets, median, met, type Target } from "./targets.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    "no-memory": { type: "boolean", default: false },
    out: { type: "string", default: new URL("./results/", import.meta.url).pathname },
  },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`--rounds must be a positive integer, got ${values.rounds}`);
  Deno.exit(2);
}

/** A ratio of two rows of one group: `a / b`, the average time of each. */
interface Spec {
  name: string;
  group: string;
  a: string;
  b: string;
  op?: "<=" | ">=";
  limit?: number;
}

const LOCKS = "uncontended lock+release";
const SPECS: Spec[] = [
  {
    name: "counter increment / Map get+set",
    group: "incrementTotal",
    a: "ctx.incrementTotal(name)",
    b: "Map get+set (precomputed key)",
    op: "<=",
    limit: 1,
  },
  {
    name: "prom-client inc({ path }) / our increment (× faster)",
    group: "counter-vs-prom",
    a: 'prom-client counter.inc({ path: "…" })',
    b: "ctx.incrementTotal(name)",
    op: ">=",
    limit: 5,
  },
  {
    name: "prom-client labels().inc() / our increment (× faster)",
    group: "counter-vs-prom",
    a: 'prom-client counter.labels("…").inc()',
    b: "ctx.incrementTotal(name)",
    op: ">=",
    limit: 5,
  },
  {
    name: "current() / getStore()",
    group: "current",
    a: "current() ×1000 in a context",
    b: "als.getStore() ×1000 in als.run",
    op: "<=",
    limit: 1.5,
  },
  {
    name: "current() / getStore(), after an await",
    group: "current-after-await",
    a: "current() ×1000 after an await",
    b: "als.getStore() ×1000 after an await",
    op: "<=",
    limit: 1.5,
  },
  {
    name: "child spawn + settle / als.run(new store each call)",
    group: "spawn",
    a: 'await ctx.child("job").spawn(asyncFn)',
    b: "(reference) await als.run(new 192-byte store, asyncFn)",
    op: "<=",
    limit: 1.5,
  },
  {
    name: "child spawn + settle / als.run(reused store)",
    group: "spawn",
    a: 'await ctx.child("job").spawn(asyncFn)',
    b: "await als.run(store, asyncFn)",
    op: "<=",
    limit: 2,
  },
  {
    name: "AbortSignal.any fan-out / cancel 100,000 flat (× faster)",
    group: "cancel-100k",
    a: "abort 1 AbortController → 100000 AbortSignal.any",
    b: "cancel root of 100000 children (flat)",
    op: ">=",
    limit: 5,
  },
  {
    name: "AbortSignal.any fan-out / cancel 100,000 tree (× faster)",
    group: "cancel-100k",
    a: "abort 1 AbortController → 100000 AbortSignal.any",
    b: "cancel root of a 100000-context tree (100 × 1,000)",
    op: ">=",
    limit: 5,
  },
  {
    name: "uncontended lock()+release / promise-queue mutex",
    group: LOCKS,
    a: "@fastn/context mutex",
    b: "baseline: promise-queue mutex",
    op: "<=",
    limit: 1.5,
  },
  {
    name: "async-mutex / our uncontended lock (× faster)",
    group: LOCKS,
    a: "async-mutex",
    b: "@fastn/context mutex",
    op: ">=",
    limit: 8,
  },
  {
    name: "hand-off among 100 contenders / promise-queue mutex",
    group: "hand-off among 100 contenders",
    a: "@fastn/context mutex",
    b: "baseline: promise-queue mutex",
    op: "<=",
    limit: 2,
  },
  {
    name: "semaphore acquire+release / async-mutex Semaphore",
    group: "fast paths",
    a: "semaphore acquire+release",
    b: "async-mutex semaphore acquire+release",
    op: "<=",
    limit: 1,
  },
  {
    name: "rwlock read+release / our mutex lock+release",
    group: "fast paths",
    a: "rwlock read+release",
    b: "mutex lock+release",
    op: "<=",
    limit: 1.2,
  },
  {
    name: "status() + full render of 10,000 / JSON.stringify",
    group: "status of 10,000 contexts",
    a: "status() + renderStatus(), every context shown",
    b: "JSON.stringify of an equivalent plain tree (10,000 nodes)",
    op: "<=",
    limit: 3,
  },
  // Informational, no target: other AsyncLocalStorage users in the same app.
  ...[0, 1, 3].map((n) => ({
    name: `spawn / als.run(new store), ${n} other AsyncLocalStorage active`,
    group: `spawn, ${n} other AsyncLocalStorage active`,
    a: `${n} other: await ctx.child("job").spawn(asyncFn)`,
    b: `${n} other: await als.run(new 192-byte store, asyncFn)`,
  })),
  ...[1, 3].map((n) => ({
    name: `spawn with ${n} other AsyncLocalStorage active / with none`,
    group: "",
    a: `spawn, ${n} other AsyncLocalStorage active\n${n} other: await ctx.child("job").spawn(asyncFn)`,
    b: `spawn, 0 other AsyncLocalStorage active\n0 other: await ctx.child("job").spawn(asyncFn)`,
  })),
  ...[1, 3].map((n) => ({
    name: `als.run(new store) with ${n} other AsyncLocalStorage active / with none`,
    group: "",
    a: `spawn, ${n} other AsyncLocalStorage active\n${n} other: await als.run(new 192-byte store, asyncFn)`,
    b: `spawn, 0 other AsyncLocalStorage active\n0 other: await als.run(new 192-byte store, asyncFn)`,
  })),
];

interface BenchJson {
  benches: Array<{
    origin: string;
    group: string | null;
    name: string;
    results: Array<{ ok?: { avg: number }; failed?: unknown }>;
  }>;
}

/** One round of `deno bench --json` over bench/: average ns per row, keyed "group\nname". */
async function benchRound(): Promise<Map<string, number>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "--json", "--allow-all", new URL(".", import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const start = text.indexOf("{");
  if (!out.success || start < 0) throw new Error(`deno bench failed:\n${text}`);
  const json: BenchJson = JSON.parse(text.slice(start));
  const rows = new Map<string, number>();
  for (const b of json.benches) {
    const ok = b.results[0]?.ok;
    if (ok) rows.set(`${b.group ?? ""}\n${b.name}`, ok.avg);
  }
  return rows;
}

function key(group: string, name: string): string {
  return group === "" ? name : `${group}\n${name}`;
}

function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

const perRound: Array<Map<string, number>> = [];
for (let i = 0; i < rounds; i++) {
  console.log(`round ${i + 1} of ${rounds}: deno bench --json bench/ …`);
  perRound.push(await benchRound());
}

const targets: Target[] = [];
const info: string[] = ["| ratio (no target) | median | per round |", "| --- | --- | --- |"];
const missing: string[] = [];
const recorded: Record<string, { value: number; perRound: number[]; a: number; b: number }> = {};
for (const s of SPECS) {
  const ka = key(s.group, s.a), kb = key(s.group, s.b);
  const ratios: number[] = [], as: number[] = [], bs: number[] = [];
  for (const r of perRound) {
    const a = r.get(ka), b = r.get(kb);
    if (a === undefined || b === undefined) continue;
    ratios.push(a / b);
    as.push(a);
    bs.push(b);
  }
  if (ratios.length === 0) {
    missing.push(`${s.name}: rows "${ka.replace("\n", " / ")}" or "${kb.replace("\n", " / ")}"`);
    if (s.op && s.limit !== undefined) {
      targets.push({ name: s.name, value: NaN, op: s.op, limit: s.limit, detail: "row missing" });
    }
    continue;
  }
  const value = median(ratios);
  // The two sides of the round whose ratio is the median (of the two middle rounds' first when
  // the count is even), so that the times shown match the ratio.
  const mid = ratios.map((_, i) => i).sort((i, j) => ratios[i] - ratios[j])[
    (ratios.length - 1) >> 1
  ];
  recorded[s.name] = { value, perRound: ratios, a: as[mid], b: bs[mid] };
  const detail = `${fmtNs(as[mid])} vs ${fmtNs(bs[mid])}; rounds ${
    ratios.map((x) => x.toFixed(2)).join(", ")
  }`;
  if (s.op && s.limit !== undefined) {
    targets.push({ name: s.name, value, op: s.op, limit: s.limit, detail });
  } else {
    info.push(`| ${s.name} | ${value.toFixed(2)}× | ${detail} |`);
  }
}

let memory: { rows: Array<{ name: string; bytes: number; limit?: number }> } | undefined;
if (!values["no-memory"]) {
  console.log("bench/memory.ts …");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      new URL("./memory.ts", import.meta.url).pathname,
      "--json",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("{"));
  if (!out.success || !line) {
    missing.push("bench/memory.ts printed no result");
  } else {
    memory = JSON.parse(line);
    for (const r of memory!.rows) {
      if (r.limit === undefined) continue;
      targets.push({
        name: `heap: ${r.name}`,
        value: r.bytes,
        op: "<=",
        limit: r.limit,
        unit: " B",
        detail: `${(r.bytes / r.limit).toFixed(2)}× of the bound`,
      });
    }
  }
}

// Every row's median time, for the record.
const allKeys = [...new Set(perRound.flatMap((r) => [...r.keys()]))];
const rowsTable = [
  "| group | bench | median avg |",
  "| --- | --- | --- |",
  ...allKeys.map((k) => {
    const [g, n] = k.split("\n");
    const v = median(perRound.map((r) => r.get(k)).filter((x): x is number => x !== undefined));
    return `| ${g} | ${n} | ${fmtNs(v)} |`;
  }),
].join("\n");

console.log(`\n${rowsTable}\n\n${info.join("\n")}\n\n${formatTargets(targets)}`);
for (const m of missing) console.log(`missing: ${m}`);

await Deno.mkdir(values.out, { recursive: true });
await Deno.writeTextFile(
  `${values.out}/bench_summary.json`,
  JSON.stringify(
    {
      date: new Date().toISOString().slice(0, 10),
      command: `deno task bench --rounds ${rounds}`,
      deno: Deno.version.deno,
      targets: targets.map((t) => ({ ...t, met: met(t) })),
      ratios: recorded,
      memory: memory?.rows,
      missing,
    },
    null,
    2,
  ) + "\n",
);
if (missing.length > 0 || targets.some((t) => !t.moonshot && !met(t))) Deno.exit(1);
