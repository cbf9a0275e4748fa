/**
 * The servers `bench/http_overhead.ts` drives: one `Deno.serve` handler in four variants, and a
 * stand-in OpenTelemetry collector. Prints `ready <port>` once it listens; on SIGTERM prints one
 * JSON summary line and exits.
 *
 * - `plain`: the handler alone.
 * - `floor`: the same handler inside one `AsyncLocalStorage.run` with a fresh store per request
 *   and an `await`, no library code: what any per-request context must cost.
 * - `instrumented`: as the seed's services are: a child context per request with data,
 *   `incrementTotal`/`incrementLive`, a named mutex around the shared table, and a status stream
 *   open the whole time (`NO_STREAM=1` leaves the stream out).
 *   With `RECORD=<file>` the stream is also written to a flight recording (`--with-recorder` of
 *   the driver).
 * - `otel`: the plain handler, run by the driver under Deno's built-in OpenTelemetry tracing
 *   (`OTEL_DENO=true`, exporting to the stand-in collector).
 * - `collector`: answers every request (OTLP/HTTP export) with 200 and an empty body, and counts
 *   them.
 *
 * ```sh
 * deno run -A bench/http_server.ts plain|floor|instrumented|otel|collector
 * ```
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { global, statusStream } from "../mod.ts";
import { RecordingWriter } from "../src/status/recording.ts";

const VARIANTS = ["plain", "floor", "instrumented", "otel", "collector"] as const;
const variant = Deno.args[0] as typeof VARIANTS[number];
if (!VARIANTS.includes(variant)) {
  console.error(`usage: http_server.ts ${VARIANTS.join("|")}`);
  Deno.exit(2);
}

// The shared state every variant touches: a per-path hit count.
const hits = new Map<string, number>();
const body = JSON.stringify({ ok: true, service: "http-proxy" });
const headers = { "content-type": "application/json" };

function plain(req: Request): Response {
  const path = new URL(req.url).pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  return new Response(body, { headers });
}

// The floor: a fresh store per request, entered with one `run`, and an `await` inside it, so the
// store has to come back with the continuation, as any context a handler can reach must.
const requestStore = new AsyncLocalStorage<{ method: string; parent: object; started: number }>();
const floorParent = {};
async function floorTask(req: Request): Promise<Response> {
  await null;
  if (requestStore.getStore() === undefined) throw new Error("store lost across the await");
  return plain(req);
}
function floor(req: Request): Promise<Response> {
  return requestStore.run(
    { method: req.method, parent: floorParent, started: 0 },
    floorTask,
    req,
  );
}

const proxy = global().child("http-proxy").create();
const state = proxy.mutex("hits-table", hits);
const streaming = new AbortController();
let snapshots = 0;

// With RECORD=<file>, every snapshot of the stream is also written to a flight recording.
const recordTo = Deno.env.get("RECORD");
const recorder = recordTo === undefined ? undefined : new RecordingWriter(recordTo);

async function watch(): Promise<void> {
  for await (const s of statusStream({ signal: streaming.signal })) {
    snapshots++;
    recorder?.write(s);
  }
  recorder?.close();
}

function instrumented(req: Request): Promise<Response> {
  return proxy.child("request").withData("method", req.method).spawn(async (ctx) => {
    ctx.incrementTotal("requests");
    ctx.incrementLive("requests");
    const path = new URL(req.url).pathname;
    {
      using g = await state.lock();
      g.value.set(path, (g.value.get(path) ?? 0) + 1);
    }
    ctx.decrementLive("requests");
    return new Response(body, { headers });
  });
}

let exports = 0;
let exportBytes = 0;
async function collector(req: Request): Promise<Response> {
  exportBytes += (await req.arrayBuffer()).byteLength;
  exports++;
  return new Response(new Uint8Array(0), {
    headers: { "content-type": "application/x-protobuf" },
  });
}

const handlers = { plain, floor, instrumented, otel: plain, collector };
const watching = variant === "instrumented" && !Deno.env.get("NO_STREAM")
  ? watch()
  : Promise.resolve();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(`ready ${port}`) },
  handlers[variant],
);

Deno.addSignalListener("SIGTERM", async () => {
  streaming.abort();
  await watching;
  await server.shutdown();
  console.log(
    JSON.stringify({
      variant,
      requests: [...hits.values()].reduce((a, b) => a + b, 0),
      snapshots,
      counted: proxy.getTotal("requests", { deep: true }),
      exports,
      exportBytes,
    }),
  );
  Deno.exit(0);
});
