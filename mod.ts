/**
 * A tree of named, cancellable contexts (global → service → session → task) that makes a
 * running Deno process explain itself: which tasks are alive and for how long, what they count,
 * who holds which lock and who waits for it.
 *
 * Importing this module loads no npm package, opens no file and touches no network.
 *
 * @example A service with a session, a counter and a cancellation
 * ```ts
 * import { Context, current } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const proxy = root.child("http-proxy").create();
 * const served = proxy.child("request").withData("path", "/").spawn(async (ctx) => {
 *   await Promise.resolve();
 *   current().incrementTotal("requests");
 *   return ctx.path;
 * });
 * assert.deepEqual(await served, "global.http-proxy.request");
 * assert.deepEqual(proxy.getTotal("requests", { deep: true }), 1);
 * root.cancel("shutdown");
 * assert.deepEqual(proxy.cancelReason, "shutdown");
 * ```
 *
 * @module
 */

export {
  Context,
  ContextBuilder,
  type ContextMutex,
  type ContextRwLock,
  type ContextSemaphore,
  type CounterOptions,
  type DataOptions,
  type LockHolderInfo,
  type LockKind,
  type LockMode,
  type LockOptions,
  type LockWaiterInfo,
  type MutexGuard,
  type NamedLock,
  type ReadGuard,
  type RootOptions,
  type SemaphoreGuard,
  type Task,
  type WriteGuard,
} from "./src/core/context.ts";
export { CancelledError, ContextEndedError } from "./src/core/errors.ts";
export { bind, counters, current, global } from "./src/core/current.ts";
import "./src/locks/locks.ts";
export { Metric, type MetricKind, type MetricValue } from "./src/core/metric.ts";
export type { JsonValue } from "./src/core/json.ts";
export { type Config, configure } from "./src/core/config.ts";
export {
  type ContextStatus,
  type LockStatus,
  type LockWaiter,
  type Status,
  status,
  statusJson,
  type StatusOptions,
  type StatusWarning,
  type SystemMetrics,
  type WarningCode,
  type WarningSeverity,
} from "./src/status/status.ts";
export { type RenderOptions, renderStatus } from "./src/status/render.ts";
export { statusStream, type StatusStreamOptions } from "./src/status/stream.ts";
export { formatBytes, formatDuration, formatNumber } from "./src/status/format.ts";
export { main, type MainOptions } from "./src/serve/main.ts";
export {
  METRICS_CONTENT_TYPES,
  openMetrics,
  type OpenMetricsOptions,
} from "./src/status/openmetrics.ts";
export { type HttpAddress, type HttpOptions } from "./src/serve/http_listener.ts";
export { LockTimeoutError, type LockTimeoutInit } from "./src/locks/errors.ts";
export {
  type DeadlockFinding,
  type DeadlockListenerOptions,
  type DeadlockMember,
  onDeadlock,
  type Subscription,
} from "./src/locks/deadlock.ts";
