import assert from "node:assert/strict";
import {
  CancelledError,
  Context,
  type ContextMutex,
  type ContextRwLock,
  type ContextSemaphore,
  LockTimeoutError,
  type MutexGuard,
  type NamedLock,
} from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { leakedGuards, lockRegistry } from "../src/locks/registry.ts";
import { clocked, mulberry32, yields } from "./fixtures/lock_helpers.ts";

// --- helpers -----------------------------------------------------------------------------------

/** Runs `fn` with `ctx` as current() and gives its (synchronous) result. */
function as<T>(ctx: Context, fn: () => T): T {
  let out!: T;
  void ctx.spawn(() => {
    out = fn();
  });
  return out;
}

/** Starts `fn` as a task of `ctx` and returns its promise; the wait starts synchronously. */
function start<T>(ctx: Context, fn: () => Promise<T>): Promise<T> {
  return ctx.spawn(fn);
}

function assertFree(lock: NamedLock): void {
  assert.deepEqual(lock.holders(), [], `${lock.name}: no holder`);
  assert.deepEqual(lock.waiters(), [], `${lock.name}: no waiter`);
  assert.equal(
    lockRegistry(internals.tree(lock.owner)).locks.has(lock as never),
    false,
    `${lock.name}: free`,
  );
}

// --- guards ------------------------------------------------------------------------------------

Deno.test("a mutex guard gives the value to read and replace, and `using` releases it", async () => {
  const { root } = clocked();
  const m = root.mutex("state", { lines: 0 });
  {
    using g = await m.lock();
    g.value.lines++;
    g.value = { lines: g.value.lines + 10 };
    assert.equal(m.tryLock(), undefined);
  }
  const g = m.tryLock();
  assert.ok(g);
  assert.deepEqual(g.value, { lines: 11 });
  g.release();
  assertFree(m);
});

Deno.test("releasing a guard twice is a no-op and a released guard's value throws", async () => {
  const { root } = clocked();
  const m = root.mutex("m", 1);
  const g = await m.lock();
  g.release();
  const other = m.tryLock()!;
  g.release(); // must not release `other`
  assert.equal(m.holders().length, 1);
  assert.throws(() => g.value, TypeError);
  assert.throws(() => (g.value = 2), TypeError);
  other[Symbol.dispose]();
  other[Symbol.dispose]();
  assertFree(m);
});

Deno.test("a read guard is read-only and rwlock guards release with `using`", async () => {
  const { root } = clocked();
  const rw = root.rwlock("table", { n: 1 });
  {
    using r = await rw.read();
    assert.deepEqual(r.value, { n: 1 });
    assert.throws(() => ((r as { value: unknown }).value = { n: 2 }), TypeError);
    await assert.rejects(rw.write({ timeoutMs: 0 }), LockTimeoutError);
  }
  {
    using w = await rw.write();
    w.value = { n: 3 };
  }
  assert.deepEqual(rw.tryRead()?.value, { n: 3 });
});

Deno.test("semaphore guards give back their permits once, with `using` or release()", async () => {
  const { root } = clocked();
  const sem = root.semaphore("pool", 5);
  {
    using a = await sem.acquire(2);
    using _b = await sem.acquire();
    assert.equal(a.permits, 2);
    assert.equal(sem.available, 2);
    a.release();
    a.release();
    assert.equal(sem.available, 4);
  }
  assert.equal(sem.available, 5);
  assertFree(sem);
});

// --- holders, waiters, registry, activity ------------------------------------------------------

Deno.test("holders and waiters are current() at the call, with mode, permits and since", async () => {
  const { root, clock } = clocked("app", 1_000);
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 3);
  const a = root.child("a").create(), b = root.child("b").create();

  const gm = await start(a, () => m.lock());
  const gr = await start(a, () => rw.read());
  const gs = await start(a, () => sem.acquire(2));
  assert.equal(gm.context, a);
  clock.t = 1_500;
  const wm = start(b, () => m.lock());
  const ww = start(b, () => rw.write());
  const wr = start(root, () => rw.read()); // behind the writer
  const wsem = start(b, () => sem.acquire(3));

  assert.deepEqual(m.holders(), [{ context: a, mode: "exclusive", permits: 1, since: 1_000 }]);
  assert.deepEqual(m.waiters(), [{ context: b, mode: "exclusive", permits: 1, since: 1_500 }]);
  assert.deepEqual(rw.holders(), [{ context: a, mode: "read", permits: 1, since: 1_000 }]);
  assert.deepEqual(rw.waiters(), [
    { context: b, mode: "write", permits: 1, since: 1_500 },
    { context: root, mode: "read", permits: 1, since: 1_500 },
  ]);
  assert.deepEqual(sem.holders(), [{ context: a, mode: "permits", permits: 2, since: 1_000 }]);
  assert.deepEqual(sem.waiters(), [{ context: b, mode: "permits", permits: 3, since: 1_500 }]);
  assert.equal(m.kind, "mutex");
  assert.equal(rw.kind, "rwlock");
  assert.equal(sem.kind, "semaphore");
  assert.equal(sem.capacity, 3);
  assert.equal(m.owner, root);

  clock.t = 2_000;
  gm.release();
  assert.deepEqual(m.holders(), [{ context: b, mode: "exclusive", permits: 1, since: 2_000 }]);
  gr.release();
  assert.deepEqual(rw.holders(), [{ context: b, mode: "write", permits: 1, since: 2_000 }]);
  gs.release();
  (await wm).release();
  (await ww).release();
  (await wr).release();
  (await wsem).release();
  for (const l of [m, rw, sem]) assertFree(l);
});

Deno.test("the tree's registry lists a lock only while it is held or waited on", async () => {
  const { root } = clocked();
  const registry = lockRegistry(internals.tree(root));
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 2);
  assert.equal(registry.locks.size, 0);
  const g = m.tryLock()!;
  const r1 = rw.tryRead()!, r2 = rw.tryRead()!;
  const s = sem.tryAcquire()!;
  assert.deepEqual([...registry.locks], [m, rw, sem]);
  const waiting = m.lock();
  g.release();
  assert.ok(registry.locks.has(m)); // handed to the waiter
  (await waiting).release();
  r1.release();
  assert.ok(registry.locks.has(rw)); // one reader left
  r2.release();
  s.release();
  assert.equal(registry.locks.size, 0);
  const again = m.tryLock()!; // listed again after it was pruned
  assert.deepEqual([...registry.locks], [m]);
  again.release();
  assert.equal(registry.locks.size, 0);
});

Deno.test("the tree's registry keeps few released locks that nobody reads", () => {
  const { root } = clocked();
  const tree = internals.tree(root);
  const held: MutexGuard<number>[] = Array.from(
    { length: 10 },
    (_, i) => root.mutex(`held${i}`, 0).tryLock()!,
  );
  // Without a status read, locks taken once and dropped are pruned as the registry grows.
  const seen = new Set<number>();
  for (let i = 0; i < 10_000; i++) {
    root.mutex("per-request", 0).tryLock()!.release();
    seen.add(lockRegistry(tree).listedSize);
  }
  assert.ok(Math.max(...seen) <= 65, `at most 65 listed, saw ${Math.max(...seen)}`);
  assert.deepEqual(
    [...lockRegistry(tree).locks].map((l) => l.name),
    held.map((_, i) => `held${i}`),
  );
  for (const g of held) g.release();
});

Deno.test("every acquire, release, wait start and give-up marks the context active and tells the tree", async () => {
  const { root, clock } = clocked("app", 0);
  const tree = internals.tree(root);
  const m = root.mutex("m", 0);
  const a = root.child("a").create(), b = root.child("b").create();
  let v = tree.version;
  const changed = (): boolean => {
    const c = tree.version !== v;
    v = tree.version;
    return c;
  };

  clock.t = 10;
  const g = as(a, () => m.tryLock()!);
  assert.ok(changed());
  assert.equal(internals.lastActivity(a), 10);

  clock.t = 20;
  const ac = new AbortController();
  const waiting = start(b, () => m.lock({ signal: ac.signal }));
  assert.ok(changed());
  assert.equal(internals.lastActivity(b), 20);

  clock.t = 30;
  ac.abort("stop");
  await assert.rejects(waiting, (e) => e === "stop");
  assert.ok(changed());
  assert.equal(internals.lastActivity(b), 30);

  clock.t = 40;
  const waiting2 = start(b, () => m.lock());
  changed();
  clock.t = 50;
  g.release();
  assert.ok(changed());
  assert.equal(internals.lastActivity(a), 50);
  assert.equal(internals.lastActivity(b), 50); // it got the lock
  clock.t = 60;
  (await waiting2).release();
  assert.ok(changed());
  assert.equal(internals.lastActivity(b), 60);
});

Deno.test("a holder from another tree is marked active on its own tree's clock", async () => {
  const { root: lockTree } = clocked("locks", 5_000);
  const { root: other } = clocked("other", 7);
  const m = lockTree.mutex("m", 0);
  const g = await start(other, () => m.lock());
  assert.equal(g.since, 5_000);
  assert.equal(internals.lastActivity(other), 7);
  g.release();
});

// --- order ---------------------------------------------------------------------------------------

Deno.test("a mutex hands off first come, first served", async () => {
  const { root } = clocked();
  const m = root.mutex("m", [] as number[]);
  const first = m.tryLock()!;
  const all = Array.from({ length: 20 }, (_, i) =>
    start(root.child(`w${i}`).create(), async () => {
      using g = await m.lock();
      g.value.push(i);
    }));
  first.release();
  await Promise.all(all);
  assert.deepEqual(m.tryLock()!.value, Array.from({ length: 20 }, (_, i) => i));
});

Deno.test("a waiting writer is not overtaken by readers that come after it", async () => {
  const { root } = clocked();
  const rw = root.rwlock("rw", 0);
  const order: string[] = [];
  const r0 = rw.tryRead()!;
  const w1 = rw.write().then((g) => {
    order.push("w1");
    return g;
  });
  assert.equal(rw.tryRead(), undefined, "tryRead must not overtake the writer");
  const r2 = rw.read().then((g) => {
    order.push("r2");
    return g;
  });
  const r3 = rw.read().then((g) => {
    order.push("r3");
    return g;
  });
  const w4 = rw.write().then((g) => {
    order.push("w4");
    return g;
  });
  await yields(5);
  assert.deepEqual(order, []);
  r0.release();
  const g1 = await w1;
  await yields(5);
  assert.deepEqual(order, ["w1"]);
  g1.release();
  const [g2, g3] = await Promise.all([r2, r3]); // the readers before w4 share the lock
  assert.deepEqual(order, ["w1", "r2", "r3"]);
  g2.release();
  await yields(5);
  assert.deepEqual(order, ["w1", "r2", "r3"]);
  g3.release();
  (await w4).release();
  assert.deepEqual(order, ["w1", "r2", "r3", "w4"]);
  assertFree(rw);
});

Deno.test("a semaphore serves in order: a small request does not overtake a large one", async () => {
  const { root } = clocked();
  const sem = root.semaphore("sem", 4);
  const held = sem.tryAcquire(3)!;
  const order: number[] = [];
  const big = sem.acquire(4).then((g) => (order.push(4), g));
  const small = sem.acquire(1).then((g) => (order.push(1), g));
  assert.equal(sem.tryAcquire(1), undefined);
  await yields(5);
  assert.deepEqual(order, []);
  held.release();
  (await big).release();
  (await small).release();
  assert.deepEqual(order, [4, 1]);
  assertFree(sem);
});

Deno.test("when the waiter at the head gives up, the ones behind it that fit go at once", async () => {
  const { root } = clocked();
  // semaphore: a large request gives up, the small one behind it fits
  const sem = root.semaphore("sem", 4);
  const held = sem.tryAcquire(2)!;
  const ac = new AbortController();
  const big = sem.acquire(4, { signal: ac.signal });
  const small = sem.acquire(2);
  ac.abort(new Error("no"));
  await assert.rejects(big, /no/);
  const s = await small;
  assert.equal(sem.available, 0);
  s.release();
  held.release();
  assertFree(sem);
  // rwlock: a writer gives up, the readers behind it join the readers holding it
  const rw = root.rwlock("rw", 0);
  const r0 = rw.tryRead()!;
  const wac = new AbortController();
  const w = rw.write({ signal: wac.signal });
  const r1 = rw.read(), r2 = rw.read();
  wac.abort("later");
  await assert.rejects(w, (e) => e === "later");
  (await r1).release();
  (await r2).release();
  r0.release();
  assertFree(rw);
});

// --- random interleavings ----------------------------------------------------------------------

/** Runs `tasks` tasks of `steps` random lock operations each on a mutex, an rwlock and a semaphore. */
async function interleave(seed: number, tasks: number, steps: number): Promise<string[]> {
  const rnd = mulberry32(seed);
  const { root } = clocked(`seed${seed}`);
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 3);
  let inMutex = 0, readers = 0, writers = 0, permits = 0, writes = 0;
  const trace: string[] = []; // which task ran which critical section, in order
  const check = (): void => {
    assert.ok(inMutex <= 1, `seed ${seed}: ${inMutex} mutex holders`);
    assert.ok(writers <= 1, `seed ${seed}: ${writers} writers`);
    assert.ok(writers === 0 || readers === 0, `seed ${seed}: a writer beside ${readers} readers`);
    assert.ok(permits <= 3, `seed ${seed}: ${permits} of 3 permits out`);
    // granted waiters that have not resumed yet hold permits the count does not show yet
    assert.ok(sem.available <= 3 - permits, `seed ${seed}: permits miscounted`);
  };
  /** Waits with a give-up now and then: an aborted signal or a cancelled child context. */
  async function wait<G>(
    ctx: Context,
    take: (o?: { signal: AbortSignal }) => Promise<G>,
  ): Promise<G | undefined> {
    const r = rnd();
    if (r < 0.7) return await take();
    if (r < 0.85) {
      const ac = new AbortController();
      const p = take({ signal: ac.signal });
      const after = Math.floor(rnd() * 3);
      void yields(after).then(() => ac.abort("gave up"));
      return await p.catch(() => undefined);
    }
    const child = ctx.child("w").create();
    const p = child.spawn(() => take());
    const after = Math.floor(rnd() * 3);
    void yields(after).then(() => child.cancel("gave up"));
    const g = await p.catch(() => undefined);
    child.end();
    return g;
  }
  await Promise.all(Array.from({ length: tasks }, (_, i) => {
    const ctx = root.child(`t${i}`).create();
    return ctx.spawn(async () => {
      for (let k = 0; k < steps; k++) {
        await yields(Math.floor(rnd() * 3));
        const kind = rnd();
        if (kind < 0.34) {
          const g = rnd() < 0.2 ? m.tryLock() : await wait(ctx, (o) => m.lock(o));
          if (g === undefined) continue;
          inMutex++;
          check();
          g.value++;
          await yields(Math.floor(rnd() * 4));
          check();
          inMutex--;
          g.release();
          trace.push(`${i}m`);
        } else if (kind < 0.67) {
          const write = rnd() < 0.4;
          const g = write
            ? (rnd() < 0.2 ? rw.tryWrite() : await wait(ctx, (o) => rw.write(o)))
            : (rnd() < 0.2 ? rw.tryRead() : await wait(ctx, (o) => rw.read(o)));
          if (g === undefined) continue;
          if (write) writers++;
          else readers++;
          check();
          await yields(Math.floor(rnd() * 4));
          check();
          if (write) {
            writers--;
            writes++;
            (g as { value: number }).value++;
          } else readers--;
          g.release();
          trace.push(`${i}${write ? "w" : "r"}`);
        } else {
          const n = 1 + Math.floor(rnd() * 3);
          const g = rnd() < 0.2 ? sem.tryAcquire(n) : await wait(ctx, (o) => sem.acquire(n, o));
          if (g === undefined) continue;
          permits += n;
          check();
          await yields(Math.floor(rnd() * 4));
          check();
          permits -= n;
          g.release();
          trace.push(`${i}s${n}`);
        }
      }
    });
  }));
  for (const l of [m, rw, sem]) assertFree(l);
  assert.equal(lockRegistry(internals.tree(root)).locks.size, 0);
  assert.equal(sem.available, 3);
  assert.equal(rw.tryRead()!.value, writes);
  return trace;
}

Deno.test("mutual exclusion and reader/writer exclusion hold under thousands of random interleavings", async () => {
  let sections = 0;
  for (let seed = 1; seed <= 200; seed++) sections += (await interleave(seed, 10, 12)).length;
  assert.ok(sections > 15_000, `only ${sections} critical sections ran`);
});

Deno.test("the same seed gives the same interleaving", async () => {
  const first = await interleave(7, 8, 10);
  assert.ok(first.length > 40);
  assert.deepEqual(await interleave(7, 8, 10), first);
  assert.notDeepEqual(await interleave(8, 8, 10), first);
});

// --- giving up ---------------------------------------------------------------------------------

Deno.test("10,000 cancelled and timed-out waits leave no waiter and no permit behind", async () => {
  const { root } = clocked();
  const tree = internals.tree(root);
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 5);
  const holder = root.child("holder").create();
  const gm = as(holder, () => m.tryLock()!);
  const gw = as(holder, () => rw.tryWrite()!);
  const gs = as(holder, () => sem.tryAcquire(4)!); // one permit stays free

  const waits: Promise<unknown>[] = [];
  const aborts: AbortController[] = [];
  const contexts: Context[] = [];
  for (let i = 0; i < 10_000; i++) {
    const ctx = root.child(`w${i % 100}`).create();
    const how = i % 3; // 0: signal, 1: context cancelled, 2: timeout
    const ac = new AbortController();
    const options = how === 0 ? { signal: ac.signal } : how === 2 ? { timeoutMs: 1 } : {};
    const kind = i % 4;
    const p = ctx.spawn<unknown>(() =>
      kind === 0
        ? m.lock(options)
        : kind === 1
        ? rw.read(options)
        : kind === 2
        ? rw.write(options)
        : sem.acquire(2, options) // one permit free, still has to wait
    );
    waits.push(p.then(() => assert.fail("a wait was granted"), (e) => e));
    if (how === 0) aborts.push(ac);
    contexts.push(ctx);
  }
  assert.equal(m.waiters().length + rw.waiters().length + sem.waiters().length, 10_000);
  for (const ac of aborts) ac.abort(new Error("aborted"));
  contexts.forEach((ctx, i) => i % 3 === 1 && ctx.cancel("cancelled"));
  const errors = await Promise.all(waits);
  assert.equal(errors.filter((e) => e instanceof LockTimeoutError).length, 3_333);
  assert.equal(errors.filter((e) => e instanceof CancelledError).length, 3_333);
  assert.equal(errors.filter((e) => e instanceof Error && e.message === "aborted").length, 3_334);
  assert.deepEqual([m.waiters(), rw.waiters(), sem.waiters()], [[], [], []]);
  assert.equal(sem.available, 1);
  gm.release();
  gw.release();
  gs.release();
  assert.equal(sem.available, 5);
  const all = sem.tryAcquire(5);
  assert.ok(all, "the full permit count is available");
  all.release();
  assert.equal(lockRegistry(tree).locks.size, 0);
  assert.equal(lockRegistry(tree).deadlocks.length, 0);
  for (const ctx of contexts) ctx.end();
});

Deno.test("a signal aborted before the call rejects at once with its reason, even on a free lock", async () => {
  const { root } = clocked();
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 1);
  const reason = new Error("already");
  const signal = AbortSignal.abort(reason);
  await assert.rejects(m.lock({ signal }), (e) => e === reason);
  await assert.rejects(rw.read({ signal }), (e) => e === reason);
  await assert.rejects(rw.write({ signal }), (e) => e === reason);
  await assert.rejects(sem.acquire(1, { signal }), (e) => e === reason);
  for (const l of [m, rw, sem]) assertFree(l);
});

Deno.test("a waiter whose context is cancelled rejects with the context's CancelledError", async () => {
  const { root } = clocked();
  const m = root.mutex("m", 0);
  const g = m.tryLock()!;
  const job = root.child("job").create();
  const sub = job.child("sub").create();
  const w1 = start(job, () => m.lock());
  const w2 = start(sub, () => m.lock());
  const w3 = start(job, () => m.lock()); // several waits of one context
  root.cancel("shutdown");
  for (const w of [w1, w2, w3]) {
    await assert.rejects(w, (e) => e instanceof CancelledError && e.reason === "shutdown");
  }
  assert.deepEqual(m.waiters(), []);
  // an already cancelled context gives up at once when it would wait...
  await assert.rejects(start(job, () => m.lock()), CancelledError);
  g.release();
  // ...but may still take a free lock (clean-up code needs locks)
  const again = await start(job, () => m.lock());
  again.release();
  assertFree(m);
});

Deno.test("a wait that times out rejects with a LockTimeoutError naming lock, waiter and holder", async () => {
  const root = Context.root("app");
  const stdout = root.child("alice").create().child("stdout-handler").create();
  const stderr = root.child("alice").create().child("stderr-stream").create();
  const m = root.mutex("session-output-lock", 0);
  const g = as(stdout, () => m.tryLock()!);
  const err = await start(stderr, () => m.lock({ timeoutMs: 5 })).catch((e) => e);
  assert.ok(err instanceof LockTimeoutError);
  assert.equal(err.name, "LockTimeoutError");
  assert.equal(err.lockName, "session-output-lock");
  assert.equal(err.kind, "mutex");
  assert.equal(err.waiter, "app.alice.stderr-stream");
  assert.deepEqual(err.holders, ["app.alice.stdout-handler"]);
  assert.equal(err.timeoutMs, 5);
  assert.equal(
    err.message,
    'mutex "session-output-lock": app.alice.stderr-stream gave up waiting after 5 ms (held by app.alice.stdout-handler)',
  );
  assert.deepEqual(m.waiters(), []);
  g.release();
  // many holders are cut short
  const sem = root.semaphore("pool", 5);
  const guards = Array.from(
    { length: 5 },
    (_, i) => as(root.child(`h${i}`).create(), () => sem.tryAcquire()!),
  );
  const many = await sem.acquire(1, { timeoutMs: 0 }).catch((e) => e);
  assert.match(many.message, /held by app\.h0, app\.h1, app\.h2 and 2 more\)$/);
  for (const x of guards) x.release();
});

Deno.test("a timeout of 0 never waits, and a granted wait stops its timer", async () => {
  const { root } = clocked();
  const m = root.mutex("m", 0);
  const free = await m.lock({ timeoutMs: 0 });
  await assert.rejects(m.lock({ timeoutMs: 0 }), LockTimeoutError);
  assert.deepEqual(m.waiters(), []);
  const later = m.lock({ timeoutMs: 60_000 }); // the test sanitizer fails on a leaked timer
  free.release();
  (await later).release();
  const forever = await m.lock({ timeoutMs: Infinity });
  forever.release();
  assertFree(m);
});

Deno.test("tryLock, tryRead, tryWrite and tryAcquire never wait", () => {
  const { root } = clocked();
  const m = root.mutex("m", 0);
  const rw = root.rwlock("rw", 0);
  const sem = root.semaphore("sem", 2);
  const g = m.tryLock()!;
  assert.equal(m.tryLock(), undefined);
  const r = rw.tryRead()!;
  assert.ok(rw.tryRead());
  assert.equal(rw.tryWrite(), undefined);
  const s = sem.tryAcquire(2)!;
  assert.equal(sem.tryAcquire(), undefined);
  assert.deepEqual([m.waiters(), rw.waiters(), sem.waiters()], [[], [], []]);
  g.release();
  r.release();
  s.release();
});

// --- bad arguments -------------------------------------------------------------------------------

Deno.test("bad arguments throw or reject naming the argument, and change nothing", async () => {
  const { root } = clocked();
  const tree = internals.tree(root);
  const v = tree.version;
  // deno-lint-ignore no-explicit-any
  const ctx = root as any;
  assert.throws(() => ctx.mutex("", 0), { name: "RangeError", message: /name/ });
  assert.throws(() => ctx.mutex(42, 0), { name: "TypeError", message: /name/ });
  assert.throws(() => ctx.rwlock("a\u0000b", 0), { name: "TypeError", message: /name/ });
  assert.throws(() => ctx.semaphore("s", 0), { name: "RangeError", message: /permits/ });
  assert.throws(() => ctx.semaphore("s", 1.5), { name: "RangeError", message: /permits/ });
  assert.throws(() => ctx.semaphore("s", "3"), { name: "TypeError", message: /permits/ });
  assert.throws(() => ctx.semaphore("s", Infinity), { name: "RangeError", message: /permits/ });

  // deno-lint-ignore no-explicit-any
  type Loose = any;
  const m: Loose = root.mutex("m", 0);
  const rw: Loose = root.rwlock("rw", 0);
  const sem: Loose = root.semaphore("s", 3);
  const held = sem.tryAcquire(1);
  const before = tree.version;
  await assert.rejects(m.lock(null), { name: "TypeError", message: /options/ });
  await assert.rejects(m.lock({ signal: {} }), { name: "TypeError", message: /options\.signal/ });
  await assert.rejects(rw.read({ timeoutMs: -1 }), { name: "RangeError", message: /timeoutMs/ });
  await assert.rejects(rw.write({ timeoutMs: NaN }), { name: "RangeError", message: /timeoutMs/ });
  await assert.rejects(rw.write({ timeoutMs: "1" }), { name: "TypeError", message: /timeoutMs/ });
  await assert.rejects(sem.acquire(4), { name: "RangeError", message: /n \(4\)/ });
  await assert.rejects(sem.acquire(0), { name: "RangeError", message: /\bn\b/ });
  await assert.rejects(sem.acquire(1.5), { name: "RangeError", message: /\bn\b/ });
  await assert.rejects(sem.acquire("2"), { name: "TypeError", message: /\bn\b/ });
  await assert.rejects(sem.acquire(1, 5), { name: "TypeError", message: /options/ });
  assert.throws(() => sem.tryAcquire(4), { name: "RangeError", message: /\bn\b/ });
  assert.throws(() => sem.tryAcquire(-1), { name: "RangeError", message: /\bn\b/ });
  assert.equal(tree.version, before, "nothing changed");
  assert.equal(sem.available, 2);
  assert.deepEqual([m.holders(), rw.holders(), sem.waiters()], [[], [], []]);
  held.release();
  assert.ok(v <= tree.version);
});

// --- leaked guards -----------------------------------------------------------------------------

Deno.test("a guard still held after its holder context has ended is reported as leaked", async () => {
  const { root } = clocked();
  const tree = internals.tree(root);
  const m = root.mutex("session-output-lock", 0);
  const sem = root.semaphore("pool", 3);
  const leaked = await root.child("crashed").spawn(() => m.lock());
  const fine = await root.child("alive").create().spawn(() => sem.acquire());
  assert.equal(leaked.context.ended, true);
  const found = leakedGuards(tree);
  assert.equal(found.length, 1);
  assert.equal(found[0].lock, m);
  assert.equal(found[0].holder.context.path, "t.crashed");
  assert.equal(found[0].holder.context.ended, true);
  assert.equal(m.holders()[0].context.ended, true); // status may read holders() directly
  leaked.release();
  fine.release();
  assert.deepEqual(leakedGuards(tree), []);
});

// --- types ---------------------------------------------------------------------------------------

Deno.test("ctx.mutex, ctx.rwlock and ctx.semaphore make new locks each time", () => {
  const { root } = clocked();
  const a: ContextMutex<number> = root.mutex("same", 1);
  const b: ContextMutex<number> = root.mutex("same", 2);
  const r: ContextRwLock<string> = root.rwlock("rw", "x");
  const s: ContextSemaphore = root.semaphore("s", 1);
  assert.notEqual(a, b);
  const ga = a.tryLock()!, gb = b.tryLock()!;
  assert.deepEqual([ga.value, gb.value], [1, 2]);
  ga.release();
  gb.release();
  assert.equal(r.capacity, 1);
  assert.equal(s.available, 1);
});

Deno.test("a cancelled context gives up all its waits before any of them could be granted", async () => {
  const { root } = clocked();
  const rw = root.rwlock("rw", 0);
  const r0 = rw.tryRead()!;
  const job = root.child("job").create();
  const w = start(job, () => rw.write()); // at the head, blocks the read behind it
  const r = start(job, () => rw.read());
  const other = start(root.child("other").create(), () => rw.read());
  job.cancel("stop");
  await assert.rejects(w, CancelledError);
  await assert.rejects(r, CancelledError); // not granted when the writer ahead left
  (await other).release(); // the other context's reader did get in
  r0.release();
  assertFree(rw);
});

Deno.test("a context keeps what the locks know of its waits only while it waits", async () => {
  const { root } = clocked();
  const m = root.mutex("m", 0);
  const job = root.child("job").create();
  const held = m.tryLock()!;
  const waiting = as(job, () => m.lock());
  assert.notEqual(internals.waits(job), undefined);
  held.release();
  (await waiting).release();
  assert.equal(internals.waits(job), undefined);
});
