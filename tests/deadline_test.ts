import assert from "node:assert/strict";
import {
  CancelledError,
  Context,
  DeadlineExceededError,
  openMetrics,
  renderStatus,
  status,
  statusJson,
} from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { fakeTimers } from "./fixtures/timers.ts";
import { NO_SYSTEM } from "./fixtures/system.ts";

const T0 = 1_700_000_000_000;

function clocked(): {
  root: Context;
  advance: (ms: number) => void;
  fake: ReturnType<typeof fakeTimers>;
} {
  let t = T0;
  const fake = fakeTimers();
  const root = Context.root("global", { now: () => t, timers: fake.timers });
  return { root, advance: (ms) => void (t += ms), fake };
}

function queued(root: Context): number {
  return internals.tree(root).deadlines?.size ?? 0;
}

Deno.test("a passed deadline cancels the context and its descendants with a DeadlineExceededError", () => {
  const { root, advance, fake } = clocked();
  const req = root.child("request").withTimeout(2_000).create();
  const db = req.child("db").create();
  const sibling = root.child("other").create();
  advance(1_999);
  fake.fire();
  assert.equal(req.cancelled, false, "not before its deadline");
  advance(1);
  fake.fire();
  assert.equal(req.cancelled, true);
  assert.equal(db.cancelled, true, "the cancel cascades");
  assert.equal(sibling.cancelled, false);
  const err = db.signal.reason;
  assert.ok(err instanceof DeadlineExceededError);
  assert.ok(err instanceof CancelledError);
  assert.equal(err.name, "DeadlineExceededError");
  assert.equal(err.contextPath, "global.request");
  assert.equal(err.deadline, T0 + 2_000);
  assert.equal(req.cancelReason, "deadline exceeded");
  assert.match(
    err.message,
    /context "global\.request".*deadline exceeded.*2023-11-14T22:13:22\.000Z/,
  );
  req.end();
  sibling.end();
});

Deno.test("a child keeps the earlier of its own deadline and its parent's", () => {
  const { root, advance, fake } = clocked();
  const parent = root.child("parent").withTimeout(1_000).create();
  const later = parent.child("later").withTimeout(5_000).create();
  const earlier = parent.child("earlier").withTimeout(300).create();
  const twice = root.child("twice").withTimeout(700).withDeadline(T0 + 400).withTimeout(900)
    .create();
  assert.equal(later.deadline, T0 + 1_000, "the parent's is earlier");
  assert.equal(earlier.deadline, T0 + 300, "its own is earlier");
  assert.equal(twice.deadline, T0 + 400, "the earliest given to the builder");
  assert.equal(queued(root), 3, "a deadline no earlier than the inherited one needs no entry");
  advance(300);
  fake.fire();
  assert.deepEqual([earlier.cancelled, parent.cancelled, later.cancelled], [true, false, false]);
  advance(100);
  fake.fire();
  assert.equal(twice.cancelled, true);
  advance(600);
  fake.fire();
  assert.deepEqual([parent.cancelled, later.cancelled], [true, true]);
  assert.ok(later.signal.reason instanceof DeadlineExceededError);
  assert.equal(later.signal.reason.contextPath, "global.parent");
  parent.end();
  twice.end();
  assert.equal(queued(root), 0);
});

Deno.test("remaining() counts down to 0 and is Infinity without a deadline", () => {
  const { root, advance } = clocked();
  using req = root.child("request").withTimeout(2_000).create();
  assert.equal(req.remaining(), 2_000);
  advance(1_500);
  assert.equal(req.remaining(), 500);
  advance(1_000);
  assert.equal(req.remaining(), 0);
  assert.equal(root.remaining(), Infinity);
  assert.equal(root.deadline, undefined);
  using plain = req.child("plain").create();
  assert.equal(plain.deadline, T0 + 2_000, "inherited");
});

Deno.test("a root takes deadline and timeoutMs options, the earlier winning", () => {
  let t = T0;
  const fake = fakeTimers();
  using a = Context.root("a", { now: () => t, timers: fake.timers, timeoutMs: 100 });
  using b = Context.root("b", {
    now: () => t,
    timers: fake.timers,
    deadline: T0 + 50,
    timeoutMs: 100,
  });
  assert.equal(a.deadline, T0 + 100);
  assert.equal(b.deadline, T0 + 50);
  t += 100;
  fake.fire();
  assert.ok(a.cancelled && b.cancelled);
  assert.ok(a.signal.reason instanceof DeadlineExceededError);
});

Deno.test("a deadline already passed cancels the context as it is made, and the task still runs", async () => {
  const { root } = clocked();
  const seen = await root.child("late").withDeadline(T0 - 1).spawn((ctx) => [
    ctx.cancelled,
    ctx.signal.reason instanceof DeadlineExceededError,
  ]);
  assert.deepEqual(seen, [true, true]);
  assert.equal(queued(root), 0);
  using zero = root.child("zero").withTimeout(0).create();
  assert.equal(zero.cancelled, true);
});

Deno.test("Infinity sets no deadline; bad timeouts and deadlines are refused and nothing is made", () => {
  const { root } = clocked();
  using none = root.child("none").withTimeout(Infinity).withDeadline(Infinity).create();
  assert.equal(none.deadline, undefined);
  const b = root.child("x");
  assert.throws(() => b.withTimeout(-1), RangeError);
  assert.throws(() => b.withTimeout(NaN), /ms must be a non-negative number/);
  assert.throws(() => b.withTimeout("5" as unknown as number), TypeError);
  assert.throws(() => b.withDeadline(NaN), RangeError);
  assert.throws(() => b.withDeadline(-Infinity), RangeError);
  assert.throws(() => b.withDeadline(null as unknown as number), TypeError);
  assert.throws(() => Context.root("r", { timeoutMs: -5 }), /options\.timeoutMs/);
  assert.throws(() => Context.root("r", { deadline: NaN }), /options\.deadline/);
  assert.throws(
    () => Context.root("r", { timers: {} as never }),
    /options\.timers must have setTimeout and clearTimeout/,
  );
  assert.equal(internals.firstChild(root), none, "only the good child was made");
  assert.equal(internals.nextSibling(none), undefined);
});

Deno.test("ending a context removes its deadline at once, and the timer is not moved for it", () => {
  const { root, fake } = clocked();
  const a = root.child("a").withTimeout(1_000).create();
  assert.deepEqual([queued(root), fake.pending()], [1, 1]);
  a.end();
  assert.equal(queued(root), 0, "gone from the queue at once");
  // Requests made and ended one after another set no new timer while one is armed earlier.
  for (let i = 0; i < 100; i++) root.child("req").withTimeout(2_000).create().end();
  assert.equal(fake.set(), 1);
  assert.equal(queued(root), 0);
  // A spawned child leaves the queue when its task settles.
  const done = root.child("job").withTimeout(5_000).spawn(() => "ok");
  return done.then(() => assert.equal(queued(root), 0));
});

Deno.test("100,000 contexts with deadlines keep one pending timer, and fire in order", () => {
  const { root, advance, fake } = clocked();
  const svc = root.child("svc").create();
  const N = 100_000;
  const ctxs: Context[] = [];
  for (let i = 0; i < N; i++) {
    // Deadlines in a scrambled order, 1 ms apart.
    ctxs.push(svc.child("req").withTimeout(1 + ((i * 7_919) % N)).create());
  }
  assert.equal(queued(root), N);
  assert.ok(fake.pending() <= 1, `${fake.pending()} timers pending`);
  // Half of them end early: removed from the queue at once.
  for (let i = 0; i < N; i += 2) ctxs[i].end();
  assert.equal(queued(root), N / 2);
  advance(N / 2);
  fake.fire();
  assert.ok(fake.pending() <= 1);
  let cancelled = 0;
  for (let i = 1; i < N; i += 2) {
    const due = 1 + ((i * 7_919) % N) <= N / 2;
    assert.equal(ctxs[i].cancelled, due, `context ${i}`);
    if (due) cancelled++;
  }
  assert.equal(queued(root), N / 2 - cancelled);
  svc.end();
  assert.equal(queued(root), 0);
  assert.ok(fake.pending() <= 1);
});

Deno.test("a lock wait ends at the waiter's deadline, naming the lock, the holder and the deadline", async () => {
  const { root, advance, fake } = clocked();
  const m = root.mutex("db", 0);
  const holder = root.child("migrate").create();
  const guard = await holder.spawn(() => m.lock());
  const waiting = root.child("request").withTimeout(500).spawn(() => m.lock());
  await Promise.resolve();
  assert.equal(m.waiters().length, 1);
  advance(500);
  fake.fire();
  const err = await waiting.catch((e) => e);
  assert.ok(err instanceof DeadlineExceededError, String(err));
  assert.equal(err.deadline, T0 + 500);
  assert.deepEqual(err.lock, {
    lockName: "db",
    kind: "mutex",
    waiter: "global.request",
    holders: ["global.migrate"],
  });
  assert.match(
    err.message,
    /^mutex "db": global\.request gave up waiting: the deadline of context "global\.request" was reached \(2023-11-14T22:13:20\.500Z; held by global\.migrate\)$/,
  );
  assert.deepEqual(m.waiters(), []);
  assert.equal(root.getTotal("failed", { deep: true }), 0, "a deadline is not a failure");
  // A wait that starts after the deadline gives up at once with the same kind of error.
  const late = root.child("late").withTimeout(0).spawn(() => m.lock()).catch((e) => e);
  assert.match((await late).message, /mutex "db": global\.late gave up waiting/);
  guard.release();
  holder.end();
});

Deno.test("status shows deadlines: JSON, the dashboard line, OpenMetrics", () => {
  const { root, advance, fake } = clocked();
  const req = root.child("request").withTimeout(1_200).create();
  const inner = req.child("inner").create();
  const soon = root.child("soon").withTimeout(300).spawn(() => new Promise(() => {}));
  void soon;
  let s = status({ root, system: NO_SYSTEM });
  const [r, sn] = s.global.children;
  assert.equal(s.global.deadline, null);
  assert.equal(r.deadline, T0 + 1_200);
  assert.equal(r.children[0].deadline, T0 + 1_200, "inherited");
  assert.equal(sn.deadline, T0 + 300);
  let text = renderStatus(s, { color: false });
  assert.match(text, /request \(0s active, last activity 0s ago, deadline in 1\.2s\)/);
  assert.doesNotMatch(text, /inner \([^)]*deadline/, "an inherited deadline is not repeated");
  advance(600);
  fake.fire();
  s = status({ root, system: NO_SYSTEM });
  text = renderStatus(s, { color: false });
  assert.match(text, /soon \([^)]*deadline exceeded 0\.3s ago/);
  assert.match(text, /request \([^)]*deadline in 0\.6s/);
  const json = JSON.parse(JSON.stringify(statusJson({ root, system: NO_SYSTEM })));
  assert.equal(json.global.children[1].deadline, T0 + 300);
  const metrics = openMetrics({ root, system: NO_SYSTEM });
  assert.match(metrics, /# TYPE fastn_contexts_past_deadline gauge/);
  assert.match(metrics, /fastn_contexts_past_deadline\{path="global\.soon"\} 1/);
  assert.match(metrics, /fastn_contexts_past_deadline\{path="global\.request"\} 0/);
  inner.end();
  req.end();
});

Deno.test("a context still running 5 s past its deadline is flagged as ignoring cancellation", () => {
  const { root, advance, fake } = clocked();
  root.child("stubborn").withTimeout(1_000).spawn(() => new Promise(() => {}));
  advance(1_000);
  fake.fire();
  advance(5_000);
  assert.deepEqual(status({ root, system: NO_SYSTEM }).warnings, []);
  advance(1);
  const [w] = status({ root, system: NO_SYSTEM }).warnings;
  assert.equal(w.code, "ignores-cancellation");
  assert.equal(w.contextPath, "global.stubborn");
  assert.equal(w.message, "global/stubborn still runs 1 task 5s after its deadline passed");
});

Deno.test("a context past its deadline is flagged even when the deadline's timer has not fired", () => {
  const { root, advance } = clocked();
  root.child("stubborn").withTimeout(1_000).spawn(() => new Promise(() => {}));
  advance(6_001);
  const [w] = status({ root, system: NO_SYSTEM }).warnings;
  assert.equal(w.code, "ignores-cancellation");
  assert.match(w.message, /after its deadline passed/);
});

Deno.test("with the real timers a deadline fires, and ending early leaves nothing to wait for", async () => {
  const root = Context.root("real");
  // The deadline's timer is unref'd, as AbortSignal.timeout()'s is: something else (here the
  // work the deadline cuts short) keeps the process alive meanwhile.
  const reason = await root.child("quick").withTimeout(5).spawn(async (ctx) => {
    const work = setTimeout(() => {}, 60_000);
    await ctx.wait();
    clearTimeout(work);
    return ctx.signal.reason;
  });
  assert.ok(reason instanceof DeadlineExceededError);
  // Ended long before its deadline: the unref'd timer neither keeps the process nor the test.
  root.child("long").withTimeout(3_600_000).create().end();
  assert.equal(queued(root), 0);
});

Deno.test("counting marks a context active, and the dashboard says either active or idle", () => {
  const { root, advance } = clocked();
  const worker = root.child("worker").create();
  advance(7_000);
  assert.equal(worker.idleDuration(), 7_000);
  worker.incrementTotal("jobs");
  assert.equal(worker.idleDuration(), 0, "a count is activity");
  advance(6_600);
  const text = renderStatus(status({ root, system: NO_SYSTEM }), { color: false });
  assert.match(text, /worker \(13\.6s up, idle 6\.6s\)/);
  assert.doesNotMatch(text, /active, idle/);
  worker.incrementLive("busy");
  const again = renderStatus(status({ root, system: NO_SYSTEM }), { color: false });
  assert.match(again, /worker \(13\.6s active, last activity 0s ago\)/);
  worker.end();
});
