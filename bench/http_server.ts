/**
 * The server `bench/http_overhead.ts` drives: one `Deno.serve` handler, run plain or instrumented
 * the way the seed's services are. Prints `ready <port>` once it listens; exits on SIGTERM.
 *
 * ```sh
 * deno run -A bench/http_server.ts plain|instrumented
 * ```
 *
 * @module
 */

import { global, statusStream } from "../mod.ts";

const variant = Deno.args[0];
if (variant !== "plain" && variant !== "instrumented") {
  console.error("usage: http_server.ts plain|instrumented");
  Deno.exit(2);
}

// The shared state both variants touch: a per-path hit count.
const hits = new Map<string, number>();
const body = JSON.stringify({ ok: true, service: "http-proxy" });
const headers = { "content-type": "application/json" };

function plain(req: Request): Response {
  const path = new URL(req.url).pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  return new Response(body, { headers });
}

const proxy = global().child("http-proxy").create();
const state = proxy.mutex("hits-table", hits);
const streaming = new AbortController();
let snapshots = 0;

async function watch(): Promise<void> {
  for await (const _ of statusStream({ signal: streaming.signal })) snapshots++;
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

const watching = variant === "instrumented" && !Deno.env.get("NO_STREAM")
  ? watch()
  : Promise.resolve();
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(`ready ${port}`) },
  variant === "plain" ? plain : instrumented,
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
    }),
  );
  Deno.exit(0);
});
