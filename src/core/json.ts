/**
 * JSON values: the only kind of data a context stores, so that every status can be sent as is.
 *
 * @module
 */

import { describe } from "./names.ts";

/** A value that survives `JSON.stringify` and `JSON.parse` unchanged. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** The deepest nesting accepted in a stored value. */
export const MAX_JSON_DEPTH = 64;

/**
 * Checks that `value` is a JSON value and returns a private copy of it, so that later changes by
 * the caller cannot make the stored value invalid.
 *
 * Refused: `undefined`, functions, symbols, bigints, non-finite numbers, cycles, objects that are
 * not plain (Date, Map, class instances), sparse arrays and nesting deeper than 64 levels.
 *
 * @throws {TypeError} naming `argument` and where in the value the problem is.
 */
export function toJsonValue(value: unknown, argument: string): JsonValue {
  // Primitives, the common case, need no copy and no cycle tracking.
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return value;
  }
  if (value === null) return null;
  return copy(value, argument, new Set(), 0);
}

function copy(value: unknown, at: string, seen: Set<object>, depth: number): JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError(`${at} must be a JSON value: ${value} is not a finite number`);
      }
      return value;
    case "object": {
      if (value === null) return null;
      if (depth >= MAX_JSON_DEPTH) {
        throw new TypeError(`${at} must be a JSON value nested at most ${MAX_JSON_DEPTH} deep`);
      }
      if (seen.has(value)) {
        throw new TypeError(`${at} must be a JSON value: it contains a cycle`);
      }
      seen.add(value);
      let out: JsonValue;
      if (Array.isArray(value)) {
        const arr: JsonValue[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) {
            throw new TypeError(`${at}[${i}] must be a JSON value: the array has a hole`);
          }
          arr[i] = copy(value[i], `${at}[${i}]`, seen, depth + 1);
        }
        out = arr;
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new TypeError(
            `${at} must be a JSON value: ${describe(value)} is not a plain object`,
          );
        }
        const obj: { [key: string]: JsonValue } = {};
        for (const key of Object.keys(value)) {
          const v = (value as Record<string, unknown>)[key];
          obj[key] = copy(v, `${at}.${key}`, seen, depth + 1);
        }
        out = obj;
      }
      seen.delete(value);
      return out;
    }
    default:
      throw new TypeError(`${at} must be a JSON value, got ${describe(value)}`);
  }
}

// What JSON.stringify leaves raw and a terminal or a page should not get raw: DEL, C1 controls,
// format characters (bidi controls, zero-width characters), the line and paragraph separators.
const JSON_UNSAFE = /[\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * `JSON.stringify(value, null, space)` with every character a terminal would act on or hide
 * written as a `\u` escape: C0 controls (as `JSON.stringify` does), DEL and C1 controls,
 * invisible and bidi characters (U+202E, U+2066, U+200B, U+2028, …). It parses back to the same
 * value, and printing it cannot move the cursor, retitle a window or reorder a line.
 * @internal
 */
export function jsonText(value: unknown, space?: number): string {
  const text = JSON.stringify(value, null, space);
  if (text === undefined) return text as unknown as string;
  JSON_UNSAFE.lastIndex = 0;
  return JSON_UNSAFE.test(text) ? text.replace(JSON_UNSAFE, jsonEscape) : text;
}

function jsonEscape(ch: string): string {
  let out = "";
  for (let i = 0; i < ch.length; i++) {
    out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}
