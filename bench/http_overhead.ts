/**
 * Overhead under real HTTP load: the same `Deno.serve` handler plain and instrumented (a child
 * context per request with data, `incrementTotal`/`incrementLive`, a named mutex around shared
 * state, and a status stream open the whole time), both driven on loopback by `wrk` in the same
 * run, alternating, several rounds. Prints requests per second and p50/p99 latency for both and
 * their ratios, and writes `bench/results/http_overhead.{json,svg}`.
 *
 * ```sh
 * deno task bench:http            # 5 rounds of 5 s per variant
 * deno task bench:http --rounds 3 --seconds 3 --connections 32
 * ```
 *
 * Installs `wrk` from Debian's packages when it is missing and the user is root.
 *
 * @module
 */

import { parseArgs } from "node:util";

interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

interface Round {
  round: number;
  plain: WrkResult;
  instrumented: WrkResult;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "5" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    out: { type: "string", default: new URL("./results/", import.meta.url).pathname },
  },
});
const rounds = positive(values.rounds, "--rounds");
const seconds = positive(values.seconds, "--seconds");
const connections = positive(values.connections, "--connections");

function positive(text: string, flag: string): number {
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

function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!rps || !p50 || !p99) throw new Error(`could not read wrk's output:\n${out}`);
  return { rps: Number(rps[1]), p50Ms: toMs(p50[1]), p99Ms: toMs(p99[1]) };
}

async function measure(variant: "plain" | "instrumented"): Promise<WrkResult> {
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./http_server.ts", import.meta.url).pathname, variant],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let port = 0;
  while (!port) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the ${variant} server exited before it was ready`);
    buffer += value;
    const m = /ready (\d+)/.exec(buffer);
    if (m) port = Number(m[1]);
  }
  const url = `http://127.0.0.1:${port}/api/items`;
  await sh("wrk", ["-t1", `-c${connections}`, "-d1s", url]); // warm-up, not counted
  const run = await sh("wrk", ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", url]);
  server.kill("SIGTERM");
  let tail = buffer;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    tail += value;
  }
  await server.status;
  const summary = tail.split("\n").find((l) => l.startsWith("{"));
  if (summary && variant === "instrumented") {
    const s = JSON.parse(summary);
    if (s.counted !== s.requests) {
      throw new Error(`instrumented server counted ${s.counted} of ${s.requests} requests`);
    }
  }
  return parseWrk(run.out);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function chart(results: Round[]): string {
  const w = 640, h = 320, left = 60, bottom = 40, top = 40;
  const max = Math.max(...results.flatMap((r) => [r.plain.rps, r.instrumented.rps])) * 1.1;
  const groupW = (w - left - 20) / results.length;
  const barW = groupW / 3;
  const y = (v: number) => top + (h - top - bottom) * (1 - v / max);
  const bars = results.map((r, i) => {
    const x = left + i * groupW + barW / 2;
    return [
      `<rect x="${x}" y="${y(r.plain.rps)}" width="${barW}" height="${
        h - bottom - y(r.plain.rps)
      }" fill="#7f8c8d"/>`,
      `<rect x="${x + barW}" y="${y(r.instrumented.rps)}" width="${barW}" height="${
        h - bottom - y(r.instrumented.rps)
      }" fill="#2980b9"/>`,
      `<text x="${x + barW}" y="${h - bottom + 16}" font-size="12" text-anchor="middle">round ${
        i + 1
      }</text>`,
    ].join("");
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = Math.round(max * f);
    return `<line x1="${left}" x2="${w - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${
      left - 6
    }" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toLocaleString("en-US")}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${left}" y="22" font-size="15">Requests per second, plain vs instrumented (wrk, ${connections} connections, ${seconds}s a round)</text>
${ticks.join("\n")}
${bars.join("\n")}
<rect x="${w - 200}" y="30" width="12" height="12" fill="#7f8c8d"/><text x="${
    w - 182
  }" y="40" font-size="12">plain Deno.serve</text>
<rect x="${w - 200}" y="48" width="12" height="12" fill="#2980b9"/><text x="${
    w - 182
  }" y="58" font-size="12">instrumented</text>
</svg>
`;
}

await ensureWrk();
const results: Round[] = [];
for (let i = 0; i < rounds; i++) {
  // Alternate which variant goes first, so drift on a shared machine hits both alike.
  const order: Array<"plain" | "instrumented"> = i % 2 === 0
    ? ["plain", "instrumented"]
    : ["instrumented", "plain"];
  const r: Partial<Round> = { round: i + 1 };
  for (const v of order) r[v] = await measure(v);
  results.push(r as Round);
  console.log(
    `round ${i + 1}: plain ${r.plain!.rps.toFixed(0)} req/s (p50 ${r.plain!.p50Ms}ms, p99 ${
      r.plain!.p99Ms
    }ms) | instrumented ${r.instrumented!.rps.toFixed(0)} req/s (p50 ${
      r.instrumented!.p50Ms
    }ms, p99 ${r.instrumented!.p99Ms}ms)`,
  );
}

const plainRps = median(results.map((r) => r.plain.rps));
const instrRps = median(results.map((r) => r.instrumented.rps));
const plainP50 = median(results.map((r) => r.plain.p50Ms));
const instrP50 = median(results.map((r) => r.instrumented.p50Ms));
const plainP99 = median(results.map((r) => r.plain.p99Ms));
const instrP99 = median(results.map((r) => r.instrumented.p99Ms));
const throughput = instrRps / plainRps;
const p99Ratio = instrP99 / plainP99;
const summary = {
  date: new Date().toISOString().slice(0, 10),
  command:
    `deno task bench:http --rounds ${rounds} --seconds ${seconds} --connections ${connections}`,
  deno: Deno.version.deno,
  plain: { rps: plainRps, p50Ms: plainP50, p99Ms: plainP99 },
  instrumented: { rps: instrRps, p50Ms: instrP50, p99Ms: instrP99 },
  throughputRatio: throughput,
  p99Ratio,
  targets: { throughputRatio: ">= 0.90", p99Ratio: "<= 1.2" },
  met: throughput >= 0.9 && p99Ratio <= 1.2,
  rounds: results,
};
await Deno.mkdir(values.out, { recursive: true });
await Deno.writeTextFile(`${values.out}/http_overhead.json`, JSON.stringify(summary, null, 2));
await Deno.writeTextFile(`${values.out}/http_overhead.svg`, chart(results));
console.log(`
| medians of ${rounds} rounds | plain | instrumented | ratio | target |
| --- | --- | --- | --- | --- |
| requests/s | ${plainRps.toFixed(0)} | ${instrRps.toFixed(0)} | ${throughput.toFixed(3)} | ≥ 0.90 |
| p50 latency | ${plainP50} ms | ${instrP50} ms | ${(instrP50 / plainP50).toFixed(2)} | |
| p99 latency | ${plainP99} ms | ${instrP99} ms | ${p99Ratio.toFixed(2)} | ≤ 1.2 |
${summary.met ? "targets met" : "TARGET MISSED"}; chart: bench/results/http_overhead.svg`);
