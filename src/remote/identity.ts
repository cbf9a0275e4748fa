/**
 * This machine's identity: an Ed25519 key in `$FASTN_HOME/identity.key` (a libp2p protobuf
 * private key, mode 0600, in a 0700 directory), made on first use. Its public half, written as
 * an ID52, is how peers name this machine.
 *
 * @module
 */

import "./shim.ts";
import {
  generateKeyPair,
  privateKeyFromProtobuf,
  privateKeyToProtobuf,
  publicKeyFromRaw,
} from "@libp2p/crypto/keys";
import type { Ed25519PrivateKey, PeerId } from "@libp2p/interface";
import { peerIdFromPublicKey, peerIdFromString } from "@libp2p/peer-id";
import { IdentityError } from "./errors.ts";
import { checkHome, checkKeyFile, fastnHome, identityPath } from "./home.ts";
import { decodeId52, encodeId52 } from "./id52.ts";

/**
 * This machine's key and the names derived from it.
 *
 * @example
 * ```ts
 * import { id52ToPeerId, type Identity, loadIdentity } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const me: Identity = await loadIdentity({ home: await Deno.makeTempDir() });
 * assert.deepEqual(me.peerId, id52ToPeerId(me.id52));
 * ```
 */
export interface Identity {
  /** This machine's id52. */
  readonly id52: string;
  /** The same key as a libp2p peer id (`12D3KooW…`). */
  readonly peerId: string;
  /** The key file it was read from (or written to). */
  readonly path: string;
}

/** An identity with its private key, for the libp2p node. Internal. */
export interface KeyedIdentity {
  /** The Ed25519 private key. */
  readonly privateKey: Ed25519PrivateKey;
  /** Its ID52. */
  readonly id52: string;
  /** Its libp2p peer id. */
  readonly peerId: PeerId;
  /** The key file it was read from (or written to). */
  readonly path: string;
}

/**
 * Options of {@linkcode loadIdentity}.
 *
 * @example
 * ```ts
 * import type { LoadIdentityOptions } from "@fastn/context/remote";
 *
 * const options: LoadIdentityOptions = { home: "/var/lib/fastn" };
 * ```
 */
export interface LoadIdentityOptions {
  /**
   * The fastn home holding `identity.key`.
   * @default {$FASTN_HOME, else ~/.fastn}
   */
  home?: string;
}

/**
 * Reads this machine's identity from `identity.key` in the fastn home, making it on first use
 * (the home with mode 0700, the key file with mode 0600). Two processes making it at once end up
 * with the same key: the file is written aside and linked into place, so nobody reads half a key
 * and nobody overwrites one.
 *
 * @example
 * ```ts
 * import { isId52, loadIdentity } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * const first = await loadIdentity({ home });
 * assert.ok(isId52(first.id52));
 * assert.deepEqual((await Deno.stat(`${home}/identity.key`)).mode! & 0o777, 0o600);
 * assert.deepEqual((await loadIdentity({ home })).id52, first.id52);
 * ```
 *
 * @param options The fastn home.
 * @returns The identity.
 * @throws {IdentityError} when the file is corrupt, not an Ed25519 key, or readable by others;
 * {@linkcode UnsafeHomeError} when it is a symbolic link, or the home is writable by the group or
 * others.
 */
export async function loadIdentity(options: LoadIdentityOptions = {}): Promise<Identity> {
  const { id52, peerId, path } = await loadKeyedIdentity(options);
  return { id52, peerId: peerId.toString(), path };
}

/** {@linkcode loadIdentity} with the private key. Internal. */
export async function loadKeyedIdentity(options: LoadIdentityOptions = {}): Promise<KeyedIdentity> {
  const dir = fastnHome(options.home);
  const path = identityPath(dir);
  await checkHome(dir);
  let bytes = await readKeyFile(path);
  if (bytes === undefined) {
    await ensurePrivateDir(dir);
    const key = await generateKeyPair("Ed25519");
    const tmp = `${path}.${Deno.pid}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600, createNew: true });
    try {
      await Deno.link(tmp, path);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
    bytes = await readKeyFile(path);
    if (bytes === undefined) throw new IdentityError(path, "vanished right after it was made");
  }
  let key;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (e) {
    throw new IdentityError(path, `not a private key (${(e as Error).message})`, e);
  }
  if (key.type !== "Ed25519") {
    throw new IdentityError(path, `holds a ${key.type} key; fastn identities are Ed25519`);
  }
  return identityOf(key, path);
}

/** The identity of a key that is not stored in a file (tests, tools). */
export function identityOf(privateKey: Ed25519PrivateKey, path = "(in memory)"): KeyedIdentity {
  const id52 = encodeId52(privateKey.publicKey.raw);
  return { privateKey, id52, peerId: peerIdFromPublicKey(privateKey.publicKey), path };
}

/** The libp2p peer id an ID52 names. Internal; see {@linkcode id52ToPeerId}. */
export function peerIdFromId52(id52: string): PeerId {
  return peerIdFromPublicKey(publicKeyFromRaw(decodeId52(id52)));
}

/** The ID52 of a libp2p peer id. Internal; see {@linkcode id52FromPeerId}. */
export function id52OfPeerId(peerId: PeerId): string {
  const key = peerId.publicKey;
  if (peerId.type !== "Ed25519" || key === undefined) {
    throw new TypeError(`peer ${peerId.toString()} has no Ed25519 key: it has no id52`);
  }
  return encodeId52(key.raw);
}

/**
 * The libp2p peer id (`12D3KooW…`) of an ID52: the id52 is the peer's public key, so nothing is
 * looked up. Give it to libp2p's `peerIdFromString` for a `PeerId`.
 *
 * @example
 * ```ts
 * import { id52FromPeerId, id52ToPeerId } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const id52 = "g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jg";
 * const peerId = id52ToPeerId(id52);
 * assert.ok(peerId.startsWith("12D3KooW"));
 * assert.deepEqual(id52FromPeerId(peerId), id52);
 * ```
 *
 * @param id52 The id52.
 * @returns Its Ed25519 peer id, as text.
 * @throws {InvalidId52Error} when `id52` is not one.
 */
export function id52ToPeerId(id52: string): string {
  return peerIdFromId52(id52).toString();
}

/**
 * The ID52 of a libp2p peer id: its text (`12D3KooW…`), or a `PeerId` object (anything whose
 * `toString()` is that text).
 *
 * @example
 * ```ts
 * import { id52FromPeerId, loadIdentity } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const me = await loadIdentity({ home: await Deno.makeTempDir() });
 * assert.deepEqual(id52FromPeerId(me.peerId), me.id52);
 * assert.throws(() => id52FromPeerId("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"), TypeError);
 * ```
 *
 * @param peerId A peer id with an Ed25519 key.
 * @returns Its id52.
 * @throws {TypeError} when it is not a peer id, or not one of an Ed25519 key.
 */
export function id52FromPeerId(peerId: string | { toString(): string }): string {
  const text = String(peerId);
  let parsed: PeerId;
  try {
    parsed = peerIdFromString(text);
  } catch (e) {
    throw new TypeError(`not a libp2p peer id: ${JSON.stringify(text)}`, { cause: e });
  }
  return id52OfPeerId(parsed);
}

/** Makes `dir` (mode 0700) if it is missing. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
}

async function readKeyFile(path: string): Promise<Uint8Array | undefined> {
  if (!(await checkKeyFile(path))) return undefined;
  let file;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new IdentityError(path, `cannot be read (${(e as Error).message})`, e);
  }
  try {
    const info = await file.stat();
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new IdentityError(
        path,
        `is readable by others (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 on it`,
      );
    }
    if (info.size > 4096) throw new IdentityError(path, `is ${info.size} bytes: not a key`);
    const buf = new Uint8Array(info.size);
    let at = 0;
    while (at < buf.length) {
      const n = await file.read(buf.subarray(at));
      if (n === null) break;
      at += n;
    }
    return buf.subarray(0, at);
  } finally {
    file.close();
  }
}
