/**
 * ID52: the 52-character lowercase base32hex ("BASE32_DNSSEC", alphabet `0-9a-v`, no padding)
 * encoding of a 32-byte Ed25519 public key. No dependency: the codec is written here.
 *
 * @module
 */

/** The base32hex alphabet, lowercase (RFC 4648 §7, as DNSSEC writes it). */
export const ID52_ALPHABET = "0123456789abcdefghijklmnopqrstuv";

/** The length of an ID52 in characters. */
export const ID52_LENGTH = 52;

/** The length of the public key an ID52 encodes, in bytes. */
export const ID52_KEY_BYTES = 32;

const DECODE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < ID52_ALPHABET.length; i++) table[ID52_ALPHABET.charCodeAt(i)] = i;
  return table;
})();

/**
 * A string that is not an ID52. The message says why: its length against 52, or which character
 * at which index is not allowed (`index` says it too).
 *
 * @example
 * ```ts
 * import { decodeId52, InvalidId52Error } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * try {
 *   decodeId52("g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jw");
 * } catch (e) {
 *   assert.ok(e instanceof InvalidId52Error);
 *   assert.deepEqual(e.index, 51);
 *   assert.match(e.message, /character "w" at index 51 is not in the base32hex alphabet/);
 * }
 * ```
 */
export class InvalidId52Error extends Error {
  /** The string that was given. */
  readonly input: string;
  /** The index of the first bad character, or `undefined` when the length is what is wrong. */
  readonly index: number | undefined;

  /**
   * Makes the error for `input`; the message is `not an id52: "<input>": <reason>`.
   *
   * @param input The string that is not an ID52.
   * @param reason What is wrong with it.
   * @param index The index of the bad character, when a character is what is wrong.
   */
  constructor(input: string, reason: string, index?: number) {
    super(`not an id52: ${quote(input)}: ${reason}`);
    this.name = "InvalidId52Error";
    this.input = input;
    this.index = index;
  }
}

/**
 * Encodes bytes as lowercase base32hex without padding (5 bits a character, the last character
 * padded with zero bits).
 */
export function base32hexEncode(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ID52_ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ID52_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes lowercase base32hex without padding. Throws {@linkcode InvalidId52Error}-style
 * `RangeError`s naming the bad character and its index, or a final character whose unused bits
 * are not zero (a non-canonical encoding).
 */
export function base32hexDecode(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const value = charValue(text, i);
    if (value < 0) throw new RangeError(badCharacter(text, i));
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (buffer >>> bits) & 0xff;
      buffer &= (1 << bits) - 1;
    }
  }
  if (buffer !== 0) {
    throw new RangeError(
      `character ${quote(text[text.length - 1])} at index ${
        text.length - 1
      } sets bits past the end of the key (not a canonical encoding)`,
    );
  }
  return out;
}

/**
 * The ID52 of a 32-byte Ed25519 public key: 52 characters of lowercase base32hex.
 *
 * @example
 * ```ts
 * import { encodeId52 } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(encodeId52(new Uint8Array(32)), "0".repeat(52));
 * assert.deepEqual(encodeId52(new Uint8Array(32).fill(255)), "v".repeat(51) + "g");
 * ```
 *
 * @param publicKey The raw public key (`key.publicKey.raw` of a libp2p key).
 * @returns Its id52.
 * @throws {RangeError} when `publicKey` is not 32 bytes.
 */
export function encodeId52(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ID52_KEY_BYTES) {
    throw new RangeError(
      `publicKey must be ${ID52_KEY_BYTES} bytes, got ${
        publicKey instanceof Uint8Array ? `${publicKey.length} bytes` : typeof publicKey
      }`,
    );
  }
  return base32hexEncode(publicKey);
}

/**
 * The 32-byte public key an ID52 encodes.
 *
 * @example
 * ```ts
 * import { decodeId52, encodeId52 } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * assert.deepEqual(decodeId52(encodeId52(key)), key);
 * assert.throws(() => decodeId52("abc"), /it has 3 characters, an id52 has 52/);
 * ```
 *
 * @param id52 The id52.
 * @returns The public key.
 * @throws {InvalidId52Error} naming the first bad character and its index, or the length against
 * 52, or a last character that sets bits past the key (not a canonical encoding).
 */
export function decodeId52(id52: string): Uint8Array {
  if (typeof id52 !== "string") {
    throw new InvalidId52Error(String(id52), `expected a string, got ${typeof id52}`);
  }
  for (let i = 0; i < id52.length; i++) {
    if (charValue(id52, i) < 0) throw new InvalidId52Error(id52, badCharacter(id52, i), i);
  }
  if (id52.length !== ID52_LENGTH) {
    throw new InvalidId52Error(
      id52,
      `it has ${id52.length} characters, an id52 has ${ID52_LENGTH}`,
    );
  }
  try {
    return base32hexDecode(id52);
  } catch (e) {
    throw new InvalidId52Error(id52, (e as Error).message, ID52_LENGTH - 1);
  }
}

/**
 * Whether `text` is a valid ID52.
 *
 * @example
 * ```ts
 * import { isId52 } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isId52("g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jg"));
 * assert.ok(!isId52("alice"));
 * ```
 *
 * @param text Anything.
 * @returns `true` for a 52-character canonical base32hex string.
 */
export function isId52(text: unknown): boolean {
  if (typeof text !== "string" || text.length !== ID52_LENGTH) return false;
  try {
    decodeId52(text);
    return true;
  } catch {
    return false;
  }
}

/** The first characters of an ID52, for headers and context names. */
export function shortId52(id52: string): string {
  return id52.slice(0, 8);
}

function charValue(text: string, i: number): number {
  const code = text.charCodeAt(i);
  return code < 128 ? DECODE[code] : -1;
}

function badCharacter(text: string, i: number): string {
  const ch = String.fromCodePoint(text.codePointAt(i)!);
  const hint = /[A-V]/.test(ch) ? " (an id52 is lowercase)" : "";
  return `character ${quote(ch)} at index ${i} is not in the base32hex alphabet 0-9a-v${hint}`;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
