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
  bind,
  CancelledError,
  Context,
  ContextBuilder,
  ContextEndedError,
  type CounterOptions,
  counters,
  current,
  type DataOptions,
  global,
  type RootOptions,
  type Task,
} from "./src/core/context.ts";
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
export {
  type ContextMutex,
  type ContextRwLock,
  type ContextSemaphore,
  type LockHolderInfo,
  type LockKind,
  type LockMode,
  type LockOptions,
  LockTimeoutError,
  type LockTimeoutInit,
  type LockWaiterInfo,
  type MutexGuard,
  type NamedLock,
  type ReadGuard,
  type SemaphoreGuard,
  type WriteGuard,
} from "./src/locks/locks.ts";
export {
  type DeadlockFinding,
  type DeadlockListenerOptions,
  type DeadlockMember,
  onDeadlock,
  type Subscription,
} from "./src/locks/deadlock.ts";
