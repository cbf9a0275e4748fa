/**
 * System metrics for status: CPU, memory, disk, network, load, uptime and this process's memory.
 *
 * Nothing is read at import and nothing runs in the background: values are read when a status is
 * taken, and each group is cached (CPU and network 1 s, memory and disk 5 s, load and uptime
 * 10 s). A value that cannot be read (no permission, not Linux, a missing file) is `null`, and
 * `unavailable` says why; reading never throws and never prompts for a permission.
 *
 * @module
 */

import { statfsSync } from "node:fs";

/**
 * System resource usage (CPU, memory, disk, network, load, uptime, this process); `null` where
 * it could not be read, with the reason in `unavailable`.
 *
 * @example
 * ```ts
 * import { Context, status, type SystemMetrics } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const system: SystemMetrics = status({ root: Context.root("global") }).system;
 * for (const [field, reason] of Object.entries(system.unavailable)) {
 *   assert.deepEqual(system[field as keyof SystemMetrics], null, reason);
 * }
 * ```
 */
export interface SystemMetrics {
  /** CPU busy time over all cores since the previous reading (since boot for the first), 0–100. */
  cpuUsagePercent: number | null;
  /** Memory in use: total less available. */
  memoryUsedBytes: number | null;
  /** Installed memory. */
  memoryTotalBytes: number | null;
  /** Used space of the file system holding the working directory. */
  diskUsedBytes: number | null;
  /** Size of the file system holding the working directory. */
  diskTotalBytes: number | null;
  /**
   * Bytes received per second over all interfaces but loopback, since the previous reading
   * (the average since boot for the first).
   */
  networkRxBytesPerSec: number | null;
  /** Bytes sent per second, as {@linkcode SystemMetrics.networkRxBytesPerSec}. */
  networkTxBytesPerSec: number | null;
  /** The 1, 5 and 15 minute load averages. */
  loadAverage: [number, number, number] | null;
  /** How long the machine has been up, in ms. */
  uptimeMs: number | null;
  /** This process's resident set size. */
  processRssBytes: number | null;
  /** This process's JavaScript heap in use. */
  processHeapUsedBytes: number | null;
  /** This process's JavaScript heap size. */
  processHeapTotalBytes: number | null;
  /**
   * How many CPUs the process may use (`navigator.hardwareConcurrency`); `load-high` compares
   * the load average with it. Absent in statuses from before it was added.
   */
  cpuCount?: number | null;
  /** For every field that is `null`: why. */
  unavailable: Record<string, string>;
}

/**
 * The system calls a sampler uses; tests replace them.
 * @internal
 */
export interface SystemSources {
  /** Whether a permission is granted, without ever prompting. */
  granted(descriptor: Deno.PermissionDescriptor): boolean;
  readTextFile(path: string): string;
  systemMemoryInfo(): { total: number; available: number };
  loadavg(): number[];
  /** Seconds. */
  osUptime(): number;
  statfs(path: string): { bsize: number; blocks: number; bfree: number };
  memoryUsage(): { rss: number; heapUsed: number; heapTotal: number };
  /** How many CPUs the process may use; undefined when unknown. */
  cpuCount(): number | undefined;
}

/**
 * Options of {@linkcode SystemSampler}.
 * @internal
 */
export interface SystemSamplerOptions {
  /**
   * Where the proc file system is.
   * @default {"/proc"}
   */
  procRoot?: string;
  /**
   * A monotonic clock in ms, for cache ages and rates.
   * @default {performance.now}
   */
  now?: () => number;
  /**
   * A path on the file system whose space is reported.
   * @default {"."}
   */
  diskPath?: string;
  /** Replacements for the system calls. */
  sources?: Partial<SystemSources>;
}

/**
 * How long each group of values is kept, ms.
 * @internal
 */
export const CACHE_MS = {
  cpu: 1_000,
  network: 1_000,
  process: 1_000,
  memory: 5_000,
  disk: 5_000,
  load: 10_000,
} as const;

const DEFAULT_SOURCES: SystemSources = {
  granted: (d) => {
    try {
      return Deno.permissions.querySync(d).state === "granted";
    } catch {
      return false;
    }
  },
  readTextFile: (path) => Deno.readTextFileSync(path),
  systemMemoryInfo: () => Deno.systemMemoryInfo(),
  loadavg: () => Deno.loadavg(),
  osUptime: () => Deno.osUptime(),
  statfs: (path) => statfsSync(path),
  memoryUsage: () => Deno.memoryUsage(),
  cpuCount: () => globalThis.navigator?.hardwareConcurrency,
};

type Field = Exclude<keyof SystemMetrics, "unavailable">;

interface Group<T> {
  at: number;
  value: T | undefined;
  reason: string | undefined;
}

interface CpuSample {
  busy: number;
  total: number;
}

interface NetSample {
  at: number;
  rx: number;
  tx: number;
}

/**
 * Reads and caches system metrics. One shared sampler serves `status()`; tests make their own
 * with a fake proc root and clock.
 * @internal
 */
export class SystemSampler {
  readonly #proc: string;
  readonly #now: () => number;
  readonly #diskPath: string;
  readonly #src: SystemSources;
  #cpu: Group<number> | undefined;
  #cpuLast: CpuSample | undefined;
  #net: Group<[number, number]> | undefined;
  #netLast: NetSample | undefined;
  #mem: Group<[number, number]> | undefined;
  #disk: Group<[number, number]> | undefined;
  #load: Group<[number, number, number]> | undefined;
  #uptime: Group<number> | undefined;
  #process: Group<[number, number, number]> | undefined;

  constructor(options: SystemSamplerOptions = {}) {
    this.#proc = (options.procRoot ?? "/proc").replace(/\/+$/, "");
    this.#now = options.now ?? (() => performance.now());
    this.#diskPath = options.diskPath ?? ".";
    this.#src = { ...DEFAULT_SOURCES, ...options.sources };
  }

  /** Reads what is due and returns every value; never throws. */
  sample(): SystemMetrics {
    const now = this.#now();
    const unavailable: Record<string, string> = {};
    const cpu = this.#cpu = due(this.#cpu, now, CACHE_MS.cpu) ?? this.#readCpu(now);
    const net = this.#net = due(this.#net, now, CACHE_MS.network) ?? this.#readNet(now);
    const mem = this.#mem = due(this.#mem, now, CACHE_MS.memory) ?? this.#readMemory(now);
    const disk = this.#disk = due(this.#disk, now, CACHE_MS.disk) ?? this.#readDisk(now);
    const load = this.#load = due(this.#load, now, CACHE_MS.load) ?? this.#readLoad(now);
    const up = this.#uptime = due(this.#uptime, now, CACHE_MS.load) ?? this.#readUptime(now);
    const proc = this.#process = due(this.#process, now, CACHE_MS.process) ??
      this.#readProcess(now);
    note(unavailable, cpu, ["cpuUsagePercent"]);
    note(unavailable, net, ["networkRxBytesPerSec", "networkTxBytesPerSec"]);
    note(unavailable, mem, ["memoryUsedBytes", "memoryTotalBytes"]);
    note(unavailable, disk, ["diskUsedBytes", "diskTotalBytes"]);
    note(unavailable, load, ["loadAverage"]);
    note(unavailable, up, ["uptimeMs"]);
    note(unavailable, proc, ["processRssBytes", "processHeapUsedBytes", "processHeapTotalBytes"]);
    return {
      cpuUsagePercent: cpu.value ?? null,
      memoryUsedBytes: mem.value?.[0] ?? null,
      memoryTotalBytes: mem.value?.[1] ?? null,
      diskUsedBytes: disk.value?.[0] ?? null,
      diskTotalBytes: disk.value?.[1] ?? null,
      networkRxBytesPerSec: net.value?.[0] ?? null,
      networkTxBytesPerSec: net.value?.[1] ?? null,
      loadAverage: load.value ? [load.value[0], load.value[1], load.value[2]] : null,
      // Uptime keeps going between readings.
      uptimeMs: up.value === undefined ? null : Math.round(up.value + (now - up.at)),
      processRssBytes: proc.value?.[0] ?? null,
      processHeapUsedBytes: proc.value?.[1] ?? null,
      processHeapTotalBytes: proc.value?.[2] ?? null,
      cpuCount: this.#cpuCount(unavailable),
      unavailable,
    };
  }

  #cpuCount(unavailable: Record<string, string>): number | null {
    const n = this.#src.cpuCount();
    if (typeof n === "number" && n > 0) return n;
    unavailable.cpuCount = "navigator.hardwareConcurrency is not available";
    return null;
  }

  #read(path: string): string {
    const src = this.#src;
    if (!src.granted({ name: "read", path })) throw new Denied(`needs --allow-read=${path}`);
    try {
      return src.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Denied(`${path} does not exist (not Linux?)`);
      }
      throw e;
    }
  }

  #sys(kind: Deno.SysPermissionDescriptor["kind"]): void {
    if (!this.#src.granted({ name: "sys", kind })) throw new Denied(`needs --allow-sys=${kind}`);
  }

  #readCpu(now: number): Group<number> {
    return attempt(now, () => {
      const text = this.#read(`${this.#proc}/stat`);
      const line = text.slice(0, text.indexOf("\n") >>> 0);
      const f = line.trim().split(/\s+/);
      if (f[0] !== "cpu" || f.length < 5) throw new Denied(`${this.#proc}/stat has no cpu line`);
      // user nice system idle iowait irq softirq steal (guest time is already in user).
      const n = f.slice(1, 9).map(Number);
      if (n.some((x) => !Number.isFinite(x))) throw new Denied(`${this.#proc}/stat is malformed`);
      const total = n.reduce((a, b) => a + b, 0);
      const idle = n[3] + (n[4] ?? 0);
      const sample = { busy: total - idle, total };
      const last = this.#cpuLast;
      this.#cpuLast = sample;
      let busy = sample.busy, all = sample.total;
      if (last !== undefined && sample.total > last.total) {
        busy -= last.busy;
        all -= last.total;
      } else if (last !== undefined && this.#cpu?.value !== undefined) {
        return this.#cpu.value; // no tick since the previous reading
      }
      if (all <= 0) throw new Denied(`${this.#proc}/stat shows no CPU time`);
      return Math.round(Math.min(100, Math.max(0, (busy / all) * 100)) * 10) / 10;
    });
  }

  #readNet(now: number): Group<[number, number]> {
    return attempt(now, () => {
      const text = this.#read(`${this.#proc}/net/dev`);
      let rx = 0, tx = 0;
      for (const line of text.split("\n")) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim();
        if (name === "lo" || name.includes("|")) continue;
        const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
        if (f.length < 9 || !Number.isFinite(f[0]) || !Number.isFinite(f[8])) continue;
        rx += f[0];
        tx += f[8];
      }
      const last = this.#netLast;
      this.#netLast = { at: now, rx, tx };
      if (last !== undefined && now > last.at) {
        const seconds = (now - last.at) / 1000;
        return [
          Math.round(Math.max(0, rx - last.rx) / seconds),
          Math.round(Math.max(0, tx - last.tx) / seconds),
        ];
      }
      // The first reading: the average since boot.
      const upText = this.#read(`${this.#proc}/uptime`);
      const up = Number(upText.trim().split(/\s+/)[0]);
      if (!(up > 0)) throw new Denied(`${this.#proc}/uptime is malformed`);
      return [Math.round(rx / up), Math.round(tx / up)];
    });
  }

  #readMemory(now: number): Group<[number, number]> {
    return attempt(now, () => {
      this.#sys("systemMemoryInfo");
      const m = this.#src.systemMemoryInfo();
      return [Math.max(0, m.total - m.available), m.total];
    });
  }

  #readDisk(now: number): Group<[number, number]> {
    return attempt(now, () => {
      const path = this.#diskPath;
      if (!this.#src.granted({ name: "read", path })) {
        throw new Denied(`needs --allow-read=${path}`);
      }
      const s = this.#src.statfs(path);
      return [(s.blocks - s.bfree) * s.bsize, s.blocks * s.bsize];
    });
  }

  #readLoad(now: number): Group<[number, number, number]> {
    return attempt(now, () => {
      this.#sys("loadavg");
      const l = this.#src.loadavg();
      return [round2(l[0]), round2(l[1]), round2(l[2])];
    });
  }

  #readUptime(now: number): Group<number> {
    return attempt(now, () => {
      this.#sys("osUptime");
      return this.#src.osUptime() * 1000;
    });
  }

  #readProcess(now: number): Group<[number, number, number]> {
    return attempt(now, () => {
      const m = this.#src.memoryUsage();
      return [m.rss, m.heapUsed, m.heapTotal];
    });
  }
}

/** A value that cannot be read, with the reason to show. */
class Denied extends Error {}

function due<T>(group: Group<T> | undefined, now: number, ttl: number): Group<T> | undefined {
  return group !== undefined && now - group.at < ttl && now >= group.at ? group : undefined;
}

function attempt<T>(now: number, read: () => T): Group<T> {
  try {
    return { at: now, value: read(), reason: undefined };
  } catch (e) {
    const reason = e instanceof Denied
      ? e.message
      : e instanceof Error
      ? `${e.name}: ${e.message}`
      : String(e);
    return { at: now, value: undefined, reason };
  }
}

function note(out: Record<string, string>, group: Group<unknown>, fields: Field[]): void {
  if (group.value !== undefined) return;
  for (const f of fields) out[f] = group.reason ?? "unavailable";
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

let shared: SystemSampler | undefined;

/**
 * The sampler `status()` uses by default, made on first use.
 * @internal
 */
export function sharedSampler(): SystemSampler {
  return shared ??= new SystemSampler();
}
