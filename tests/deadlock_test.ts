import assert from "node:assert/strict";
import {
  CancelledError,
  type Context,
  type DeadlockFinding,
  type NamedLock,
  onDeadlock,
} from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { clocked, mulberry32, yields } from "./fixtures/lock_helpers.ts";
import { lockRegistry } from "../src/locks/registry.ts";

// --- helpers -----------------------------------------------------------------------------------

/** Takes a lock for `ctx` (the call runs with `ctx` as current()). */
function hold<T>(ctx: Context, take: () => Promise<T>): Promise<T> {
  return ctx.spawn(take);
}

/** Starts a wait for `ctx`; the wait is registered before this returns. */
function waitFor<T>(ctx: Context, take: () => Promise<T>): Promise<T> {
  const p = ctx.spawn(take);
  p.catch(() => {}); // rejections are checked by the tests that care
  return p;
}

/** The members of a finding as [context name, lock name, mode], starting at the alphabetically first. */
function cycle(f: DeadlockFinding): string[] {
  const m = f.members.map((x) => `${x.context.name}→${x.lockName}(${x.mode})`);
  const i = m.indexOf([...m].sort()[0]);
  return [...m.slice(i), ...m.slice(0, i)];
}

/** Checks that each member waits for a lock that the next member holds (the last: the first). */
function assertChain(f: DeadlockFinding, locks: NamedLock[]): void {
  const n = f.members.length;
  f.members.forEach((m, i) => {
    const lock = locks.find((l) => l.name === m.lockName)!;
    const next = f.members[(i + 1) % n].context;
    assert.equal(lock.kind, m.kind);
    assert.ok(lock.waiters().some((w) => w.context === m.context && w.mode === m.mode));
    assert.ok(
      lock.holders().some((h) => h.context === next) ||
        lock.waiters().some((w) => w.context === next && w.mode === "write"),
      `${m.context.name} waits for ${m.lockName}, which ${next.name} does not hold`,
    );
  });
}

function deadlocks(root: Context): DeadlockFinding[] {
  return lockRegistry(internals.tree(root)).deadlocks;
}

// --- cycles ------------------------------------------------------------------------------------

Deno.test("two contexts taking two mutexes in opposite order are a 2-member cycle", async () => {
  const { root, clock } = clocked("app");
  const a = root.mutex("a", 0), b = root.mutex("b", 0);
  const one = root.child("one").create(), two = root.child("two").create();
  const ga = await hold(one, () => a.lock());
  const gb = await hold(two, () => b.lock());
  clock.t = 2_000;
  const w1 = waitFor(one, () => b.lock());
  assert.equal(deadlocks(root).length, 0);
  const w2 = waitFor(two, () => a.lock());
  assert.equal(deadlocks(root).length, 1);
  const [f] = deadlocks(root);
  assert.deepEqual(cycle(f), ["one→b(exclusive)", "two→a(exclusive)"]);
  assertChain(f, [a, b]);
  assert.equal(f.members[0].kind, "mutex");
  assert.equal(f.detectedAt, 2_000);
  assert.ok(f.members.some((m) => m.context === one) && f.members.some((m) => m.context === two));

  two.cancel("break it"); // any member that stops waiting withdraws the finding
  await assert.rejects(w2, CancelledError);
  assert.deepEqual(deadlocks(root), []);
  gb.release();
  (await w1).release();
  ga.release();
  assert.equal(lockRegistry(internals.tree(root)).locks.size, 0);
});

Deno.test("a 3-member cycle through a mutex, rwlock readers and a semaphore is found", async () => {
  const { root } = clocked("app");
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 2);
  const x = root.child("x").create(), y = root.child("y").create(), z = root.child("z").create();
  await hold(x, () => m.lock());
  await hold(y, () => rw.read()); // a reader holds the rwlock
  await hold(z, () => sem.acquire(2)); // every permit is held
  const wx = waitFor(x, () => rw.write()); // x waits for the reader y
  const wy = waitFor(y, () => sem.acquire()); // y waits for the permits z holds
  assert.equal(deadlocks(root).length, 0);
  const wz = waitFor(z, () => m.lock()); // z waits for x: the cycle closes
  assert.equal(deadlocks(root).length, 1);
  assert.deepEqual(cycle(deadlocks(root)[0]), [
    "x→rw(write)",
    "y→sem(permits)",
    "z→m(exclusive)",
  ]);
  assertChain(deadlocks(root)[0], [m, rw, sem]);
  assert.deepEqual(deadlocks(root)[0].members.map((mb) => mb.kind).sort(), [
    "mutex",
    "rwlock",
    "semaphore",
  ]);
  root.cancel("done");
  await Promise.allSettled([wx, wy, wz]);
  assert.deepEqual(deadlocks(root), []);
});

Deno.test("a 2-member cycle between a semaphore and rwlock readers is found", async () => {
  const { root } = clocked("app");
  const rw = root.rwlock("table", 0);
  const sem = root.semaphore("pool", 1);
  const p = root.child("p").create(), q = root.child("q").create();
  await hold(p, () => rw.read());
  await hold(q, () => sem.acquire());
  waitFor(p, () => sem.acquire());
  waitFor(q, () => rw.write());
  assert.deepEqual(deadlocks(root).map(cycle), [["p→pool(permits)", "q→table(write)"]]);
  assertChain(deadlocks(root)[0], [rw, sem]);
  root.cancel();
});

Deno.test("a reader that reads again behind a waiting writer deadlocks with the writer", async () => {
  const { root } = clocked("app");
  const rw = root.rwlock("rw", 0);
  const reader = root.child("reader").create(), writer = root.child("writer").create();
  await hold(reader, () => rw.read());
  waitFor(writer, () => rw.write());
  assert.equal(deadlocks(root).length, 0);
  waitFor(reader, () => rw.read()); // writer preference: it queues behind the writer
  assert.deepEqual(deadlocks(root).map(cycle), [["reader→rw(read)", "writer→rw(write)"]]);
  assertChain(deadlocks(root)[0], [rw]);
  root.cancel();
});

Deno.test("a semaphore with permits held outside the cycle is no deadlock", async () => {
  const { root } = clocked("app");
  const sem = root.semaphore("sem", 2);
  const m = root.mutex("m", 0);
  const a = root.child("a").create(), b = root.child("b").create(), c = root.child("c").create();
  await hold(a, () => sem.acquire());
  const gc = await hold(c, () => sem.acquire()); // c holds a permit and waits for nothing
  await hold(b, () => m.lock());
  const wa = waitFor(a, () => m.lock()); // a waits for b
  const wb = waitFor(b, () => sem.acquire()); // b waits for a or c: c will give one back
  assert.deepEqual(deadlocks(root), []);
  gc.release(); // and so it goes on
  const gb = await wb;
  assert.equal(gb.context, b);
  root.cancel();
  await assert.rejects(wa);
});

Deno.test("once no permit can come back, a cycle through every stuck holder is reported", async () => {
  const { root } = clocked("app");
  const sem = root.semaphore("sem", 2);
  const m = root.mutex("m", 0);
  const a = root.child("a").create(), b = root.child("b").create(), c = root.child("c").create();
  await hold(a, () => sem.acquire());
  await hold(c, () => sem.acquire());
  await hold(b, () => m.lock());
  waitFor(a, () => m.lock());
  waitFor(c, () => m.lock()); // c waits too: now nobody can give a permit back
  assert.deepEqual(deadlocks(root), []);
  waitFor(b, () => sem.acquire());
  assert.deepEqual(deadlocks(root).map(cycle).sort(), [
    ["a→m(exclusive)", "b→sem(permits)"],
    ["b→sem(permits)", "c→m(exclusive)"],
  ]);
  root.cancel();
});

Deno.test("siblings that share a path are told apart by identity", async () => {
  const { root } = clocked("app");
  const a = root.mutex("a", 0), b = root.mutex("b", 0);
  const w1 = root.child("worker").create(), w2 = root.child("worker").create();
  assert.equal(w1.path, w2.path);
  await hold(w1, () => a.lock());
  await hold(w2, () => b.lock());
  waitFor(w1, () => b.lock());
  waitFor(w2, () => a.lock());
  const [f] = deadlocks(root);
  assert.equal(f.members.length, 2);
  assert.notEqual(f.members[0].context, f.members[1].context);
  assert.deepEqual(new Set(f.members.map((m) => m.context)), new Set([w1, w2]));
  root.cancel();
});

Deno.test("a context that waits for a lock it holds itself is not reported", async () => {
  // several tasks may share a context (simple spawn): another of them may hold it and release it
  const { root } = clocked("app");
  const m = root.mutex("m", 0);
  const g = await hold(root, () => m.lock());
  const w = waitFor(root, () => m.lock());
  assert.deepEqual(deadlocks(root), []);
  g.release();
  (await w).release();
});

Deno.test("a context waiting on several locks at once: one cycle per lock, withdrawn one by one", async () => {
  const { root } = clocked("app");
  const a = root.mutex("a", 0), b = root.mutex("b", 0), c = root.mutex("c", 0);
  const shared = root.child("shared").create(); // two tasks run in it
  const p = root.child("p").create(), q = root.child("q").create();
  await hold(shared, () => a.lock());
  await hold(p, () => b.lock());
  await hold(q, () => c.lock());
  const s1 = waitFor(shared, () => b.lock());
  const s2 = waitFor(shared, () => c.lock());
  waitFor(p, () => a.lock());
  waitFor(q, () => a.lock());
  assert.deepEqual(deadlocks(root).map(cycle).sort(), [
    ["p→a(exclusive)", "shared→b(exclusive)"],
    ["q→a(exclusive)", "shared→c(exclusive)"],
  ]);
  // the wait for c gives up: only the cycle through c goes
  const ac = new AbortController();
  const s3 = waitFor(shared, () => c.lock({ signal: ac.signal }));
  ac.abort("no");
  await assert.rejects(s3);
  assert.equal(deadlocks(root).length, 2, "shared still waits for c through another task");
  q.cancel("leave");
  assert.equal(deadlocks(root).length, 1);
  assert.deepEqual(deadlocks(root).map(cycle), [["p→a(exclusive)", "shared→b(exclusive)"]]);
  root.cancel();
  await Promise.allSettled([s1, s2]);
  assert.deepEqual(deadlocks(root), []);
});

Deno.test("a hand-off that closes a cycle is reported", async () => {
  const { root } = clocked("app");
  const l = root.mutex("l", 0), m = root.mutex("m", 0);
  const h = root.child("h").create(), x = root.child("x").create(), y = root.child("y").create();
  const gl = await hold(h, () => l.lock());
  await hold(y, () => m.lock());
  waitFor(x, () => l.lock()); // x, task 1: first in line for l
  waitFor(y, () => l.lock()); // y waits for l behind x
  waitFor(x, () => m.lock()); // x, task 2: waits for m, held by y
  assert.deepEqual(deadlocks(root), []); // l is held by h, who goes on
  gl.release(); // l goes to x: now y waits for x and x waits for y
  assert.deepEqual(deadlocks(root).map(cycle), [["x→m(exclusive)", "y→l(exclusive)"]]);
  root.cancel();
});

Deno.test("the same cycle is reported once", async () => {
  const { root } = clocked("app");
  const a = root.mutex("a", 0), b = root.mutex("b", 0);
  const one = root.child("one").create(), two = root.child("two").create();
  await hold(one, () => a.lock());
  await hold(two, () => b.lock());
  waitFor(one, () => b.lock());
  waitFor(two, () => a.lock());
  waitFor(two, () => a.lock()); // a second wait of a member re-runs the check
  assert.equal(deadlocks(root).length, 1);
  root.cancel();
});

// --- onDeadlock ----------------------------------------------------------------------------------

Deno.test("onDeadlock delivers each finding of the chosen tree, and release() stops it", async () => {
  const { root } = clocked("one");
  const { root: other } = clocked("other");
  const mine: DeadlockFinding[] = [], all: DeadlockFinding[] = [], theirs: DeadlockFinding[] = [];
  const sub = onDeadlock((f) => mine.push(f), { root });
  const subAll = onDeadlock((f) => all.push(f));
  const subOther = onDeadlock((f) => theirs.push(f), { root: other });

  async function deadlock(r: Context): Promise<() => void> {
    const a = r.mutex("a", 0), b = r.mutex("b", 0);
    const x = r.child("x").create(), y = r.child("y").create();
    await hold(x, () => a.lock());
    await hold(y, () => b.lock());
    return () => {
      waitFor(x, () => b.lock());
      waitFor(y, () => a.lock());
    };
  }
  (await deadlock(root))();
  assert.equal(deadlocks(root).length, 1);
  assert.equal(mine.length, 0, "delivered in a microtask, not inside lock()");
  await yields(1);
  assert.equal(mine.length, 1);
  assert.equal(mine[0], deadlocks(root)[0]);
  assert.deepEqual([all.length, theirs.length], [1, 0]);

  sub.release();
  sub.release(); // a no-op
  subOther[Symbol.dispose]();
  (await deadlock(root))();
  await yields(1);
  assert.deepEqual([mine.length, all.length, theirs.length], [1, 2, 0]);
  subAll.release();
  root.cancel();
  other.cancel();
});

Deno.test("a cycle broken before delivery is not delivered, and a throwing listener is kept", async () => {
  const { root } = clocked("app");
  const heard: DeadlockFinding[] = [];
  const errors: unknown[] = [];
  const origError = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  try {
    using _bad = onDeadlock(() => {
      throw new Error("listener bug");
    });
    using _good = onDeadlock((f) => heard.push(f), { root });
    const a = root.mutex("a", 0), b = root.mutex("b", 0);
    const x = root.child("x").create(), y = root.child("y").create();
    await hold(x, () => a.lock());
    await hold(y, () => b.lock());
    waitFor(x, () => b.lock());
    waitFor(y, () => a.lock());
    y.cancel(); // broken at once
    await yields(2);
    assert.deepEqual(heard, []);
    // a fresh cycle is heard by the good listener despite the bad one
    const c = root.mutex("c", 0), d = root.mutex("d", 0);
    const p = root.child("p").create(), q = root.child("q").create();
    await hold(p, () => c.lock());
    await hold(q, () => d.lock());
    waitFor(p, () => d.lock());
    waitFor(q, () => c.lock());
    await yields(1);
    assert.equal(heard.length, 1);
    assert.equal(errors.length, 1);
  } finally {
    console.error = origError;
    root.cancel();
  }
});

Deno.test("onDeadlock rejects a listener that is not a function and a root that is not a Context", () => {
  // deno-lint-ignore no-explicit-any
  const on = onDeadlock as any;
  assert.throws(() => on(42), { name: "TypeError", message: /listener/ });
  assert.throws(() => on(() => {}, null), { name: "TypeError", message: /options/ });
  assert.throws(() => on(() => {}, { root: "global" }), {
    name: "TypeError",
    message: /options\.root/,
  });
});

// --- healthy runs ----------------------------------------------------------------------------------

/**
 * Many tasks take a mutex, an rwlock (read or write) and a semaphore always in that order, with
 * random yields in between: heavy contention, and never a deadlock.
 */
async function healthy(seed: number, shareContext: boolean): Promise<number> {
  const rnd = mulberry32(seed);
  const { root } = clocked(`healthy${seed}`);
  const heard: DeadlockFinding[] = [];
  using _sub = onDeadlock((f) => heard.push(f), { root });
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 3);
  const m2 = root.mutex("m2", 0);
  let sections = 0;
  const tasks = Array.from({ length: 16 }, (_, i) => {
    const ctx = shareContext ? root : root.child(`t${i % 8}`).create();
    return ctx.spawn(async () => {
      for (let k = 0; k < 15; k++) {
        const guards: Disposable[] = [];
        if (rnd() < 0.6) guards.push(await m.lock());
        await yields(Math.floor(rnd() * 3));
        if (rnd() < 0.7) guards.push(rnd() < 0.3 ? await rw.write() : await rw.read());
        await yields(Math.floor(rnd() * 3));
        if (rnd() < 0.7) guards.push(await sem.acquire(1 + Math.floor(rnd() * 3)));
        await yields(Math.floor(rnd() * 3));
        if (rnd() < 0.4) guards.push(await m2.lock());
        await yields(Math.floor(rnd() * 3));
        assert.deepEqual(deadlocks(root), []);
        for (const g of guards.reverse()) g[Symbol.dispose]();
        sections++;
      }
    });
  });
  await Promise.all(tasks);
  await yields(1);
  assert.deepEqual(heard, []);
  assert.deepEqual(deadlocks(root), []);
  assert.equal(lockRegistry(internals.tree(root)).locks.size, 0);
  return sections;
}

Deno.test("no finding on a long healthy run with heavy contention", async () => {
  let sections = 0;
  for (let seed = 1; seed <= 60; seed++) sections += await healthy(seed, false);
  for (let seed = 1; seed <= 20; seed++) sections += await healthy(seed, true);
  assert.equal(sections, 80 * 16 * 15);
});
