/**
 * Which keys name secrets (see `secretKeys` of `configure()`), and a value with the values under
 * them replaced by `"[redacted]"`: what status shows of data, of text metrics, and of thrown
 * values and cancel reasons that are not errors or strings.
 *
 * @module
 */

import { config } from "./config.ts";
import type { JsonValue } from "./json.ts";

/** What every status shows in place of a secret value. */
export const REDACTED = "[redacted]";

/** Entries of `secretKeys` at most this long (letters and digits) match whole words only. */
const SHORT_ENTRY = 4;

// The secret key names of `config.secretKeys`, remade when configure() changes them: long
// entries as one pattern matched anywhere in the squashed key, short ones as a set of words.
// What they said about recent keys is kept (bounded: a key is tested once, not per snapshot).
let secretKeysSeen: readonly string[] | undefined;
let secretPattern: RegExp | undefined;
let secretWords: Set<string> = new Set();
const secretKeyCache = new Map<string, boolean>();
const MAX_CACHED_KEYS = 10_000;

/** A key as the secret key names are matched: lower case, letters and digits only. */
function squash(key: string): string {
  return key.toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");
}

/**
 * The words of a key, lower-cased: split at everything but letters and digits, where a lower
 * case letter is followed by an upper case one (`cardPin`), and between letters and digits.
 */
function words(key: string): string[] {
  return key
    .replace(/(\p{Ll})(\p{Lu})/gu, "$1 $2")
    .replace(/(\p{L})(\p{N})|(\p{N})(\p{L})/gu, "$1$3 $2$4")
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== "");
}

/**
 * Whether values under `key` are secret by their name: the key, lower-cased and with everything
 * but letters and digits taken out, contains an entry of `secretKeys` written the same way; an
 * entry of at most 4 letters and digits (`pin`, `pwd`, `auth`, `jwt`) must instead be a whole
 * word of the key (`card_pin`, `dbPwd`, `basic-auth`, but not `spinner` or `author`).
 * @internal
 */
export function isSecretKey(key: string): boolean {
  const keys = config.secretKeys;
  if (keys !== secretKeysSeen) {
    secretKeysSeen = keys;
    secretKeyCache.clear();
    const all = keys.map(squash).filter((k) => k !== "");
    const long = all.filter((k) => k.length > SHORT_ENTRY);
    secretWords = new Set(all.filter((k) => k.length <= SHORT_ENTRY));
    secretPattern = long.length === 0 ? undefined : new RegExp(long.join("|"), "u");
  }
  let secret = secretKeyCache.get(key);
  if (secret === undefined) {
    secret = (secretPattern !== undefined && secretPattern.test(squash(key))) ||
      (secretWords.size > 0 && words(key).some((w) => secretWords.has(w)));
    if (secretKeyCache.size >= MAX_CACHED_KEYS) secretKeyCache.clear();
    secretKeyCache.set(key, secret);
  }
  return secret;
}

/**
 * `value` with the values under secret-named keys, at any depth, replaced by `"[redacted]"`, and
 * so the second element of every pair `[name, value]` whose name is a secret-named key (headers
 * as `[["authorization", "Bearer …"]]`); the value itself (no copy) when it has none.
 * @internal
 */
export function redactValue(value: JsonValue): JsonValue {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    if (isSecretPair(value)) return [value[0], REDACTED];
    let out: JsonValue[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const r = redactValue(value[i]);
      if (r !== value[i]) (out ??= value.slice())[i] = r;
    }
    return out ?? value;
  }
  let out: Record<string, JsonValue> | undefined;
  for (const key of Object.keys(value)) {
    const v = value[key];
    const r = isSecretKey(key) ? REDACTED : redactValue(v);
    if (r !== v) {
      out ??= { ...value };
      Object.defineProperty(out, key, { value: r, enumerable: true, writable: true });
    }
  }
  return out ?? value;
}

function isSecretPair(value: readonly unknown[]): boolean {
  return value.length === 2 && typeof value[0] === "string" && isSecretKey(value[0]) &&
    value[1] !== REDACTED;
}

/**
 * `JSON.stringify(value)` with secrets redacted as {@linkcode redactValue} does, for any value
 * (a thrown object, a cancel reason); `undefined` for what JSON cannot write.
 * @internal
 */
export function redactedJson(value: unknown): string | undefined {
  return JSON.stringify(value, function (this: unknown, key: string, v: unknown): unknown {
    if (key !== "" && !Array.isArray(this) && isSecretKey(key)) return REDACTED;
    if (Array.isArray(v) && isSecretPair(v)) return [v[0], REDACTED];
    return v;
  });
}
