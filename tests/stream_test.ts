import assert from "node:assert/strict";
import { configure, Context } from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { pendingStreamTimers, statusStream } from "../src/status/stream.ts";
import { NO_SYSTEM } from "./fixtures/system.ts";
import type { SystemMetrics } from "../src/status/system_metrics.ts";
import { lockRegistry } from "../src/locks/registry.ts";

const SYSTEM: SystemMetrics = NO_SYSTEM;

/** Resolves on the next macrotask: lets timers of 0 ms and pending I/O run, and no more. */
function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

Deno.test("the first snapshot comes at once, with no change needed", async () => {
  const root = Context.root("global");
  root.child("svc").create();
  const stream = statusStream({ root, system: SYSTEM, minIntervalMs: 60_000 });
  const first = await stream.next();
  assert.equal(first.done, false);
  assert.deepEqual(first.value!.global.children.map((c) => c.name), ["svc"]);
  assert.equal(pendingStreamTimers(), 0);
  await stream.return!();
});

Deno.test("a burst of 10,000 changes gives one snapshot, and never two within an interval", async () => {
  const root = Context.root("global");
  const svc = root.child("svc").create();
  const interval = 50;
  const times: number[] = [];
  const totals: number[] = [];
  let produced = 0;
  // The producer: 10,000 changes in 100 bursts, one burst per macrotask.
  const producer = (async () => {
    for (let b = 0; b < 100; b++) {
      for (let i = 0; i < 100; i++) svc.incrementTotal("events");
      produced += 100;
      await tick();
    }
  })();
  for await (const s of statusStream({ root, system: SYSTEM, minIntervalMs: interval })) {
    times.push(performance.now());
    const events = s.global.children[0].totalCounters.events ?? 0;
    totals.push(events);
    if (events === 10_000) break;
    // Without a throttle a snapshot would follow every burst.
    assert.ok(events <= produced);
  }
  await producer;
  assert.equal(totals.at(-1), 10_000);
  for (let i = 2; i < times.length; i++) {
    // Any two snapshots after the first are at least an interval apart: at most two per interval.
    assert.ok(times[i] - times[i - 1] >= interval - 1, `snapshots ${i - 1} and ${i} too close`);
  }
  assert.ok(times.length < 100, `${times.length} snapshots for 100 bursts`);
});

Deno.test("a burst made at once is gathered into the next single snapshot", async () => {
  const root = Context.root("global");
  const stream = statusStream({ root, system: SYSTEM, minIntervalMs: 20 });
  await stream.next();
  for (let i = 0; i < 10_000; i++) root.incrementTotal("events");
  const second = await stream.next();
  assert.deepEqual(second.value!.global.totalCounters, { events: 10_000 });
  // Nothing changed since: the next snapshot waits for a change, with no timer.
  const third = stream.next();
  await tick();
  assert.equal(pendingStreamTimers(), 0);
  root.incrementTotal("events");
  assert.deepEqual((await third).value!.global.totalCounters, { events: 10_001 });
  await stream.return!();
});

Deno.test("an idle stream leaves no timer pending and is woken by the next change", async () => {
  const root = Context.root("global");
  const tree = internals.tree(root);
  const stream = statusStream({ root, system: SYSTEM, minIntervalMs: 0 });
  await stream.next();
  const waiting = stream.next();
  let settled = false;
  waiting.then(() => (settled = true));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(settled, false, "nothing changed, so no snapshot");
  assert.equal(pendingStreamTimers(), 0, "and nothing is scheduled");
  assert.equal(tree.watched, true);
  root.child("late").create();
  const next = await waiting;
  assert.deepEqual(next.value!.global.children.map((c) => c.name), ["late"]);
  await stream.return!();
  assert.equal(tree.watched, false);
});

Deno.test("aborting the signal ends a waiting stream and releases its listener and timer", async () => {
  const root = Context.root("global");
  const tree = internals.tree(root);
  const ac = new AbortController();
  const stream = statusStream({ root, system: SYSTEM, signal: ac.signal, minIntervalMs: 60_000 });
  await stream.next();
  root.incrementTotal("x"); // a change: the stream now waits out its interval on a timer
  const waiting = stream.next();
  await tick();
  assert.equal(pendingStreamTimers(), 1);
  ac.abort();
  assert.deepEqual(await waiting, { done: true, value: undefined });
  assert.equal(pendingStreamTimers(), 0);
  assert.equal(tree.watched, false);
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
});

Deno.test("breaking out of the loop removes the listener", async () => {
  const root = Context.root("global");
  const tree = internals.tree(root);
  for await (const _ of statusStream({ root, system: SYSTEM })) {
    assert.equal(tree.watched, true);
    break;
  }
  assert.equal(tree.watched, false);
});

Deno.test("a stream on an aborted signal yields nothing", async () => {
  const root = Context.root("global");
  const stream = statusStream({ root, system: SYSTEM, signal: AbortSignal.abort() });
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
  assert.equal(internals.tree(root).watched, false);
});

Deno.test("a lock that becomes held too long is shown without any other change", async () => {
  const before = configure();
  configure({ longHeldLockMs: 30, criticalHeldLockMs: 60_000 });
  try {
    const root = Context.root("global");
    const job = root.child("job").create();
    const since = Date.now();
    lockRegistry(internals.tree(root)).list({
      name: "slow",
      kind: "mutex",
      owner: root,
      capacity: 1,
      holders: () => [{ context: job, mode: "exclusive", permits: 1, since }],
      waiters: () => [],
      listed: false,
      busy: true,
    });
    const stream = statusStream({ root, system: SYSTEM, minIntervalMs: 0 });
    const first = (await stream.next()).value!;
    if (first.warnings.length === 0) {
      // One timer waits for the moment the warning is due, then a snapshot shows it.
      assert.equal(pendingStreamTimers(), 0);
      const second = stream.next();
      await tick();
      assert.equal(pendingStreamTimers(), 1);
      assert.deepEqual((await second).value!.warnings.map((w) => w.code), ["lock-held-long"]);
    }
    await stream.return!();
    assert.equal(pendingStreamTimers(), 0);
    job.end();
  } finally {
    configure(before);
  }
});

Deno.test("statusStream names a bad argument", () => {
  // @ts-expect-error: not a signal
  assert.throws(() => statusStream({ signal: {} }), { name: "TypeError", message: /signal/ });
  assert.throws(() => statusStream({ minIntervalMs: -1 }), {
    name: "RangeError",
    message: /options\.minIntervalMs/,
  });
  // @ts-expect-error: not a number
  assert.throws(() => statusStream({ minIntervalMs: "1s" }), TypeError);
  // @ts-expect-error: not a Context
  assert.throws(() => statusStream({ root: 1 }), /options\.root/);
});
