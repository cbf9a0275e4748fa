import assert from "node:assert/strict";
import { configure, Context, openMetrics, renderStatus, status, statusJson } from "../mod.ts";
import { pendingStreamTimers, statusStream } from "../src/status/stream.ts";
import type { SystemMetrics } from "../src/status/system_metrics.ts";
import { NO_SYSTEM } from "./fixtures/system.ts";

const GB = 1_000_000_000;

/** Readings of a 16 GB, 4-CPU machine, all low; tests change one field at a time. */
function machine(): SystemMetrics {
  return {
    ...NO_SYSTEM,
    cpuUsagePercent: 10,
    memoryUsedBytes: 2 * GB,
    memoryTotalBytes: 16 * GB,
    diskUsedBytes: 100 * GB,
    diskTotalBytes: 1_000 * GB,
    loadAverage: [0.5, 0.5, 0.5],
    processRssBytes: 0.1 * GB,
    cpuCount: 4,
    unavailable: {},
  };
}

function codes(root: Context, system: SystemMetrics): string[] {
  return status({ root, system }).warnings.map((w) => `${w.code}:${w.severity}`);
}

interface Case {
  code: string;
  /** Readings at a given level, in the unit of the thresholds. */
  at(s: SystemMetrics, level: number): void;
  high: number;
  critical: number;
}

const CASES: Case[] = [
  { code: "cpu-high", high: 90, critical: 98, at: (s, v) => void (s.cpuUsagePercent = v) },
  {
    code: "memory-high",
    high: 90,
    critical: 97,
    at: (s, v) => void (s.memoryUsedBytes = (v / 100) * s.memoryTotalBytes!),
  },
  {
    code: "disk-full",
    high: 90,
    critical: 97,
    at: (s, v) => void (s.diskUsedBytes = (v / 100) * s.diskTotalBytes!),
  },
  { code: "load-high", high: 2, critical: 4, at: (s, v) => void (s.loadAverage = [v * 4, 1, 1]) },
  {
    code: "process-memory-high",
    high: 70,
    critical: 85,
    at: (s, v) => void (s.processRssBytes = (v / 100) * s.memoryTotalBytes!),
  },
];

for (const c of CASES) {
  Deno.test(`${c.code} is raised at its level, critical at its critical level, and clears only below the hysteresis band`, () => {
    const root = Context.root("global");
    const s = machine();
    const at = (v: number): string[] => {
      c.at(s, v);
      return codes(root, s);
    };
    const below = c.high * 0.95; // the band: alertHysteresis 0.05 of the level
    assert.deepEqual(at(c.high * 0.99), [], "just under the level: nothing");
    assert.deepEqual(at(c.high), [`${c.code}:warning`]);
    // Wavering just under the level keeps the alert: no flapping.
    for (const v of [c.high * 0.99, c.high, c.high * 0.96, c.high * 0.99]) {
      assert.deepEqual(at(v), [`${c.code}:warning`], `at ${v}`);
    }
    assert.deepEqual(at(c.critical), [`${c.code}:critical`]);
    assert.deepEqual(at(c.critical * 0.97), [`${c.code}:critical`], "inside the critical band");
    assert.deepEqual(at(c.critical * 0.94), [`${c.code}:warning`], "below it: back to warning");
    assert.deepEqual(at(below + 0.001 * c.high), [`${c.code}:warning`]);
    assert.deepEqual(at(below * 0.999), [], "below the band: cleared");
    assert.deepEqual(at(c.high * 0.99), [], "and not raised again until the level");
  });
}

Deno.test("every system alert shows in JSON, the dashboard and OpenMetrics, and names the reading", () => {
  const root = Context.root("global");
  const s = machine();
  for (const c of CASES) c.at(s, c.critical);
  const json = statusJson({ root, system: s });
  assert.deepEqual(
    json.warnings.map((w) => w.code).sort(),
    CASES.map((c) => c.code).sort(),
  );
  for (const w of json.warnings) {
    assert.equal(w.severity, "critical");
    assert.equal(w.contextPath, "global");
  }
  const mem = json.warnings.find((w) => w.code === "memory-high")!;
  assert.equal(mem.message, "Memory usage high: 97% in use (15.5GB of 16GB); critical at 97%");
  const load = json.warnings.find((w) => w.code === "load-high")!;
  assert.equal(
    load.message,
    "Load high: 16.00 over 4 CPUs (4.00 per core); critical at 4× per core",
  );
  const text = renderStatus(status({ root, system: s }), { color: false });
  assert.match(text, /⚠️ Warnings \(5\):/);
  assert.match(text, /🚨 Disk almost full: 97% used/);
  assert.doesNotMatch(text, /CPU usage normal/);
  const metrics = openMetrics({ root, system: s });
  for (const c of CASES) {
    assert.match(metrics, new RegExp(`fastn_warnings\\{code="${c.code}"\\} 1`));
  }
});

Deno.test("with no alert the dashboard's warnings end with the design's line about the machine", async () => {
  const root = Context.root("global");
  await root.child("job").spawn(() => Promise.reject(new Error("boom"))).catch(() => {});
  const text = renderStatus(status({ root, system: machine() }), { color: false });
  assert.match(text, /\n {2}- CPU usage normal \(10%\), memory usage low \(13%\)$/);
});

Deno.test("readings that cannot be taken raise no alert", () => {
  const root = Context.root("global");
  const s: SystemMetrics = {
    ...NO_SYSTEM,
    loadAverage: [100, 100, 100], // but no CPU count to judge it by
    processRssBytes: 15 * GB, // but no installed memory to compare with
    unavailable: { cpuCount: "unknown", memoryTotalBytes: "needs --allow-sys=systemMemoryInfo" },
  };
  assert.deepEqual(codes(root, s), []);
});

Deno.test("the levels are set with configure(), checked, and each critical level is at least its warning level", () => {
  const before = configure();
  try {
    configure({ memoryHighPercent: 50, memoryCriticalPercent: 60, alertHysteresis: 0 });
    const root = Context.root("global");
    const s = machine();
    s.memoryUsedBytes = 8 * GB;
    assert.deepEqual(codes(root, s), ["memory-high:warning"]);
    s.memoryUsedBytes = 7.99 * GB;
    assert.deepEqual(codes(root, s), [], "no hysteresis: cleared just below");
    assert.throws(
      () => configure({ diskCriticalPercent: 80 }),
      /options\.diskCriticalPercent \(80\) must not be below diskFullPercent \(90\)/,
    );
    assert.throws(() => configure({ alertHysteresis: 1 }), RangeError);
    assert.throws(() => configure({ loadHighPerCore: -1 }), RangeError);
    assert.equal(configure().diskCriticalPercent, 97, "nothing changed on bad input");
  } finally {
    configure(before);
  }
});

/** A system function whose readings the test sets, and that tells when it has been read. */
function readings(): {
  system: () => SystemMetrics;
  value: SystemMetrics;
  reads: () => number;
  readsReach: (n: number) => Promise<void>;
} {
  const value = machine();
  let reads = 0;
  let want = Infinity;
  let reached: (() => void) | undefined;
  return {
    value,
    system: () => {
      reads++;
      if (reads >= want) reached?.();
      return { ...value };
    },
    reads: () => reads,
    readsReach: (n) =>
      new Promise<void>((r) => {
        want = n;
        reached = r;
        if (reads >= n) r();
      }),
  };
}

Deno.test("a stream emits when a system alert is raised or cleared, and stays silent otherwise", async () => {
  const root = Context.root("global");
  const m = readings();
  const stream = statusStream({ root, system: m.system, minIntervalMs: 0, sampleIntervalMs: 1 });
  const first = await stream.next();
  assert.deepEqual(first.value!.warnings, []);

  let next = stream.next();
  let settled = false;
  next.then(() => (settled = true));
  // Readings that move but cross nothing: no snapshot.
  m.value.memoryUsedBytes = 12 * GB;
  await m.readsReach(m.reads() + 5);
  assert.equal(settled, false, "no snapshot for readings alone");

  m.value.memoryUsedBytes = 15 * GB; // 93.75%: crosses 90%
  const raised = await next;
  assert.deepEqual(raised.value!.warnings.map((w) => w.code), ["memory-high"]);

  next = stream.next();
  settled = false;
  next.then(() => (settled = true));
  m.value.memoryUsedBytes = 13.9 * GB; // 86.9%: under the level, inside the band
  await m.readsReach(m.reads() + 5);
  assert.equal(settled, false, "no snapshot while inside the hysteresis band");

  m.value.memoryUsedBytes = 13 * GB; // 81%: cleared
  const cleared = await next;
  assert.deepEqual(cleared.value!.warnings, []);

  await stream.return!();
  assert.equal(pendingStreamTimers(), 0, "no timer once the stream is closed");
  const after = m.reads();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(m.reads(), after, "and nothing read");
});

Deno.test("a stream with fixed system readings reads nothing and sets no timer while idle", async () => {
  const root = Context.root("global");
  const stream = statusStream({ root, system: machine(), minIntervalMs: 0, sampleIntervalMs: 1 });
  await stream.next();
  const waiting = stream.next();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(pendingStreamTimers(), 0);
  root.child("late").create();
  assert.deepEqual((await waiting).value!.global.children.map((c) => c.name), ["late"]);
  await stream.return!();
});

Deno.test("sampleIntervalMs is checked", () => {
  assert.throws(() => statusStream({ sampleIntervalMs: 0 }), RangeError);
  assert.throws(() => statusStream({ sampleIntervalMs: "1" as unknown as number }), TypeError);
});
