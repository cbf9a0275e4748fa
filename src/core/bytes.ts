/**
 * Bytes: joining two arrays, and writing all of an array with a synchronous writer.
 *
 * @module
 */

/**
 * `a` followed by `b`, in a new array.
 * @internal
 */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Writes all of `bytes` with `w.writeSync`, which may write less than asked at a time.
 * @internal
 */
export function writeAllSync(w: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += w.writeSync(bytes.subarray(off));
}
