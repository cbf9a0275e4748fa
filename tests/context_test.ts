import assert from "node:assert/strict";
import { bind, CancelledError, Context, ContextEndedError, current, global } from "../mod.ts";
import { internals } from "../src/core/context.ts";

function children(ctx: Context): Context[] {
  const out: Context[] = [];
  for (let c = internals.firstChild(ctx); c; c = internals.nextSibling(c)) out.push(c);
  return out;
}

/** A promise with its resolve function, to let tests wait on events. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

Deno.test("a root has its name as path, no parent, and the clock's time as createdAt", () => {
  const root = Context.root("global", { now: () => 1_000 });
  assert.equal(root.name, "global");
  assert.equal(root.path, "global");
  assert.equal(root.parent, undefined);
  assert.equal(root.createdAt, 1_000);
  assert.equal(root.cancelled, false);
  assert.equal(root.ended, false);
});

Deno.test("a child's path joins the names with dots, escaping dots, percents and stars", () => {
  const root = Context.root("global");
  const a = root.child("v1.2").create();
  const b = a.child("100%").create();
  const c = b.child("*").create();
  assert.equal(a.path, "global.v1%2E2");
  assert.equal(b.path, "global.v1%2E2.100%25");
  assert.equal(c.path, "global.v1%2E2.100%25.%2A");
  // "a.b" under root and "b" under "a" never share a path
  const ab = root.child("a.b").create();
  const aThenB = root.child("a").create().child("b").create();
  assert.notEqual(ab.path, aThenB.path);
});

Deno.test("children register with their parent in creation order", () => {
  const root = Context.root("global");
  const a = root.child("a").create();
  const b = root.child("b").create();
  const c = root.child("c").create();
  assert.deepEqual(children(root), [a, b, c]);
  b.end();
  assert.deepEqual(children(root), [a, c]);
  a.end();
  c.end();
  assert.deepEqual(children(root), []);
});

Deno.test("cancel() cascades to every descendant of a wide tree of 10,000", () => {
  const root = Context.root("global");
  const svc = root.child("svc").create();
  const all: Context[] = [];
  for (let i = 0; i < 100; i++) {
    const s = svc.child(`session-${i}`).create();
    all.push(s);
    for (let j = 0; j < 99; j++) all.push(s.child(`task-${j}`).create());
  }
  assert.equal(all.length, 10_000);
  const other = root.child("other").create();
  svc.cancel("shutdown");
  for (const c of all) {
    assert.equal(c.cancelled, true);
    assert.equal(c.cancelReason, "shutdown");
  }
  assert.equal(root.cancelled, false, "the parent is not cancelled");
  assert.equal(other.cancelled, false, "a sibling is not cancelled");
});

Deno.test("cancel() cascades down a chain 10,000 deep without overflowing the stack", () => {
  const root = Context.root("global");
  let leaf = root;
  const signals: AbortSignal[] = [];
  for (let i = 0; i < 10_000; i++) {
    leaf = leaf.child(`l${i}`).create();
    if (i % 1_000 === 0) signals.push(leaf.signal);
  }
  root.cancel("deep");
  assert.equal(leaf.cancelled, true);
  assert.equal(leaf.cancelReason, "deep");
  assert.ok(signals.every((s) => s.aborted));
});

Deno.test("the first cancel wins and its reason is kept", () => {
  const root = Context.root("global");
  const child = root.child("job").create();
  child.cancel("first");
  root.cancel("second");
  child.cancel("third");
  assert.equal(child.cancelReason, "first");
  assert.equal(root.cancelReason, "second");
  const err = child.signal.reason;
  assert.ok(err instanceof CancelledError);
  assert.equal(err.contextPath, "global.job");
  assert.equal(err.reason, "first");
});

Deno.test("a child made under a cancelled context is born cancelled with the same reason", () => {
  const root = Context.root("global");
  root.cancel("SIGTERM");
  const late = root.child("late").create();
  assert.equal(late.cancelled, true);
  assert.equal(late.cancelReason, "SIGTERM");
  assert.ok(late.signal.aborted);
});

Deno.test("signal is aborted with a CancelledError naming the cancelled context", () => {
  const root = Context.root("global");
  const job = root.child("job").create();
  const seen: unknown[] = [];
  job.signal.addEventListener("abort", () => seen.push(job.signal.reason));
  root.cancel(new Error("disk full"));
  assert.equal(seen.length, 1);
  const err = seen[0] as CancelledError;
  assert.ok(err instanceof CancelledError);
  assert.equal(err.name, "CancelledError");
  assert.equal(err.message, 'context "global" was cancelled: Error: disk full');
  assert.equal(job.signal, job.signal, "one signal per context");
});

Deno.test("wait() resolves when the context is cancelled, and at once when it already is", async () => {
  const root = Context.root("global");
  const job = root.child("job").create();
  let woke = false;
  const waiting = job.wait().then(() => (woke = true));
  await Promise.resolve();
  assert.equal(woke, false);
  root.cancel("stop");
  await waiting;
  assert.equal(woke, true);
  await job.wait();
});

Deno.test("spawn() gives the task's value and current() is the child across awaits", async () => {
  const root = Context.root("global");
  const value = await root.child("job").spawn(async (ctx) => {
    assert.equal(current(), ctx);
    await Promise.resolve();
    assert.equal(current(), ctx);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(current(), ctx);
    return ctx.path;
  });
  assert.equal(value, "global.job");
});

Deno.test("current() is right in timers, microtasks, Promise.all and nested spawns", async () => {
  const root = Context.root("global");
  await root.child("outer").spawn(async (outer) => {
    const seen = await Promise.all([
      new Promise<Context>((r) => setTimeout(() => r(current()), 0)),
      new Promise<Context>((r) => queueMicrotask(() => r(current()))),
      new Promise<Context>((r) => {
        const id = setInterval(() => {
          clearInterval(id);
          r(current());
        }, 0);
      }),
      outer.child("inner").spawn(async (inner) => {
        await Promise.resolve();
        const deeper = await inner.child("deeper").spawn(async () => {
          await new Promise((r) => setTimeout(r, 0));
          return current();
        });
        assert.equal(deeper.path, "global.outer.inner.deeper");
        return current();
      }),
    ]);
    assert.deepEqual(seen.map((c) => c.path), [
      "global.outer",
      "global.outer",
      "global.outer",
      "global.outer.inner",
    ]);
    assert.equal(current(), outer);
  });
  assert.equal(current(), global());
});

Deno.test("current() is right in event listeners: dispatched in the task, or by a port", async () => {
  const root = Context.root("global");
  await root.child("job").spawn(async (ctx) => {
    const target = new EventTarget();
    let inListener: Context | undefined;
    target.addEventListener("ping", () => (inListener = current()));
    await Promise.resolve();
    target.dispatchEvent(new Event("ping"));
    assert.equal(inListener, ctx);

    const { port1, port2 } = new MessageChannel();
    const fromPort = new Promise<Context>((r) => {
      port1.onmessage = () => {
        port1.close();
        r(current());
      };
    });
    port2.postMessage("hi");
    port2.close();
    assert.equal(await fromPort, ctx);

    const ac = new AbortController();
    const onAbort = new Promise<Context>((r) =>
      ac.signal.addEventListener("abort", () => r(current()))
    );
    setTimeout(() => ac.abort(), 0);
    assert.equal(await onAbort, ctx);
  });
});

Deno.test("bind() keeps the context for a listener fired from outside the task", async () => {
  const root = Context.root("global");
  const target = new EventTarget();
  const fired = gate();
  let seen: Context | undefined;
  const job = root.child("job").create();
  await job.spawn(async () => {
    await Promise.resolve();
    target.addEventListener(
      "ping",
      bind(() => {
        seen = current();
        fired.open();
      }),
    );
  });
  target.dispatchEvent(new Event("ping")); // from outside any task
  await fired.promise;
  assert.equal(seen, job);
  job.end();
});

Deno.test("simple spawn() runs in the same context and makes no child", async () => {
  const root = Context.root("global");
  const inner = await root.spawn(async () => {
    await Promise.resolve();
    return current();
  });
  assert.equal(inner, root);
  assert.deepEqual(children(root), []);
});

Deno.test("a spawned context leaves once its task settled and its descendants left", async () => {
  const root = Context.root("global");
  const childGate = gate();
  const started = gate();
  let child!: Context;
  const parent = root.child("parent");
  let parentCtx!: Context;
  await parent.spawn((ctx) => {
    parentCtx = ctx;
    ctx.child("child").spawn(async (c) => {
      child = c;
      started.open();
      await childGate.promise;
    });
  });
  await started.promise;
  assert.equal(parentCtx.ended, false, "the parent stays while its child runs");
  assert.deepEqual(children(root), [parentCtx]);
  childGate.open();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(child.ended, true);
  assert.equal(parentCtx.ended, true);
  assert.deepEqual(children(root), []);
});

Deno.test("a created context leaves on end(), ending twice is a no-op, using ends it", () => {
  const root = Context.root("global");
  const conn = root.child("conn").create();
  conn.end();
  conn.end();
  assert.equal(conn.ended, true);
  assert.equal(conn.cancelReason, "ended");
  let inner!: Context;
  {
    using c = root.child("scoped").create();
    inner = c;
    assert.equal(c.ended, false);
  }
  assert.equal(inner.ended, true);
  assert.deepEqual(children(root), []);
});

Deno.test("end() on a context with running children leaves only once they are done", async () => {
  const root = Context.root("global");
  const conn = root.child("conn").create();
  const stopped = conn.child("reader").spawn(async (ctx) => {
    await ctx.wait();
    return ctx.cancelReason;
  });
  conn.end();
  assert.equal(conn.ended, false, "still has a running child");
  assert.equal(await stopped, "ended");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(conn.ended, true);
});

Deno.test("making a child under an ended context throws ContextEndedError and changes nothing", () => {
  const root = Context.root("global");
  const conn = root.child("conn").create();
  conn.end();
  assert.throws(() => conn.child("late").create(), ContextEndedError);
  assert.throws(() => conn.child("late").spawn(() => {}), /has ended/);
  assert.deepEqual(children(root), []);
});

Deno.test("spawn() on an ended context throws ContextEndedError, runs nothing and changes nothing", async () => {
  const root = Context.root("global");
  const conn = root.child("conn").create();
  conn.incrementTotal("requests");
  conn.end();
  let ran = false;
  assert.throws(() => conn.spawn(() => void (ran = true)), ContextEndedError);
  assert.throws(
    () => conn.spawn(() => {}),
    /^ContextEndedError: context "global\.conn" has ended: no child can be made and no task/,
  );
  // A spawned context ends with its task: a late callback cannot run work in it unseen.
  let job!: Context;
  await root.child("job").spawn((ctx) => void (job = ctx));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(job.ended, true);
  assert.throws(() => job.spawn(() => void (ran = true)), ContextEndedError);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(ran, false);
  assert.equal(internals.running(conn), 0);
  assert.equal(root.getTotal("requests", { deep: true }), 1);
  assert.deepEqual(children(root), []);
});

Deno.test("a task that stops with the CancelledError of its cancelled context has not failed", async () => {
  const root = Context.root("global");
  const started = gate();
  const stopped = root.child("worker").spawn(async (ctx) => {
    started.open();
    await ctx.wait();
    ctx.signal.throwIfAborted(); // the usual way to stop
  });
  await started.promise;
  root.cancel("SIGTERM");
  const err = await stopped.catch((e) => e);
  assert.ok(err instanceof CancelledError, "the handle still rejects with it");
  assert.equal(err.reason, "SIGTERM");
  await new Promise((r) => setTimeout(r, 0));
  const tree = internals.tree(root);
  assert.deepEqual(tree.failures, [], "no task-failed warning");
  assert.equal(root.getTotal("failed", { deep: true }), 0);
  assert.deepEqual(children(root), [], "the worker left the tree");
});

Deno.test("a CancelledError while the task's own context is not cancelled is still a failure", async () => {
  const root = Context.root("global");
  const other = Context.root("other");
  other.cancel("elsewhere");
  await assert.rejects(
    root.child("worker").spawn(() => Promise.reject(other.signal.reason)),
    CancelledError,
  );
  assert.equal(root.getTotal("failed", { deep: true }), 1);
  // and any other error from a cancelled context is a failure too
  const job = root.child("job").create();
  job.cancel("stop");
  await assert.rejects(job.spawn(() => Promise.reject(new Error("cleanup broke"))), /cleanup/);
  assert.equal(job.getTotal("failed"), 1);
});

Deno.test("an unawaited failing task is recorded, counted and does not crash the run", async () => {
  let t = 0;
  const root = Context.root("global", { now: () => t });
  const done = gate();
  t = 42;
  root.child("worker").spawn(async () => {
    await Promise.resolve();
    setTimeout(done.open, 0);
    throw new Error("boom");
  });
  await done.promise;
  const tree = internals.tree(root);
  assert.equal(tree.failures.length, 1);
  assert.deepEqual(tree.failures[0], {
    contextPath: "global.worker",
    message: "Error: boom",
    at: 42,
  });
  assert.equal(root.getTotal("failed", { deep: true }), 1);
  assert.deepEqual(children(root), [], "the failed context left the tree");
});

Deno.test("a task that throws synchronously is handled like one that rejects", async () => {
  const root = Context.root("global");
  const p = root.spawn(() => {
    throw new TypeError("sync");
  });
  await assert.rejects(p, TypeError);
  assert.ok(internals.lastError(root) instanceof TypeError);
  assert.equal(root.getTotal("failed"), 1);
});

Deno.test("awaiting the handle of a failed task rethrows its error", async () => {
  const root = Context.root("global");
  const err = new RangeError("nope");
  await assert.rejects(root.child("job").spawn(() => Promise.reject(err)), (e) => e === err);
});

Deno.test("a task returning a non-promise value or a thenable resolves to it", async () => {
  const root = Context.root("global");
  assert.equal(await root.child("sync").spawn(() => 7), 7);
  const thenable = { then: (r: (v: number) => void) => r(8) } as unknown as PromiseLike<number>;
  assert.equal(await root.child("thenable").spawn(() => thenable), 8);
});

Deno.test("touch(), duration() and idleDuration() follow the tree's clock", () => {
  let t = 10_000;
  const root = Context.root("global", { now: () => t });
  const c = root.child("c").create();
  t += 1_500;
  assert.equal(c.duration(), 1_500);
  assert.equal(c.idleDuration(), 1_500);
  c.touch();
  t += 200;
  assert.equal(c.idleDuration(), 200);
  assert.equal(c.duration(), 1_700);
});

Deno.test("setData() stores a private copy of JSON values; getData() reads it back", () => {
  const root = Context.root("global");
  const value = { peer: "alice", ports: [22, 80], nested: { ok: true, none: null } };
  root.setData("conn", value);
  value.ports.push(443);
  assert.deepEqual(root.getData("conn"), {
    peer: "alice",
    ports: [22, 80],
    nested: { ok: true, none: null },
  });
  root.setData("conn", "replaced");
  assert.equal(root.getData("conn"), "replaced");
  assert.equal(root.getData("missing"), undefined);
});

Deno.test("global() is one shared root named global, and current() outside tasks is it", () => {
  assert.equal(global(), global());
  assert.equal(global().name, "global");
  assert.equal(current(), global());
});

Deno.test("end() ends the created contexts under it, so nothing is left behind", () => {
  const root = Context.root("global");
  const session = root.child("session").create();
  const reader = session.child("reader").create();
  const deeper = reader.child("buffer").create();
  session.end();
  assert.deepEqual([session.ended, reader.ended, deeper.ended], [true, true, true]);
  assert.deepEqual(children(root), []);
});

Deno.test("a builder used twice gives each child the data it had when that child was made", () => {
  const root = Context.root("svc");
  const builder = root.child("job").withData("a", 1);
  const first = builder.create();
  builder.withData("b", 2);
  const second = builder.create();
  first.setData("c", 3);
  assert.deepEqual(Object.fromEntries(internals.data(first)!), { a: 1, c: 3 });
  assert.deepEqual(Object.fromEntries(internals.data(second)!), { a: 1, b: 2 });
  assert.equal(root.child("x").withData("k", 1).withData("k", 2).create().getData("k"), 2);
});
