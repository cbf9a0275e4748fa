/**
 * A tree of named, cancellable contexts (global → service → session → task) that makes a
 * running Deno process explain itself: which tasks are alive and for how long, what they count,
 * who holds which lock and who waits for it.
 *
 * Importing this module loads no npm package, opens no file and touches no network.
 *
 * ## The API at a glance
 *
 * - **Contexts**: {@linkcode Context} (`Context.root()`, `ctx.child(name)` gives a
 *   {@linkcode ContextBuilder}, then `.spawn(fn)` or `.create()`; `cancel()`, `signal`,
 *   `wait()`), {@linkcode current} (the running task's
 *   context), {@linkcode global} (the application's root), {@linkcode bind},
 *   {@linkcode CancelledError}, {@linkcode ContextEndedError}. Data and metrics:
 *   `ctx.setData()`, `ctx.addMetric()` with {@linkcode Metric}.
 * - **Counters**: `ctx.incrementTotal()`, `ctx.incrementLive()`, `ctx.getTotal()`, and
 *   {@linkcode counters} for every key under a path.
 * - **Locks**: `ctx.mutex()`, `ctx.rwlock()`, `ctx.semaphore()` ({@linkcode ContextMutex},
 *   {@linkcode ContextRwLock}, {@linkcode ContextSemaphore}), {@linkcode LockTimeoutError},
 *   deadlocks reported to {@linkcode onDeadlock}.
 * - **Status**: {@linkcode status} (a {@linkcode Status}; `String()` of it is the dashboard),
 *   {@linkcode statusJson}, {@linkcode statusStream}, {@linkcode renderStatus},
 *   {@linkcode openMetrics} for Prometheus; thresholds of warnings with {@linkcode configure}.
 * - **main()**: {@linkcode main} runs the application, turns SIGINT/SIGTERM into a graceful
 *   shutdown, and serves the status on a Unix socket (and on TCP with
 *   {@linkcode MainOptions.http}: a live web dashboard and `/metrics`).
 * - **The command line**: `deno run -A jsr:@fastn/context/cli status` (or `cli.ts status` in a
 *   clone) shows every local `main()` process; `@fastn/context/cli` exports `run()`.
 * - **Remote status**: `@fastn/context/remote` (`remoteAccess()` for `main()`,
 *   `fetchRemoteStatus()`), the only entry point that loads libp2p.
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
 * ## Who may cancel
 *
 * Every context has {@linkcode Context.cancel} and {@linkcode Context.end}, so any code that
 * holds a context, or reaches one with {@linkcode current} or {@linkcode global}, could stop the
 * whole application. The rule, as in Go's `context` package: **cancelling and ending belong to
 * the code that made the context** (with `Context.root()`, or `child()` then `spawn()` or
 * `create()`). Code that is handed a context (a task's argument, `current()`) may read it, count
 * on it, make children of it and cancel the children it made, but does not cancel or end the
 * context it was given: it returns, or throws, and lets its maker decide. To bound what a piece
 * of code can stop, hand it a child made for it: cancelling that child stops only the child's
 * subtree, and the maker can still cancel the child at any time. This is a convention, not a
 * sandbox: `ctx.parent` and `global()` stay reachable, so code you cannot trust at all belongs
 * in a Worker or another process.
 *
 * @example Handing a child to code you do not control
 * ```ts
 * import { Context } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * // A plugin gets a child of its own, never the service's context.
 * async function plugin(ctx: Context): Promise<void> {
 *   ctx.cancel("the plugin gave up"); // stops the plugin's own subtree only
 * }
 *
 * const service = Context.root("global").child("http-proxy").create();
 * await service.child("plugin").spawn(plugin);
 * assert.equal(service.cancelled, false);
 * service.end();
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
  type LockHolderInfo,
  type LockWaiterInfo,
  type MutexGuard,
  type NamedLock,
  type ReadGuard,
  type SemaphoreGuard,
  type Task,
  type WriteGuard,
} from "./src/core/context.ts";
export {
  type CounterOptions,
  type DataOptions,
  type LockKind,
  type LockMode,
  type LockOptions,
  type RootOptions,
} from "./src/core/options.ts";
export {
  CancelledError,
  ContextEndedError,
  DeadlineExceededError,
  type DeadlineExceededOptions,
  type DeadlineLockWait,
} from "./src/core/errors.ts";
export type { DeadlineTimers } from "./src/core/deadlines.ts";
export { bind, counters, current, global } from "./src/core/current.ts";
import "./src/locks/locks.ts";
export { Metric, type MetricKind, type MetricValue } from "./src/core/metric.ts";
export type { JsonValue } from "./src/core/json.ts";
export { type Config, configure } from "./src/core/config.ts";
export { status, statusJson } from "./src/status/status.ts";
export type {
  ContextStatus,
  LockStatus,
  LockWaiter,
  Status,
  StatusOptions,
  StatusWarning,
  SystemMetrics,
  WarningCode,
  WarningSeverity,
} from "./src/status/types.ts";
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
