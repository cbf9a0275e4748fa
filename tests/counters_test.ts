import assert from "node:assert/strict";
import { configure, Context, counters } from "../mod.ts";
import { internals } from "../src/core/context.ts";

function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

Deno.test("counters are keyed by the context path and the counter name", () => {
  const root = Context.root("global");
  const proxy = root.child("http-proxy").create();
  proxy.incrementTotal("requests");
  proxy.incrementTotal("requests", 4);
  proxy.incrementTotal("connections");
  proxy.incrementLive("connections");
  root.incrementTotal("connections", 2);
  assert.deepEqual(counters("global", { root }), {
    "global.connections": 2,
    "global.http-proxy.requests": 5,
    "global.http-proxy.connections": 1,
    "global.http-proxy.live_connections": 1,
  });
  assert.deepEqual(counters("global.http-proxy", { root }), {
    "global.http-proxy.requests": 5,
    "global.http-proxy.connections": 1,
    "global.http-proxy.live_connections": 1,
  });
  assert.deepEqual(counters("global.nothing", { root }), {});
});

Deno.test("counter and context names with dots get unambiguous keys", () => {
  const root = Context.root("global");
  root.child("a.b").create().incrementTotal("x");
  root.child("a").create().child("b").create().incrementTotal("x");
  root.child("a").create().incrementTotal("b.x");
  root.incrementTotal("live_looking");
  root.incrementLive("looking");
  assert.deepEqual(counters("", { root }), {
    "global.%6Cive_looking": 1,
    "global.live_looking": 1,
    "global.a%2Eb.x": 1,
    "global.a.b%2Ex": 1,
    "global.a.b.x": 1,
  });
});

Deno.test("totals survive their context; live counts it left raised are lowered when it ends", async () => {
  const root = Context.root("global");
  const svc = root.child("svc").create();
  await svc.child("session").spawn((s) => {
    s.incrementTotal("commands", 3);
    s.incrementLive("commands");
    s.incrementLive("commands");
  });
  await tick();
  assert.equal(svc.getTotal("commands", { deep: true }), 3);
  assert.equal(svc.getLive("commands", { deep: true }), 0);
  assert.deepEqual(counters("global.svc", { root }), {
    "global.svc.session.commands": 3,
    "global.svc.session.live_commands": 0,
  });
});

Deno.test("a crashed task's live counts are reconciled when its context ends", async () => {
  const root = Context.root("global");
  const svc = root.child("svc").create();
  const failed = svc.child("conn").spawn(async (c) => {
    c.incrementLive("connections");
    c.incrementLive("requests");
    await Promise.resolve();
    throw new Error("socket reset");
  });
  await assert.rejects(failed, /socket reset/);
  await tick();
  assert.equal(svc.getLive("connections", { deep: true }), 0);
  assert.equal(svc.getLive("requests", { deep: true }), 0);
  assert.equal(svc.getTotal("failed", { deep: true }), 1);
});

Deno.test("siblings that share a name share a path and their counters add up", async () => {
  const root = Context.root("global");
  const pool = root.child("pool").create();
  const workers = Array.from({ length: 5 }, () => pool.child("worker").create());
  workers.forEach((w, i) => {
    w.incrementTotal("jobs", i + 1);
    w.incrementLive("busy");
  });
  assert.equal(workers[0].getTotal("jobs"), 15);
  assert.equal(workers[0].getLive("busy"), 5);
  workers[0].end();
  workers[1].end();
  assert.equal(workers[2].getLive("busy"), 3, "each ended worker lowered only its own");
  for (const w of workers) w.end();
  assert.equal(pool.getLive("busy", { deep: true }), 0);
  assert.equal(pool.getTotal("jobs", { deep: true }), 15);
  await tick();
});

Deno.test("getTotal({ deep: true }) adds this context and every descendant, ended ones too", async () => {
  const root = Context.root("global");
  const chat = root.child("chat").create();
  chat.incrementTotal("messages", 10);
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      chat.child(`user-${i}`).spawn(async (u) => {
        u.incrementTotal("messages", 2);
        await u.child("typing").spawn((t) => t.incrementTotal("messages"));
      })),
  );
  await tick();
  assert.equal(chat.getTotal("messages"), 10);
  assert.equal(chat.getTotal("messages", { deep: true }), 10 + 20 * 3);
  assert.equal(root.getTotal("messages", { deep: true }), 70);
  assert.equal(root.getTotal("nothing", { deep: true }), 0);
});

Deno.test("decrementLive() below zero stays at zero and is kept as a warning, never thrown", () => {
  let t = 5;
  const root = Context.root("global", { now: () => t });
  const c = root.child("conn").create();
  c.incrementLive("requests");
  c.decrementLive("requests");
  t = 9;
  c.decrementLive("requests");
  assert.equal(c.getLive("requests"), 0);
  assert.deepEqual(internals.tree(root).belowZero, [
    { contextPath: "global.conn", counter: "requests", at: 9 },
  ]);
  c.incrementLive("requests");
  assert.equal(c.getLive("requests"), 1);
});

Deno.test("a live count lowered by a sibling is not lowered twice when the raiser ends", () => {
  const root = Context.root("global");
  const a = root.child("w").create();
  const b = root.child("w").create();
  a.incrementLive("jobs");
  b.decrementLive("jobs");
  a.end();
  assert.equal(b.getLive("jobs"), 0);
  b.incrementLive("jobs");
  assert.equal(b.getLive("jobs"), 1);
  b.end();
});

Deno.test("counting on an ended context keeps totals and raises no live count", () => {
  const root = Context.root("global");
  const c = root.child("late").create();
  c.end();
  c.incrementTotal("after", 2);
  c.incrementLive("after");
  assert.equal(root.getTotal("after", { deep: true }), 2);
  assert.equal(root.getLive("after", { deep: true }), 0);
});

Deno.test("a million distinct session names keep the counter store within its bound", async () => {
  const before = configure();
  configure({ maxCounterKeys: 2_000 });
  try {
    const root = Context.root("global");
    const chat = root.child("chat").create();
    const store = internals.tree(root).counters;
    let maxSize = 0;
    const N = 1_000_000;
    for (let i = 0; i < N; i++) {
      const s = chat.child(`session-${i}`).create();
      s.incrementTotal("messages");
      if (i % 10 === 0) s.child("reader").create().incrementTotal("bytes", 3);
      s.end();
      if (store.size > maxSize) maxSize = store.size;
      if (i % 100_000 === 0) await tick();
    }
    assert.ok(maxSize <= 2_000 + 2, `store grew to ${maxSize} cells`);
    assert.equal(chat.getTotal("messages", { deep: true }), N);
    assert.equal(chat.getTotal("bytes", { deep: true }), (N / 10) * 3);
    assert.equal(root.getTotal("messages", { deep: true }), N);
    assert.ok(store.folded > 0);
    // The folded counters are listed under the parent's `*` path.
    assert.ok(counters("global.chat.*", { root })["global.chat.*.messages"] > 0);
  } finally {
    configure(before);
  }
});

Deno.test("the counters of running contexts are never folded away", () => {
  const before = configure();
  configure({ maxCounterKeys: 10 });
  try {
    const root = Context.root("global");
    const live = Array.from({ length: 20 }, (_, i) => root.child(`live-${i}`).create());
    live.forEach((c) => c.incrementTotal("n", 2));
    for (let i = 0; i < 100; i++) {
      const c = root.child(`gone-${i}`).create();
      c.incrementTotal("n");
      c.end();
    }
    for (const c of live) assert.equal(c.getTotal("n"), 2);
    live.forEach((c) => c.incrementTotal("n"));
    assert.equal(root.getTotal("n", { deep: true }), 20 * 3 + 100);
  } finally {
    configure(before);
  }
});

Deno.test("counters() without a root reads the global tree", () => {
  assert.equal(typeof counters(), "object");
  assert.throws(() => counters(42 as unknown as string), TypeError);
});

Deno.test("counters() of another tree's path throws a RangeError naming the root searched and { root }", () => {
  const other = Context.root("other");
  other.child("x").create().incrementTotal("n");
  assert.throws(
    () => counters("other.x"),
    (e: unknown) =>
      e instanceof RangeError && /"global", the root of the tree searched/.test(e.message) &&
      /counters\(prefix, \{ root \}\)/.test(e.message),
  );
  assert.deepEqual(counters("other.x", { root: other }), { "other.x.n": 1 });
  // Any context of the tree will do, and its own root's paths are found from it.
  const deep = other.child("y").create();
  assert.deepEqual(counters("other.x", { root: deep }), { "other.x.n": 1 });
  assert.throws(() => counters("global", { root: deep }), RangeError);
  // A path of the right tree with nothing counted is an empty answer, not an error.
  assert.deepEqual(counters("other.nothing", { root: other }), {});
});
