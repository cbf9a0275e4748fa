import assert from "node:assert/strict";
import { stripVTControlCharacters } from "node:util";
import { Context, Metric } from "../mod.ts";
import { internals } from "../src/core/context.ts";
import { formatBytes, formatDuration, formatNumber } from "../src/status/format.ts";
import { renderStatus } from "../src/status/render.ts";
import { status, statusJson } from "../src/status/status.ts";
import type { Status } from "../src/status/types.ts";
import { NO_SYSTEM, SEED_SYSTEM } from "./fixtures/system.ts";
import { fakeLock } from "./fixtures/fake_lock.ts";
import type { SystemMetrics } from "../src/status/system_metrics.ts";

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
/** The moment the seed's screen is taken: the global context is 2h 15m 32s old. */
const NOW = T0 + 2 * H + 15 * M + 32 * S;

/** The seed's example application, built on a fake clock; `finish()` lets its tasks end. */
function seedTree(): { root: Context; finish: () => Promise<void> } {
  let t = T0;
  const root = Context.root("global", { now: () => t });
  const releases: Array<() => void> = [];
  const tasks: Promise<unknown>[] = [];
  const at = (ago: number): void => {
    t = NOW - ago;
  };
  const running = (parent: Context, name: string, ago: number): Context => {
    at(ago);
    let made!: Context;
    tasks.push(
      parent.child(name).spawn((ctx) => {
        made = ctx;
        return new Promise<void>((r) => releases.push(r));
      }),
    );
    return made;
  };
  const idle = new Map<Context, number>();

  root.incrementTotal("connections", 1_013);
  root.incrementTotal("requests", 14_419);
  for (let i = 0; i < 4; i++) root.incrementLive("requests");
  idle.set(root, 100);

  at(1 * H + 45 * M);
  const remote = root.child("remote-access").create();
  remote.incrementTotal("connections", 234);
  remote.incrementTotal("commands", 2_099);
  remote.incrementLive("connections");
  remote.incrementLive("connections");
  remote.incrementLive("commands");
  idle.set(remote, 2_300);

  at(23 * M + 12 * S);
  const alice = remote.child("alice@bv478gen").create();
  alice.incrementTotal("commands", 45);
  alice.incrementTotal("successful_commands", 42);
  alice.incrementTotal("failed_commands", 3);
  alice.incrementLive("commands");
  idle.set(alice, 500);
  const stdout = running(alice, "stdout-handler", 23 * M + 12 * S);
  stdout.addMetric("processed", Metric.bytes(15_200_000));
  idle.set(stdout, 100);
  const stderr = running(alice, "stderr-stream", 18 * M + 45 * S);
  stderr.addMetric("processed", Metric.bytes(2_100));
  idle.set(stderr, 8_100);

  at(8 * M + 33 * S);
  const bob = remote.child("bob@p2nd7avq").create();
  bob.incrementTotal("commands", 12);
  bob.incrementTotal("successful_commands", 12);
  bob.incrementLive("commands");
  idle.set(bob, 100);
  const executor = running(bob, "command-executor", 8 * M + 33 * S);
  executor.addMetric("state", Metric.text("exit pending"));
  idle.set(executor, 300);

  at(2 * H + 15 * M);
  const proxy = root.child("http-proxy").create();
  proxy.incrementTotal("requests", 1_013);
  proxy.incrementTotal("successful_requests", 987);
  proxy.incrementTotal("failed_requests", 26);
  for (let i = 0; i < 45; i++) proxy.incrementLive("connections");
  for (let i = 0; i < 8; i++) proxy.incrementLive("requests");
  idle.set(proxy, 800);
  const pool = running(proxy, "connection-pool", 2 * H + 15 * M);
  pool.addMetric("connections", Metric.counter(45));
  pool.addMetric("oldest", Metric.duration(34 * M + 12 * S));
  idle.set(pool, 200);

  at(40 * M);
  const users = root.child("user-service").create();
  idle.set(users, 100);
  const writer = running(users, "db-writer", 40 * M);
  idle.set(writer, 100);

  at(35 * M);
  const chat = root.child("chat-service").create();
  chat.incrementTotal("messages", 4_567);
  chat.incrementTotal("users_joined", 89);
  for (let i = 0; i < 15; i++) chat.incrementLive("users");
  for (let i = 0; i < 3; i++) chat.incrementLive("conversations");
  idle.set(chat, 1_200);
  const presence = running(chat, "presence-monitor", 35 * M);
  presence.addMetric("users_tracked", Metric.counter(15));
  idle.set(presence, 400);
  const relay = running(chat, "message-relay", 35 * M);
  relay.addMetric("state", Metric.text("processing queue"));
  idle.set(relay, 100);

  fakeLock(alice, "session-output-lock", [{ context: stdout, since: NOW - 12_300 }], [
    { context: stderr, since: NOW - 8_100 },
  ]);
  fakeLock(users, "user-table-write-lock", [{ context: writer, since: NOW - 100 }]);
  fakeLock(proxy, "pool-resize-lock", [{ context: proxy, since: NOW - 200 }]);

  t = NOW;
  for (const [ctx, ago] of idle) internals.touchAt(ctx, NOW - ago);
  return {
    root,
    finish: async () => {
      for (const r of releases) r();
      await Promise.all(tasks);
    },
  };
}

const SEED_SCREEN = `fastn Status Dashboard
System: CPU 12.3% | RAM 2.1GB/16GB (13%) | Disk 45GB/500GB (9%) | Load 0.8,1.2,1.5
Network: ↓ 125KB/s ↑ 67KB/s | Uptime 5d 12h 45m
Process: RSS 85.3MB | Heap 12.1MB/20MB

global (2h 15m 32s uptime, active 0.1s ago)
├── Total: 1,247 connections, 15,432 requests (987 success, 26 failed), 2,156 commands (54 success, 3 failed), 4,567 messages, 89 users joined | Live: 47 connections, 12 requests, 3 commands, 15 users, 3 conversations
├── remote-access (1h 45m active, last activity 2.3s ago)
│   ├── Total: 234 connections, 2,156 commands (54 success, 3 failed) | Live: 2 connections, 3 commands
│   ├── alice@bv478gen (23m 12s connected, active 0.5s ago)
│   │   ├── Total: 45 commands (42 success, 3 failed) | Live: 1 command
│   │   ├── stdout-handler (23m 12s running, 15.2MB processed)
│   │   │   └── 🔒 HOLDS "session-output-lock" (12.3s held) ⚠️ LONG HELD
│   │   └── stderr-stream (18m 45s running, idle 8.1s, 2.1KB processed)
│   │       └── ⏳ WAITING "session-output-lock" (8.1s waiting) ⚠️ STUCK
│   └── bob@p2nd7avq (8m 33s connected, active 0.1s ago)
│       ├── Total: 12 commands (12 success) | Live: 1 command
│       └── command-executor (8m 33s running, exit pending)
├── http-proxy (2h 15m active, last activity 0.8s ago)
│   ├── Total: 1,013 requests (987 success, 26 failed) | Live: 8 requests, 45 connections
│   ├── connection-pool (2h 15m running, 45 connections, oldest 34m 12s)
│   └── 🔒 HOLDS "pool-resize-lock" (0.2s held)
├── user-service (40m active, last activity 0.1s ago)
│   └── db-writer (40m running)
│       └── 🔒 HOLDS "user-table-write-lock" (0.1s held)
└── chat-service (35m active, last activity 1.2s ago)
    ├── Total: 4,567 messages, 89 users joined | Live: 15 users, 3 conversations
    ├── presence-monitor (35m running, 15 users tracked)
    └── message-relay (35m running, processing queue)

🔒 Active Locks (3):
  - "session-output-lock" held by alice@bv478gen/stdout-handler (12.3s) ⚠️ LONG HELD
  - "pool-resize-lock" held by global/http-proxy (0.2s)
  - "user-table-write-lock" held by user-service/db-writer (0.1s)

⏳ Lock Waiters (1):
  - alice@bv478gen/stderr-stream waiting for "session-output-lock" (8.1s) ⚠️ STUCK

⚠️ Warnings (2):
  - ⚠️ Long-held lock "session-output-lock" (12.3s) held by alice@bv478gen/stdout-handler may indicate deadlock or blocked I/O
  - ⚠️ alice@bv478gen/stderr-stream stuck waiting for "session-output-lock" (8.1s), held by alice@bv478gen/stdout-handler
  - CPU usage normal (12.3%), memory usage low (13%)`;

function assertLines(actual: string, expected: string): void {
  const a = actual.split("\n"), e = expected.split("\n");
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    assert.equal(a[i], e[i], `line ${i + 1} differs`);
  }
}

Deno.test("the seed's example tree renders as the seed's dashboard, line by line", async () => {
  const { root, finish } = seedTree();
  const s = status({ root, system: SEED_SYSTEM });
  assertLines(renderStatus(s, { color: false }), SEED_SCREEN);
  await finish();
});

Deno.test("with colours on, the same screen comes out once the colours are taken away", async () => {
  const { root, finish } = seedTree();
  const text = renderStatus(status({ root, system: SEED_SYSTEM }), { color: true });
  assert.notEqual(text, SEED_SCREEN);
  assertLines(stripVTControlCharacters(text), SEED_SCREEN);
  await finish();
});

const RED = "\x1b[31m";
const RED_OFF = "\x1b[39m";

Deno.test("with colours on, a lock held over 10 s and a stuck waiter are red, others are not", async () => {
  const { root, finish } = seedTree();
  const lines = renderStatus(status({ root, system: SEED_SYSTEM }), { color: true }).split("\n");
  const find = (needle: string): string[] =>
    lines.filter((l) => stripVTControlCharacters(l).includes(needle));
  const [holds] = find('HOLDS "session-output-lock"');
  assert.ok(holds.includes(`${RED}12.3s held${RED_OFF}`), holds);
  assert.ok(holds.includes(`${RED} ⚠️ LONG HELD${RED_OFF}`), holds);
  const [waits] = find('WAITING "session-output-lock"');
  assert.ok(waits.includes(`${RED}8.1s waiting${RED_OFF}`), waits);
  assert.ok(waits.includes(`${RED} ⚠️ STUCK${RED_OFF}`), waits);
  const [listed] = find('"session-output-lock" held by');
  assert.ok(listed.includes(`${RED}12.3s${RED_OFF}`), listed);
  const [waiter] = find("waiting for");
  assert.ok(waiter.includes(`${RED}8.1s${RED_OFF}`), waiter);
  for (const quiet of find('"pool-resize-lock"')) assert.ok(!quiet.includes(RED), quiet);
  assert.equal(lines[0], "\x1b[1m\x1b[34mfastn Status Dashboard\x1b[39m\x1b[22m");
  await finish();
});

Deno.test("a status parsed back from JSON renders the same dashboard", async () => {
  const { root, finish } = seedTree();
  const json = statusJson({ root, system: SEED_SYSTEM });
  const back = JSON.parse(JSON.stringify(json)) as Status;
  assertLines(renderStatus(back, { color: false }), SEED_SCREEN);
  await finish();
});

Deno.test("String(status) is the dashboard, in colour only when asked for", async () => {
  const { root, finish } = seedTree();
  const s = status({ root, system: SEED_SYSTEM });
  const expectColor = !Deno.noColor && Deno.stdout.isTerminal();
  assert.equal(String(s), renderStatus(s, { color: expectColor }));
  assert.equal(`${s}`.includes("\x1b["), expectColor);
  await finish();
});

Deno.test("many siblings fold into one line after maxChildren", () => {
  const t = T0;
  const root = Context.root("global", { now: () => t });
  const remote = root.child("remote-access").create();
  for (let i = 0; i < 500; i++) remote.child(`session-${i}`).create();
  const lines = renderStatus(status({ root, system: SEED_SYSTEM }), {
    color: false,
    maxChildren: 20,
  }).split("\n");
  const tree = lines.slice(lines.indexOf("global (0s uptime, active 0s ago)"));
  assert.equal(tree.length, 1 + 1 + 20 + 1);
  assert.equal(tree[2], "    ├── session-0 (0s connected, active 0s ago)");
  assert.equal(tree[21], "    ├── session-19 (0s connected, active 0s ago)");
  assert.equal(tree[22], "    └── … 480 more contexts");
});

Deno.test("a depth limit sums up what lies below in one line", () => {
  const t = T0;
  const root = Context.root("global", { now: () => t });
  let c = root;
  for (let i = 0; i < 6; i++) c = c.child(`level-${i + 1}`).create();
  const lines = renderStatus(status({ root, system: SEED_SYSTEM }), {
    color: false,
    maxDepth: 2,
  }).split("\n");
  assert.deepEqual(lines.slice(-4), [
    "global (0s uptime, active 0s ago)",
    "└── level-1 (0s active, last activity 0s ago)",
    "    └── level-2 (0s connected, active 0s ago)",
    "        └── … 4 more contexts below",
  ]);
});

Deno.test("missing system values show as n/a and the screen still renders", () => {
  const root = Context.root("global", { now: () => T0 });
  const none: SystemMetrics = {
    ...NO_SYSTEM,
    unavailable: { cpuUsagePercent: "needs --allow-read=/proc/stat" },
  };
  const lines = renderStatus(status({ root, system: none }), { color: false }).split("\n");
  assert.deepEqual(lines, [
    "fastn Status Dashboard",
    "System: CPU n/a | RAM n/a | Disk n/a | Load n/a",
    "Network: n/a | Uptime n/a",
    "",
    "global (0s uptime, active 0s ago)",
  ]);
});

Deno.test("cancelled contexts show when and why, and text from the app cannot move the cursor", () => {
  let t = T0;
  const root = Context.root("global", { now: () => t });
  const job = root.child("job").withData("note", "evil\x1b[2Jtext").create();
  root.cancel("shutdown");
  t += 2_500;
  const lines = renderStatus(status({ root, system: SEED_SYSTEM }), { color: false }).split("\n");
  assert.equal(
    lines.at(-1),
    "└── job (2.5s active, last activity 2.5s ago, cancelled 2.5s ago: shutdown, note: evil�[2Jtext)",
  );
  job.end();
});

Deno.test("rwlock and semaphore holders show their mode and permits", () => {
  const t = T0 + 1_000;
  const root = Context.root("global", { now: () => t });
  const a = root.child("reader").create();
  const b = root.child("pool-user").create();
  fakeLock(root, "user-table", [{ context: a, mode: "read", since: T0 }], [], "rwlock");
  fakeLock(
    root,
    "pool",
    [{ context: b, mode: "permits", permits: 2, since: T0 }],
    [
      { context: a, mode: "permits", permits: 11, since: T0 + 500 },
    ],
    "semaphore",
    12,
  );
  const text = renderStatus(status({ root, system: SEED_SYSTEM }), { color: false });
  const lines = text.split("\n");
  assert.ok(lines.includes('│   ├── 🔒 HOLDS "user-table" (read, 1s held)'), text);
  assert.ok(lines.includes('│   └── ⏳ WAITING "pool" (11 permits, 0.5s waiting)'), text);
  assert.ok(lines.includes('    └── 🔒 HOLDS "pool" (2 permits, 1s held)'), text);
  assert.ok(lines.includes('  - "user-table" (read) held by global/reader (1s)'), text);
  assert.ok(lines.includes('  - "pool" (2 of 12 permits) held by global/pool-user (1s)'), text);
  assert.ok(lines.includes('  - global/reader waiting for "pool" (11 permits) (0.5s)'), text);
});

Deno.test("renderStatus names the bad argument", () => {
  const s = statusJson({ root: Context.root("x"), system: SEED_SYSTEM });
  // @ts-expect-error: not a status
  assert.throws(() => renderStatus(null), { name: "TypeError", message: /^status must be/ });
  // @ts-expect-error: not a boolean
  assert.throws(() => renderStatus(s, { color: "yes" }), /options\.color/);
  assert.throws(() => renderStatus(s, { maxDepth: -1 }), RangeError);
  assert.throws(() => renderStatus(s, { maxChildren: 0 }), /options\.maxChildren/);
  assert.throws(() => renderStatus(s, { maxItems: 1.5 }), RangeError);
});

Deno.test("durations read like the seed's", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(49), "0s");
  assert.equal(formatDuration(100), "0.1s");
  assert.equal(formatDuration(12_340), "12.3s");
  assert.equal(formatDuration(30_000), "30s");
  assert.equal(formatDuration(59_960), "1m");
  assert.equal(formatDuration(35 * M), "35m");
  assert.equal(formatDuration(23 * M + 12 * S + 400), "23m 12s");
  assert.equal(formatDuration(2 * H + 15 * M + 32 * S), "2h 15m 32s");
  assert.equal(formatDuration(H + 5 * S), "1h 0m 5s");
  assert.equal(formatDuration(5 * 24 * H + 12 * H + 45 * M + 59 * S), "5d 12h 45m");
  assert.equal(formatDuration(-5), "0s");
});

Deno.test("bytes and numbers read like the seed's", () => {
  assert.equal(formatBytes(0), "0B");
  assert.equal(formatBytes(999), "999B");
  assert.equal(formatBytes(2_100), "2.1KB");
  assert.equal(formatBytes(125_000), "125KB");
  assert.equal(formatBytes(999_960), "1MB");
  assert.equal(formatBytes(15_200_000), "15.2MB");
  assert.equal(formatBytes(500_000_000_000), "500GB");
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(999), "999");
  assert.equal(formatNumber(1_234), "1,234");
  assert.equal(formatNumber(15_432), "15,432");
  assert.equal(formatNumber(1_000_000), "1,000,000");
  assert.equal(formatNumber(0.5), "0.5");
  assert.equal(formatNumber(2.999), "3");
});

Deno.test("a counter line shows at most eight counters and says how many more there are", () => {
  const root = Context.root("global", { now: () => T0 });
  for (let i = 1; i <= 10; i++) root.incrementTotal(`c${i}`, i);
  root.incrementLive("sessions");
  const lines = renderStatus(status({ root, system: SEED_SYSTEM }), { color: false }).split("\n");
  assert.equal(
    lines.at(-1),
    "└── Total: 1 c1, 2 c2, 3 c3, 4 c4, 5 c5, 6 c6, 7 c7, +3 more | Live: 1 session",
  );
});

Deno.test("same-named siblings show their shared counters once, on the first", () => {
  const root = Context.root("global", { now: () => 0 });
  const pool = root.child("pool").create();
  for (let i = 0; i < 3; i++) {
    const w = pool.child("worker").create();
    w.incrementTotal("jobs", 20);
    w.incrementLive("inflight");
  }
  pool.child("other").create().incrementTotal("jobs", 1);
  const lines = renderStatus(status({ root, system: NO_SYSTEM }), { color: false }).split("\n");
  assert.deepEqual(lines.slice(lines.indexOf("└── pool (0s active, last activity 0s ago)")), [
    "└── pool (0s active, last activity 0s ago)",
    "    ├── Total: 61 jobs | Live: 3 inflight",
    "    ├── worker (0s connected, active 0s ago)",
    '    │   └── Total: 60 jobs | Live: 3 inflight (all 3 "worker" together: they share a path)',
    "    ├── worker (0s connected, active 0s ago)",
    '    │   └── counters shared with the first "worker" above',
    "    ├── worker (0s connected, active 0s ago)",
    '    │   └── counters shared with the first "worker" above',
    "    └── other (0s connected, active 0s ago)",
    "        └── Total: 1 job",
  ]);
  // 60 jobs in all, said once: no line adds up to 180
  assert.deepEqual(lines.filter((l) => l.includes("60 jobs")).length, 1);
});

Deno.test("renderStatus({ now }) advances every age, hold, wait and warning duration", async () => {
  let t = T0;
  const root = Context.root("global", { now: () => t });
  const a = root.child("alice").create();
  const b = root.child("bob").create();
  const m = a.mutex("session-output-lock", 0);
  const g = await a.spawn(() => m.lock());
  const waiting = b.spawn(() => m.lock());
  t += 12 * S;
  const s = status({ root, system: NO_SYSTEM });
  const later = renderStatus(s, { color: false, now: s.timestamp + 5 * S });
  const then = renderStatus(s, { color: false });
  assert.match(then, /global \(12s uptime/);
  assert.match(later, /global \(17s uptime/);
  assert.match(then, /HOLDS "session-output-lock" \(12s held\)/);
  assert.match(later, /HOLDS "session-output-lock" \(17s held\)/);
  assert.match(later, /WAITING "session-output-lock" \(17s waiting\)/);
  assert.match(then, /Long-held lock "session-output-lock" \(12s\)/);
  assert.match(later, /Long-held lock "session-output-lock" \(17s\)/);
  assert.match(later, /stuck waiting for "session-output-lock" \(17s\)/);
  assert.deepEqual(renderStatus(s, { color: false, now: s.timestamp }), then);
  assert.throws(() => renderStatus(s, { now: NaN }), TypeError);
  g.release();
  (await waiting).release();
});
