import assert from "node:assert/strict";
import { configure, Context, global, Metric, renderStatus } from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { status, statusJson } from "../src/status/status.ts";
import type { Status, StatusWarning } from "../src/status/types.ts";
import type { SystemMetrics } from "../src/status/system_metrics.ts";
import { TINY_SYSTEM } from "./fixtures/system.ts";
import { fakeLock } from "./fixtures/fake_lock.ts";
import { lockRegistry } from "../src/locks/registry.ts";

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);

const SYSTEM: SystemMetrics = TINY_SYSTEM;

/** A tree on a clock the test moves by hand. */
function clocked(name = "global"): { root: Context; advance: (ms: number) => void } {
  let t = T0;
  const root = Context.root(name, { now: () => t });
  return { root, advance: (ms) => void (t += ms) };
}

function codes(s: Status): string[] {
  return s.warnings.map((w) => `${w.code}/${w.severity}/${w.contextPath}`);
}

function only(s: Status, code: string): StatusWarning {
  const found = s.warnings.filter((w) => w.code === code);
  assert.equal(found.length, 1, JSON.stringify(s.warnings));
  return found[0];
}

Deno.test("a snapshot holds every context with timing, cancellation, data, metrics and counters", async () => {
  const { root, advance } = clocked();
  const proxy = root.child("http-proxy").withData("port", 8080).create();
  proxy.incrementTotal("requests", 3);
  proxy.incrementLive("connections");
  assert.equal(proxy.idleDuration(), 0, "counting made it active, stamped when read");
  advance(1_000);
  let release!: () => void;
  const task = proxy.child("handler").withMetric("bytes", Metric.bytes(15_200_000))
    .spawn((ctx) => {
      ctx.incrementTotal("requests", 2);
      return new Promise<void>((r) => (release = r));
    });
  const ended = proxy.child("v1.2").create();
  ended.incrementTotal("requests", 5);
  ended.end();
  advance(500);
  proxy.cancel("maintenance");
  advance(250);

  const s = status({ root, system: SYSTEM });
  assert.equal(s.timestamp, T0 + 1_750);
  assert.equal(s.global.name, "global");
  assert.equal(s.global.path, "global");
  assert.equal(s.global.durationMs, 1_750);
  assert.equal(s.global.cancelled, false);
  assert.equal(s.global.cancelReason, null);
  const [p] = s.global.children;
  assert.deepEqual(
    {
      name: p.name,
      path: p.path,
      createdAt: p.createdAt,
      durationMs: p.durationMs,
      idleMs: p.idleMs,
      cancelled: p.cancelled,
      cancelReason: p.cancelReason,
      cancelledAt: p.cancelledAt,
      data: p.data,
      totalCounters: p.totalCounters,
      liveCounters: p.liveCounters,
      deepTotalCounters: p.deepTotalCounters,
      deepLiveCounters: p.deepLiveCounters,
    },
    {
      name: "http-proxy",
      path: "global.http-proxy",
      createdAt: T0,
      durationMs: 1_750,
      idleMs: 1_750,
      cancelled: true,
      cancelReason: "maintenance",
      cancelledAt: T0 + 1_500,
      data: { port: 8080 },
      totalCounters: { requests: 3 },
      liveCounters: { connections: 1 },
      // The ended child's counters are still in the deep sums.
      deepTotalCounters: { requests: 10 },
      deepLiveCounters: { connections: 1 },
    },
  );
  assert.equal(p.children.length, 1, "the ended child has left the tree");
  const [h] = p.children;
  assert.equal(h.path, "global.http-proxy.handler");
  assert.equal(h.running, 1);
  assert.equal(h.durationMs, 750);
  assert.deepEqual(h.metrics, { bytes: { kind: "bytes", value: 15_200_000 } });
  assert.deepEqual(h.totalCounters, { requests: 2 });
  assert.equal(h.cancelReason, "maintenance");
  release();
  await task;
});

Deno.test("status() reports the global context unless asked for another root", async () => {
  await global().child("status-test-job").spawn(() => {
    const s = status({ system: SYSTEM });
    assert.equal(s.global.name, "global");
    assert.ok(s.global.children.some((c) => c.name === "status-test-job"));
  });
});

Deno.test("a snapshot of a subtree starts at that context", () => {
  const { root } = clocked();
  const a = root.child("a").create();
  a.child("b").create().incrementTotal("hits");
  const s = status({ root: a, system: SYSTEM });
  assert.equal(s.global.path, "global.a");
  assert.deepEqual(s.global.children.map((c) => c.name), ["b"]);
  assert.deepEqual(s.global.deepTotalCounters, { hits: 1 });
});

Deno.test("taking a status changes nothing and waits for nothing", () => {
  const { root } = clocked();
  root.child("a").create().incrementTotal("n");
  const tree = internals.tree(root);
  const version = tree.version;
  const s = status({ root, system: SYSTEM });
  assert.ok(!(s instanceof Promise));
  assert.equal(tree.version, version);
  assert.equal(internals.tree(root).counters.size, 1);
});

Deno.test("statusJson is plain data that survives JSON unchanged", () => {
  const { root, advance } = clocked();
  const c = root.child("chat").withData("room", { id: "r1", tags: ["a", "b"] }).create();
  c.addMetric("load", Metric.gauge(0.75));
  c.incrementLive("users");
  fakeLock(root, "room-lock", [{ context: c, since: T0 }], [{ context: root, since: T0 + 1 }]);
  root.cancel(new Error("stop"));
  advance(10);
  const json = statusJson({ root, system: SYSTEM });
  assert.equal(Object.getPrototypeOf(json), Object.prototype);
  assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
  assert.deepEqual(Object.keys(json), [
    "timestamp",
    "system",
    "global",
    "activeLocks",
    "lockWaiters",
    "warnings",
  ]);
  assert.equal(json.global.cancelReason, "Error: stop");
  assert.deepEqual(json.activeLocks, [{
    lockName: "room-lock",
    name: "room-lock",
    kind: "mutex",
    mode: "exclusive",
    permits: 1,
    capacity: 1,
    holder: "global.chat",
    heldBy: "global.chat",
    heldMs: 10,
    since: T0,
    longHeld: false,
    leaked: false,
  }]);
  assert.deepEqual(json.lockWaiters, [{
    lockName: "room-lock",
    kind: "mutex",
    mode: "exclusive",
    permits: 1,
    waiter: "global",
    waitingMs: 9,
    since: T0 + 1,
    stuck: false,
    deadlocked: false,
    holders: ["global.chat"],
    heldBy: ["global.chat"],
  }]);
  assert.deepEqual(json.global.children[0].locksHeld, [0]);
  assert.deepEqual(json.global.locksWaited, [0]);
  c.end();
});

Deno.test("a lock held past 10 s is a warning, past 60 s critical", () => {
  const { root, advance } = clocked();
  const job = root.child("job").create();
  fakeLock(root, "db", [{ context: job, since: T0 }]);
  advance(10_000);
  assert.deepEqual(codes(status({ root, system: SYSTEM })), []);
  advance(1);
  const w = only(status({ root, system: SYSTEM }), "lock-held-long");
  assert.equal(w.severity, "warning");
  assert.equal(w.contextPath, "global.job");
  assert.match(w.message, /"db" \(10s\) held by global\/job/);
  advance(50_000);
  assert.equal(only(status({ root, system: SYSTEM }), "lock-held-long").severity, "critical");
});

Deno.test("a waiter stuck past 5 s is a warning naming the holder", () => {
  const { root, advance } = clocked();
  const a = root.child("a").create(), b = root.child("b").create();
  fakeLock(root, "l", [{ context: a, since: T0 }], [{ context: b, since: T0 }]);
  advance(5_001);
  const s = status({ root, system: SYSTEM });
  const w = only(s, "waiter-stuck");
  assert.equal(w.contextPath, "global.b");
  assert.deepEqual(w.paths, ["global.b", "global.a"]);
  assert.equal(w.message, 'global/b stuck waiting for "l" (5s), held by global/a');
  assert.equal(s.lockWaiters[0].stuck, true);
});

Deno.test("a deadlock is critical and names every member", () => {
  const { root, advance } = clocked();
  const a = root.child("a").create(), b = root.child("b").create();
  fakeLock(root, "l1", [{ context: a, since: T0 }], [{ context: b, since: T0 }]);
  fakeLock(root, "l2", [{ context: b, since: T0 }], [{ context: a, since: T0 }]);
  lockRegistry(internals.tree(root)).deadlocks.push({
    members: [
      { context: a, lockName: "l2", kind: "mutex", mode: "exclusive" },
      { context: b, lockName: "l1", kind: "mutex", mode: "exclusive" },
    ],
    detectedAt: T0,
  });
  advance(6_000);
  const s = status({ root, system: SYSTEM });
  const w = only(s, "deadlock");
  assert.equal(w.severity, "critical");
  assert.deepEqual(w.paths, ["global.a", "global.b"]);
  assert.equal(
    w.message,
    'Deadlock: global/a waits for "l2" held by global/b; global/b waits for "l1" held by global/a',
  );
  assert.deepEqual(s.lockWaiters.map((x) => x.deadlocked), [true, true]);
  assert.equal(s.warnings[0].code, "deadlock", "critical warnings come first");
  assert.equal(s.warnings.filter((x) => x.code === "waiter-stuck").length, 0);
});

Deno.test("a guard held by an ended context is a leaked guard", () => {
  const { root, advance } = clocked();
  const gone = root.child("gone").create();
  fakeLock(root, "cache", [{ context: gone, since: T0 }]);
  gone.end();
  advance(20_000);
  const s = status({ root, system: SYSTEM });
  const w = only(s, "leaked-guard");
  assert.equal(w.severity, "critical");
  assert.equal(w.contextPath, "global.gone");
  assert.equal(s.activeLocks[0].leaked, true);
  assert.equal(s.warnings.length, 1, "no lock-held-long on top of it");
});

Deno.test("a context still running 5 s after its cancel ignores cancellation; its ancestors are not blamed", async () => {
  const { root, advance } = clocked();
  const svc = root.child("svc").create();
  let release!: () => void;
  const task = svc.child("stubborn").spawn(() => new Promise<void>((r) => (release = r)));
  root.cancel("shutdown");
  advance(5_000);
  assert.deepEqual(codes(status({ root, system: SYSTEM })), []);
  advance(1);
  const w = only(status({ root, system: SYSTEM }), "ignores-cancellation");
  assert.equal(w.contextPath, "global.svc.stubborn");
  assert.equal(w.message, "svc/stubborn still runs 1 task 5s after it was cancelled (shutdown)");
  release();
  await task;
  // Only a context with children left: it is the one that holds the shutdown up.
  svc.child("open").create();
  const w2 = only(status({ root, system: SYSTEM }), "ignores-cancellation");
  assert.equal(w2.contextPath, "global.svc");
  assert.match(w2.message, /still has 1 child context/);
});

Deno.test("lowering a live count below zero is one warning per counter, with how often", () => {
  const { root, advance } = clocked();
  const c = root.child("conn").create();
  c.decrementLive("connections");
  c.decrementLive("connections");
  const w = only(status({ root, system: SYSTEM }), "live-below-zero");
  assert.equal(w.contextPath, "global.conn");
  assert.match(w.message, /"connections" below zero \(2 times\)/);
  advance(configure().failedTaskWarningMs + 1);
  assert.deepEqual(codes(status({ root, system: SYSTEM })), []);
});

Deno.test("a failed task is a warning for a while", async () => {
  const { root, advance } = clocked();
  await assert.rejects(
    root.child("job").spawn(() => {
      throw new RangeError("bad input");
    }),
  );
  const w = only(status({ root, system: SYSTEM }), "task-failed");
  assert.equal(w.contextPath, "global.job");
  assert.equal(w.message, "A task of global/job failed 0s ago: RangeError: bad input");
  advance(configure().failedTaskWarningMs + 1);
  assert.deepEqual(codes(status({ root, system: SYSTEM })), []);
});

Deno.test("warning thresholds follow configure()", () => {
  const before = configure();
  try {
    configure({ longHeldLockMs: 1_000, stuckWaiterMs: 500 });
    const { root, advance } = clocked();
    const a = root.child("a").create(), b = root.child("b").create();
    fakeLock(root, "l", [{ context: a, since: T0 }], [{ context: b, since: T0 }]);
    advance(1_001);
    assert.deepEqual(codes(status({ root, system: SYSTEM })), [
      "lock-held-long/warning/global.a",
      "waiter-stuck/warning/global.b",
    ]);
  } finally {
    configure(before);
  }
});

Deno.test("status names a bad argument", () => {
  // @ts-expect-error: not a Context
  assert.throws(() => status({ root: {} }), { name: "TypeError", message: /options\.root/ });
  // @ts-expect-error: not metrics
  assert.throws(() => status({ system: 5 }), { name: "TypeError", message: /options\.system/ });
  // @ts-expect-error: not options
  assert.throws(() => statusJson(7), { name: "TypeError", message: /options/ });
});

Deno.test("a snapshot of ten thousand contexts keeps every one", () => {
  const { root } = clocked();
  for (let i = 0; i < 100; i++) {
    const svc = root.child(`svc-${i}`).create();
    for (let j = 0; j < 99; j++) svc.child(`s-${j}`).create().incrementTotal("hits");
  }
  const s = statusJson({ root, system: SYSTEM });
  let n = 0;
  const stack = [s.global];
  while (stack.length > 0) {
    const c = stack.pop()!;
    n++;
    stack.push(...c.children);
  }
  assert.equal(n, 1 + 100 * 100);
  assert.deepEqual(s.global.deepTotalCounters, { hits: 9_900 });
});

Deno.test("real locks show their holder and waiter, and leave the status once released", async () => {
  const { root, advance } = clocked();
  const alice = root.child("alice@bv478gen").create();
  const m = alice.mutex("session-output-lock", { lines: 0 });
  let release!: () => void;
  const acquired = Promise.withResolvers<void>();
  const holder = alice.child("stdout-handler").spawn(async () => {
    using g = await m.lock();
    g.value.lines++;
    acquired.resolve();
    await new Promise<void>((r) => (release = r));
  });
  await acquired.promise;
  const waiter = alice.child("stderr-stream").spawn(async () => {
    using g = await m.lock();
    g.value.lines++;
  });
  advance(12_300);
  const s = status({ root, system: SYSTEM });
  assert.deepEqual(
    s.activeLocks.map((l) => [l.name, l.kind, l.mode, l.heldBy, l.heldMs, l.longHeld]),
    [[
      "session-output-lock",
      "mutex",
      "exclusive",
      "global.alice@bv478gen.stdout-handler",
      12_300,
      true,
    ]],
  );
  assert.deepEqual(
    s.lockWaiters.map((w) => [w.lockName, w.waiter, w.waitingMs, w.stuck, w.heldBy]),
    [[
      "session-output-lock",
      "global.alice@bv478gen.stderr-stream",
      12_300,
      true,
      ["global.alice@bv478gen.stdout-handler"],
    ]],
  );
  assert.deepEqual(codes(s), [
    "lock-held-long/warning/global.alice@bv478gen.stdout-handler",
    "waiter-stuck/warning/global.alice@bv478gen.stderr-stream",
  ]);
  const [aliceStatus] = s.global.children;
  assert.deepEqual(aliceStatus.children.map((c) => [c.locksHeld, c.locksWaited]), [
    [[0], []],
    [[], [0]],
  ]);
  release();
  await holder;
  await waiter;
  const after = status({ root, system: SYSTEM });
  assert.deepEqual([after.activeLocks, after.lockWaiters, after.warnings], [[], [], []]);
  alice.end();
});

Deno.test("a real deadlock between two contexts is reported with both members", async () => {
  const { root } = clocked();
  const a = root.child("a").create(), b = root.child("b").create();
  const l1 = root.mutex("l1", 0), l2 = root.mutex("l2", 0);
  const g1 = await a.spawn(() => l1.lock());
  const g2 = await b.spawn(() => l2.lock());
  const ac = new AbortController();
  const w1 = a.spawn(() => l2.lock({ signal: ac.signal }));
  const w2 = b.spawn(() => l1.lock({ signal: ac.signal }));
  const s = status({ root, system: SYSTEM });
  const w = only(s, "deadlock");
  assert.deepEqual([...w.paths].sort(), ["global.a", "global.b"]);
  assert.equal(s.lockWaiters.every((x) => x.deadlocked), true);
  ac.abort();
  await assert.rejects(w1);
  await assert.rejects(w2);
  g1.release();
  g2.release();
  const after = status({ root, system: SYSTEM });
  assert.deepEqual(after.warnings.filter((x) => x.code !== "task-failed"), []);
  assert.deepEqual([after.activeLocks, after.lockWaiters], [[], []]);
});

Deno.test("a real guard kept after its context ended is a leaked guard", async () => {
  const { root } = clocked();
  const cache = root.mutex("cache", 0);
  const guard = await root.child("gone").spawn(() => cache.lock());
  const s = status({ root, system: SYSTEM });
  assert.equal(only(s, "leaked-guard").contextPath, "global.gone");
  guard.release();
  assert.deepEqual(status({ root, system: SYSTEM }).warnings, []);
});

Deno.test("held locks and waiters name the lock and its holders alike; the 0.1 names stay as aliases", async () => {
  const root = Context.root("global");
  const m = root.mutex("room-lock", 0);
  const g = await root.child("chat").spawn(() => m.lock());
  const waiting = root.child("reader").spawn(() => m.lock());
  const s = statusJson({ root, system: SYSTEM });
  const [held] = s.activeLocks, [wait] = s.lockWaiters;
  assert.deepEqual([held.lockName, held.holder], [wait.lockName, wait.holders[0]]);
  assert.deepEqual([held.name, held.heldBy, wait.heldBy], [
    held.lockName,
    held.holder,
    wait.holders,
  ]);
  // A status from a 0.1 process (a remote peer) has only the old names: it still draws.
  const old = JSON.parse(JSON.stringify(s));
  for (const l of old.activeLocks) delete l.lockName, delete l.holder;
  for (const w of old.lockWaiters) delete w.holders;
  assert.equal(renderStatus(old, { color: false }), renderStatus(s, { color: false }));
  g.release();
  (await waiting).release();
});
