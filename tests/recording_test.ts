/**
 * The flight recorder's format: a scripted service recorded with an injected clock replays, frame
 * by frame, the dashboards status() drew live; rotation keeps the bound; damaged and newer files.
 */
import assert from "node:assert/strict";
import { configure, type Context, Metric, renderStatus, type Status, status } from "../mod.ts";
import {
  FULL_EVERY_DELTAS,
  openRecording,
  RecordingError,
  RecordingVersionError,
  RecordingWriter,
  startRecording,
} from "../src/status/recording.ts";
import type { SystemMetrics } from "../src/status/system_metrics.ts";
import { clocked, yields } from "./fixtures/lock_helpers.ts";
import { SEED_SYSTEM } from "./fixtures/system.ts";

function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "fastn-recording-test-" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

/** A system whose CPU moves with the clock, so system deltas are recorded too. */
function movingSystem(clock: { t: number }): () => SystemMetrics {
  return () => ({ ...SEED_SYSTEM, cpuUsagePercent: (clock.t / 1000) % 97 });
}

/**
 * A scripted service: each step changes the tree (contexts come and go, namesakes end out of
 * order, data, secrets, metrics, counters, locks, a waiter, a deadlock, a cancel, a failure), then
 * `snap()` takes the status live. Returns the statuses taken.
 */
async function scriptedService(
  root: Context,
  clock: { t: number },
  snap: () => void,
): Promise<void> {
  const step = async (ms: number, change: () => unknown): Promise<void> => {
    clock.t += ms;
    await change();
    await yields(20);
    snap();
  };
  snap();
  const proxy = root.child("http-proxy").withMetric("port", Metric.gauge(8080)).create();
  await step(1_000, () => proxy.incrementTotal("requests", 3));
  const workers: Context[] = [];
  await step(500, () => {
    for (let i = 0; i < 3; i++) workers.push(proxy.child("worker").withData("n", i).create());
  });
  await step(700, () => workers[0].end()); // a namesake ends first: the order must hold
  await step(300, () => {
    proxy.child("worker").create();
    proxy.setData("password", "hunter2");
    proxy.setData("dsn", "postgres://x", { secret: true });
    proxy.addMetric("last_token", Metric.text("abc"));
  });
  await step(2_000, () => proxy.incrementLive("connections"));
  const m = root.mutex("session-output-lock", 0);
  const holder = root.child("stdout-handler").create();
  const guard = await holder.spawn(() => m.lock());
  await step(100, () => {});
  const waiter = root.child("stderr-stream").create();
  const waiting = waiter.spawn(() => m.lock());
  waiting.catch(() => {});
  await step(6_000, () => {}); // the waiter is stuck by now (5 s)
  // a deadlock: a and b taken in opposite order
  const a = root.mutex("a", 0), b = root.mutex("b", 0);
  const one = root.child("one").create(), two = root.child("two").create();
  const ga = await one.spawn(() => a.lock());
  const gb = await two.spawn(() => b.lock());
  const w1 = one.spawn(() => b.lock());
  w1.catch(() => {});
  await step(1_000, () => void two.spawn(() => a.lock()).catch(() => {}));
  await step(1_000, () => two.cancel("break the cycle"));
  await step(500, () => {
    gb.release();
  });
  await step(500, async () => {
    (await w1).release();
    ga.release();
    guard.release();
    (await waiting).release();
  });
  await step(800, () => {
    for (const w of workers.slice(1)) w.end();
    proxy.decrementLive("connections");
  });
  await step(
    1_200,
    () => void root.child("job").spawn(() => Promise.reject(new Error("boom"))).catch(() => {}),
  );
  await step(60_000, () => proxy.incrementTotal("requests"));
}

/** Records the scripted service; returns the live statuses and the recording's path. */
async function recordScripted(
  dir: string,
  options: { maxBytes?: number; fullEveryDeltas?: number } = {},
): Promise<{ live: Status[]; path: string; root: Context }> {
  const { root, clock } = clocked("global", 1_700_000_000_000);
  const system = movingSystem(clock);
  const path = `${dir}/rec.jsonl`;
  const writer = new RecordingWriter(path, options);
  const live: Status[] = [];
  await scriptedService(root, clock, () => {
    const s = status({ root, system });
    if (writer.write(s)) live.push(s);
  });
  writer.close();
  return { live, path, root };
}

Deno.test("a recording of a scripted service replays, frame by frame, the dashboards status() drew live", async () => {
  using dir = tempDir();
  const { live, path } = await recordScripted(dir.path);
  const rec = openRecording(path);
  assert.deepEqual(rec.notes, []);
  assert.equal(rec.length, live.length);
  assert.ok(live.length >= 15, `only ${live.length} frames`);
  for (let i = 0; i < live.length; i++) {
    const replayed = rec.statusAt(i);
    assert.equal(rec.atOf(i), live[i].timestamp);
    assert.equal(
      renderStatus(replayed, { color: false }),
      renderStatus(live[i], { color: false }),
      `frame ${i}`,
    );
    assert.deepEqual(replayed, JSON.parse(JSON.stringify(live[i])), `frame ${i}`);
  }
  // Out of order too: the index finds any moment from its snapshot.
  for (const i of [live.length - 1, 3, 0, 7]) {
    assert.equal(
      renderStatus(rec.statusAt(i), { color: false }),
      renderStatus(live[i], { color: false }),
    );
  }
});

Deno.test("frames rebuilt from periodic full snapshots equal those rebuilt from deltas", async () => {
  using dir = tempDir();
  const { live, path } = await recordScripted(dir.path, { fullEveryDeltas: 3 });
  const rec = openRecording(path);
  assert.equal(rec.length, live.length);
  for (let i = live.length - 1; i >= 0; i--) {
    assert.deepEqual(rec.statusAt(i), JSON.parse(JSON.stringify(live[i])), `frame ${i}`);
  }
  const lines = Deno.readTextFileSync(path).trim().split("\n");
  const fulls = lines.filter((l) => l.startsWith('{"at":') && JSON.parse(l).k === "f").length;
  assert.equal(fulls, Math.ceil(live.length / 4));
  assert.ok(FULL_EVERY_DELTAS === 1_000);
});

Deno.test("the recording holds no secret and its file has mode 0600", async () => {
  using dir = tempDir();
  const { path } = await recordScripted(dir.path);
  const text = Deno.readTextFileSync(path);
  for (const secret of ["hunter2", "postgres://x", '"abc"']) {
    assert.ok(!text.includes(secret), `${secret} is in the recording`);
  }
  assert.ok(text.includes("[redacted]"));
  assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
});

Deno.test("secret keys configured on the recording machine are redacted even when the status came unredacted", () => {
  using dir = tempDir();
  const { root } = clocked("global");
  root.setData("customer_ssn", "123-45-6789");
  const s = JSON.parse(JSON.stringify(status({ root }))) as Status; // as a peer sent it
  const before = configure({});
  configure({ secretKeys: [...before.secretKeys, "ssn"] });
  try {
    const w = new RecordingWriter(`${dir.path}/r.jsonl`);
    w.write(s);
    w.close();
  } finally {
    configure({ secretKeys: before.secretKeys });
  }
  const text = Deno.readTextFileSync(`${dir.path}/r.jsonl`);
  assert.ok(!text.includes("123-45-6789"));
});

Deno.test("rotation keeps the recording within maxBytes, and what is kept still replays", () => {
  using dir = tempDir();
  const maxBytes = 16 * 1024;
  const { root, clock } = clocked("global", 1_000);
  const path = `${dir.path}/rec.jsonl`;
  const writer = new RecordingWriter(path, { maxBytes });
  const proxy = root.child("http-proxy").withData("note", "x".repeat(200)).create();
  const live: Status[] = [];
  let conn: Context | undefined;
  for (let i = 0; i < 2_000; i++) {
    clock.t += 1_000;
    proxy.incrementTotal("requests");
    if (i % 7 === 0) {
      conn?.end();
      conn = proxy.child(`conn-${i}`).create();
    }
    const s = status({ root, system: SEED_SYSTEM });
    writer.write(s);
    live.push(s);
    const total = [...Deno.readDirSync(dir.path)]
      .reduce((n, e) => n + Deno.statSync(`${dir.path}/${e.name}`).size, 0);
    assert.ok(total <= maxBytes, `${total} bytes after ${i + 1} writes`);
  }
  writer.close();
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name).sort();
  assert.ok(names.length >= 2 && names.length <= 4, names.join(" "));
  assert.ok(names.includes("rec.jsonl"));
  const rec = openRecording(path);
  assert.deepEqual(rec.notes, []);
  assert.equal(rec.endedAt, live[live.length - 1].timestamp);
  const first = live.findIndex((s) => s.timestamp === rec.startedAt);
  assert.ok(first > 0, "the oldest moments were dropped");
  assert.equal(rec.length, live.length - first);
  for (const i of [0, rec.length - 1, Math.floor(rec.length / 2)]) {
    assert.equal(
      renderStatus(rec.statusAt(i), { color: false }),
      renderStatus(live[first + i], { color: false }),
    );
  }
});

Deno.test("a recorder started where a recording is keeps the old one as a segment", () => {
  using dir = tempDir();
  const { root, clock } = clocked("global", 1_000);
  const path = `${dir.path}/rec.jsonl`;
  for (let session = 0; session < 2; session++) {
    const w = new RecordingWriter(path);
    for (let i = 0; i < 3; i++) {
      clock.t += 1_000;
      root.incrementTotal("ticks");
      w.write(status({ root, system: SEED_SYSTEM }));
    }
    w.close();
  }
  assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name).sort(), [
    "rec.jsonl",
    "rec.jsonl.1",
  ]);
  const rec = openRecording(path);
  assert.equal(rec.length, 6);
  assert.deepEqual(rec.statusAt(5).global.totalCounters, { ticks: 6 });
  assert.equal(rec.sources.length, 2);
});

Deno.test("a truncated last line is skipped with a note, not an error", async () => {
  using dir = tempDir();
  const { live, path } = await recordScripted(dir.path);
  const bytes = Deno.readFileSync(path);
  Deno.writeFileSync(path, bytes.subarray(0, bytes.length - 25));
  const rec = openRecording(path);
  assert.equal(rec.length, live.length - 1);
  assert.equal(rec.notes.length, 1);
  assert.match(rec.notes[0], /incomplete .* skipped/);
  assert.deepEqual(rec.statusAt(rec.length - 1), JSON.parse(JSON.stringify(live[live.length - 2])));
});

Deno.test("a recording from a newer format version is refused with a clear message", () => {
  using dir = tempDir();
  const path = `${dir.path}/rec.jsonl`;
  Deno.writeTextFileSync(
    path,
    '{"fastn-context-recording":2,"at":1,"source":{}}\n{"at":1,"k":"f","status":{}}\n',
  );
  assert.throws(() => openRecording(path), (e: unknown) => {
    assert.ok(e instanceof RecordingVersionError);
    assert.equal(e.version, 2);
    assert.match(e.message, /format version 2; this @fastn\/context reads version 1/);
    return true;
  });
});

Deno.test("a file that is not a recording, and a missing one, are RecordingErrors that say so", () => {
  using dir = tempDir();
  Deno.writeTextFileSync(`${dir.path}/x.json`, '{"hello":1}\n');
  assert.throws(() => openRecording(`${dir.path}/x.json`), /not a @fastn\/context recording/);
  assert.throws(
    () => openRecording(`${dir.path}/none.jsonl`),
    (e: unknown) => e instanceof RecordingError && e.kind === "missing",
  );
});

Deno.test("find lands on the first frame that shows a deadlock, a warning code or a context", async () => {
  using dir = tempDir();
  const { live, path } = await recordScripted(dir.path);
  const rec = openRecording(path);
  const first = (test: (s: Status) => boolean): number => live.findIndex(test);
  const deadlock = first((s) => s.warnings.some((w) => w.code === "deadlock"));
  assert.ok(deadlock > 0);
  assert.equal(rec.find("deadlock"), deadlock);
  assert.equal(
    rec.find("waiter-stuck"),
    first((s) => s.warnings.some((w) => w.code === "waiter-stuck")),
  );
  assert.equal(
    rec.find("task-failed"),
    first((s) => s.warnings.some((w) => w.code === "task-failed")),
  );
  assert.equal(rec.find("one"), first((s) => s.global.children.some((c) => c.name === "one")));
  assert.equal(rec.find("global.http-proxy.worker"), 2);
  assert.equal(rec.find("no-such-thing"), -1);
  assert.equal(rec.find("deadlock", deadlock + 1), -1); // the cancel broke the cycle
});

Deno.test("diff names the contexts that came and went, the locks and the counters' deltas", async () => {
  using dir = tempDir();
  const { path } = await recordScripted(dir.path);
  const rec = openRecording(path);
  const d = rec.diff(0, 3);
  assert.deepEqual(d.contextsStarted.sort(), [
    "global.http-proxy",
    "global.http-proxy.worker",
    "global.http-proxy.worker",
  ]);
  assert.deepEqual(d.contextsEnded, []);
  assert.deepEqual(d.counters["global.http-proxy.requests"], { from: null, to: 3, delta: 3 });
  const lockAt = rec.find("stderr-stream");
  const l = rec.diff(lockAt - 1, lockAt);
  assert.deepEqual(l.waitsStarted, ["global.stderr-stream waits for session-output-lock"]);
  const d2 = rec.diff(3, rec.length - 1);
  assert.ok(d2.contextsEnded.includes("global.http-proxy.worker"));
  assert.ok(
    d2.locksTaken.length === 0 && d2.warningsAppeared.some((w) => w.startsWith("task-failed")),
  );
});

Deno.test("startRecording records a tree's stream and flushes the last change on close", async () => {
  using dir = tempDir();
  const { root, clock } = clocked("global", 5_000);
  const path = `${dir.path}/rec.jsonl`;
  const recorder = startRecording({ root, path, system: SEED_SYSTEM, minIntervalMs: 60_000 });
  await yields(5);
  clock.t += 100;
  root.child("late").create(); // held back by the stream's interval: close() must write it
  await recorder.close();
  const rec = openRecording(path);
  assert.equal(rec.statusAt(rec.length - 1).global.children[0]?.name, "late");
});

Deno.test("bad recording options are TypeErrors and RangeErrors naming the option", () => {
  using dir = tempDir();
  assert.throws(() => new RecordingWriter(""), TypeError);
  assert.throws(
    () => new RecordingWriter(`${dir.path}/r`, { maxBytes: 10 }),
    /recording.maxBytes must be an integer of at least 16384, got 10/,
  );
  assert.throws(
    // @ts-expect-error: a string
    () => new RecordingWriter(`${dir.path}/r`, { maxBytes: "1mb" }),
    TypeError,
  );
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});
