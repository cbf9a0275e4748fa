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

import { jsonText } from "../core/json.ts";
import { safeText } from "../core/names.ts";
import { checkReceivedStatus } from "../status/received.ts";
import type { Status } from "../status/types.ts";

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

/** Encodes a frame's JSON (control, invisible and bidi characters as `\u` escapes). */
export function encodeFrame(value: unknown): Uint8Array {
  return encoder.encode(jsonText(value));
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
 * Parses an answer frame into a status or an error message, both from outside: the status is
 * checked field by field and every string in it made safe to print (see `checkReceivedStatus`),
 * and so is the error message.
 *
 * @throws {Error} saying what is wrong when the frame is not an answer; a
 * `ReceivedStatusError` naming the field when its status is not a status.
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
  if (typeof answer.error === "string") return { error: safeText(answer.error) };
  if (answer.status === undefined) {
    throw new Error("its answer holds neither a status nor an error");
  }
  return { status: checkReceivedStatus(answer.status) };
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
