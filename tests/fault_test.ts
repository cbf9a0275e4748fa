/**
 * Fault injection: tasks that throw at every await point, cancellations and give-ups landing at
 * every step of a lock hand-off, holders that end while others wait, and SIGTERM arriving while
 * tasks wait for locks and during the shutdown of a real `main()` process. Nothing hangs, nothing
 * leaks (the tree, the lock registry and the live counts are empty, every permit is back), and
 * the status tells the truth all along.
 *
 * @module
 */

import { NO_SYSTEM } from "./fixtures/system.ts";
import assert from "node:assert/strict";
import {
  CancelledError,
  Context,
  LockTimeoutError,
  type Status,
  statusJson,
  type SystemMetrics,
} from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { ROOT, socketDir, startApp } from "./fixtures/process.ts";
import { lockRegistry } from "../src/locks/registry.ts";

const SYSTEM: SystemMetrics = NO_SYSTEM;

const FAULT_APP = `${ROOT}tests/fixtures/fault_app.ts`;

/** How many faults the tests below injected; reported by the last test. */
const injected = { awaitPoints: 0, handoffSteps: 0, holderEnds: 0, signals: 0 };

function snapshot(root: Context): Status {
  return statusJson({ root, system: SYSTEM });
}

/** Asserts that nothing is left of a tree once its tasks are done. */
function assertNothingLeft(
  root: Context,
  semaphores: Array<{ available: number; capacity: number }>,
): void {
  assert.equal(internals.firstChild(root), undefined, "the tree is empty");
  assert.equal(lockRegistry(internals.tree(root)).locks.size, 0, "the lock registry is empty");
  assert.equal(lockRegistry(internals.tree(root)).deadlocks.length, 0, "no deadlock is left");
  for (const sem of semaphores) assert.equal(sem.available, sem.capacity, "every permit is back");
  const s = snapshot(root);
  assert.deepEqual([s.activeLocks, s.lockWaiters], [[], []]);
  for (const [name, n] of Object.entries(s.global.deepLiveCounters)) {
    assert.equal(n, 0, `live_${name}`);
  }
}

/** Ends every child of `root` (the created ones have nobody else to end them). */
function endChildren(root: Context): void {
  const children: Context[] = [];
  for (let c = internals.firstChild(root); c !== undefined; c = internals.nextSibling(c)) {
    children.push(c);
  }
  for (const c of children) c.end();
}

/** Resolves after `n` turns of the microtask queue. */
function microtasks(n: number): Promise<void> {
  let p = Promise.resolve();
  for (let i = 0; i < n; i++) p = p.then(() => {});
  return p;
}

// ---- tasks that throw at every await point ---------------------------------------------------

const POINTS = 9;

/**
 * A session that uses every kind of lock, counts, makes children and spawns a sub-task, with an
 * await point before and after each step; `point(k)` throws at the chosen one.
 */
async function session(
  root: Context,
  name: string,
  locks: {
    m: ReturnType<Context["mutex"]>;
    rw: ReturnType<Context["rwlock"]>;
    sem: ReturnType<Context["semaphore"]>;
  },
  point: (k: number) => Promise<void>,
): Promise<void> {
  await root.child(name).withData("peer", name).spawn(async (task) => {
    task.incrementLive("sessions");
    await point(1);
    using conn = task.child("conn").create();
    conn.incrementLive("connections");
    conn.incrementTotal("opened");
    await point(2);
    {
      using g = await locks.m.lock();
      await point(3);
      (g.value as { n: number }).n++;
    }
    using _permits = await locks.sem.acquire(2);
    await point(4);
    {
      using w = await locks.rw.write();
      await point(5);
      w.value = (w.value as number) + 1;
    }
    await task.child("sub").spawn(async (sub) => {
      sub.incrementLive("subtasks");
      await point(6);
      using _r = await locks.rw.read();
      await point(7);
      sub.decrementLive("subtasks");
    });
    await point(8);
    conn.decrementLive("connections");
    task.decrementLive("sessions");
    await point(9);
  });
}

for (const how of ["a thrown error", "a rejected promise"] as const) {
  Deno.test(`a task that fails with ${how} at any await point leaves nothing behind`, async () => {
    for (let k = 1; k <= POINTS; k++) {
      const root = Context.root("global");
      const locks = {
        m: root.mutex("state", { n: 0 }),
        rw: root.rwlock("table", 0),
        sem: root.semaphore("pool", 3),
      };
      // Three sessions contend for the same locks; the middle one fails at point k.
      const results = await Promise.allSettled(
        ["alice", "bob", "carol"].map((name) =>
          session(root, name, locks, (at) => {
            if (name !== "bob" || at !== k) return Promise.resolve();
            injected.awaitPoints++;
            if (how === "a thrown error") throw new Error(`injected at point ${at}`);
            return Promise.reject(new Error(`injected at point ${at}`));
          })
        ),
      );
      assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
      assertNothingLeft(root, [locks.sem]);
      const s = snapshot(root);
      const failed = s.warnings.filter((w) => w.code === "task-failed");
      assert.ok(failed.some((w) => w.message.includes(`injected at point ${k}`)), `point ${k}`);
      assert.equal(root.getTotal("failed", { deep: true }), k === 6 || k === 7 ? 2 : 1);
      assert.equal(root.getTotal("opened", { deep: true }), k === 1 ? 2 : 3);
    }
  });
}

// ---- cancellations and give-ups at every step of a hand-off ----------------------------------

type Kind = "mutex" | "rwlock-write" | "rwlock-read" | "semaphore";
type Fault = "cancel the waiter" | "abort its signal" | "end its parent" | "cancel the holder";

const STEPS = 12;

/**
 * A holder holds the lock; `waiter` and then `next` wait for it. The holder releases, and at
 * `step` microtasks from the release (-1: just before it) the fault lands on the waiter. Whatever
 * the step, the waiter either gets the lock and gives it back, or gives up; `next` gets it after.
 */
async function handoff(kind: Kind, fault: Fault, step: number): Promise<void> {
  const root = Context.root("global");
  const lock = kind === "mutex"
    ? root.mutex("m", 0)
    : kind === "semaphore"
    ? root.semaphore("pool", 2)
    : root.rwlock("rw", 0);
  const take = (): Promise<{ release(): void } & Disposable> =>
    kind === "mutex"
      ? (lock as ReturnType<Context["mutex"]>).lock()
      : kind === "semaphore"
      ? (lock as ReturnType<Context["semaphore"]>).acquire(2)
      : kind === "rwlock-read"
      ? (lock as ReturnType<Context["rwlock"]>).read()
      : (lock as ReturnType<Context["rwlock"]>).write();
  const ac = new AbortController();
  const holderCtx = root.child("holder").create();
  // A writer holds an rwlock for the readers to wait; the others hold their own kind.
  const held = await holderCtx.spawn(() =>
    kind === "rwlock-read" ? (lock as ReturnType<Context["rwlock"]>).write() : take()
  );
  const parent = root.child("session").create();
  let got = 0;
  const waiter = parent.child("waiter").spawn(async (ctx) => {
    using _g = await (fault === "abort its signal" ? takeWith(kind, lock, ac.signal) : take());
    got++;
    assert.ok(!ctx.ended);
  });
  const next = root.child("next").spawn(async () => {
    using _g = await take();
    got++;
  });
  await microtasks(2);
  assert.equal(lock.waiters().length, 2, "both wait");
  const strike = (): void => {
    injected.handoffSteps++;
    if (fault === "cancel the waiter") internals.firstChild(parent)?.cancel("injected");
    else if (fault === "abort its signal") ac.abort("injected");
    else if (fault === "end its parent") parent.end();
    else holderCtx.cancel("injected");
  };
  if (step < 0) strike();
  held.release();
  if (step >= 0) {
    await microtasks(step);
    strike();
  }
  const [w, n] = await Promise.allSettled([waiter, next]);
  assert.equal(n.status, "fulfilled", `next must get the lock (${kind}, ${fault}, step ${step})`);
  if (w.status === "rejected") {
    const reason = w.reason;
    assert.ok(
      reason instanceof CancelledError || reason === "injected",
      `the waiter gave up for the injected fault, not ${String(reason)}`,
    );
  }
  assert.equal(got, w.status === "fulfilled" ? 2 : 1);
  parent.end();
  holderCtx.end();
  await microtasks(5);
  assertNothingLeft(root, kind === "semaphore" ? [lock as ReturnType<Context["semaphore"]>] : []);
}

function takeWith(
  kind: Kind,
  lock: unknown,
  signal: AbortSignal,
): Promise<{ release(): void } & Disposable> {
  const options = { signal };
  return kind === "mutex"
    ? (lock as ReturnType<Context["mutex"]>).lock(options)
    : kind === "semaphore"
    ? (lock as ReturnType<Context["semaphore"]>).acquire(2, options)
    : kind === "rwlock-read"
    ? (lock as ReturnType<Context["rwlock"]>).read(options)
    : (lock as ReturnType<Context["rwlock"]>).write(options);
}

const FAULTS: Fault[] = [
  "cancel the waiter",
  "abort its signal",
  "end its parent",
  "cancel the holder",
];
for (const kind of ["mutex", "rwlock-write", "rwlock-read", "semaphore"] as const) {
  Deno.test(`a ${kind} hand-off survives a fault landing at each of its steps`, async () => {
    for (const fault of FAULTS) {
      for (let step = -1; step <= STEPS; step++) await handoff(kind, fault, step);
    }
  });
}

// ---- a waiter at the head of the queue giving up ----------------------------------------------

type GiveUp = "cancel" | "abort" | "end";

/**
 * A holder keeps part of the lock; at the head of the queue waits one that asks for more than is
 * left (two semaphore permits, or a write), and behind it one that would fit (one permit, or a
 * read). When the head gives up, the one behind must go at once, without any release.
 */
async function headGivesUp(kind: "semaphore" | "rwlock", how: GiveUp): Promise<void> {
  const root = Context.root("global");
  const sem = root.semaphore("pool", 3);
  const rw = root.rwlock("table", 0);
  const holder = root.child("holder").create();
  type Guard = { release(): void };
  const held = await holder.spawn((): Promise<Guard> =>
    kind === "semaphore" ? sem.acquire(2) : rw.read()
  );
  const session = root.child("session").create();
  const big = session.child("big").create();
  const ac = new AbortController();
  const bigWait = big.spawn((): Promise<Guard> =>
    kind === "semaphore" ? sem.acquire(2, { signal: ac.signal }) : rw.write({ signal: ac.signal })
  );
  const small = root.child("small").create();
  let got = false;
  const smallWait = small.spawn((): Promise<Guard> =>
    kind === "semaphore" ? sem.acquire(1) : rw.read()
  )
    .then((g) => {
      got = true;
      return g;
    });
  await microtasks(2);
  assert.equal((kind === "semaphore" ? sem : rw).waiters().length, 2);
  injected.handoffSteps++;
  if (how === "cancel") big.cancel("injected");
  else if (how === "abort") ac.abort("injected");
  else session.end();
  await assert.rejects(bigWait);
  (await smallWait).release();
  assert.ok(got, `the one behind went when the head gave up (${kind}, ${how})`);
  held.release();
  endChildren(root);
  await microtasks(5);
  assertNothingLeft(root, [sem]);
}

Deno.test("when the head of a queue gives up, the waiters behind it that fit go at once", async () => {
  for (const kind of ["semaphore", "rwlock"] as const) {
    for (const how of ["cancel", "abort", "end"] as const) await headGivesUp(kind, how);
  }
});

// ---- a holder ending while others wait --------------------------------------------------------

Deno.test("a holder whose task throws while others wait hands the lock on, in order", async () => {
  const root = Context.root("global");
  const m = root.mutex("session-output-lock", [] as string[]);
  let fail!: () => void;
  const failing = new Promise<void>((_, reject) => (fail = () => reject(new Error("crash"))));
  let holding!: () => void;
  const taken = new Promise<void>((r) => (holding = r));
  const holder = root.child("stdout-handler").spawn(async () => {
    using _g = await m.lock();
    holding();
    await failing;
  });
  await taken;
  const order: string[] = [];
  const waiters = ["a", "b", "c"].map((name) =>
    root.child(name).spawn(async () => {
      using g = await m.lock();
      g.value.push(name);
      order.push(name);
    })
  );
  await microtasks(2);
  assert.deepEqual(snapshot(root).lockWaiters.map((w) => w.waiter), [
    "global.a",
    "global.b",
    "global.c",
  ]);
  injected.holderEnds++;
  fail();
  await assert.rejects(holder, /crash/);
  await Promise.all(waiters);
  assert.deepEqual(order, ["a", "b", "c"]);
  assertNothingLeft(root, []);
  assert.ok(snapshot(root).warnings.some((w) => w.code === "task-failed"));
});

Deno.test("a holder that ends without releasing is a leaked guard; waiters time out naming it", async () => {
  const root = Context.root("global");
  const pool = root.semaphore("db-pool", 2);
  const conn = root.child("conn").create();
  const guard = await conn.spawn(() => pool.acquire(2));
  // Each waiter runs in a context of its own that stays (made with create()).
  const waiting = root.child("worker").create().spawn(() => pool.acquire(1));
  const patient = root.child("patient").create()
    .spawn(() => pool.acquire(1, { timeoutMs: 60_000 }));
  await microtasks(2);
  injected.holderEnds++;
  conn.end(); // leaves the tree still holding both permits
  assert.ok(conn.ended);
  let s = snapshot(root);
  assert.deepEqual(s.activeLocks.map((l) => [l.heldBy, l.leaked]), [["global.conn", true]]);
  assert.ok(s.warnings.some((w) => w.code === "leaked-guard" && w.severity === "critical"));
  assert.deepEqual(s.lockWaiters.map((w) => [w.waiter, w.heldBy]), [
    ["global.worker", ["global.conn"]],
    ["global.patient", ["global.conn"]],
  ]);
  // A new waiter with a short timeout gives up, naming the ended holder.
  const err = await root.child("impatient").spawn(() => pool.acquire(1, { timeoutMs: 5 }))
    .catch((e) => e);
  assert.ok(err instanceof LockTimeoutError);
  assert.match(
    err.message,
    /global\.impatient gave up waiting after 5 ms \(held by global\.conn\)/,
  );
  // Whoever keeps the leaked guard can still give it back: the waiters then go, in order.
  guard.release();
  const [w, p] = await Promise.all([waiting, patient]);
  s = snapshot(root);
  assert.deepEqual(s.activeLocks.map((l) => [l.heldBy, l.leaked]).sort(), [
    ["global.patient", false],
    ["global.worker", false],
  ]);
  w.release();
  p.release();
  endChildren(root);
  assertNothingLeft(root, [pool]);
});

Deno.test("ending a parent ends its holders and cancels its waiters; the rest go on", async () => {
  const root = Context.root("global");
  const rw = root.rwlock("user-table", new Map<string, number>());
  const session = root.child("alice").create();
  const reader = await session.child("reader").create().spawn(() => rw.read());
  const writer = session.child("writer").spawn(() => rw.write());
  const outside = root.child("bob").create().spawn(() => rw.read()); // behind the writer
  await microtasks(2);
  injected.holderEnds++;
  session.end();
  await assert.rejects(writer, CancelledError);
  // The waiting writer gave up: bob's read is no longer behind it and joins the leaked reader.
  const bob = await outside;
  const s = snapshot(root);
  assert.deepEqual(
    s.activeLocks.map((l) => [l.heldBy, l.mode, l.leaked]).sort(),
    [["global.alice.reader", "read", true], ["global.bob", "read", false]].sort(),
  );
  reader.release();
  bob.release();
  endChildren(root);
  await microtasks(5);
  assertNothingLeft(root, []);
});

// ---- SIGTERM in a real process ----------------------------------------------------------------

Deno.test("SIGTERM while tasks wait for locks and two are deadlocked: all give up and it exits 0", async () => {
  using dir = socketDir();
  await using app = await startApp([FAULT_APP, "--mode", "lock-waits"], { dir: dir.path });
  const ready = JSON.parse(/^ready (.*)$/m.exec(app.stdout.text)![1]);
  assert.deepEqual(ready, { waiting: 10, deadlocks: 1 });
  // While they wait, the status says who holds, who waits, and the deadlock.
  const s = await statusOf(`${dir.path}/${app.pid}.sock`);
  assert.equal(s.lockWaiters.length, 10);
  assert.ok(s.warnings.some((w) => w.code === "deadlock"));
  injected.signals++;
  app.child.kill("SIGTERM");
  assert.equal(await app.exited(), 0, app.stderr.text);
  const final = JSON.parse(/^final (.*)$/m.exec(app.stdout.text)![1]);
  assert.deepEqual(final, {
    children: [],
    activeLocks: 0,
    lockWaiters: 0,
    registry: 0,
    deadlocks: 0,
    permitsOut: 0,
    live: 0,
    failed: 0,
    taskFailed: 0,
    cancelled: "SIGTERM",
  });
  assert.doesNotMatch(app.stderr.text, /hung/);
});

Deno.test("a holder that ignores SIGTERM hangs the shutdown: the tree is printed, the socket removed, exit 1", async () => {
  using dir = socketDir();
  await using app = await startApp([FAULT_APP, "--mode", "stuck", "--grace-ms", "400"], {
    dir: dir.path,
  });
  injected.signals++;
  app.child.kill("SIGTERM");
  await app.stdout.until((t) => t.includes("cancelled SIGTERM"), "the cancellation");
  // During the grace the status is still served, and true: the waiters have given up.
  const s = await statusOf(`${dir.path}/${app.pid}.sock`);
  assert.equal(s.global.cancelReason, "SIGTERM");
  assert.deepEqual(s.activeLocks.map((l) => l.heldBy), ["global.stdout-handler"]);
  assert.deepEqual(s.lockWaiters, []);
  assert.equal(await app.exited(), 1);
  assert.match(app.stderr.text, /shutdown \(SIGTERM\) hung: 1 task still running after the 400ms/);
  assert.match(app.stderr.text, /stdout-handler[^\n]*\n\s*└── 🔒 HOLDS "session-output-lock"/);
  const final = JSON.parse(/^final (.*)$/m.exec(app.stdout.text)![1]);
  assert.deepEqual([final.lockWaiters, final.children], [0, ["stdout-handler"]]);
  assert.deepEqual([...Deno.readDirSync(dir.path)], [], "the socket is removed");
});

Deno.test("a second SIGTERM during a hung shutdown exits at once with 143, the tree printed", async () => {
  using dir = socketDir();
  await using app = await startApp([FAULT_APP, "--mode", "stuck", "--grace-ms", "60000"], {
    dir: dir.path,
  });
  injected.signals += 2;
  app.child.kill("SIGTERM");
  await app.stdout.until((t) => t.includes("cancelled SIGTERM"), "the cancellation");
  app.child.kill("SIGTERM");
  assert.equal(await app.exited(), 143);
  assert.match(app.stderr.text, /a second signal during the shutdown \(SIGTERM\): exiting at once/);
  assert.match(app.stderr.text, /HOLDS "session-output-lock"/);
  assert.deepEqual([...Deno.readDirSync(dir.path)], [], "the socket is removed");
});

Deno.test("the figures of the fault injection", () => {
  const total = injected.awaitPoints + injected.handoffSteps + injected.holderEnds +
    injected.signals;
  console.log(
    `faults injected: ${total} (${injected.awaitPoints} failures at await points, ` +
      `${injected.handoffSteps} faults at hand-off steps, ${injected.holderEnds} holders ended ` +
      `while others waited, ${injected.signals} SIGTERMs to real processes)`,
  );
  assert.ok(total > 200);
});

/** GET /status of a local endpoint, as JSON. */
async function statusOf(socket: string): Promise<Status> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  try {
    const res = await fetch("http://localhost/status", { client });
    assert.equal(res.status, 200);
    return await res.json();
  } finally {
    client.close();
  }
}
