/**
 * A small HTTP/1.1 server for the status, on a Unix socket (the local endpoint) or on TCP (the
 * listener of `main(fn, { http })`), with the limits `Deno.serve` does not offer: at most
 * `maxConnections` open at once, a deadline for the request head, a bound on its size and number
 * of fields, and a deadline for every write. One request per connection
 * (`connection: close`), `GET` and `HEAD` only, no request bodies: all a status endpoint needs.
 *
 * What a hostile or broken client gets:
 * - a request head that does not arrive within `headerTimeoutMs` (a client that sends a byte at
 *   a time, or nothing): 408, then the connection is closed;
 * - a head over `maxHeadBytes` or with more than `maxHeaders` fields: 431;
 * - a request line or header field that is not HTTP: 400, naming what is wrong;
 * - a method other than GET or HEAD: 405 with `allow: GET, HEAD`;
 * - a connection past `maxConnections`: the oldest connection still sending its head is closed
 *   (408) to make room; when every open connection is past its head, the new one gets 503;
 * - a client that does not read its answer: closed once a write waits `writeTimeoutMs`;
 * - an answer that is a stream of events (`text/event-stream`) no longer counts against
 *   `maxConnections` once it starts: streams have a cap of their own, `maxStreams`, and a stream
 *   past it gets 503, so that idle streams never lock short requests (a scrape, `/status`) out.
 *
 * Bytes sent after the head are read and dropped, so a client cannot make the server hold them.
 * Internal: `serveStatus()` and `serveHttp()` use it.
 *
 * @module
 */

import { describe } from "../core/names.ts";
import { concat } from "../core/bytes.ts";

/** The limits of {@linkcode serveLocalHttp}. */
export interface LocalHttpLimits {
  /**
   * The most connections open at once, streams of events left out (see `maxStreams`).
   * @default {64}
   */
  maxConnections: number;
  /**
   * The most streams of events (`text/event-stream` answers) open at once; past it a new one gets
   * 503.
   * @default {16}
   */
  maxStreams: number;
  /**
   * How long a client has to send its whole request head, in ms.
   * @default {10000}
   */
  headerTimeoutMs: number;
  /**
   * The largest request head (request line and header fields), in bytes.
   * @default {16384}
   */
  maxHeadBytes: number;
  /**
   * The most header fields in a request.
   * @default {64}
   */
  maxHeaders: number;
  /**
   * How long one write of the answer may wait for the client to read, in ms.
   * @default {30000}
   */
  writeTimeoutMs: number;
}

/** The limits used when none are given. */
export const DEFAULT_LOCAL_HTTP_LIMITS: Readonly<LocalHttpLimits> = Object.freeze({
  maxConnections: 64,
  maxStreams: 16,
  headerTimeoutMs: 10_000,
  maxHeadBytes: 16 * 1024,
  maxHeaders: 64,
  writeTimeoutMs: 30_000,
});

/** Makes an answer the server gives by itself (an error): a status code and a message. */
export type ErrorResponse = (status: number, message: string) => Response;

/**
 * Options of {@linkcode serveLocalHttp}: where to listen, either `path` (a Unix socket) or
 * `hostname` and `port` (TCP).
 */
export interface LocalHttpOptions {
  /** The Unix socket's path, which must not exist; not with `hostname` and `port`. */
  path?: string;
  /** The TCP address to listen on, with `port`; not with `path`. */
  hostname?: string;
  /** The TCP port (0 picks a free one, see {@linkcode LocalHttpServer.addr}), with `hostname`. */
  port?: number;
  /** Stops the server: the listener and every connection are closed. */
  signal: AbortSignal;
  /** Makes the answer the server itself gives (an error): a status code and a message. */
  errorResponse: ErrorResponse;
  /** Limits; fields left out keep their default. */
  limits?: Partial<LocalHttpLimits>;
}

/** The answer of one request; `completed` settles when the answer is sent or the client left. */
export type LocalHandler = (req: Request, completed: Promise<void>) => Response | Promise<Response>;

/** A running server. */
export interface LocalHttpServer {
  /** Where it listens: the Unix socket, or the TCP address with the port bound. */
  readonly addr: Deno.Addr;
  /** Settles once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** How many connections are open now, streams of events left out. */
  readonly connections: number;
  /** How many streams of events are open now. */
  readonly streams: number;
}

const encoder = new TextEncoder();
/** Where the bytes a client sends after its head go: read and dropped, by every connection. */
const SINK = new Uint8Array(4096);

const REASONS: Record<number, string> = {
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

// An HTTP token (a method or a header field name).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A header field value: visible characters, spaces and tabs, and obs-text.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Serves `handler` within limits, on a Unix socket at `options.path` (which must not exist) or on
 * TCP at `options.hostname` and `options.port`.
 *
 * @throws {TypeError} when the options give neither or both forms of address, or a bad one.
 * @throws {RangeError} for a port out of range, or a limit that is not a positive integer.
 * @throws when the socket cannot be bound.
 */
export function serveLocalHttp(options: LocalHttpOptions, handler: LocalHandler): LocalHttpServer {
  const limits = checkLimits(options.limits ?? {});
  const listener = listen(options);
  const open = new Set<Connection>();
  const streams = new Set<Connection>();
  const running = new Set<Promise<void>>();
  const stop = (): void => {
    try {
      listener.close();
    } catch {
      // closed already
    }
    for (const c of open) c.close();
    for (const c of streams) c.close();
  };
  if (options.signal.aborted) stop();
  else options.signal.addEventListener("abort", stop, { once: true });

  const finished = (async () => {
    try {
      for await (const conn of listener) {
        if (conn.remoteAddr.transport === "tcp") noDelay(conn as Deno.TcpConn);
        const c = new Connection(conn, { open, streams }, options.errorResponse);
        if (open.size >= limits.maxConnections && !makeRoom(open)) {
          const message = `too many connections (${open.size} open, at most ` +
            `${limits.maxConnections}): try again later`;
          track(running, c.refuse(message, limits));
          continue;
        }
        open.add(c);
        if (options.signal.aborted) {
          c.close();
          continue;
        }
        track(running, c.serve(handler, limits));
      }
    } catch {
      // the listener was closed
    }
    while (running.size > 0) await Promise.allSettled([...running]);
    options.signal.removeEventListener("abort", stop);
  })();
  return {
    addr: listener.addr,
    finished,
    get connections() {
      return open.size;
    },
    get streams() {
      return streams.size;
    },
  };
}

/** Binds the address of `options`: exactly one of `path`, or `hostname` with `port`. */
function listen(options: LocalHttpOptions): Deno.Listener {
  const { path, hostname, port } = options;
  if (path !== undefined) {
    if (hostname !== undefined || port !== undefined) {
      throw new TypeError(
        "options.path (a Unix socket) excludes options.hostname and options.port (TCP): give one",
      );
    }
    if (typeof path !== "string" || path === "") {
      throw new TypeError(`options.path must be a non-empty string, got ${describe(path)}`);
    }
    return Deno.listen({ transport: "unix", path });
  }
  if (hostname === undefined || port === undefined) {
    throw new TypeError(
      "options must give where to listen: path (a Unix socket), or hostname and port (TCP)",
    );
  }
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(`options.hostname must be a non-empty string, got ${describe(hostname)}`);
  }
  if (typeof port !== "number") {
    throw new TypeError(`options.port must be a number, got ${describe(port)}`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new RangeError(`options.port must be an integer from 0 to 65535, got ${port}`);
  }
  return Deno.listen({ transport: "tcp", hostname, port });
}

/** Sends each write at once: an event of a stream should not wait for the last one's ack. */
function noDelay(conn: Deno.TcpConn): void {
  try {
    conn.setNoDelay(true);
  } catch {
    // closed already
  }
}

function track(running: Set<Promise<void>>, p: Promise<void>): void {
  running.add(p);
  void p.finally(() => running.delete(p));
}

/** Cuts off the oldest connection still sending its head (408); false when there is none. */
function makeRoom(open: Set<Connection>): boolean {
  for (const c of open) {
    if (c.inHead) {
      c.cutOff(
        `too many connections (${open.size + 1} open): this one was closed before its request ` +
          `was read; try again later`,
      );
      return true;
    }
  }
  return false;
}

function checkLimits(given: Partial<LocalHttpLimits>): LocalHttpLimits {
  const limits = { ...DEFAULT_LOCAL_HTTP_LIMITS, ...given };
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`limits.${key} must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}

/** A parsed request head, or the error answer it deserves. */
type Head = { method: string; target: string; headers: Headers } | {
  status: number;
  message: string;
};

class Connection {
  readonly conn: Deno.Conn;
  /** Still reading the request head. */
  inHead = true;
  #open: Set<Connection>;
  #streams: Set<Connection>;
  #errorResponse: ErrorResponse;
  #closed = false;
  /** Being cut off: the cut-off closes it once its answer is written. */
  #cut = false;
  #onClose: Array<() => void> = [];

  constructor(
    conn: Deno.Conn,
    pools: { open: Set<Connection>; streams: Set<Connection> },
    errorResponse: ErrorResponse,
  ) {
    this.conn = conn;
    this.#open = pools.open;
    this.#streams = pools.streams;
    this.#errorResponse = errorResponse;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#open.delete(this);
    this.#streams.delete(this);
    try {
      this.conn.close();
    } catch {
      // closed already
    }
    for (const fn of this.#onClose.splice(0)) fn();
  }

  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#onClose.push(fn);
  }

  /** Answers a connection that is over the limit, then closes it. */
  async refuse(message: string, limits: LocalHttpLimits): Promise<void> {
    try {
      await this.#writeAll(await errorBytes(this.#errorResponse(503, message)), limits);
    } catch {
      // the client is gone
    } finally {
      this.close();
    }
  }

  /**
   * Ends a connection that has not sent its head: a short 408 if the socket takes it at once,
   * then closed. It no longer counts as open from now on.
   */
  cutOff(message: string): void {
    this.inHead = false;
    this.#cut = true;
    this.#open.delete(this);
    void errorBytes(this.#errorResponse(408, message))
      .then((bytes) => within(this.conn.write(bytes), 1_000))
      .catch(() => {})
      .finally(() => this.close());
  }

  async serve(handler: LocalHandler, limits: LocalHttpLimits): Promise<void> {
    try {
      const head = await this.#readHead(limits);
      if (head === undefined || this.#closed) return;
      this.inHead = false;
      if ("status" in head) {
        const res = this.#errorResponse(head.status, head.message);
        if (head.status === 405) res.headers.set("allow", "GET, HEAD");
        await this.#writeAll(await errorBytes(res), limits);
        await this.#linger();
        return;
      }
      await this.#answer(head, handler, limits);
    } catch {
      // the client went away, or a write timed out
    } finally {
      if (!this.#cut) this.close();
    }
  }

  // Reads until the end of the request head; undefined when the client left or was cut off.
  async #readHead(limits: LocalHttpLimits): Promise<Head | undefined> {
    const max = limits.maxHeadBytes;
    const timer = setTimeout(
      () => this.cutOff(`no complete request head within ${limits.headerTimeoutMs} ms`),
      limits.headerTimeoutMs,
    );
    try {
      let buf = new Uint8Array(Math.min(1024, max + 1));
      let length = 0;
      for (;;) {
        if (length === buf.length) {
          if (length > max) {
            return { status: 431, message: `request head larger than ${max} bytes` };
          }
          const bigger = new Uint8Array(Math.min(buf.length * 2, max + 1));
          bigger.set(buf);
          buf = bigger;
        }
        const n = await this.conn.read(buf.subarray(length));
        if (n === null || !this.inHead) return undefined;
        const from = Math.max(0, length - 3);
        length += n;
        const end = headEnd(buf, from, length);
        if (end < 0) continue;
        if (end > max) return { status: 431, message: `request head larger than ${max} bytes` };
        return parseHead(buf.subarray(0, end), limits);
      }
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async #answer(
    head: { method: string; target: string; headers: Headers },
    handler: LocalHandler,
    limits: LocalHttpLimits,
  ): Promise<void> {
    let done!: () => void;
    const completed = new Promise<void>((resolve) => (done = resolve));
    this.onClose(done);
    void this.#drain(done);
    let res: Response;
    try {
      const req = new Request(`http://localhost${head.target}`, {
        method: head.method,
        headers: head.headers,
      });
      res = await handler(req, completed);
    } catch (e) {
      res = this.#errorResponse(500, e instanceof Error ? e.message : String(e));
    }
    const streaming = /^text\/event-stream/i.test(res.headers.get("content-type") ?? "");
    if (head.method === "HEAD" || res.body === null) {
      await res.body?.cancel().catch(() => {});
      const length = head.method === "HEAD" ? undefined : 0;
      await this.#writeAll(encoder.encode(headText(res, length)), limits);
    } else if (!streaming) {
      const body = new Uint8Array(await res.arrayBuffer());
      await this.#writeAll(concat(encoder.encode(headText(res, body.length)), body), limits);
    } else if (this.#streams.size >= limits.maxStreams) {
      await res.body.cancel().catch(() => {});
      const message = `too many open streams (${this.#streams.size} open, at most ` +
        `${limits.maxStreams}): try again later`;
      await this.#writeAll(await errorBytes(this.#errorResponse(503, message)), limits);
    } else {
      // A stream of events: its end is the end of the connection. It moves from the pool of
      // connections to that of streams, so that streams cannot hold short requests off.
      this.#open.delete(this);
      this.#streams.add(this);
      const reader = res.body.getReader();
      this.onClose(() => void reader.cancel().catch(() => {}));
      try {
        await this.#writeAll(encoder.encode(headText(res, undefined)), limits);
        for (;;) {
          const r = await reader.read();
          if (r.done || this.#closed) break;
          await this.#writeAll(r.value, limits);
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    }
    done();
  }

  // Reads and drops what the client sends after its head; `done` when it leaves.
  async #drain(done: () => void): Promise<void> {
    try {
      while (!this.#closed && (await this.conn.read(SINK)) !== null) {
        // dropped
      }
    } catch {
      // closed
    }
    done();
  }

  // After an error answer: stop writing and read what the client still sends (at most half a
  // second), so that closing does not reset the connection before the client read the answer.
  async #linger(): Promise<void> {
    try {
      await this.conn.closeWrite();
    } catch {
      return;
    }
    const timer = setTimeout(() => this.close(), 500);
    try {
      while (!this.#closed && (await this.conn.read(SINK)) !== null) {
        // dropped
      }
    } catch {
      // closed
    } finally {
      clearTimeout(timer);
    }
  }

  async #writeAll(bytes: Uint8Array, limits: LocalHttpLimits): Promise<void> {
    if (this.#closed) throw new Error("closed");
    const timer = setTimeout(() => this.close(), limits.writeTimeoutMs);
    try {
      for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The request head `bytes` (without the blank line) parsed, or the error answer it deserves. */
function parseHead(bytes: Uint8Array, limits: LocalHttpLimits): Head {
  const lines = latin1(bytes).split(/\r?\n/);
  const requestLine = lines.shift() ?? "";
  const parts = requestLine.split(" ");
  if (parts.length !== 3 || !TOKEN.test(parts[0]) || !/^HTTP\/1\.[01]$/.test(parts[2])) {
    return { status: 400, message: `malformed request line ${quote(requestLine)}` };
  }
  const method = parts[0];
  if (method !== "GET" && method !== "HEAD") {
    return { status: 405, message: `method ${method} is not allowed: only GET and HEAD` };
  }
  let target = parts[1];
  if (/^https?:\/\//i.test(target)) {
    // The absolute form, as a client that takes the socket for a proxy sends it.
    try {
      const url = new URL(target);
      target = url.pathname + url.search;
    } catch {
      target = "";
    }
  }
  // deno-lint-ignore no-control-regex
  if (!target.startsWith("/") || /[\x00-\x20\x7f-\xff]/.test(target)) {
    return { status: 400, message: `malformed request target ${quote(parts[1])}` };
  }
  if (lines.length > limits.maxHeaders) {
    return {
      status: 431,
      message: `too many header fields (${lines.length}, at most ${limits.maxHeaders})`,
    };
  }
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = colon < 0 ? "" : line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      return { status: 400, message: `malformed header field ${quote(line)}` };
    }
    try {
      headers.append(name, value);
    } catch {
      return { status: 400, message: `malformed header field ${quote(line)}` };
    }
  }
  return { method, target, headers };
}

/** The status line and header fields of `res`, with `content-length` when given. */
function headText(res: Response, length: number | undefined): string {
  let text = `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? "Unknown"}\r\n`;
  for (const [name, value] of res.headers) {
    if (name === "content-length" || name === "connection" || name === "transfer-encoding") {
      continue;
    }
    text += `${name}: ${value}\r\n`;
  }
  if (length !== undefined) text += `content-length: ${length}\r\n`;
  return text + "connection: close\r\n\r\n";
}

async function errorBytes(res: Response): Promise<Uint8Array> {
  const body = new Uint8Array(await res.arrayBuffer());
  return concat(encoder.encode(headText(res, body.length)), body);
}

/**
 * Where the head in `bytes[0, length)` ends (before its last line break), looking from `from`:
 * the blank line is CRLF CRLF, or LF LF. -1 when it has not come yet.
 */
function headEnd(bytes: Uint8Array, from: number, length: number): number {
  for (let i = from; i + 1 < length; i++) {
    if (bytes[i] !== 10) continue;
    const end = i > 0 && bytes[i - 1] === 13 ? i - 1 : i;
    if (bytes[i + 1] === 10) return end;
    if (bytes[i + 1] === 13 && i + 2 < length && bytes[i + 2] === 10) return end;
  }
  return -1;
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

function quote(text: string): string {
  const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
  return JSON.stringify(shown);
}

/** `p`, or nothing after `ms`, whichever comes first; the timer goes with it. */
function within(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise((resolve) => {
    const t = timer = setTimeout(resolve, ms);
    Deno.unrefTimer(t);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
