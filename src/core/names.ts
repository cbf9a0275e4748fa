/**
 * Names of contexts, counters, data keys and locks, and how they are written in a dotted path.
 *
 * @module
 */

/** The longest name accepted, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 256;

// C0 controls, DEL and C1 controls.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Characters that are invisible or reorder the text around them: format characters (bidi
// controls such as U+202E and U+2066, zero-width characters such as U+200B, the soft hyphen,
// U+FEFF), the line and paragraph separators U+2028 and U+2029, and lone surrogates.
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/**
 * Checks that `name` is a usable name: a non-empty string of at most 256 characters with no
 * control characters and no invisible or bidi characters (Unicode format characters such as
 * U+202E, U+2066, U+200B and U+FEFF, the separators U+2028 and U+2029, lone surrogates), so that
 * a name shows as what it is.
 *
 * @param name The value to check.
 * @param argument The argument's name, used in the error message.
 * @throws {TypeError} when `name` is not a string or holds a control, invisible or bidi
 * character.
 * @throws {RangeError} when `name` is empty or longer than 256 characters.
 */
export function checkName(name: unknown, argument: string): asserts name is string {
  if (typeof name !== "string") {
    throw new TypeError(`${argument} must be a string, got ${describe(name)}`);
  }
  if (name.length === 0) throw new RangeError(`${argument} must not be empty`);
  if (name.length > MAX_NAME_LENGTH) {
    throw new RangeError(
      `${argument} must be at most ${MAX_NAME_LENGTH} characters, got ${name.length}`,
    );
  }
  const m = CONTROL.exec(name);
  if (m) {
    const code = m[0].charCodeAt(0).toString(16).padStart(4, "0");
    throw new TypeError(
      `${argument} must not contain control characters (found U+${code} at index ${m.index})`,
    );
  }
  const v = INVISIBLE.exec(name);
  if (v) {
    throw new TypeError(
      `${argument} must not contain invisible or bidi characters (found ${
        codePoint(v[0])
      } at index ${v.index})`,
    );
  }
}

function codePoint(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

// C0 and C1 controls and DEL, which a terminal acts on.
// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
// Invisible and bidi characters, shown escaped.
const INVISIBLES = /[\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f]|[\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/**
 * `text` made safe to print on a terminal: control characters (ESC and the rest of C0, DEL, C1)
 * become `\uFFFD`, and invisible or bidi characters (U+202E, U+2066, U+200B, U+2028, …) are
 * written as escapes such as `\u202e`, so that they show instead of acting. The text itself
 * when it has none.
 * @internal
 */
export function safeText(text: string): string {
  if (!UNSAFE.test(text)) return text;
  return text.replace(CONTROLS, "\uFFFD").replace(INVISIBLES, escapeChar);
}

function escapeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, "0")}`;
}

/**
 * Writes one name as a path segment: `%` becomes `%25`, `.` becomes `%2E` and `*` becomes `%2A`,
 * so two different chains of names never give the same path, and the segment `*` (where the
 * counter store folds ended contexts) can never be a name.
 */
export function escapeSegment(name: string): string {
  if (!SPECIAL.test(name)) return name;
  return name.replace(/%/g, "%25").replace(/\./g, "%2E").replace(/\*/g, "%2A");
}

const SPECIAL = /[%.*]/;

/** Reverses {@linkcode escapeSegment}. */
export function unescapeSegment(segment: string): string {
  if (!segment.includes("%")) return segment;
  return segment.replace(/%2E/g, ".").replace(/%2A/g, "*").replace(/%25/g, "%");
}

/** A short description of a value for error messages: its type, and its text when short. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  switch (typeof value) {
    case "string":
      return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
    case "number":
    case "boolean":
      return String(value);
    case "bigint":
      return `${value}n (a bigint)`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    default:
      return Array.isArray(value) ? "an array" : `an object (${protoName(value)})`;
  }
}

function protoName(value: object): string {
  const proto = Object.getPrototypeOf(value);
  return proto === null ? "null prototype" : (proto.constructor?.name ?? "unknown");
}
