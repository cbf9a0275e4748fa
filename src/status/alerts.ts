/**
 * System alerts: the machine's readings judged against the thresholds of `configure()`
 * (`cpu-high`, `memory-high`, `disk-full`, `load-high`, `process-memory-high`), with hysteresis
 * so that a reading wavering at a threshold does not make an alert come and go. Judged only when
 * a status is taken or a stream samples; nothing runs in the background. A reading that could
 * not be taken raises nothing (`unavailable` says why). Internal.
 *
 * @module
 */

import { config } from "../core/config.ts";
import type { Tree } from "../core/tree.ts";
import { formatBytes, formatPercent } from "./format.ts";
import type { SystemMetrics } from "./system_metrics.ts";
import type { StatusWarning, WarningSeverity } from "./warnings.ts";

/** The codes of the system alerts, in the order they are judged and listed. */
export type SystemAlertCode =
  | "cpu-high"
  | "memory-high"
  | "disk-full"
  | "load-high"
  | "process-memory-high";

/** 0: normal, 1: warning, 2: critical. */
type Level = 0 | 1 | 2;

interface Judged {
  readonly code: SystemAlertCode;
  /** The reading in the unit of the levels (percent, or load per core), or null. */
  readonly value: number | null;
  readonly high: number;
  readonly critical: number;
  /** The warning's sentence, given the reading and its level. */
  message(s: SystemMetrics, value: number, level: Level): string;
}

function pct(used: number | null, total: number | null): number | null {
  return used === null || total === null || !(total > 0) ? null : (used / total) * 100;
}

function cores(s: SystemMetrics): number | null {
  const n = s.cpuCount;
  return typeof n === "number" && n > 0 ? n : null;
}

function readings(s: SystemMetrics): Judged[] {
  const c = config;
  const n = cores(s);
  return [
    {
      code: "cpu-high",
      value: s.cpuUsagePercent,
      high: c.cpuHighPercent,
      critical: c.cpuCriticalPercent,
      message: (_s, v) =>
        `CPU usage high: ${formatPercent(v, true)} busy over the last sampling window`,
    },
    {
      code: "memory-high",
      value: pct(s.memoryUsedBytes, s.memoryTotalBytes),
      high: c.memoryHighPercent,
      critical: c.memoryCriticalPercent,
      message: (s, v) =>
        `Memory usage high: ${formatPercent(v, true)} in use (${
          formatBytes(s.memoryUsedBytes!)
        } of ${formatBytes(s.memoryTotalBytes!)})`,
    },
    {
      code: "disk-full",
      value: pct(s.diskUsedBytes, s.diskTotalBytes),
      high: c.diskFullPercent,
      critical: c.diskCriticalPercent,
      message: (s, v) =>
        `Disk almost full: ${formatPercent(v, true)} used (${formatBytes(s.diskUsedBytes!)} of ${
          formatBytes(s.diskTotalBytes!)
        })`,
    },
    {
      code: "load-high",
      value: s.loadAverage === null || n === null ? null : s.loadAverage[0] / n,
      high: c.loadHighPerCore,
      critical: c.loadCriticalPerCore,
      message: (s, v) =>
        `Load high: ${s.loadAverage![0].toFixed(2)} over ${n} CPU${n === 1 ? "" : "s"} (${
          v.toFixed(2)
        } per core)`,
    },
    {
      code: "process-memory-high",
      value: pct(s.processRssBytes, s.memoryTotalBytes),
      high: c.processMemoryHighPercent,
      critical: c.processMemoryCriticalPercent,
      message: (s, v) =>
        `Process memory high: this process's RSS is ${formatBytes(s.processRssBytes!)}, ${
          formatPercent(v, true)
        } of installed memory`,
    },
  ];
}

/** The level a reading is at, given the level it was at (the hysteresis). */
function levelOf(prev: Level, v: number, high: number, critical: number): Level {
  const keep = 1 - config.alertHysteresis;
  if (v >= critical || (prev === 2 && v >= critical * keep)) return 2;
  if (v >= high || (prev >= 1 && v >= high * keep)) return 1;
  return 0;
}

/** The alert levels of one tree's statuses and streams, kept between readings. */
export class SystemAlerts {
  readonly #levels = new Map<SystemAlertCode, Level>();

  /**
   * Judges `s`, moving each alert's level (with hysteresis), and returns the warnings it raises,
   * each about `contextPath` (the status's root).
   */
  judge(s: SystemMetrics, contextPath: string): StatusWarning[] {
    const out: StatusWarning[] = [];
    for (const j of readings(s)) {
      const prev = this.#levels.get(j.code) ?? 0;
      const v = j.value;
      const level: Level = v === null || !Number.isFinite(v)
        ? 0
        : levelOf(prev, v, j.high, j.critical);
      if (level === 0) {
        this.#levels.delete(j.code);
        continue;
      }
      this.#levels.set(j.code, level);
      const severity: WarningSeverity = level === 2 ? "critical" : "warning";
      const at = level === 2 ? j.critical : j.high;
      const unit = j.code === "load-high" ? "× per core" : "%";
      out.push({
        code: j.code,
        severity,
        message: `${j.message(s, v!, level)}; ${severity} at ${at}${unit}`,
        contextPath,
        paths: [contextPath],
      });
    }
    return out;
  }

  /** The alerts raised now and their levels, as text that changes when any of them does. */
  signature(): string {
    let out = "";
    for (const [code, level] of this.#levels) out += `${code}:${level};`;
    return out;
  }
}

const alerts = new WeakMap<Tree, SystemAlerts>();

/**
 * The system alert levels kept for `tree`, made on first use.
 * @internal
 */
export function systemAlerts(tree: Tree): SystemAlerts {
  let a = alerts.get(tree);
  if (a === undefined) alerts.set(tree, a = new SystemAlerts());
  return a;
}
