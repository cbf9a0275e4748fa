/**
 * The local status endpoint every `main()` process serves: HTTP on a Unix socket
 * `<dir>/<pid>.sock` (mode 0600, in a 0700 directory of this user) with
 *
 * - `GET /info`: `{ pid, name, startedAt, protocol }`;
 * - `GET /status`: the status as JSON (`statusJson()`);
 * - `GET /status/text`: the dashboard (`?color=1` for ANSI colours);
 * - `GET /status/stream`: server-sent events, one `status` event per snapshot of
 *   `statusStream()` (first at once, then only on change); `?format=text` sends the dashboard
 *   instead of JSON, `&color=1` with colours.
 * - `GET /metrics`: the status as metrics for Prometheus (`openMetrics()`): OpenMetrics when the
 *   `Accept` header asks for it, the Prometheus text format 0.0.4 otherwise;
 * - `GET /`: the live web dashboard, one page fed by `/status/stream?format=json`.
 *
 * Every answer carries the header `x-fastn-context: 1`, which is how the CLI tells this endpoint
 * from any other socket. Internal: `main()` starts it.
 *
 * @module
 */

import type { Context } from "../core/context.ts";
import { jsonText } from "../core/json.ts";
import { rootOption } from "../core/current.ts";
import {
  ensurePrivateDir,
  localDir,
  type ProcessInfo,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  removeQuietly,
  removeStaleSocket,
  socketName,
} from "./socket_dir.ts";
import { renderStatus } from "../status/render.ts";
import { status, statusJson } from "../status/status.ts";
import type { Status } from "../status/types.ts";
import { statusStream } from "../status/stream.ts";
import { type LocalHttpLimits, serveLocalHttp } from "./http_server.ts";
import { METRICS_CONTENT_TYPES, openMetrics } from "../status/openmetrics.ts";
import { DASHBOARD_HTML } from "../status/dashboard_page.ts";

export type { ProcessInfo };

/** Options of {@linkcode serveStatus}. */
export interface EndpointOptions {
  /**
   * The tree to serve.
   * @default {global()}
   */
  root?: Context;
  /**
   * The name the CLI shows for this process.
   * @default {the main module's file name}
   */
  name?: string;
  /**
   * The directory of the socket.
   * @default {localDir()}
   */
  dir?: string;
  /**
   * Limits against broken or hostile clients: open connections, the time and size of a request
   * head, the time of a write (see `local_http.ts`).
   * @default {64 connections and 16 streams of events, 10 s and 16 KiB for a head, 64 header fields, 30 s for a write}
   */
  limits?: Partial<LocalHttpLimits>;
}

/** A running endpoint. */
export interface Endpoint extends AsyncDisposable {
  /** The socket's path. */
  readonly path: string;
  /** What `GET /info` answers. */
  readonly info: ProcessInfo;
  /** Ends every open stream, stops serving and removes the socket. Twice is a no-op. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

// An open `/status/stream` answer.
interface OpenStream {
  abort(): void;
  completed: Promise<void>;
}

/** What `/info` says of this process; `name` defaults to the main module's file name. */
export function processInfo(name?: string): ProcessInfo {
  return {
    pid: Deno.pid,
    name: name ?? defaultName(),
    startedAt: Date.now(),
    protocol: Number(PROTOCOL_VERSION),
  };
}

/** The default process name: the main module's file name. */
export function defaultName(): string {
  try {
    const url = new URL(Deno.mainModule);
    const last = url.pathname.split("/").filter((s) => s !== "").pop();
    return last === undefined ? "deno" : decodeURIComponent(last);
  } catch {
    return "deno";
  }
}

/**
 * Serves the status of `options.root` on `<dir>/<pid>.sock`. A socket left there by an earlier
 * process with the same pid is replaced.
 *
 * @throws when the directory cannot be made private or the socket cannot be bound.
 */
export function serveStatus(options: EndpointOptions = {}): Endpoint {
  const root = rootOption(options.root);
  const dir = options.dir ?? localDir();
  ensurePrivateDir(dir);
  const path = `${dir}/${socketName(Deno.pid)}`;
  removeStaleSocket(path); // a stale socket of a dead process that had our pid
  const info = processInfo(options.name);
  const routes = serveRoutes({ path }, { root, info, limits: options.limits });
  Deno.chmodSync(path, 0o600);
  const onUnload = (): void => removeQuietly(path);
  globalThis.addEventListener("unload", onUnload);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      await routes.close();
      removeQuietly(path);
      globalThis.removeEventListener("unload", onUnload);
    })();
  return { path, info, close, [Symbol.asyncDispose]: close };
}

/**
 * Options of {@linkcode serveRoutes}.
 * @internal
 */
export interface RoutesOptions {
  /** The tree to serve. */
  root: Context;
  /** What `/info` answers. */
  info: ProcessInfo;
  /** Limits against broken or hostile clients; fields left out keep their default. */
  limits?: Partial<LocalHttpLimits>;
  /** The answer that refuses a request before it reaches the routes, or undefined to serve it. */
  refuse?: (req: Request) => Response | undefined;
}

/**
 * Running routes: where they listen, and `close()`, which ends every open stream cleanly, then
 * stops serving. Twice is a no-op.
 * @internal
 */
export interface Routes {
  readonly addr: Deno.Addr;
  close(): Promise<void>;
}

/**
 * Serves the status routes on a Unix socket (`{ path }`) or TCP (`{ hostname, port }`), with the
 * limits of `local_http.ts`: the one server behind the local endpoint and the TCP listener.
 * @internal
 */
export function serveRoutes(
  where: { path: string } | { hostname: string; port: number },
  options: RoutesOptions,
): Routes {
  const { root, info, refuse } = options;
  const streams = new Set<OpenStream>();
  const stop = new AbortController();
  const server = serveLocalHttp(
    { ...where, signal: stop.signal, errorResponse, limits: options.limits },
    (req, completed) => refuse?.(req) ?? handleRequest(req, completed, { root, info, streams }),
  );
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closing ??= (async () => {
      await endStreams(streams);
      stop.abort();
      await server.finished.catch(() => {});
    })();
  return { addr: server.addr, close };
}

// Ends the open streams cleanly (their last chunk sent), waiting at most half a second.
async function endStreams(streams: Set<OpenStream>): Promise<void> {
  const open = [...streams];
  for (const s of open) s.abort();
  await Promise.race([Promise.allSettled(open.map((s) => s.completed)), delay(500)]);
}

// What the routes of a status server work on.
interface RouteState {
  root: Context;
  info: ProcessInfo;
  streams: Set<OpenStream>;
}

// Answers one request of a status server (the Unix-socket endpoint or the TCP listener).
function handleRequest(req: Request, completed: Promise<void>, state: RouteState): Response {
  const { root, info, streams } = state;
  if (req.method !== "GET" && req.method !== "HEAD") {
    return errorResponse(405, `method ${req.method} is not allowed: only GET and HEAD`);
  }
  const url = new URL(req.url);
  const color = flag(url, "color");
  switch (url.pathname) {
    case "/":
      return page(DASHBOARD_HTML);
    case "/metrics": {
      const om = /application\/openmetrics-text/i.test(req.headers.get("accept") ?? "");
      const format = om ? "openmetrics" : "prometheus";
      return new Response(openMetrics({ root, format }), {
        headers: {
          [PROTOCOL_HEADER]: PROTOCOL_VERSION,
          "content-type": METRICS_CONTENT_TYPES[format],
          "cache-control": "no-store",
        },
      });
    }
    case "/info":
      return json(info);
    case "/status":
      return json(statusJson({ root }));
    case "/status/text":
      return text(renderStatus(status({ root }), { color }));
    case "/status/stream":
      return stream(completed, root, url.searchParams.get("format") === "text", color, streams);
    default:
      return errorResponse(
        404,
        `no route ${url.pathname}: try /, /info, /status, /status/text, /status/stream, /metrics`,
      );
  }
}

function stream(
  completed: Promise<void>,
  root: Context,
  asText: boolean,
  color: boolean,
  streams: Set<OpenStream>,
): Response {
  const ac = new AbortController();
  const open: OpenStream = { abort: () => ac.abort(), completed: completed.catch(() => {}) };
  streams.add(open);
  const snapshots = statusStream({ root, signal: ac.signal })[Symbol.asyncIterator]();
  let finished = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  // Ends the stream at once: when the endpoint closes, the client goes away, or the answer is
  // complete. The snapshot iterator is told to stop; a snapshot it still delivers is dropped.
  const end = (): void => {
    if (finished) return;
    finished = true;
    streams.delete(open);
    ac.abort();
    void snapshots.return?.(undefined).catch(() => {});
    try {
      controller.close();
    } catch {
      // closed or cancelled already
    }
  };
  ac.signal.addEventListener("abort", end, { once: true });
  void completed.then(end, end);
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull(c) {
      let r: IteratorResult<Status>;
      try {
        r = await snapshots.next();
      } catch (e) {
        if (!finished) {
          finished = true;
          streams.delete(open);
          c.error(e);
        }
        return;
      }
      if (finished) return;
      if (r.done) {
        end();
        return;
      }
      const data = asText ? renderStatus(r.value, { color }) : jsonText(r.value);
      c.enqueue(encoder.encode(sse("status", data)));
    },
    cancel() {
      finished = true;
      streams.delete(open);
      ac.abort();
      void snapshots.return?.(undefined).catch(() => {});
    },
  });
  return new Response(body, {
    headers: {
      [PROTOCOL_HEADER]: PROTOCOL_VERSION,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

function sse(event: string, data: string): string {
  return `event: ${event}\n${data.split("\n").map((line) => `data: ${line}`).join("\n")}\n\n`;
}

function flag(url: URL, name: string): boolean {
  const v = url.searchParams.get(name);
  return v !== null && v !== "0" && v !== "false";
}

function json(value: unknown): Response {
  return new Response(jsonText(value), {
    headers: {
      [PROTOCOL_HEADER]: PROTOCOL_VERSION,
      "content-type": "application/json; charset=utf-8",
    },
  });
}

function text(value: string): Response {
  return new Response(value, {
    headers: { [PROTOCOL_HEADER]: PROTOCOL_VERSION, "content-type": "text/plain; charset=utf-8" },
  });
}

function page(html: string): Response {
  return new Response(html, {
    headers: {
      [PROTOCOL_HEADER]: PROTOCOL_VERSION,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; " +
        "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; " +
        "form-action 'none'; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}

/**
 * A plain-text error answer.
 * @internal
 */
export function errorResponse(code: number, message: string): Response {
  return new Response(message + "\n", {
    status: code,
    headers: { [PROTOCOL_HEADER]: PROTOCOL_VERSION, "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Resolves after `ms` without keeping the process alive for it. Internal.
 * @internal
 */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    Deno.unrefTimer(t);
  });
}
