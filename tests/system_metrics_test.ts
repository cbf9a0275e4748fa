import assert from "node:assert/strict";
import { join } from "node:path";
import { Context } from "../mod.ts";
import { status } from "../src/status/status.ts";
import { SystemSampler, type SystemSources } from "../src/status/system_metrics.ts";

/** A fake /proc in a temp dir, a clock the test moves, and counted system calls. */
async function fakeMachine(): Promise<{
  proc: string;
  advance: (ms: number) => void;
  write: (file: string, text: string) => void;
  calls: Record<string, number>;
  sampler: (extra?: Partial<SystemSources>) => SystemSampler;
  [Symbol.asyncDispose]: () => Promise<void>;
}> {
  const proc = await Deno.makeTempDir({ prefix: "fake-proc-" });
  await Deno.mkdir(join(proc, "net"));
  let t = 1_000;
  const calls: Record<string, number> = {};
  const count = <T>(name: string, value: T): () => T => () => {
    calls[name] = (calls[name] ?? 0) + 1;
    return value;
  };
  return {
    proc,
    advance: (ms) => void (t += ms),
    write: (file, text) => Deno.writeTextFileSync(join(proc, file), text),
    calls,
    sampler: (extra = {}) =>
      new SystemSampler({
        procRoot: proc,
        now: () => t,
        sources: {
          systemMemoryInfo: count("memory", { total: 16_000_000_000, available: 13_900_000_000 }),
          loadavg: count("load", [0.8, 1.2, 1.5]),
          osUptime: count("uptime", 475_500),
          statfs: count("disk", { bsize: 4096, blocks: 1_000_000, bfree: 910_000 }),
          memoryUsage: count("process", { rss: 85_300_000, heapUsed: 12_100_000, heapTotal: 2e7 }),
          cpuCount: () => 4,
          ...extra,
        },
      }),
    [Symbol.asyncDispose]: () => Deno.remove(proc, { recursive: true }),
  };
}

const stat = (user: number, system: number, idle: number): string =>
  `cpu  ${user} 0 ${system} ${idle} 0 0 0 0 0 0\ncpu0 ${user} 0 ${system} ${idle} 0 0 0 0 0 0\nintr 1\n`;

const netDev = (rx: number, tx: number, loRx = 999_999): string =>
  `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: ${loRx}  10 0 0 0 0 0 0 ${loRx} 10 0 0 0 0 0 0
  eth0: ${rx} 100 0 0 0 0 0 0 ${tx} 100 0 0 0 0 0 0
`;

Deno.test("CPU usage is the busy share of /proc/stat time since the previous reading", async () => {
  await using m = await fakeMachine();
  m.write("stat", stat(100, 100, 800));
  m.write("net/dev", netDev(0, 0));
  m.write("uptime", "100.00 400.00\n");
  const s = m.sampler();
  assert.equal(s.sample().cpuUsagePercent, 20, "the first reading: the share since boot");
  m.write("stat", stat(200, 150, 1_050));
  assert.equal(s.sample().cpuUsagePercent, 20, "within a second: the cached value");
  m.advance(1_000);
  // 150 busy ticks of 400 since the previous reading.
  assert.equal(s.sample().cpuUsagePercent, 37.5);
});

Deno.test("network rates come from /proc/net/dev deltas, loopback left out", async () => {
  await using m = await fakeMachine();
  m.write("stat", stat(1, 1, 1));
  m.write("uptime", "100.00 400.00\n");
  m.write("net/dev", netDev(1_000_000, 500_000));
  const s = m.sampler();
  const first = s.sample();
  assert.equal(first.networkRxBytesPerSec, 10_000, "the first reading: the average since boot");
  assert.equal(first.networkTxBytesPerSec, 5_000);
  m.write("net/dev", netDev(1_250_000, 567_000, 5_000_000));
  m.advance(2_000);
  const second = s.sample();
  assert.equal(second.networkRxBytesPerSec, 125_000);
  assert.equal(second.networkTxBytesPerSec, 33_500);
});

Deno.test("memory, disk, load and uptime come from the system calls, each cached for its time", async () => {
  await using m = await fakeMachine();
  m.write("stat", stat(1, 1, 1));
  m.write("uptime", "100.00 400.00\n");
  m.write("net/dev", netDev(0, 0));
  const s = m.sampler();
  const v = s.sample();
  assert.deepEqual(
    { ...v, unavailable: undefined, cpuUsagePercent: undefined },
    {
      cpuUsagePercent: undefined,
      memoryUsedBytes: 2_100_000_000,
      memoryTotalBytes: 16_000_000_000,
      diskUsedBytes: 90_000 * 4096,
      diskTotalBytes: 1_000_000 * 4096,
      networkRxBytesPerSec: 0,
      networkTxBytesPerSec: 0,
      loadAverage: [0.8, 1.2, 1.5],
      uptimeMs: 475_500_000,
      processRssBytes: 85_300_000,
      processHeapUsedBytes: 12_100_000,
      processHeapTotalBytes: 2e7,
      cpuCount: 4,
      unavailable: undefined,
    },
  );
  assert.deepEqual(v.unavailable, {});
  for (let i = 0; i < 10; i++) s.sample();
  assert.deepEqual(m.calls, { memory: 1, disk: 1, load: 1, uptime: 1, process: 1 });
  m.advance(1_000);
  s.sample();
  assert.deepEqual(m.calls, { memory: 1, disk: 1, load: 1, uptime: 1, process: 2 });
  m.advance(4_000);
  const later = s.sample();
  assert.deepEqual(m.calls, { memory: 2, disk: 2, load: 1, uptime: 1, process: 3 });
  assert.equal(later.uptimeMs, 475_505_000, "uptime goes on between readings");
  m.advance(5_000);
  s.sample();
  assert.deepEqual(m.calls, { memory: 3, disk: 3, load: 2, uptime: 2, process: 4 });
});

Deno.test("without a permission a field is null with the reason, and no prompt is made", async () => {
  await using m = await fakeMachine();
  const s = m.sampler({ granted: () => false });
  const v = s.sample();
  assert.equal(v.cpuUsagePercent, null);
  assert.equal(v.memoryTotalBytes, null);
  assert.equal(v.loadAverage, null);
  assert.equal(v.diskTotalBytes, null);
  assert.equal(v.uptimeMs, null);
  assert.equal(v.processRssBytes, 85_300_000, "this process's memory needs no permission");
  assert.equal(v.unavailable.cpuUsagePercent, `needs --allow-read=${m.proc}/stat`);
  assert.equal(v.unavailable.memoryUsedBytes, "needs --allow-sys=systemMemoryInfo");
  assert.equal(v.unavailable.loadAverage, "needs --allow-sys=loadavg");
  assert.equal(v.unavailable.uptimeMs, "needs --allow-sys=osUptime");
  assert.equal(v.unavailable.diskTotalBytes, "needs --allow-read=.");
  assert.deepEqual(m.calls, { process: 1 });
});

Deno.test("with no /proc (not Linux), CPU and network are null with the reason", async () => {
  await using m = await fakeMachine();
  const v = m.sampler().sample();
  assert.equal(v.cpuUsagePercent, null);
  assert.equal(v.networkRxBytesPerSec, null);
  assert.equal(v.unavailable.cpuUsagePercent, `${m.proc}/stat does not exist (not Linux?)`);
  assert.equal(v.memoryTotalBytes, 16_000_000_000, "the rest is still there");
});

Deno.test("a system call that fails gives null with its error, never an exception", async () => {
  await using m = await fakeMachine();
  const v = m.sampler({
    loadavg: () => {
      throw new Error("not supported");
    },
  }).sample();
  assert.equal(v.loadAverage, null);
  assert.equal(v.unavailable.loadAverage, "Error: not supported");
});

Deno.test("on the real machine every value is there and plausible", () => {
  const v = new SystemSampler().sample();
  if (Deno.build.os === "linux") {
    assert.deepEqual(v.unavailable, {});
    assert.ok(v.cpuUsagePercent! >= 0 && v.cpuUsagePercent! <= 100);
    assert.ok(v.networkRxBytesPerSec! >= 0 && v.networkTxBytesPerSec! >= 0);
  }
  assert.ok(v.memoryTotalBytes! > 0 && v.memoryUsedBytes! <= v.memoryTotalBytes!);
  assert.ok(v.diskTotalBytes! > 0 && v.diskUsedBytes! <= v.diskTotalBytes!);
  assert.equal(v.loadAverage!.length, 3);
  assert.ok(v.uptimeMs! > 0);
  assert.ok(v.processRssBytes! > 0 && v.processHeapUsedBytes! > 0);
});

Deno.test("a status is taken without any permission, with reasons for what is missing", async () => {
  const code = `
    import { Context } from "${new URL("../mod.ts", import.meta.url)}";
    import { statusJson } from "${new URL("../src/status/status.ts", import.meta.url)}";
    const s = statusJson({ root: Context.root("global") });
    console.log(JSON.stringify(s.system));
  `;
  const dir = await Deno.makeTempDir({ prefix: "no-permission-" });
  const file = join(dir, "main.ts");
  await Deno.writeTextFile(file, code);
  // `deno run` with no permission flag: everything is denied, and --no-prompt never asks.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-lock",
      "--config",
      join(import.meta.dirname!, "../deno.json"),
      file,
    ],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  await Deno.remove(dir, { recursive: true });
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const system = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(system.memoryTotalBytes, null);
  assert.equal(system.unavailable.memoryTotalBytes, "needs --allow-sys=systemMemoryInfo");
  assert.ok(system.processRssBytes > 0);
});

Deno.test("status() reads the machine's metrics when none are given", () => {
  const s = status({ root: Context.root("global") });
  assert.equal(typeof s.system.unavailable, "object");
  assert.ok(s.system.processRssBytes! > 0);
});
