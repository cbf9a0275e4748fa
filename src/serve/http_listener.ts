/**
 * The status over TCP, when `main(fn, { http: { port } })` asks for it: the same routes as the
 * Unix-socket endpoint (`/`, `/info`, `/status`, `/status/text`, `/status/stream`, `/metrics`) on
 * a TCP port, for Prometheus and for a browser.
 *
 * Access: on a loopback address (the default) no token is needed, unless one is given. Any other
 * address needs a bearer token, from `options.token` or the environment variable
 * `FASTN_CONTEXT_TOKEN`; without one the listener refuses to start. With a token, every route but
 * `/` (the dashboard page itself, which holds no data) answers 401 to a request without
 * `Authorization: Bearer <token>`. Without a token, requests whose `Host` is not a loopback name
 * are refused (403), so that a web page cannot read the status through DNS rebinding.
 *
 * It is served by the same small server as the Unix socket (`local_http.ts`), with its limits
 * against slow, huge and too many requests: a deadline and a size for the request head, a cap on
 * open connections, a deadline for each write.
 *
 * @module
 */

import type { Context } from "../core/context.ts";
import { rootOption } from "../core/current.ts";
import { errorResponse, processInfo, serveRoutes } from "./endpoint.ts";
import { describe } from "../core/names.ts";
import type { LocalHttpLimits } from "./http_server.ts";

/** The environment variable that gives the TCP listener its bearer token. */
export const TOKEN_ENV = "FASTN_CONTEXT_TOKEN";

/** The shortest token accepted. */
const MIN_TOKEN_LENGTH = 16;

/**
 * Where the TCP listener listens, as given to {@linkcode HttpOptions.onListen}.
 *
 * @example
 * ```ts
 * import type { HttpAddress } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * const address: HttpAddress = {
 *   hostname: "127.0.0.1",
 *   port: 9464,
 *   url: "http://127.0.0.1:9464/",
 * };
 * const metrics = new URL("metrics", address.url);
 * assert.deepEqual(metrics.href, "http://127.0.0.1:9464/metrics");
 * ```
 */
export interface HttpAddress {
  /** The address it is bound to. */
  hostname: string;
  /** The port it is bound to (the one chosen when 0 was asked for). */
  port: number;
  /** `http://<hostname>:<port>/`, the dashboard's address. */
  url: string;
}

/**
 * The `http` option of `main()`: serve the status, the metrics and the dashboard on a TCP port.
 *
 * @example Prometheus metrics and the dashboard on port 9464 of loopback
 * ```ts ignore
 * import { main } from "@fastn/context";
 *
 * await main(async (ctx) => {
 *   await ctx.wait();
 * }, { http: { port: 9464, onListen: ({ url }) => console.log(`dashboard at ${url}`) } });
 * ```
 *
 * @example On every interface, with a token (here from the environment)
 * ```ts ignore
 * import { main } from "@fastn/context";
 *
 * // FASTN_CONTEXT_TOKEN=<at least 16 characters> deno run -A app.ts
 * await main(async (ctx) => await ctx.wait(), { http: { port: 9464, hostname: "0.0.0.0" } });
 * ```
 */
export interface HttpOptions {
  /** The TCP port; 0 picks a free one (see `onListen`). Required. */
  port: number;
  /**
   * The address to listen on. Anything but a loopback address needs a token.
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The bearer token requests must carry (`Authorization: Bearer <token>`): at least 16
   * characters, no spaces or control characters.
   * @default {the environment variable FASTN_CONTEXT_TOKEN, when set and readable}
   */
  token?: string;
  /**
   * Called once the port is bound, with its address.
   * @default {undefined (nothing is called)}
   */
  onListen?: (address: HttpAddress) => void;
}

/**
 * A running TCP listener.
 * @internal
 */
export interface HttpListener extends AsyncDisposable {
  /** Where it listens. */
  readonly address: HttpAddress;
  /** Ends every open stream and stops listening. Twice is a no-op. */
  close(): Promise<void>;
}

/**
 * Options of {@linkcode serveHttp}.
 * @internal
 */
export interface ServeHttpOptions extends HttpOptions {
  /**
   * The tree to serve.
   * @default {global()}
   */
  root?: Context;
  /**
   * The process name `/info` gives.
   * @default {the main module's file name}
   */
  name?: string;
  /**
   * Limits against broken or hostile clients (see `local_http.ts`).
   * @default {64 connections and 16 streams of events, 10 s and 16 KiB for a head, 64 header fields, 30 s for a write}
   */
  limits?: Partial<LocalHttpLimits>;
}

/**
 * Checks the `http` option of `main()` without starting anything.
 * @internal
 * @throws {TypeError} / {RangeError} naming `argument` and the field.
 */
export function checkHttpOptions(
  value: unknown,
  argument: string,
  more: string[] = [],
): HttpOptions {
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`${argument} must be an object, got ${describe(value)}`);
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!["port", "hostname", "token", "onListen", ...more].includes(key)) {
      throw new TypeError(
        `${argument}.${key} is not an option; known: port, hostname, token, onListen`,
      );
    }
  }
  if (typeof o.port !== "number") {
    throw new TypeError(`${argument}.port must be a number, got ${describe(o.port)}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65_535) {
    throw new RangeError(`${argument}.port must be an integer from 0 to 65535, got ${o.port}`);
  }
  if (o.hostname !== undefined) {
    if (typeof o.hostname !== "string") {
      throw new TypeError(`${argument}.hostname must be a string, got ${describe(o.hostname)}`);
    }
    if (o.hostname.trim() === "") throw new RangeError(`${argument}.hostname must not be empty`);
  }
  if (o.token !== undefined) checkToken(o.token, `${argument}.token`);
  if (o.onListen !== undefined && typeof o.onListen !== "function") {
    throw new TypeError(`${argument}.onListen must be a function, got ${describe(o.onListen)}`);
  }
  return o as unknown as HttpOptions;
}

function checkToken(token: unknown, argument: string): asserts token is string {
  if (typeof token !== "string") {
    throw new TypeError(`${argument} must be a string, got ${describe(token)}`);
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new RangeError(
      `${argument} must be at least ${MIN_TOKEN_LENGTH} characters, got ${token.length}`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(token)) {
    throw new RangeError(`${argument} must not contain spaces or control characters`);
  }
}

/** Whether `hostname` is a loopback address or name. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}

function envToken(): string | undefined {
  try {
    const granted =
      Deno.permissions.querySync({ name: "env", variable: TOKEN_ENV }).state === "granted";
    const value = granted ? Deno.env.get(TOKEN_ENV) : undefined;
    return value === undefined || value === "" ? undefined : value;
  } catch {
    return undefined;
  }
}

/**
 * Serves the status routes on TCP.
 * @internal
 * @throws {TypeError} / {RangeError} for bad options (the token from the environment included).
 * @throws {Error} when a non-loopback address has no token, or the port cannot be bound.
 */
export function serveHttp(options: ServeHttpOptions): HttpListener {
  checkHttpOptions(options, "options", ["root", "name", "limits"]);
  const hostname = options.hostname ?? "127.0.0.1";
  let token = options.token;
  if (token === undefined) {
    token = envToken();
    if (token !== undefined) checkToken(token, `the environment variable ${TOKEN_ENV}`);
  }
  if (token === undefined && !isLoopback(hostname)) {
    const e = new Error(
      `refusing to serve the status on ${hostname}:${options.port} without a token: anything ` +
        `but a loopback address needs one. Give it as http.token or in the environment ` +
        `variable ${TOKEN_ENV} (at least ${MIN_TOKEN_LENGTH} characters), or listen on 127.0.0.1.`,
    );
    e.name = "TokenError"; // a mistake in the configuration: main() exits 2
    throw e;
  }
  const root = rootOption(options.root);
  const info = processInfo(options.name);
  const expected = token === undefined ? undefined : new TextEncoder().encode(token);
  const routes = serveRoutes({ hostname, port: options.port }, {
    root,
    info,
    limits: options.limits,
    refuse: (req) => refuse(req, expected),
  });
  const addr = routes.addr as Deno.NetAddr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const address: HttpAddress = {
    hostname: addr.hostname,
    port: addr.port,
    url: `http://${host}:${addr.port}/`,
  };
  const close = routes.close;
  try {
    options.onListen?.(address);
  } catch (e) {
    void close();
    throw e;
  }
  return { address, close, [Symbol.asyncDispose]: close };
}

const encoder = new TextEncoder();

// The answer that refuses a request, or undefined to serve it.
function refuse(req: Request, expected: Uint8Array | undefined): Response | undefined {
  const url = new URL(req.url);
  if (expected === undefined) {
    const host = req.headers.get("host");
    const name = host === null ? "" : host.replace(/:\d+$/, "");
    if (!isLoopback(name)) {
      return errorResponse(
        403,
        `host ${JSON.stringify(host ?? "")} refused: without a token this listener answers ` +
          `only requests for a loopback name (localhost, 127.0.0.1, [::1])`,
      );
    }
    return undefined;
  }
  if (url.pathname === "/") return undefined; // the page itself: no data in it
  const header = req.headers.get("authorization");
  const m = header === null ? null : /^Bearer +(\S+)\s*$/i.exec(header);
  if (m === null) return unauthorized("this listener needs Authorization: Bearer <token>", false);
  if (!sameBytes(encoder.encode(m[1]), expected)) return unauthorized("wrong token", true);
  return undefined;
}

function unauthorized(message: string, invalid: boolean): Response {
  const r = errorResponse(401, message);
  r.headers.set(
    "www-authenticate",
    `Bearer realm="fastn-context"${invalid ? ', error="invalid_token"' : ""}`,
  );
  return r;
}

// Compares in a time that depends only on the lengths.
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % (a.length || 1)] ?? 0) ^ b[i];
  return diff === 0;
}
