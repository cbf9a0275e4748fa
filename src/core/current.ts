/**
 * Where code finds its context: {@linkcode global} (the application's root),
 * {@linkcode current} (the innermost running task's context), {@linkcode bind} (keep it for a
 * callback run later) and {@linkcode counters} (every counter under a path).
 *
 * @module
 */

import { als, Context, internals } from "./context.ts";
import { describe, escapeSegment } from "./names.ts";

let globalContext: Context | undefined;

/**
 * The application's global context, made on first use. `main()` runs its function in it.
 *
 * @example
 * ```ts
 * import { global } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(global().name, "global");
 * assert.deepEqual(global(), global());
 * ```
 */
export function global(): Context {
  return globalContext ??= Context.root("global");
}

/**
 * The context of the running task: the innermost `spawn()` around this code, across `await`,
 * timers and promise combinators; {@linkcode global} outside any task.
 *
 * @example
 * ```ts
 * import { current, global } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(current(), global());
 * await global().child("job").spawn(async (ctx) => {
 *   await new Promise((r) => setTimeout(r, 1));
 *   assert.deepEqual(current(), ctx);
 * });
 * ```
 */
export function current(): Context {
  return als.getStore() ?? globalContext ?? global();
}

/**
 * Returns `fn` bound to the context that is current now, so that a callback run later by
 * something else (an event emitter, a native callback) still sees this context as `current()`.
 *
 * @example
 * ```ts
 * import { bind, Context, current } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("svc");
 * const later = await root.child("job").spawn(() => bind(() => current().name));
 * assert.deepEqual(later(), "job");
 * ```
 */
export function bind<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  if (typeof fn !== "function") throw new TypeError(`fn must be a function, got ${describe(fn)}`);
  const ctx = current();
  return (...args: A) => als.run(ctx, fn, ...args);
}

/**
 * Every counter under `prefix` (a dotted path such as `"global.http-proxy"`), as a record from
 * key to value: totals under `<path>.<name>`, live counts under `<path>.live_<name>`.
 *
 * @example
 * ```ts
 * import { Context, counters } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const proxy = root.child("http-proxy").create();
 * proxy.incrementTotal("requests");
 * proxy.incrementLive("connections");
 * assert.deepEqual(counters("global.http-proxy", { root }), {
 *   "global.http-proxy.requests": 1,
 *   "global.http-proxy.live_connections": 1,
 * });
 * ```
 *
 * @param prefix A path; all counters when empty.
 * @param options Which tree: `root` (any context of it); the global tree by default.
 * @throws {TypeError} when `prefix` is not a string.
 * @throws {RangeError} when `prefix` does not start with the name of the searched tree's root
 * (counters of another tree: pass `{ root }`), rather than answer `{}`.
 */
export function counters(prefix = "", options: { root?: Context } = {}): Record<string, number> {
  if (typeof prefix !== "string") {
    throw new TypeError(`prefix must be a string, got ${describe(prefix)}`);
  }
  let root = rootOption(options?.root);
  while (root.parent !== undefined) root = root.parent;
  if (prefix !== "") {
    const dot = prefix.indexOf(".");
    const first = dot < 0 ? prefix : prefix.slice(0, dot);
    const own = escapeSegment(root.name);
    if (first !== own) {
      throw new RangeError(
        `prefix "${prefix}" does not start with "${own}", the root of the tree searched: ` +
          `counters of another tree need that tree's root (or any context of it) passed as ` +
          `counters(prefix, { root })`,
      );
    }
  }
  return internals.tree(root).counters.entries(prefix);
}

/**
 * The context an `options.root` names: {@linkcode global} when it is `undefined`.
 * @internal
 * @throws {TypeError} naming `options.root` when it is anything but a Context.
 */
export function rootOption(root: unknown): Context {
  if (root === undefined) return global();
  if (!(root instanceof Context)) {
    throw new TypeError(`options.root must be a Context, got ${describe(root)}`);
  }
  return root;
}
