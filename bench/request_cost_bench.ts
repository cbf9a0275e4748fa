/**
 * Where the per-request microseconds of `bench:http`'s instrumented handler go: the handler's
 * library work added one piece at a time, each against the floor (one `AsyncLocalStorage.run`
 * with a fresh store and an `await`, no library code), in one run. No HTTP: the rows isolate
 * the library's own cost.
 *
 * Run: `deno bench -A bench/request_cost_bench.ts` (also part of `deno task bench`).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { Context } from "../mod.ts";

const hits = new Map<string, number>();
const path = "/api/items";
function count(): void {
  hits.set(path, (hits.get(path) ?? 0) + 1);
}

const store = new AsyncLocalStorage<object>();
const parent = {};
async function floorTask(): Promise<void> {
  await null;
  count();
}

const root = Context.root("global");
const proxy = root.child("http-proxy").create();
const table = proxy.mutex("hits-table", hits);
const group = "one request's library work";

Deno.bench("floor: als.run(fresh store) + await", { group, baseline: true }, async () => {
  await store.run({ method: "GET", parent, started: 0 }, floorTask);
});

Deno.bench("child().spawn() + await", { group }, async () => {
  await proxy.child("request").spawn(async () => {
    await null;
    count();
  });
});

Deno.bench("… + withData()", { group }, async () => {
  await proxy.child("request").withData("method", "GET").spawn(async () => {
    await null;
    count();
  });
});

Deno.bench("… + three counter updates", { group }, async () => {
  await proxy.child("request").withData("method", "GET").spawn(async (ctx) => {
    ctx.incrementTotal("requests");
    ctx.incrementLive("requests");
    await null;
    count();
    ctx.decrementLive("requests");
  });
});

Deno.bench("… + the mutex around the table (the whole handler)", { group }, async () => {
  await proxy.child("request").withData("method", "GET").spawn(async (ctx) => {
    ctx.incrementTotal("requests");
    ctx.incrementLive("requests");
    {
      using g = await table.lock();
      g.value.set(path, (g.value.get(path) ?? 0) + 1);
    }
    ctx.decrementLive("requests");
  });
});
