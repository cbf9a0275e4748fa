/**
 * `main()`: the application entry point. Runs the application in the global context, makes its
 * status readable by `cli.ts status`, and turns SIGINT/SIGTERM into a graceful shutdown that
 * explains itself when it hangs.
 *
 * @module
 */

import { type Context, internals } from "../core/context.ts";
import { rootOption } from "../core/current.ts";
import { CancelledError } from "../core/errors.ts";
import { describe } from "../core/names.ts";
import { mergePermissions, missingPermissions, permissionsText } from "./socket_dir.ts";
import { defaultName, delay, type Endpoint, serveStatus } from "./endpoint.ts";
import {
  checkHttpOptions,
  type HttpListener,
  type HttpOptions,
  serveHttp,
} from "./http_listener.ts";
import { renderStatus } from "../status/render.ts";
import { status } from "../status/status.ts";
import { colorFor } from "../status/format.ts";
import { checkRecordOptions, type Recorder, startRecording } from "../status/recording.ts";

/** Options of {@linkcode main}. */
export interface MainOptions {
  /**
   * How long running tasks get to finish after the tree is cancelled (by a signal, by `fn`
   * returning, or by `fn` throwing). Whatever still runs after it is printed as a status tree and
   * the process exits non-zero.
   * @default {5000}
   */
  shutdownGraceMs?: number;
  /**
   * Serve this process's status on a local Unix socket for `cli.ts status`. Without the Deno
   * permissions it needs (`--allow-env=FASTN_CONTEXT_DIR --allow-sys=uid`, `--allow-read` and
   * `--allow-write` of the socket directory, `--allow-net` for the socket) `main()` names every
   * missing flag in one warning and runs on without it.
   * @default {true}
   */
  endpoint?: boolean;
  /**
   * A status server for peers, started before `fn` and stopped at shutdown: what
   * `remoteAccess()` from `@fastn/context/remote` returns. It says its id52 and addresses when
   * it starts. When it cannot start, the error is printed, `fn` does not run, and the exit code
   * is 2 for a mistake in its configuration or missing permissions, 1 otherwise.
   * @default {undefined (no remote access)}
   */
  remote?: {
    start(
      root: Context,
      hooks?: { report?: (text: string) => void },
    ): Promise<{ stop(): Promise<void> }>;
    missingPermissions?(): string[];
  };
  /**
   * Also serve the status on TCP, started before `fn` and stopped at shutdown: `/metrics` for
   * Prometheus, the live dashboard at `/`, and the endpoint's `/status` routes. Loopback by
   * default; any other address needs a bearer token (`token`, or the environment variable
   * `FASTN_CONTEXT_TOKEN`). When it cannot start (no token, the port taken), the error is
   * printed, `fn` does not run, and the exit code is 1.
   * @default {undefined (no TCP listener)}
   */
  http?: HttpOptions;
  /**
   * Record this process's status stream to `path` (JSON lines: a full snapshot, then deltas; see
   * docs/recording.md), keeping the most recent `maxBytes` in rotated segments (`path.1`, …),
   * secrets redacted, files of mode 0600; replay it with `cli.ts replay <path>`. What is held
   * back is written on exit, an uncaught error, and a shutdown that hangs. When the file cannot
   * be made, the error is printed, `fn` does not run, and the exit code is 1.
   * @default {undefined (no recording); maxBytes: 64 MiB}
   */
  record?: { path: string; maxBytes?: number };
  /**
   * The name `cli.ts status` shows for this process.
   * @default {the main module's file name}
   */
  name?: string;
  /**
   * The signals that start a shutdown; the first cancels the tree with the signal's name as
   * reason, a second of any of them exits at once (128 + the signal's number). A second signal
   * within `sameSignalMs` of the first is taken as the same one: `deno task` and a terminal
   * both deliver one Ctrl-C.
   * @default {["SIGINT", "SIGTERM"]}
   */
  signals?: Deno.Signal[];
  /**
   * How long after the first signal another one still counts as the same (one Ctrl-C that
   * reaches the process twice, from the terminal and from the task runner that started it).
   * Only a signal after this window exits at once.
   * @default {250}
   */
  sameSignalMs?: number;
  /**
   * Say nothing when the shutdown is clean. Otherwise one line goes to `report` then: what
   * stopped, why, and how long the shutdown took.
   * @default {false}
   */
  quiet?: boolean;
  /**
   * Ends the process with the exit code. Tests pass a function that records the code; `main()`
   * then resolves with it.
   * @default {Deno.exit}
   */
  exit?: (code: number) => void;
  /**
   * Where reports go: a failure of `fn`, the tree left by a shutdown that hung, and the line of
   * a clean shutdown (unless `quiet`).
   * @default {writes to stderr}
   */
  report?: (text: string) => void;
  /**
   * Colour the reports.
   * @default {stderr is a terminal and NO_COLOR is not set}
   */
  color?: boolean;
  /**
   * The tree to run in. Applications keep the default; tests pass a root of their own.
   * @default {global()}
   */
  root?: Context;
}

/** The exit code for a failure of `fn` or a shutdown that hung. */
const FAILED = 1;
/** The exit code for a mistake in the configuration or the permissions: nothing ran. */
const USAGE = 2;

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

let warned = false;

/**
 * Runs `fn` in the global context until it returns, then shuts down: the tree is cancelled
 * (reason `"main returned"`), running tasks get `shutdownGraceMs` to finish, and the process
 * exits 0. SIGINT and SIGTERM cancel the tree with the signal's name as reason and shut down the
 * same way; a second signal during the shutdown exits at once. An error thrown by `fn` (other than
 * the `CancelledError` of the shutdown itself) is printed with the tree it left.
 *
 * Tasks still running when the grace is over, whatever started the shutdown, are printed as a
 * status tree (what a person needs to see why shutdown hung).
 *
 * A clean shutdown ends with one line on stderr, such as
 * `service.ts: stopped (SIGINT): 4 tasks finished, shutdown took 12ms` (`quiet: true` leaves it
 * out).
 *
 * Exit codes: 0 for a clean shutdown; 1 when `fn` threw or tasks were still running after the
 * grace; 2 when nothing ran because of a mistake in the configuration (`options.http`,
 * `config.toml`, missing Deno permissions for the listeners: every missing flag is named at once);
 * 128 + the signal's number (130 for SIGINT, 143 for SIGTERM) after a second signal.
 *
 * While it runs, the process serves its status to `cli.ts status` on a Unix socket
 * (`$FASTN_CONTEXT_DIR/<pid>.sock`, by default in `/tmp/fastn-context-<uid>`, mode 0600 in a 0700
 * directory), removed on exit. With `options.http` it also serves it on TCP: the live dashboard at
 * `/` and Prometheus metrics at `/metrics` (see {@linkcode HttpOptions}).
 *
 * @example A service that runs until SIGINT or SIGTERM
 * ```ts ignore
 * import { main, Metric } from "@fastn/context";
 *
 * await main(async (ctx) => {
 *   const proxy = ctx.child("http-proxy").withMetric("port", Metric.gauge(8080)).create();
 *   Deno.serve({ port: 8080, signal: proxy.signal }, () => {
 *     proxy.incrementTotal("requests");
 *     return new Response("hello");
 *   });
 *   await ctx.wait(); // until a signal cancels the tree
 * }, { shutdownGraceMs: 2_000 });
 * ```
 *
 * @example In a test: a root of its own, no endpoint, and the exit code returned
 * ```ts
 * import { Context, main } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * let exited: number | undefined;
 * const code = await main(async (ctx) => {
 *   ctx.child("job").spawn(async (job) => await job.wait());
 *   await Promise.resolve();
 * }, { root, endpoint: false, quiet: true, exit: (c) => (exited = c) });
 * assert.deepEqual([code, exited], [0, 0]);
 * assert.deepEqual(root.cancelReason, "main returned");
 * ```
 *
 * @param fn The application; it gets the global context (`current()` is that context in it).
 * @param options Grace period, endpoint, remote access, name, signals, and hooks for tests.
 * @returns The exit code, when `options.exit` returns instead of ending the process.
 * @throws {TypeError} / {RangeError} for a bad `fn` or option (a value out of range in
 * `options.http`, such as a short token or a port that is not a number, is configuration: it is
 * reported in one line instead, and the exit code is 2).
 */
export async function main(
  fn: (ctx: Context) => unknown,
  options: MainOptions = {},
): Promise<number> {
  if (typeof fn !== "function") throw new TypeError(`fn must be a function, got ${describe(fn)}`);
  const graceMs = options.shutdownGraceMs ?? 5_000;
  if (typeof graceMs !== "number" || !Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(
      `options.shutdownGraceMs must be a non-negative finite number, got ${describe(graceMs)}`,
    );
  }
  const root = rootOption(options.root);
  const exit = options.exit ?? Deno.exit;
  const report = options.report ?? writeStderr;
  const color = options.color ?? colorFor(Deno.stderr);
  const name = options.name ?? defaultName();
  const sameSignalMs = options.sameSignalMs ?? 250;
  if (typeof sameSignalMs !== "number" || !(sameSignalMs >= 0)) {
    throw new RangeError(
      `options.sameSignalMs must be a non-negative number, got ${describe(sameSignalMs)}`,
    );
  }
  if (options.http !== undefined) {
    // A value out of range there is configuration (a port or a token from flags or the
    // environment): one line and exit code 2, not a stack. A wrong type is the program's bug.
    try {
      checkHttpOptions(options.http, "options.http");
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      report(`${paint(`${name}:`, "red", color)} ${e.message}`);
      exit(USAGE);
      return USAGE;
    }
  }
  if (options.record !== undefined) checkRecordOptions(options.record, "options.record");

  // Every permission the listeners need, asked at once: one message names every missing flag.
  const wantsEndpoint = options.endpoint !== false && Deno.build.os !== "windows";
  const needed = mergePermissions(
    options.http === undefined ? [] : httpPermissions(options.http),
    options.remote?.missingPermissions?.() ?? [],
  );
  if (needed.length > 0) {
    const all = mergePermissions(
      wantsEndpoint ? missingPermissions({ pid: Deno.pid }) : [],
      needed,
    );
    report(
      `${paint(`${name}: missing Deno permissions:`, "red", color)} ${permissionsText(all)}`,
    );
    exit(USAGE);
    return USAGE;
  }

  const endpoint = options.endpoint === false ? undefined : startEndpoint(root, name, report);
  let http: HttpListener | undefined;
  if (options.http !== undefined) {
    try {
      http = serveHttp({ ...options.http, root, name });
    } catch (e) {
      const why = e instanceof Error ? e.message : describe(e);
      report(`${paint("the HTTP listener failed to start:", "red", color)} ${why}`);
      if (endpoint !== undefined) await Promise.race([endpoint.close(), delay(1_000)]);
      const code = isMistake(e) ? USAGE : FAILED;
      exit(code);
      return code;
    }
  }
  let recorder: Recorder | undefined;
  if (options.record !== undefined) {
    try {
      recorder = startRecording({
        ...options.record,
        root,
        name,
        onError: (e) =>
          report(`${paint("the recording stopped:", "red", color)} ${errorDetail(e)}`),
      });
    } catch (e) {
      const why = e instanceof Error ? e.message : describe(e);
      report(`${paint("the recorder failed to start:", "red", color)} ${why}`);
      await Promise.race([Promise.all([endpoint?.close(), http?.close()]), delay(1_000)]);
      exit(FAILED);
      return FAILED;
    }
  }
  let remote: { stop(): Promise<void> } | undefined;
  if (options.remote !== undefined) {
    try {
      remote = await options.remote.start(root, { report });
    } catch (e) {
      // A mistake of the user's (config.toml, the key file, an option, a permission) is its
      // message alone; anything else keeps its stack.
      const mistake = isMistake(e);
      const why = mistake ? (e as Error).message : errorDetail(e);
      report(`${paint("remote access failed to start:", "red", color)} ${why}`);
      await Promise.race([
        Promise.all([endpoint?.close(), http?.close(), recorder?.close()]),
        delay(1_000),
      ]);
      exit(mistake ? USAGE : FAILED);
      return mistake ? USAGE : FAILED;
    }
  }

  // The first signal cancels the tree; a second one, during the shutdown, exits at once. One
  // Ctrl-C may arrive twice (from the terminal, and forwarded by `deno task`): a signal within
  // `sameSignalMs` of the first is that same keypress.
  let forceExit: (code: number) => void = () => {};
  const forced = new Promise<number>((resolve) => (forceExit = resolve));
  const listeners: Array<[Deno.Signal, () => void]> = [];
  let firstSignalAt = -Infinity;
  for (const sig of options.signals ?? ["SIGINT", "SIGTERM"]) {
    const listener = (): void => {
      const at = performance.now();
      if (!root.cancelled) {
        firstSignalAt = at;
        root.cancel(sig);
      } else if (at - firstSignalAt > sameSignalMs) {
        forceExit(128 + (SIGNAL_NUMBERS[sig] ?? 0));
      }
    };
    try {
      Deno.addSignalListener(sig, listener);
      listeners.push([sig, listener]);
    } catch {
      // a signal this platform does not have (SIGTERM on Windows)
    }
  }

  let outcome: { error: unknown } | "ok" | undefined;
  const work = root.spawn(fn).then(
    () => void (outcome = "ok"),
    (error: unknown) => void (outcome = { error }),
  );
  // Signal listeners do not keep the event loop alive: without this, a `fn` that only awaits
  // `ctx.wait()` would end the process ("promise resolution is still pending") instead of
  // waiting for its signal.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  await Promise.race([work, root.wait()]);
  clearInterval(keepAlive);

  let code = 0;
  const failed = (): unknown =>
    typeof outcome === "object" && !isCancellation(outcome.error, root) ? outcome.error : undefined;
  const failure = failed();
  if (failure !== undefined) {
    code = FAILED;
    report(
      `${paint("main failed:", "red", color)} ${errorDetail(failure)}\n` +
        `${paint("the tree it left:", "bold", color)}\n${tree(root, color)}`,
    );
    root.cancel("main failed");
  } else if (!root.cancelled) {
    root.cancel("main returned");
  }

  const shutdownStart = performance.now();
  const stopping = countRunning(root);
  const settled = await drain(root, work, graceMs, forced);
  const shutdownMs = performance.now() - shutdownStart;
  const lateFailure = failure === undefined ? failed() : undefined;
  if (lateFailure !== undefined) {
    // fn failed after a signal had cancelled the tree, and not because of the cancellation
    code = FAILED;
    report(`${paint("main failed:", "red", color)} ${errorDetail(lateFailure)}`);
  }
  if (settled !== true) {
    const running = countRunning(root);
    const why = typeof settled === "number"
      ? `a second signal during the shutdown (${reasonOf(root)}): exiting at once`
      : `shutdown (${reasonOf(root)}) hung: ${running} task${running === 1 ? "" : "s"} still ` +
        `running after the ${graceMs}ms grace`;
    report(`${paint(why, "red", color)}\n${tree(root, color)}`);
    code = typeof settled === "number" ? settled : FAILED;
  } else if (code === 0 && options.quiet !== true) {
    report(
      `${name}: stopped (${reasonOf(root)}): ${
        stopping === 0
          ? "nothing was running"
          : `${stopping} task${stopping === 1 ? "" : "s"} finished`
      }, shutdown took ${Math.round(shutdownMs)}ms`,
    );
  }

  for (const [sig, listener] of listeners) Deno.removeSignalListener(sig, listener);
  recorder?.flush(); // the last moment first, whatever hangs below
  await Promise.race([
    Promise.all([
      endpoint?.close(),
      http?.close(),
      remote?.stop().catch(() => {}),
      recorder?.close(),
    ]),
    delay(1_000),
  ]);
  exit(code);
  return code;
}

/** Error names of mistakes in what a user configured, as the listeners throw them. */
const MISTAKES = new Set([
  "ConfigError",
  "IdentityError",
  "InvalidId52Error",
  "UnsafeHomeError",
  "NotCapable",
  "PermissionDenied",
  "TokenError",
]);

/** Whether `e` is a mistake in options, configuration files or permissions, not a failure. */
function isMistake(e: unknown): boolean {
  return e instanceof TypeError || e instanceof RangeError ||
    (e instanceof Error && MISTAKES.has(e.name));
}

/** The net permission the TCP listener needs, when it is not granted. */
function httpPermissions(http: HttpOptions): string[] {
  const hostname = http.hostname ?? "127.0.0.1";
  const host = http.port === 0 ? hostname : `${hostname}:${http.port}`;
  return Deno.permissions.querySync({ name: "net", host }).state === "granted"
    ? []
    : [`--allow-net=${host}`];
}

function startEndpoint(
  root: Context,
  name: string,
  report: (text: string) => void,
): Endpoint | undefined {
  const warn = (why: string): undefined => {
    if (!warned) {
      warned = true;
      report(
        `@fastn/context: the status endpoint is off (${why}); the application runs on without it. ` +
          `Pass main(fn, { endpoint: false }) to silence this.`,
      );
    }
    return undefined;
  };
  if (Deno.build.os === "windows") return warn("Unix sockets are not supported on Windows yet");
  try {
    const missing = missingPermissions({ pid: Deno.pid });
    if (missing.length > 0) return warn(`it needs ${permissionsText(missing)}`);
    return serveStatus({ root, name });
  } catch (e) {
    return warn(e instanceof Error ? e.message : String(e));
  }
}

// Resolves true once no task runs anywhere in the tree and `work` has settled, false when the
// grace is over first, or the exit code of a second signal.
function drain(
  root: Context,
  work: Promise<unknown>,
  graceMs: number,
  forced: Promise<number>,
): Promise<boolean | number> {
  return new Promise((resolve) => {
    let workDone = false;
    let done = false;
    const finish = (value: boolean | number): void => {
      if (done) return;
      done = true;
      unlisten();
      clearTimeout(graceTimer);
      clearInterval(backstop);
      resolve(value);
    };
    const check = (): void => {
      if (workDone && countRunning(root) === 0) finish(true);
    };
    // Context changes come as events; a task settling in a context that stays (a simple spawn)
    // may not send one, so a cheap backstop looks again, only during the grace period.
    const unlisten = internals.tree(root).listen(() => queueMicrotask(check));
    const graceTimer = setTimeout(() => finish(false), graceMs);
    const backstop = setInterval(check, 50);
    void work.then(() => {
      workDone = true;
      check();
    });
    void forced.then((code) => finish(code));
  });
}

/** How many tasks run in the tree under `root` (root included). */
function countRunning(root: Context): number {
  let n = 0;
  const stack: Context[] = [root];
  while (stack.length > 0) {
    const c = stack.pop()!;
    n += internals.running(c);
    for (let k = internals.firstChild(c); k !== undefined; k = internals.nextSibling(k)) {
      stack.push(k);
    }
  }
  return n;
}

function isCancellation(error: unknown, root: Context): boolean {
  return root.cancelled && error instanceof CancelledError;
}

function reasonOf(root: Context): string {
  const r = root.cancelReason;
  return typeof r === "string" ? r : describe(r);
}

function tree(root: Context, color: boolean): string {
  return renderStatus(status({ root }), { color });
}

function errorDetail(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return describe(error);
}

function paint(text: string, style: "red" | "bold", color: boolean): string {
  if (!color) return text;
  return style === "red" ? `\x1b[31m${text}\x1b[39m` : `\x1b[1m${text}\x1b[22m`;
}

function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}
