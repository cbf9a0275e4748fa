/**
 * A constant-rate HTTP/1.1 load client for latency at a realistic load, on loopback only.
 *
 * Request `i` is due at `start + i / rate`, whatever happened to the ones before it, and its
 * latency runs from that intended start to the end of its response: a request that waits for a
 * free connection because the server stalled (a GC pause, say) is charged the wait. This is the
 * coordinated-omission correction of wrk2 and HdrHistogram; a closed-loop client such as wrk
 * would instead stop sending during the stall and record one slow request. Keep-alive
 * connections, one request in flight on each, no pipelining.
 *
 * The client is bounded: it sends exactly `rate × seconds` requests after the warm-up, and gives
 * up `seconds + 30` seconds after it started. It reports the rate it achieved, so that a run where
 * the client itself could not keep up is visible rather than read as server latency.
 *
 * ```sh
 * deno run -A bench/rate_client.ts --port 8000 --rate 20000 --seconds 5
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { parseArgs } from "node:util";
import { percentile } from "./targets.ts";

/** Options of {@linkcode constantRate}. */
export interface ConstantRateOptions {
  /** The loopback port the server listens on. */
  port: number;
  /** Requests per second offered. */
  rate: number;
  /** How long the measured part lasts, in seconds. @default {5} */
  seconds?: number;
  /** How long to send at the same rate before measuring, in seconds. @default {1} */
  warmupSeconds?: number;
  /** Keep-alive connections to spread the requests over. @default {64} */
  connections?: number;
  /** The path requested. @default {"/api/items"} */
  path?: string;
  /** The loopback host. @default {"127.0.0.1"} */
  hostname?: "127.0.0.1" | "::1" | "localhost";
}

/** What {@linkcode constantRate} measured, latencies in milliseconds from the intended start. */
export interface ConstantRateResult {
  /** Requests per second offered. */
  offered: number;
  /** Requests per second completed over the measured part. */
  achieved: number;
  /** Requests measured (after the warm-up). */
  requests: number;
  /** Median latency. */
  p50Ms: number;
  /** 99th percentile latency. */
  p99Ms: number;
  /** 99.9th percentile latency. */
  p999Ms: number;
  /** The slowest request. */
  maxMs: number;
}

const CONTENT_LENGTH = new TextEncoder().encode("content-length:");

/**
 * The length of the HTTP/1.1 response at the start of `b[0..n)` when all of it is there (head
 * and a `content-length` body), else -1. Responses without `content-length` are not supported.
 *
 * @example
 * ```ts
 * import { responseLength } from "./rate_client.ts";
 * const r = new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
 * if (responseLength(r, r.length) !== r.length) throw new Error("wrong");
 * if (responseLength(r, r.length - 1) !== -1) throw new Error("wrong");
 * ```
 */
export function responseLength(b: Uint8Array, n: number): number {
  let head = -1;
  for (let i = 3; i < n; i++) {
    if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
      head = i + 1;
      break;
    }
  }
  if (head < 0) return -1;
  let body = -1;
  outer: for (let i = 0; i + CONTENT_LENGTH.length < head; i++) {
    if (b[i] !== 10) continue;
    for (let k = 0; k < CONTENT_LENGTH.length; k++) {
      if ((b[i + 1 + k] | 0x20) !== (CONTENT_LENGTH[k] | 0x20)) continue outer;
    }
    let j = i + 1 + CONTENT_LENGTH.length;
    while (b[j] === 32) j++;
    body = 0;
    while (b[j] >= 48 && b[j] <= 57) body = body * 10 + b[j++] - 48;
    break;
  }
  if (body < 0) throw new Error("response without content-length");
  return n >= head + body ? head + body : -1;
}

class Connection {
  readonly conn: Deno.TcpConn;
  readonly buf: Uint8Array = new Uint8Array(16_384);
  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function checkPositive(name: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) {
    throw new RangeError(`constantRate: ${name} must be a positive number, got ${v}`);
  }
}

/**
 * Offers `rate` requests per second to a loopback server and measures each one's latency from
 * its intended start (coordinated-omission corrected), after a warm-up at the same rate.
 *
 * @example
 * ```ts
 * import { constantRate } from "./rate_client.ts";
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("ok"));
 * const r = await constantRate({ port: server.addr.port, rate: 200, seconds: 0.2, warmupSeconds: 0 });
 * await server.shutdown();
 * if (r.requests !== 40) throw new Error("wrong count");
 * ```
 */
export async function constantRate(options: ConstantRateOptions): Promise<ConstantRateResult> {
  const {
    port,
    rate,
    seconds = 5,
    warmupSeconds = 1,
    connections = 64,
    path = "/api/items",
    hostname = "127.0.0.1",
  } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`constantRate: port must be an integer in 1..65535, got ${port}`);
  }
  checkPositive("rate", rate);
  checkPositive("seconds", seconds);
  if (!(warmupSeconds >= 0)) {
    throw new RangeError(`constantRate: warmupSeconds must be ≥ 0, got ${warmupSeconds}`);
  }
  if (!Number.isInteger(connections) || connections < 1) {
    throw new RangeError(
      `constantRate: connections must be a positive integer, got ${connections}`,
    );
  }
  if (!["127.0.0.1", "::1", "localhost"].includes(hostname)) {
    throw new RangeError(`constantRate: hostname must be a loopback name, got ${hostname}`);
  }
  const request = new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\n\r\n`,
  );
  const pool = await Promise.all(
    Array.from({ length: connections }, async () => {
      const conn = await Deno.connect({ hostname, port });
      conn.setNoDelay(true);
      return new Connection(conn);
    }),
  );
  const idle = [...pool];
  const warmup = Math.floor(rate * warmupSeconds);
  const measured = Math.max(1, Math.floor(rate * seconds));
  const total = warmup + measured;
  const latency = new Float64Array(measured);
  const interval = 1000 / rate;
  let completed = 0;
  let failure: unknown;

  async function send(c: Connection, intended: number, index: number): Promise<void> {
    try {
      await c.conn.write(request);
      let n = 0;
      for (;;) {
        if (n === c.buf.length) throw new Error("response larger than the read buffer");
        const r = await c.conn.read(c.buf.subarray(n));
        if (r === null) throw new Error("the server closed a connection");
        n += r;
        const len = responseLength(c.buf, n);
        if (len >= 0) {
          if (len !== n) throw new Error("bytes after the response (pipelining is not used)");
          break;
        }
      }
      if (index >= warmup) latency[index - warmup] = performance.now() - intended;
      completed++;
      idle.push(c);
    } catch (e) {
      failure ??= e;
    }
  }

  const start = performance.now() + 2;
  const giveUp = start + (warmupSeconds + seconds + 30) * 1000;
  let next = 0;
  let measuredFrom = Infinity;
  try {
    while (completed < total) {
      if (failure !== undefined) throw failure;
      const now = performance.now();
      if (now > giveUp) throw new Error(`constantRate: gave up after ${completed} of ${total}`);
      while (next < total && idle.length > 0 && start + next * interval <= now) {
        if (next === warmup) measuredFrom = start + next * interval;
        send(idle.pop()!, start + next * interval, next);
        next++;
      }
      // Spin (one event-loop turn, I/O included) while a request is due within 2 ms; sleep
      // otherwise, so a low rate does not cost a core. A timer wakes up late by up to a
      // millisecond, which is why the last 2 ms are spun.
      const ahead = next < total ? start + next * interval - performance.now() : 0;
      await (ahead > 2 ? sleep(ahead - 2) : tick());
    }
  } finally {
    for (const c of pool) c.conn.close();
  }
  const elapsed = performance.now() - measuredFrom;
  latency.sort();
  return {
    offered: rate,
    achieved: measured / (elapsed / 1000),
    requests: measured,
    p50Ms: percentile(latency, 0.5),
    p99Ms: percentile(latency, 0.99),
    p999Ms: percentile(latency, 0.999),
    maxMs: latency[measured - 1],
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string" },
      rate: { type: "string" },
      seconds: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      connections: { type: "string", default: "64" },
      path: { type: "string", default: "/api/items" },
    },
  });
  const r = await constantRate({
    port: Number(values.port),
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    connections: Number(values.connections),
    path: values.path,
  });
  console.log(JSON.stringify(r));
}
