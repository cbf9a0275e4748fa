/**
 * A small HTTP/1.1 client over a Unix socket for the local status endpoint, with errors sorted by
 * what a person needs to know: the process is gone (stale socket), it died while answering, the
 * socket belongs to something else, or it did not answer in time. Internal.
 *
 * @module
 */

import { concat } from "../core/bytes.ts";
import { isAlive, pidOfSocket, PROTOCOL_HEADER } from "../serve/socket_dir.ts";

export { isAlive } from "../serve/socket_dir.ts";

/**
 * Why a local target could not be read:
 * - `stale`: nobody listens on the socket any more (the process is gone);
 * - `died`: the process stopped in the middle of its answer;
 * - `foreign`: something answered that is not a `@fastn/context` endpoint;
 * - `timeout`: no answer in time;
 * - `failed`: anything else (permissions, an HTTP error).
 */
export type TargetErrorKind = "stale" | "died" | "foreign" | "timeout" | "failed";

/** A local target that could not be read; the message names the cause. */
export class TargetError extends Error {
  /** What went wrong, see {@linkcode TargetErrorKind}. */
  readonly kind: TargetErrorKind;

  /**
   * Makes the error.
   *
   * @param kind What went wrong.
   * @param message The cause, for a person.
   */
  constructor(kind: TargetErrorKind, message: string) {
    super(message);
    this.name = "TargetError";
    this.kind = kind;
  }
}

/** Options of {@linkcode getText} and {@linkcode openStream}. */
export interface QueryOptions {
  /**
   * Give up when the answer (for a stream: its headers) takes longer than this.
   * @default {5000}
   */
  timeoutMs?: number;
  /** Stops the query (for a stream: ends it quietly). */
  signal?: AbortSignal;
}

const encoder = new TextEncoder();

/** Reads one whole answer of `route` (`/info`, `/status`, …) from the socket at `path`. */
export async function getText(
  path: string,
  route: string,
  options: QueryOptions = {},
): Promise<string> {
  const conn = await open(path, route, options);
  const timer = setTimeout(() => conn.abort("timeout"), options.timeoutMs ?? 5_000);
  try {
    await conn.head();
    let text = "";
    const decoder = new TextDecoder();
    for await (const piece of conn.body()) text += decoder.decode(piece, { stream: true });
    return text + decoder.decode();
  } finally {
    clearTimeout(timer);
    conn.close();
  }
}

/** One server-sent event. */
export interface SseEvent {
  /** The `event:` field; "message" when absent. */
  readonly event: string;
  /** The `data:` lines, joined by newlines. */
  readonly data: string;
}

/**
 * Opens `route` as a stream of server-sent events. The iterator ends quietly when the server ends
 * the stream or `options.signal` aborts, and throws a {@linkcode TargetError} (`died`) when the
 * connection breaks in the middle.
 */
export async function openStream(
  path: string,
  route: string,
  options: QueryOptions = {},
): Promise<AsyncIterableIterator<SseEvent>> {
  const conn = await open(path, route, options);
  const timer = setTimeout(() => conn.abort("timeout"), options.timeoutMs ?? 5_000);
  try {
    await conn.head();
  } catch (e) {
    conn.close();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return events(conn);
}

async function* events(conn: Conn): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const piece of conn.body()) {
      buffer += decoder.decode(piece, { stream: true }).replaceAll("\r\n", "\n");
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseEvent(block);
        if (event !== undefined) yield event;
      }
    }
  } finally {
    conn.close();
  }
}

function parseEvent(block: string): SseEvent | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length === 0 ? undefined : { event, data: data.join("\n") };
}

interface Conn {
  head(): Promise<void>;
  body(): AsyncGenerator<Uint8Array>;
  abort(why: "timeout" | "signal"): void;
  close(): void;
}

async function open(path: string, route: string, options: QueryOptions): Promise<Conn> {
  let socket: Deno.UnixConn;
  try {
    socket = await Deno.connect({ transport: "unix", path });
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.NotFound) {
      throw new TargetError("stale", `nobody listens on ${path} (the process is gone)`);
    }
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) {
      throw new TargetError("failed", `cannot open ${path}: ${(e as Error).message}`);
    }
    throw new TargetError("failed", `cannot connect to ${path}: ${(e as Error).message}`);
  }
  const request = `GET ${route} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n` +
    `Connection: close\r\n\r\n`;
  let aborted: "timeout" | "signal" | undefined;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      socket.close();
    } catch {
      // closed already
    }
  };
  const onAbort = (): void => {
    aborted ??= "signal";
    close();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const reader = socket.readable.getReader();
  let pending: Uint8Array = new Uint8Array(0);
  let ours = false;
  let headers = new Map<string, string>();

  // Reads more bytes; undefined at the end of the connection.
  const more = async (): Promise<Uint8Array | undefined> => {
    try {
      const r = await reader.read();
      return r.done ? undefined : r.value;
    } catch (e) {
      if (aborted !== undefined || closed) return undefined;
      if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe) {
        return undefined;
      }
      throw e;
    }
  };
  const broken = (when: string): TargetError => {
    if (aborted === "timeout") {
      return new TargetError("timeout", `no answer ${when} within ${options.timeoutMs ?? 5000}ms`);
    }
    if (ours || processGone(path)) {
      return new TargetError("died", `the process died mid-query (connection closed ${when})`);
    }
    return new TargetError(
      "foreign",
      `${path} closed the connection without an answer: not a @fastn/context endpoint`,
    );
  };

  try {
    await socket.write(encoder.encode(request));
  } catch {
    close();
    throw broken("before the request was sent");
  }

  return {
    abort(why) {
      aborted ??= why;
      close();
    },
    close() {
      options.signal?.removeEventListener("abort", onAbort);
      close();
    },
    async head() {
      let text = "";
      for (;;) {
        const end = indexOfHeadEnd(pending);
        if (end >= 0) {
          text = new TextDecoder().decode(pending.subarray(0, end));
          pending = pending.slice(end + 4);
          break;
        }
        if (pending.length > 64 * 1024) {
          throw new TargetError("foreign", `${path} sent no HTTP headers: not ours`);
        }
        const chunk = await more();
        if (chunk === undefined) {
          if (pending.length > 0 && !looksLikeHttp(pending)) throw foreign(path, pending);
          throw broken("before the answer");
        }
        pending = concat(pending, chunk);
        if (pending.length >= 5 && !looksLikeHttp(pending)) throw foreign(path, pending);
      }
      const lines = text.split("\r\n");
      const statusLine = lines.shift() ?? "";
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
      if (m === null) throw foreign(path, encoder.encode(statusLine));
      headers = new Map();
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) {
          headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
      }
      if (headers.get(PROTOCOL_HEADER) === undefined) {
        throw new TargetError(
          "foreign",
          `${path} answers HTTP but is not a @fastn/context endpoint (no ${PROTOCOL_HEADER} header)`,
        );
      }
      ours = true;
      const code = Number(m[1]);
      if (code !== 200) {
        throw new TargetError(
          "failed",
          `the endpoint answered ${statusLine.slice(9)} for ${route}`,
        );
      }
    },
    async *body() {
      const te = headers.get("transfer-encoding")?.toLowerCase();
      const cl = headers.get("content-length");
      if (te === "chunked") {
        for (;;) {
          let lineEnd: number;
          while ((lineEnd = indexOfCrlf(pending)) < 0) {
            const chunk = await more();
            if (chunk === undefined) {
              if (aborted === "signal") return;
              throw broken("in the middle of the answer");
            }
            pending = concat(pending, chunk);
          }
          const size = parseInt(new TextDecoder().decode(pending.subarray(0, lineEnd)), 16);
          if (!Number.isFinite(size)) throw new TargetError("failed", "a malformed chunked answer");
          pending = pending.slice(lineEnd + 2);
          while (pending.length < size + 2) {
            const chunk = await more();
            if (chunk === undefined) {
              if (aborted === "signal") return;
              throw broken("in the middle of the answer");
            }
            pending = concat(pending, chunk);
          }
          if (size === 0) return;
          const data = pending.slice(0, size);
          pending = pending.slice(size + 2);
          yield data;
        }
      } else if (cl !== undefined) {
        let left = Number(cl);
        if (pending.length > 0) {
          const first = pending.subarray(0, left);
          left -= first.length;
          pending = new Uint8Array(0);
          yield first;
        }
        while (left > 0) {
          const chunk = await more();
          if (chunk === undefined) {
            if (aborted === "signal") return;
            throw broken("in the middle of the answer");
          }
          const piece = chunk.subarray(0, left);
          left -= piece.length;
          yield piece;
        }
      } else {
        if (pending.length > 0) yield pending;
        for (let chunk = await more(); chunk !== undefined; chunk = await more()) yield chunk;
        if (aborted === "timeout") throw broken("in the middle of the answer");
      }
    },
  };
}

function foreign(path: string, bytes: Uint8Array): TargetError {
  const sample = new TextDecoder().decode(bytes.subarray(0, 40)).replace(/[^\x20-\x7e]/g, "?");
  return new TargetError(
    "foreign",
    `${path} is not a @fastn/context endpoint (it answered ${JSON.stringify(sample)})`,
  );
}

function looksLikeHttp(bytes: Uint8Array): boolean {
  const prefix = "HTTP/";
  for (let i = 0; i < Math.min(prefix.length, bytes.length); i++) {
    if (bytes[i] !== prefix.charCodeAt(i)) return false;
  }
  return true;
}

// Whether the process behind `path` is gone: its socket file was removed, or the pid its name
// claims no longer runs.
function processGone(path: string): boolean {
  try {
    Deno.lstatSync(path);
  } catch {
    return true;
  }
  const pid = pidOfSocket(path.slice(path.lastIndexOf("/") + 1));
  return pid !== undefined && !isAlive(pid);
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function indexOfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}
