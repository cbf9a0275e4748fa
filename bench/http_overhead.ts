/**
 * Overhead under real HTTP load, four variants of the same `Deno.serve` handler side by side
 * (see `bench/http_server.ts`): `plain`; `floor`, the handler in one `AsyncLocalStorage.run` with a
 * fresh store per request and an `await` (what any per-request context must cost); `instrumented`
 * with this library as the seed's services use it; and `otel`, the plain handler under Deno's
 * built-in OpenTelemetry tracing exporting to a stand-in collector on loopback that answers 200.
 *
 * Two phases, each in rounds that alternate the variants' order so drift on a shared machine hits
 * all alike, each measurement in a fresh server process:
 *
 * 1. Saturation: `wrk` (1 thread, `--connections`) for `--seconds` after a 1 s warm-up; the server
 *    runs with `--trace-gc`, so each measurement also gives scavenges per 100,000 requests.
 * 2. Latency at a realistic load: a constant rate of `--load` (default 50%) of plain's median
 *    saturation throughput, from `bench/rate_client.ts`, which charges every request from its
 *    intended start (coordinated omission accounted for); p50/p99/p99.9.
 *
 * Prints every ratio against its target, and writes `bench/results/http_overhead.{json,svg}`.
 *
 * ```sh
 * deno task bench:http            # 5 rounds of 5 s per variant and phase
 * deno task bench:http --rounds 3 --seconds 3 --connections 32 --load 0.5
 * ```
 *
 * Installs `wrk` from Debian's packages when it is missing and the user is root.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { constantRate, type ConstantRateResult } from "./rate_client.ts";
import { formatTargets, median, met, parseScavenges, type Target } from "./targets.ts";

const ALL_VARIANTS = ["plain", "floor", "instrumented", "otel", "recorded"] as const;
type Variant = typeof ALL_VARIANTS[number];
const LABEL: Record<Variant, string> = {
  plain: "plain Deno.serve",
  floor: "floor: AsyncLocalStorage.run + await",
  instrumented: "instrumented (@fastn/context)",
  otel: "Deno OpenTelemetry tracing",
  recorded: "instrumented + flight recorder",
};
const COLOR: Record<Variant, string> = {
  plain: "#7f8c8d",
  floor: "#bdc3c7",
  instrumented: "#2980b9",
  otel: "#e67e22",
  recorded: "#8e44ad",
};

interface Saturation {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests the server answered, warm-up included (what the GC figures are over). */
  served: number;
  scavenges: number;
  scavengeMs: number;
  scavengeMaxMs: number;
  /** Scavenge pause time per 100,000 requests served. */
  scavengeMsPer100k: number;
  scavengesPer100k: number;
}

type Rounds<T> = Array<Record<Variant, T> & { round: number }>;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    load: { type: "string", default: "0.5" },
    "rate-connections": { type: "string", default: "64" },
    out: { type: "string", default: new URL("./results/", import.meta.url).pathname },
    "with-recorder": { type: "boolean" },
  },
});
// `--with-recorder` adds the instrumented server with its status stream recorded to a file
// (issue 17: the recorder keeps at least 95% of the throughput).
const VARIANTS: readonly Variant[] = values["with-recorder"]
  ? ALL_VARIANTS
  : ALL_VARIANTS.filter((v) => v !== "recorded");
const rounds = positiveInt(values.rounds, "--rounds");
const seconds = positiveInt(values.seconds, "--seconds");
const connections = positiveInt(values.connections, "--connections");
const rateConnections = positiveInt(values["rate-connections"], "--rate-connections");
const load = Number(values.load);
if (!(load > 0 && load <= 1)) {
  console.error(`--load must be a fraction in (0, 1], got ${values.load}`);
  Deno.exit(2);
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${flag} must be a positive integer, got ${text}`);
    Deno.exit(2);
  }
  return n;
}

async function sh(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function ensureWrk(): Promise<void> {
  if ((await sh("sh", ["-c", "command -v wrk"])).code === 0) return;
  console.log("wrk is missing: installing it from Debian's packages");
  const r = await sh("sh", [
    "-c",
    "(apt-get install -y -qq wrk || (apt-get update -qq && apt-get install -y -qq wrk))",
  ]);
  if (r.code !== 0) {
    console.error(`could not install wrk (run as root, or install it yourself):\n${r.out}`);
    Deno.exit(1);
  }
}

function toMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim());
  if (!m) throw new Error(`unexpected wrk latency "${text}"`);
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
}

function parseWrk(out: string): { rps: number; p50Ms: number; p99Ms: number } {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!rps || !p50 || !p99) throw new Error(`could not read wrk's output:\n${out}`);
  return { rps: Number(rps[1]), p50Ms: toMs(p50[1]), p99Ms: toMs(p99[1]) };
}

/** A server process of bench/http_server.ts, its whole stdout kept (the pipe never fills). */
class Server {
  readonly port: Promise<number>;
  #child: Deno.ChildProcess;
  #out = "";
  #drained: Promise<void>;

  constructor(
    variant: Variant | "collector",
    opts: { traceGc?: boolean; env?: Record<string, string> },
  ) {
    const args = ["run", "-A"];
    if (opts.traceGc) args.push("--v8-flags=--trace-gc");
    args.push(
      new URL("./http_server.ts", import.meta.url).pathname,
      variant === "recorded" ? "instrumented" : variant,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args,
      env: opts.env,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#child = child;
    let ready!: (port: number) => void;
    let failed!: (e: Error) => void;
    this.port = new Promise((res, rej) => {
      ready = res;
      failed = rej;
    });
    this.#drained = (async () => {
      let seen = false;
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#out += chunk;
        if (!seen) {
          const m = /ready (\d+)\n/.exec(this.#out);
          if (m) {
            seen = true;
            ready(Number(m[1]));
          }
        }
      }
      if (!seen) failed(new Error(`the ${variant} server exited before it was ready`));
    })();
  }

  /** Stops the server; resolves to its whole stdout and its summary line. */
  async stop(): Promise<{ out: string; summary: Record<string, number> }> {
    this.#child.kill("SIGTERM");
    await this.#drained;
    await this.#child.status;
    // V8's --trace-gc lines come through C's buffered stdout, so a line of ours can land in the
    // middle of one of them: look for the summary anywhere.
    const line = /\{"variant":[^{}\n]*\}/.exec(this.#out);
    if (!line) throw new Error(`the server printed no summary:\n${this.#out.slice(-2000)}`);
    return { out: this.#out, summary: JSON.parse(line[0]) };
  }
}

let collectorPort = 0;

function serverEnv(variant: Variant): Record<string, string> | undefined {
  if (variant === "recorded") {
    return { ...Deno.env.toObject(), RECORD: Deno.makeTempFileSync({ suffix: ".jsonl" }) };
  }
  if (variant !== "otel") return undefined;
  return {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_SERVICE_NAME: "bench-http-otel",
  };
}

function checkCounted(variant: Variant, summary: Record<string, number>): void {
  if (
    (variant === "instrumented" || variant === "recorded") && summary.counted !== summary.requests
  ) {
    throw new Error(`instrumented server counted ${summary.counted} of ${summary.requests}`);
  }
}

async function saturate(variant: Variant): Promise<Saturation> {
  const server = new Server(variant, { traceGc: true, env: serverEnv(variant) });
  const url = `http://127.0.0.1:${await server.port}/api/items`;
  await sh("wrk", ["-t1", `-c${connections}`, "-d1s", url]); // warm-up, not counted
  const run = await sh("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", url]);
  const { out, summary } = await server.stop();
  checkCounted(variant, summary);
  const gc = parseScavenges(out);
  const served = summary.requests;
  return {
    ...parseWrk(run.out),
    served,
    scavenges: gc.count,
    scavengeMs: gc.ms,
    scavengeMaxMs: gc.maxMs,
    scavengeMsPer100k: gc.ms / served * 100_000,
    scavengesPer100k: gc.count / served * 100_000,
  };
}

async function latencyAt(variant: Variant, rate: number): Promise<ConstantRateResult> {
  const server = new Server(variant, { env: serverEnv(variant) });
  try {
    return await constantRate({
      port: await server.port,
      rate,
      seconds,
      warmupSeconds: 1,
      connections: rateConnections,
    });
  } finally {
    checkCounted(variant, (await server.stop()).summary);
  }
}

/** The variants in round `i`'s order: rotated each round, reversed every other one. */
function order(i: number): Variant[] {
  const rotated: Variant[] = VARIANTS.map((_, k) => VARIANTS[(k + i) % VARIANTS.length]);
  return i % 2 === 0 ? rotated : rotated.reverse();
}

function ratio<T>(rs: Rounds<T>, a: Variant, b: Variant, pick: (t: T) => number): number {
  return median(rs.map((r) => pick(r[a]) / pick(r[b])));
}

function med<T>(rs: Rounds<T>, v: Variant, pick: (t: T) => number): number {
  return median(rs.map((r) => pick(r[v])));
}

function fmt(v: number, digits = 3): string {
  return v >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(digits);
}

// ---------------------------------------------------------------------------------------------

await ensureWrk();
const collector = new Server("collector", {});
collectorPort = await collector.port;

const saturation: Rounds<Saturation> = [];
for (let i = 0; i < rounds; i++) {
  const r = { round: i + 1 } as Rounds<Saturation>[number];
  for (const v of order(i)) r[v] = await saturate(v);
  saturation.push(r);
  console.log(
    `saturation round ${i + 1}: ` +
      VARIANTS.map((v) =>
        `${v} ${fmt(r[v].rps)} req/s (p99 ${r[v].p99Ms} ms, scavenge ${
          r[v].scavengeMsPer100k.toFixed(1)
        } ms/100k)`
      ).join(" | "),
  );
}

const plainRps = med(saturation, "plain", (s) => s.rps);
const rate = Math.max(1, Math.round(plainRps * load));
console.log(`\nlatency at ${rate} req/s offered (${load * 100}% of plain's median saturation)`);
const latency: Rounds<ConstantRateResult> = [];
for (let i = 0; i < rounds; i++) {
  const r = { round: i + 1 } as Rounds<ConstantRateResult>[number];
  for (const v of order(i)) r[v] = await latencyAt(v, rate);
  latency.push(r);
  console.log(
    `latency round ${i + 1}: ` +
      VARIANTS.map((v) =>
        `${v} p50 ${r[v].p50Ms.toFixed(3)} p99 ${r[v].p99Ms.toFixed(3)} p99.9 ${
          r[v].p999Ms.toFixed(3)
        } ms (achieved ${fmt(r[v].achieved)} req/s)`
      ).join(" | "),
  );
}
const collected = (await collector.stop()).summary;

const clientShort = VARIANTS.filter((v) => med(latency, v, (l) => l.achieved) < rate * 0.95);
const targets: Target[] = [
  {
    name: "instrumented / plain requests/s at saturation",
    value: ratio(saturation, "instrumented", "plain", (s) => s.rps),
    op: ">=",
    limit: 0.85,
  },
  {
    name: "instrumented / floor requests/s at saturation",
    value: ratio(saturation, "instrumented", "floor", (s) => s.rps),
    op: ">=",
    limit: 0.9,
    moonshot: true,
  },
  {
    name: "scavenge ms per 100,000 requests, instrumented / floor",
    value: ratio(saturation, "instrumented", "floor", (s) => s.scavengeMsPer100k),
    op: "<=",
    limit: 2,
    detail: `${med(saturation, "instrumented", (s) => s.scavengeMsPer100k).toFixed(1)} vs ${
      med(saturation, "floor", (s) => s.scavengeMsPer100k).toFixed(1)
    } ms`,
  },
  {
    name: `p99 at ${load * 100}% load, instrumented / plain`,
    value: ratio(latency, "instrumented", "plain", (l) => l.p99Ms),
    op: "<=",
    limit: 1.5,
    detail: `${med(latency, "instrumented", (l) => l.p99Ms).toFixed(3)} vs ${
      med(latency, "plain", (l) => l.p99Ms).toFixed(3)
    } ms`,
    invalid: clientShort.some((v) => v === "plain" || v === "instrumented")
      ? `the client achieved < 95% of ${rate} req/s, so the latencies are its own lag`
      : undefined,
  },
];
if (VARIANTS.includes("recorded")) {
  targets.push({
    name: "recorded / instrumented requests/s at saturation (flight recorder on)",
    value: ratio(saturation, "recorded", "instrumented", (s) => s.rps),
    op: ">=",
    limit: 0.95,
  });
}

const table = [
  `| medians of ${rounds} rounds | ${VARIANTS.join(" | ")} |`,
  `| --- | ${VARIANTS.map(() => "---").join(" | ")} |`,
  `| requests/s at saturation (wrk) | ${
    VARIANTS.map((v) => fmt(med(saturation, v, (s) => s.rps))).join(" | ")
  } |`,
  `| … / plain | ${
    VARIANTS.map((v) => ratio(saturation, v, "plain", (s) => s.rps).toFixed(3)).join(" | ")
  } |`,
  `| p99 at saturation, ms (wrk) | ${
    VARIANTS.map((v) => med(saturation, v, (s) => s.p99Ms).toFixed(3)).join(" | ")
  } |`,
  `| scavenges per 100k requests | ${
    VARIANTS.map((v) => med(saturation, v, (s) => s.scavengesPer100k).toFixed(1)).join(" | ")
  } |`,
  `| scavenge ms per 100k requests | ${
    VARIANTS.map((v) => med(saturation, v, (s) => s.scavengeMsPer100k).toFixed(1)).join(" | ")
  } |`,
  `| … / floor | ${
    VARIANTS.map((v) => ratio(saturation, v, "floor", (s) => s.scavengeMsPer100k).toFixed(2))
      .join(" | ")
  } |`,
  ...(["p50Ms", "p99Ms", "p999Ms"] as const).flatMap((k) => [
    `| ${k.replace("Ms", "").replace("p999", "p99.9")} at ${rate} req/s, ms | ${
      VARIANTS.map((v) => med(latency, v, (l) => l[k]).toFixed(3)).join(" | ")
    } |`,
    `| … / plain | ${
      VARIANTS.map((v) => ratio(latency, v, "plain", (l) => l[k]).toFixed(2)).join(" | ")
    } |`,
  ]),
  `| achieved rate, req/s | ${
    VARIANTS.map((v) => fmt(med(latency, v, (l) => l.achieved))).join(" | ")
  } |`,
].join("\n");

const summary = {
  date: new Date().toISOString().slice(0, 10),
  command:
    `deno task bench:http --rounds ${rounds} --seconds ${seconds} --connections ${connections} --load ${load}`,
  deno: Deno.version.deno,
  variants: LABEL,
  saturation: Object.fromEntries(VARIANTS.map((v) => [v, {
    rps: med(saturation, v, (s) => s.rps),
    p50Ms: med(saturation, v, (s) => s.p50Ms),
    p99Ms: med(saturation, v, (s) => s.p99Ms),
    scavengesPer100k: med(saturation, v, (s) => s.scavengesPer100k),
    scavengeMsPer100k: med(saturation, v, (s) => s.scavengeMsPer100k),
  }])),
  latency: {
    offeredRps: rate,
    load,
    ...Object.fromEntries(VARIANTS.map((v) => [v, {
      p50Ms: med(latency, v, (l) => l.p50Ms),
      p99Ms: med(latency, v, (l) => l.p99Ms),
      p999Ms: med(latency, v, (l) => l.p999Ms),
      achievedRps: med(latency, v, (l) => l.achieved),
    }])),
  },
  collector: { exports: collected.exports, bytes: collected.exportBytes },
  targets: targets.map((t) => ({ ...t, met: met(t) })),
  clientCouldNotKeepUp: clientShort,
  rounds: { saturation, latency },
};
await Deno.mkdir(values.out, { recursive: true });
await Deno.writeTextFile(
  `${values.out}/http_overhead.json`,
  JSON.stringify(summary, null, 2) + "\n",
);
await Deno.writeTextFile(`${values.out}/http_overhead.svg`, chart());

console.log(`\n${table}\n\n${formatTargets(targets)}`);
if (clientShort.length > 0) {
  console.log(
    `note: the rate client fell short of ${rate} req/s for ${clientShort.join(", ")}; ` +
      "those latencies include the client's own lag (try a lower --load)",
  );
}
console.log(
  `OpenTelemetry collector stand-in received ${collected.exports} exports ` +
    `(${fmt(collected.exportBytes)} bytes); chart: bench/results/http_overhead.svg`,
);

// ---------------------------------------------------------------------------------------------

function chart(): string {
  const w = 860, h = 360, top = 70, bottom = 50;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts: string[] = [];
  // Left panel: requests/s per round, one bar per variant.
  const lx = 70, lw = 400;
  const maxRps = Math.max(...saturation.flatMap((r) => VARIANTS.map((v) => r[v].rps))) * 1.1;
  const yR = (v: number) => top + (h - top - bottom) * (1 - v / maxRps);
  const groupW = lw / rounds, barW = groupW / (VARIANTS.length + 1);
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = Math.round(maxRps * f);
    parts.push(
      `<line x1="${lx}" x2="${lx + lw}" y1="${yR(v)}" y2="${yR(v)}" stroke="#ddd"/>` +
        `<text x="${lx - 6}" y="${yR(v) + 4}" font-size="11" text-anchor="end">${
          v.toLocaleString("en-US")
        }</text>`,
    );
  }
  saturation.forEach((r, i) => {
    VARIANTS.forEach((v, k) => {
      const x = lx + i * groupW + barW * (k + 0.5);
      parts.push(
        `<rect x="${x}" y="${yR(r[v].rps)}" width="${barW}" height="${
          h - bottom - yR(r[v].rps)
        }" fill="${COLOR[v]}"/>`,
      );
    });
    parts.push(
      `<text x="${lx + (i + 0.5) * groupW}" y="${
        h - bottom + 16
      }" font-size="12" text-anchor="middle">round ${i + 1}</text>`,
    );
  });
  parts.push(
    `<text x="${lx}" y="${
      top - 10
    }" font-size="13">requests/s at saturation (wrk, ${connections} connections, ${seconds} s)</text>`,
  );
  // Right panel: latency at the fixed rate, p50 / p99 / p99.9 per variant, log scale.
  const rx = 540, rw = 300;
  const lat = VARIANTS.map((v) => [
    med(latency, v, (l) => l.p50Ms),
    med(latency, v, (l) => l.p99Ms),
    med(latency, v, (l) => l.p999Ms),
  ]);
  const lo = Math.min(...lat.flat()) / 2, hi = Math.max(...lat.flat()) * 2;
  const yL = (v: number) => top + (h - top - bottom) * (1 - Math.log(v / lo) / Math.log(hi / lo));
  for (let d = Math.pow(10, Math.floor(Math.log10(lo))); d <= hi; d *= 10) {
    if (d < lo) continue;
    parts.push(
      `<line x1="${rx}" x2="${rx + rw}" y1="${yL(d)}" y2="${yL(d)}" stroke="#ddd"/>` +
        `<text x="${rx - 6}" y="${yL(d) + 4}" font-size="11" text-anchor="end">${d} ms</text>`,
    );
  }
  const qW = rw / 3, vW = qW / (VARIANTS.length + 1);
  ["p50", "p99", "p99.9"].forEach((q, j) => {
    VARIANTS.forEach((v, k) => {
      const x = rx + j * qW + vW * (k + 0.5);
      const val = lat[k][j];
      parts.push(
        `<rect x="${x}" y="${yL(val)}" width="${vW}" height="${h - bottom - yL(val)}" fill="${
          COLOR[v]
        }"><title>${v} ${q} ${val.toFixed(3)} ms</title></rect>`,
      );
    });
    parts.push(
      `<text x="${rx + (j + 0.5) * qW}" y="${
        h - bottom + 16
      }" font-size="12" text-anchor="middle">${q}</text>`,
    );
  });
  parts.push(
    `<text x="${rx}" y="${top - 10}" font-size="13">latency at ${
      rate.toLocaleString("en-US")
    } req/s (${load * 100}% of plain), log scale</text>`,
  );
  // Legend.
  VARIANTS.forEach((v, k) => {
    const x = 70 + k * 200;
    parts.push(
      `<rect x="${x}" y="${h - 22}" width="12" height="12" fill="${COLOR[v]}"/>` +
        `<text x="${x + 16}" y="${h - 12}" font-size="12">${esc(LABEL[v])}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="70" y="26" font-size="15">Deno.serve handler: plain, floor, @fastn/context, Deno OpenTelemetry (${
    esc(summary.date)
  }, medians of ${rounds} rounds)</text>
${parts.join("\n")}
</svg>
`;
}
