/**
 * The wire format of remote status. Both protocols carry length-prefixed frames (an unsigned
 * varint length, then that many bytes) of UTF-8 JSON:
 *
 * - `/fastn-context/status/1`: the client sends one request frame (`{}`), the server answers
 *   with one frame, `{"status": <Status>}` or `{"error": "<message>"}`, and closes.
 * - `/fastn-context/status-stream/1`: the client sends one request frame
 *   (`{"minIntervalMs"?: number}`); the server sends the current status at once, then a frame on
 *   every change (at most once per `minIntervalMs`, never more often than its own floor), until
 *   either side closes the stream.
 *
 * @module
 */

import type { Status } from "../status/status.ts";

/**
 * The protocol of one status snapshot: a `{}` request frame, one `{"status": …}` answer frame.
 *
 * @example
 * ```ts
 * import { STATUS_PROTOCOL } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(STATUS_PROTOCOL, "/fastn-context/status/1");
 * ```
 */
export const STATUS_PROTOCOL = "/fastn-context/status/1";
/**
 * The protocol of a status stream: a `{"minIntervalMs"?: n}` request frame, then a
 * `{"status": …}` frame at once and one per change.
 *
 * @example
 * ```ts
 * import { STATUS_STREAM_PROTOCOL } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(STATUS_STREAM_PROTOCOL, "/fastn-context/status-stream/1");
 * ```
 */
export const STATUS_STREAM_PROTOCOL = "/fastn-context/status-stream/1";

/** The largest request frame a server reads, in bytes; requests are a few bytes of JSON. */
export const MAX_REQUEST_BYTES = 4096;
/** The largest answer frame a client reads by default, in bytes. */
export const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** A request, as the server understood it. */
export interface StatusRequest {
  /** For the stream: the least time between two frames the client wants, in ms. */
  minIntervalMs?: number;
}

/** An answer frame. */
export type StatusAnswer = { status: Status } | { error: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a frame's JSON. */
export function encodeFrame(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * Parses a request frame.
 *
 * @throws {Error} with a message fit to send back when the frame is not a request.
 */
export function parseRequest(bytes: Uint8Array): StatusRequest {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new Error("bad request: not UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("bad request: not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("bad request: expected a JSON object");
  }
  const request = value as Record<string, unknown>;
  for (const key of Object.keys(request)) {
    if (key !== "minIntervalMs") {
      throw new Error(`bad request: unknown field ${JSON.stringify(key)}`);
    }
  }
  const min = request.minIntervalMs;
  if (min !== undefined && (typeof min !== "number" || !Number.isFinite(min) || min < 0)) {
    throw new Error("bad request: minIntervalMs must be a non-negative number");
  }
  return min === undefined ? {} : { minIntervalMs: min };
}

/**
 * Parses an answer frame into a status or an error message.
 *
 * @throws {Error} saying what is wrong when the frame is not an answer.
 */
export function parseAnswer(bytes: Uint8Array): StatusAnswer {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new Error("its answer is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("its answer is not a JSON object");
  }
  const answer = value as Record<string, unknown>;
  if (typeof answer.error === "string") return { error: answer.error };
  const problem = statusProblem(answer.status);
  if (problem !== undefined) throw new Error(`its answer is not a status: ${problem}`);
  return { status: answer.status as Status };
}

/** What makes `value` unusable as a `Status` (what the renderer relies on), if anything. */
export function statusProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "no status object";
  const s = value as Record<string, unknown>;
  if (typeof s.timestamp !== "number") return "no timestamp";
  for (const list of ["activeLocks", "lockWaiters", "warnings"]) {
    if (!Array.isArray(s[list])) return `${list} is not a list`;
  }
  if (!isObject(s.system)) return "no system metrics";
  // The tree: every node needs a name, a path and a list of children.
  const stack: unknown[] = [s.global];
  let nodes = 0;
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isObject(node)) return "a context is not an object";
    const n = node as Record<string, unknown>;
    if (typeof n.name !== "string" || typeof n.path !== "string") return "a context has no name";
    if (!Array.isArray(n.children)) return `context ${JSON.stringify(n.path)} has no children list`;
    if (++nodes > 1_000_000) return "more than a million contexts";
    stack.push(...n.children);
  }
  return undefined;
}

function isObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A length prefix longer than the largest frame allows. */
export class LengthPrefixError extends Error {
  /** @param bytes How many bytes the prefix had when it was given up on. */
  constructor(bytes: number) {
    super(`invalid length prefix (${bytes} bytes of varint and not done)`);
    this.name = "LengthPrefixError";
  }
}

/**
 * A varint length decoder for `lpStream` that gives up as soon as the prefix is longer than the
 * largest frame `maxLength` needs, instead of reading continuation bytes until a timeout. An
 * incomplete prefix throws a `RangeError`, which `lpStream` takes as "read one more byte".
 */
export function lengthDecoder(
  maxLength: number,
): (data: { byteLength: number; get(i: number): number }) => number {
  let maxBytes = 1;
  while (2 ** (7 * maxBytes) <= maxLength) maxBytes++;
  return (data) => {
    let value = 0;
    for (let i = 0; i < data.byteLength; i++) {
      if (i >= maxBytes) throw new LengthPrefixError(data.byteLength);
      const byte = data.get(i);
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return value;
    }
    if (data.byteLength >= maxBytes) throw new LengthPrefixError(data.byteLength);
    throw new RangeError("incomplete varint");
  };
}
