import assert from "node:assert/strict";
import { constantRate, responseLength } from "../bench/rate_client.ts";
import { formatTargets, median, met, parseScavenges, percentile } from "../bench/targets.ts";

const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

Deno.test("percentile() takes the nearest rank and median() the middle", () => {
  const sorted = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 0.5), 500);
  assert.equal(percentile(sorted, 0.99), 990);
  assert.equal(percentile(sorted, 0.999), 999);
  assert.equal(percentile(sorted, 1), 1000);
  assert.equal(percentile([7], 0), 7);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.throws(() => percentile([], 0.5), RangeError);
  assert.throws(() => percentile([1], 1.5), /p must be in \[0, 1\]/);
  assert.throws(() => median([]), RangeError);
});

Deno.test("parseScavenges() adds up scavenge pauses and ignores mark-compacts", () => {
  const trace = [
    "[1:0x1]      109 ms: Scavenge 4.2 (5.0) -> 3.9 (5.8) MB, pooled: 0.0 MB, 5.20 / 0.00 ms " +
    "(average mu = 1.000, current mu = 1.000) allocation failure; ",
    "[1:0x1]      120 ms: Scavenge 4.6 (6.2) -> 4.5 (7.0) MB, 1.25 / 0.00 ms  allocation failure;",
    "[1:0x1]      300 ms: Mark-Compact 9.1 (12.0) -> 7.0 (12.0) MB, 30.00 / 0.00 ms  (+ 2.1 ms)",
    // A line of the program's own, written into the middle of V8's buffered output.
    '[1:0x1]      410 ms: Scav{"variant":"plain"}',
  ].join("\n");
  const s = parseScavenges(trace);
  assert.equal(s.count, 2);
  assert.ok(Math.abs(s.ms - 6.45) < 1e-9);
  assert.equal(s.maxMs, 5.2);
});

Deno.test("formatTargets() marks each target met or not and counts the misses", () => {
  const text = formatTargets([
    { name: "spawn / als.run", value: 1.7, op: "<=", limit: 1.5 },
    { name: "prom / ours", value: 8, op: ">=", limit: 5 },
    { name: "ours / floor", value: 0.8, op: ">=", limit: 0.9, moonshot: true },
    { name: "heap", value: 144, op: "<=", limit: 200, unit: " B" },
  ]);
  assert.match(text, /\| spawn \/ als\.run \| 1\.70× \| ≤ 1\.50× \| \*\*NOT MET\*\* \|/);
  assert.match(text, /\| prom \/ ours \| 8\.00× \| ≥ 5\.00× \| met \|/);
  assert.match(text, /moonshot not reached/);
  assert.match(text, /\| heap \| 144 B \| ≤ 200 B \| met \|/);
  assert.match(text, /1 of 3 targets NOT met$/);
  assert.equal(met({ name: "missing row", value: NaN, op: "<=", limit: 1 }), false);
  const judged = formatTargets([
    { name: "p99", value: 0.9, op: "<=", limit: 1.5, invalid: "client fell short" },
  ]);
  assert.match(judged, /\*\*NOT JUDGED\*\*: client fell short/);
  assert.match(judged, /1 of 1 targets NOT met$/);
});

Deno.test("responseLength() finds the end of a response only once all of it arrived", () => {
  const r = encode("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ndate: x\r\n\r\nhello");
  assert.equal(responseLength(r, r.length), r.length);
  assert.equal(responseLength(r, r.length - 1), -1);
  assert.equal(responseLength(r, 20), -1);
  const empty = encode("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
  assert.equal(responseLength(empty, empty.length), empty.length);
  const chunked = encode("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
  assert.throws(() => responseLength(chunked, chunked.length), /without content-length/);
});

Deno.test("constantRate() rejects a bad rate or a non-loopback host before connecting", async () => {
  await assert.rejects(() => constantRate({ port: 1, rate: 0 }), /rate must be a positive/);
  await assert.rejects(() => constantRate({ port: 0, rate: 10 }), /port must be an integer/);
  await assert.rejects(
    // @ts-expect-error: only loopback names are accepted
    () => constantRate({ port: 80, rate: 10, hostname: "10.0.0.1" }),
    /hostname must be a loopback name/,
  );
});

Deno.test("constantRate() sends exactly rate × seconds requests after the warm-up", async () => {
  let served = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    served++;
    return new Response("ok");
  });
  try {
    const r = await constantRate({
      port: server.addr.port,
      rate: 1000,
      seconds: 0.1,
      warmupSeconds: 0.05,
      connections: 4,
    });
    assert.equal(r.requests, 100);
    assert.equal(served, 150);
    assert.ok(r.p50Ms >= 0 && r.p50Ms <= r.p99Ms && r.p99Ms <= r.p999Ms && r.p999Ms <= r.maxMs);
  } finally {
    await server.shutdown();
  }
});

Deno.test("constantRate() charges a server stall to every request due during it", async () => {
  // One request stalls the server for 100 ms. A closed-loop client would record one slow
  // request; measured from each request's intended start, the ~100 requests due during the
  // stall (of 300) are all late, so the 90th percentile is far above the stall-free latency.
  let served = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    if (++served === 50) {
      const until = performance.now() + 100;
      while (performance.now() < until) { /* stall */ }
    }
    return new Response("ok");
  });
  try {
    const r = await constantRate({
      port: server.addr.port,
      rate: 1000,
      seconds: 0.3,
      warmupSeconds: 0,
      connections: 1,
    });
    assert.equal(r.requests, 300);
    assert.ok(r.maxMs >= 100, `max ${r.maxMs} ms`);
    assert.ok(r.p99Ms >= 50, `p99 ${r.p99Ms} ms: the stall was charged to one request only`);
  } finally {
    await server.shutdown();
  }
});
