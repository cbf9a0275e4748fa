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

/**
 * Checks that `name` is a usable name: a non-empty string of at most 256 characters with no
 * control characters.
 *
 * @param name The value to check.
 * @param argument The argument's name, used in the error message.
 * @throws {TypeError} when `name` is not a string or holds a control character.
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
