/**
 * The client side of remote status: resolves a target (an alias of `config.toml` or an id52),
 * dials it with this machine's identity, and asks for one snapshot or a stream of them. Every
 * failure becomes one of the named errors of `errors.ts`.
 *
 * @module
 */

import "./shim.ts";
import type { Connection, Libp2p, Stream } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import { multiaddr } from "@multiformats/multiaddr";
import type { Status } from "../status/types.ts";
import { loadConfig, type RemoteConfig } from "./config.ts";
import {
  NoAddressError,
  PeerIdentityError,
  PeerRefusedError,
  PeerTimeoutError,
  PeerUnreachableError,
  RemoteProtocolError,
  RemoteStatusError,
  UnknownPeerError,
} from "./errors.ts";
import { decodeId52, ID52_LENGTH } from "./id52.ts";
import { type KeyedIdentity, loadKeyedIdentity, peerIdFromId52 } from "./identity.ts";
import { createNode, stopNode } from "./node.ts";
import {
  encodeFrame,
  lengthDecoder,
  MAX_RESPONSE_BYTES,
  parseAnswer,
  STATUS_PROTOCOL,
  STATUS_STREAM_PROTOCOL,
} from "./protocol.ts";
import { TimeoutError } from "./server.ts";

/**
 * Options of {@linkcode fetchRemoteStatus}, {@linkcode connectRemote} and
 * {@linkcode watchRemoteStatus}.
 *
 * @example
 * ```ts
 * import type { RemoteClientOptions } from "@fastn/context/remote";
 *
 * const options: RemoteClientOptions = { timeoutMs: 2_000, signal: AbortSignal.timeout(10_000) };
 * ```
 */
export interface RemoteClientOptions {
  /**
   * The fastn home holding this machine's `identity.key` and `remote-access/config.toml`.
   * @default {$FASTN_HOME, else ~/.fastn}
   */
  home?: string;
  /**
   * How long connecting and getting the (first) answer may take, in ms; past it the request
   * fails with a `PeerTimeoutError`.
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Gives up when aborted; the promise rejects (or the watch ends) with the signal's reason.
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The largest answer frame accepted, in bytes.
   * @default {16777216 (16 MiB)}
   */
  maxResponseBytes?: number;
}

/**
 * Options of {@linkcode watchRemoteStatus}.
 *
 * @example
 * ```ts
 * import type { WatchRemoteOptions } from "@fastn/context/remote";
 *
 * const stop = new AbortController();
 * const options: WatchRemoteOptions = { signal: stop.signal, minIntervalMs: 5_000 };
 * ```
 */
export interface WatchRemoteOptions extends RemoteClientOptions {
  /**
   * The least time between two snapshots the peer is asked for, in ms; the peer may send them
   * less often (its own floor, 1 s by default).
   * @default {1000}
   */
  minIntervalMs?: number;
}

/**
 * A target resolved through `config.toml` by {@linkcode resolveTarget}.
 *
 * @example
 * ```ts
 * import { parseConfig, resolveTarget, type ResolvedTarget } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const id52 = "0".repeat(52);
 * const config = parseConfig(
 *   `[peers.alice]\nid52 = "${id52}"\naddrs = ["/ip4/10.0.0.7/tcp/4001"]\n`,
 * );
 * const alice: ResolvedTarget = resolveTarget(config, "alice");
 * assert.deepEqual(alice.addrs, ["/ip4/10.0.0.7/tcp/4001"]);
 * ```
 */
export interface ResolvedTarget {
  /** The target as given. */
  readonly target: string;
  /** Its alias, when `config.toml` has one for that id52. */
  readonly alias: string | undefined;
  /** The peer's id52. */
  readonly id52: string;
  /** Where to dial it, without `/p2p/`. */
  readonly addrs: readonly string[];
}

/**
 * An open connection to one peer, from {@linkcode connectRemote}: ask it as often as needed
 * (each request is a new stream on the same encrypted connection, a few ms on a LAN), then close
 * it.
 *
 * @example
 * ```ts ignore
 * import { connectRemote, type RemoteConnection } from "@fastn/context/remote";
 *
 * await using alice: RemoteConnection = await connectRemote("alice");
 * for (let i = 0; i < 3; i++) console.log((await alice.status()).global.children.length);
 * ```
 */
export interface RemoteConnection extends AsyncDisposable {
  /** The target as given. */
  readonly target: string;
  /** The peer's alias, when `config.toml` has one. */
  readonly alias: string | undefined;
  /** The peer's id52. */
  readonly id52: string;
  /** Asks for one snapshot on a new stream of the open connection. */
  status(options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<Status>;
  /** Streams snapshots: the current one, then one per change, until the loop ends. */
  watch(options?: { signal?: AbortSignal; minIntervalMs?: number }): AsyncIterableIterator<Status>;
  /** Closes the connection and stops the client node. */
  close(): Promise<void>;
}

/**
 * Which peer `target` names: an alias of `[peers]`, or an id52 whose addresses the `[peers]`
 * tables with that id52 list. A long run of letters and digits is taken as an id52 and checked
 * as one, so a typo in an id52 is reported as such rather than as an unknown alias.
 *
 * @example
 * ```ts
 * import { parseConfig, resolveTarget } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const id52 = "g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jg";
 * const config = parseConfig(
 *   `[peers.alice]\nid52 = "${id52}"\naddrs = ["/ip4/10.0.0.7/tcp/4001"]\n`,
 * );
 * assert.deepEqual(resolveTarget(config, id52).alias, "alice");
 * assert.throws(() => resolveTarget(config, "bob"), /unknown peer "bob"/);
 * assert.throws(() => resolveTarget(config, id52.replace("g1", "gx")), /"x" at index 1/);
 * ```
 *
 * @param config The config to look in.
 * @param target An alias or an id52.
 * @returns The peer and its addresses.
 * @throws {UnknownPeerError} for a name that is neither; {@linkcode InvalidId52Error} for
 * something that is meant as an id52 but is not one; {@linkcode NoAddressError} when no address
 * is known.
 */
export function resolveTarget(config: RemoteConfig, target: string): ResolvedTarget {
  if (typeof target !== "string" || target === "") {
    throw new TypeError(`target must be an alias or an id52, got ${JSON.stringify(target)}`);
  }
  const peer = config.peers.get(target);
  if (peer !== undefined) {
    if (peer.addrs.length === 0) throw new NoAddressError(target, peer.id52, config.path);
    return { target, alias: peer.alias, id52: peer.id52, addrs: peer.addrs };
  }
  if (!looksLikeId52(target)) {
    throw new UnknownPeerError(target, config.path, [...config.peers.keys()]);
  }
  decodeId52(target); // throws InvalidId52Error naming the bad character or the length
  let alias: string | undefined;
  const addrs: string[] = [];
  for (const p of config.peers.values()) {
    if (p.id52 !== target) continue;
    alias ??= p.alias;
    for (const a of p.addrs) if (!addrs.includes(a)) addrs.push(a);
  }
  if (addrs.length === 0) throw new NoAddressError(target, target, config.path);
  return { target, alias, id52: target, addrs };
}

// An alias is short and made of names; a long run of letters and digits is an id52 attempt.
function looksLikeId52(target: string): boolean {
  return target.length === ID52_LENGTH || /^[0-9A-Za-z]{32,}$/.test(target);
}

/**
 * A client node with this machine's identity and `config.toml`: resolves targets, dials them
 * and asks for their status. One node serves any number of targets and requests.
 */
export class RemoteClient implements AsyncDisposable {
  #node: Libp2p;
  #config: RemoteConfig;
  #identity: KeyedIdentity;
  #timeoutMs: number;
  #maxResponse: number;
  #closing: Promise<void> | undefined;
  // Connections that have carried an answer: a peer that closes one of these did not refuse us.
  #proven = new WeakSet<Connection>();

  private constructor(node: Libp2p, config: RemoteConfig, identity: KeyedIdentity, opts: Settings) {
    this.#node = node;
    this.#config = config;
    this.#identity = identity;
    this.#timeoutMs = opts.timeoutMs;
    this.#maxResponse = opts.maxResponse;
  }

  /** Loads the identity and `config.toml` of the fastn home and starts a node that only dials. */
  static async open(options: RemoteClientOptions = {}): Promise<RemoteClient> {
    const settings = settingsOf(options);
    const [identity, config] = await Promise.all([
      loadKeyedIdentity({ home: options.home }),
      loadConfig({ home: options.home }),
    ]);
    const node = await createNode(identity);
    return new RemoteClient(node, config, identity, settings);
  }

  /** This machine's id52. */
  get id52(): string {
    return this.#identity.id52;
  }

  /** The `config.toml` in use. */
  get config(): RemoteConfig {
    return this.#config;
  }

  /** See {@linkcode resolveTarget}. */
  resolve(target: string): ResolvedTarget {
    return resolveTarget(this.#config, target);
  }

  /** Dials `peer` (or reuses the open connection to it). */
  async connect(peer: ResolvedTarget, options: CallOptions = {}): Promise<Connection> {
    return await this.#timed(peer, options, (signal) => this.#dial(peer, signal));
  }

  /** Asks `peer` for one snapshot. */
  async fetch(peer: ResolvedTarget, options: CallOptions = {}): Promise<Status> {
    return await this.#timed(peer, options, async (signal) => {
      const conn = await this.#dial(peer, signal);
      const { stream, lp } = await this.#open(peer, conn, STATUS_PROTOCOL, {}, signal);
      try {
        const status = await this.#readStatus(peer, conn, lp, signal);
        await stream.close({ signal }).catch(() => {});
        return status;
      } finally {
        if (stream.status === "open") stream.abort(new Error("request ended"));
      }
    });
  }

  /** Streams snapshots of `peer` until the loop ends, `signal` aborts or the peer stops. */
  async *watch(
    peer: ResolvedTarget,
    options: CallOptions & { minIntervalMs?: number } = {},
  ): AsyncIterableIterator<Status> {
    const request = options.minIntervalMs === undefined
      ? {}
      : { minIntervalMs: options.minIntervalMs };
    const ac = new AbortController();
    const user = options.signal;
    const onAbort = (): void => ac.abort(user?.reason);
    if (user?.aborted) return;
    user?.addEventListener("abort", onAbort, { once: true });
    let stream: Stream | undefined;
    try {
      let first: Status;
      let lp: Lp;
      try {
        [stream, lp, first] = await this.#timed(peer, {
          timeoutMs: options.timeoutMs,
          signal: ac.signal,
        }, async (signal) => {
          const conn = await this.#dial(peer, signal);
          const opened = await this.#open(peer, conn, STATUS_STREAM_PROTOCOL, request, signal);
          try {
            const status = await this.#readStatus(peer, conn, opened.lp, signal);
            return [opened.stream, opened.lp, status] as const;
          } catch (e) {
            if (opened.stream.status === "open") opened.stream.abort(new Error("watch failed"));
            throw e;
          }
        });
      } catch (e) {
        if (ac.signal.aborted) return;
        throw e;
      }
      yield first;
      while (true) {
        let frame;
        try {
          frame = await lp.read({ signal: ac.signal });
        } catch (e) {
          if (ac.signal.aborted) return;
          if (isCleanEnd(e)) return; // the peer stopped serving
          throw new RemoteProtocolError(
            peer.target,
            peer.id52,
            `the connection was lost (${(e as Error).message})`,
            e,
          );
        }
        yield this.#status(peer, frame.subarray());
      }
    } finally {
      user?.removeEventListener("abort", onAbort);
      if (stream !== undefined && stream.status === "open") stream.abort(new Error("watch ended"));
    }
  }

  /** Stops the node; open connections and streams are closed. */
  close(): Promise<void> {
    this.#closing ??= stopNode(this.#node);
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #dial(peer: ResolvedTarget, signal: AbortSignal): Promise<Connection> {
    const peerId = peerIdFromId52(peer.id52);
    const addrs = peer.addrs.map((a) => multiaddr(`${a}/p2p/${peerId.toString()}`));
    try {
      return await this.#node.dial(addrs, { signal });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw dialError(peer, e);
    }
  }

  async #open(
    peer: ResolvedTarget,
    conn: Connection,
    protocol: string,
    request: object,
    signal: AbortSignal,
  ): Promise<{ stream: Stream; lp: Lp }> {
    let stream: Stream;
    try {
      stream = await conn.newStream(protocol, { signal });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (this.#refused(conn, e)) throw new PeerRefusedError(peer.target, peer.id52, e);
      throw streamError(peer, protocol, e);
    }
    const lp = lpStream(stream, {
      maxDataLength: this.#maxResponse,
      maxBufferSize: this.#maxResponse + 16,
      lengthDecoder: lengthDecoder(this.#maxResponse),
    });
    try {
      await lp.write(encodeFrame(request), { signal });
    } catch (e) {
      stream.abort(new Error("request failed"));
      if (signal.aborted) throw signal.reason;
      if (this.#refused(conn, e)) throw new PeerRefusedError(peer.target, peer.id52, e);
      throw streamError(peer, protocol, e);
    }
    return { stream, lp };
  }

  async #readStatus(
    peer: ResolvedTarget,
    conn: Connection,
    lp: Lp,
    signal: AbortSignal,
  ): Promise<Status> {
    let frame;
    try {
      frame = await lp.read({ signal });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (this.#refused(conn, e)) throw new PeerRefusedError(peer.target, peer.id52, e);
      throw answerError(peer, e, this.#maxResponse);
    }
    this.#proven.add(conn);
    return this.#status(peer, frame.subarray());
  }

  // The allow-list of a server closes the connection right after the handshake; the client then
  // sees its first stream end or reset on a connection that is no longer open.
  #refused(conn: Connection, e: unknown): boolean {
    return !this.#proven.has(conn) && conn.status !== "open" &&
      causes(e).some((x) => CLOSED_NAMES.has(x.name) || /ECONNRESET|EPIPE/.test(codeOf(x)));
  }

  #status(peer: ResolvedTarget, bytes: Uint8Array): Status {
    let answer;
    try {
      answer = parseAnswer(bytes);
    } catch (e) {
      throw new RemoteProtocolError(peer.target, peer.id52, (e as Error).message, e);
    }
    if ("error" in answer) {
      throw new RemoteProtocolError(peer.target, peer.id52, `it answered: ${answer.error}`);
    }
    return answer.status;
  }

  // Runs `fn` with a signal that aborts after the timeout or when `options.signal` does; a
  // timeout becomes a PeerTimeoutError, a user abort rejects with the user's reason.
  async #timed<T>(
    peer: ResolvedTarget,
    options: CallOptions,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const ms = options.timeoutMs ?? this.#timeoutMs;
    const ac = new AbortController();
    const user = options.signal;
    if (user?.aborted) throw user.reason;
    const onAbort = (): void => ac.abort(user?.reason);
    user?.addEventListener("abort", onAbort, { once: true });
    const timeout = new TimeoutError(ms);
    const timer = setTimeout(() => ac.abort(timeout), ms);
    try {
      return await fn(ac.signal);
    } catch (e) {
      if (ac.signal.reason === timeout) throw new PeerTimeoutError(peer.target, peer.id52, ms);
      throw e;
    } finally {
      clearTimeout(timer);
      user?.removeEventListener("abort", onAbort);
    }
  }
}

/** Options of one call on a {@linkcode RemoteClient}. */
export interface CallOptions {
  /** Overrides the client's timeout, in ms. */
  timeoutMs?: number;
  /** Gives up when aborted. */
  signal?: AbortSignal;
}

type Lp = ReturnType<typeof lpStream<Stream>>;

interface Settings {
  timeoutMs: number;
  maxResponse: number;
}

function settingsOf(options: RemoteClientOptions): Settings {
  const timeoutMs = options.timeoutMs ?? 5_000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`options.timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  }
  const maxResponse = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(maxResponse) || maxResponse <= 0) {
    throw new RangeError(
      `options.maxResponseBytes must be a positive integer, got ${String(maxResponse)}`,
    );
  }
  return { timeoutMs, maxResponse };
}

/**
 * Asks one peer for its status: dials it with this machine's identity (checking that the peer
 * holds the key its id52 names), reads one snapshot and closes the connection. The result is
 * plain JSON data shaped like `status()`'s, ready for `renderStatus()`.
 *
 * @example
 * ```ts ignore
 * import { fetchRemoteStatus } from "@fastn/context/remote";
 * import { renderStatus } from "@fastn/context";
 *
 * console.log(renderStatus(await fetchRemoteStatus("alice"), { color: false }));
 * ```
 *
 * @example A target that is not in config.toml
 * ```ts
 * import { fetchRemoteStatus, UnknownPeerError } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * await assert.rejects(fetchRemoteStatus("alice", { home }), UnknownPeerError);
 * ```
 *
 * @param target An alias of `config.toml` or an id52.
 * @param options The fastn home, a timeout, a signal.
 * @returns The peer's status.
 * @throws {RemoteStatusError} (one of its subclasses) naming the target and the cause;
 * {@linkcode InvalidId52Error}, {@linkcode ConfigError}, {@linkcode IdentityError}.
 */
export async function fetchRemoteStatus(
  target: string,
  options: RemoteClientOptions = {},
): Promise<Status> {
  settingsOf(options);
  const client = await RemoteClient.open(options);
  try {
    return await client.fetch(client.resolve(target), options);
  } finally {
    await client.close();
  }
}

/**
 * Watches one peer's status: the current snapshot at once, then one per change (at most once a
 * second by default), until the loop ends, `options.signal` aborts, or the peer stops serving
 * (the iteration then simply ends). A lost connection throws a `RemoteProtocolError`.
 *
 * @example
 * ```ts ignore
 * import { watchRemoteStatus } from "@fastn/context/remote";
 *
 * for await (const status of watchRemoteStatus("alice", { signal: AbortSignal.timeout(60_000) })) {
 *   console.log(status.global.children.map((c) => c.name).join(", "));
 * }
 * ```
 *
 * @example A peer without an address
 * ```ts
 * import { NoAddressError, watchRemoteStatus } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * await Deno.mkdir(`${home}/remote-access`);
 * await Deno.writeTextFile(
 *   `${home}/remote-access/config.toml`,
 *   `[peers.bob]\nid52 = "${"0".repeat(52)}"\n`,
 * );
 * await assert.rejects(watchRemoteStatus("bob", { home }).next(), NoAddressError);
 * ```
 *
 * @param target An alias of `config.toml` or an id52.
 * @param options The fastn home, a timeout for the first snapshot, a signal, the interval.
 * @returns The snapshots.
 * @throws {RemoteStatusError} (one of its subclasses) naming the target and the cause.
 */
export async function* watchRemoteStatus(
  target: string,
  options: WatchRemoteOptions = {},
): AsyncIterableIterator<Status> {
  settingsOf(options);
  const client = await RemoteClient.open(options);
  try {
    yield* client.watch(client.resolve(target), options);
  } finally {
    await client.close();
  }
}

/**
 * Connects to one peer and keeps the connection open for many requests: `status()` opens a new
 * stream on it each time, `watch()` follows changes; `close()` (or `await using`) ends it.
 *
 * @example
 * ```ts ignore
 * import { connectRemote } from "@fastn/context/remote";
 *
 * await using alice = await connectRemote("alice", { timeoutMs: 2_000 });
 * const before = await alice.status();
 * const after = await alice.status();
 * console.log(after.timestamp - before.timestamp);
 * ```
 *
 * @example A peer nobody listens for
 * ```ts
 * import { connectRemote, PeerUnreachableError } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * await Deno.mkdir(`${home}/remote-access`);
 * // Port 9 (discard): a low port, where nothing listens.
 * await Deno.writeTextFile(
 *   `${home}/remote-access/config.toml`,
 *   `[peers.bob]\nid52 = "${"0".repeat(52)}"\naddrs = ["/ip4/127.0.0.1/tcp/9"]\n`,
 * );
 * await assert.rejects(connectRemote("bob", { home }), PeerUnreachableError);
 * ```
 *
 * @param target An alias of `config.toml` or an id52.
 * @param options The fastn home, a timeout (for connecting, and the default of each request), a
 * signal for connecting.
 * @returns The open connection.
 * @throws {RemoteStatusError} (one of its subclasses) naming the target and the cause.
 */
export async function connectRemote(
  target: string,
  options: RemoteClientOptions = {},
): Promise<RemoteConnection> {
  settingsOf(options);
  const client = await RemoteClient.open(options);
  try {
    const peer = client.resolve(target);
    await client.connect(peer, options);
    return {
      target: peer.target,
      alias: peer.alias,
      id52: peer.id52,
      status: (o = {}) => client.fetch(peer, o),
      watch: (o = {}) => client.watch(peer, o),
      close: () => client.close(),
      [Symbol.asyncDispose]: () => client.close(),
    };
  } catch (e) {
    await client.close();
    throw e;
  }
}

// ---- error translation ----

function causes(e: unknown, out: Error[] = [], depth = 0): Error[] {
  if (!(e instanceof Error) || depth > 6 || out.includes(e)) return out;
  out.push(e);
  const nested = (e as { errors?: unknown }).errors;
  if (Array.isArray(nested)) { for (const x of nested) causes(x, out, depth + 1); }
  causes((e as { cause?: unknown }).cause, out, depth + 1);
  return out;
}

const UNREACHABLE =
  /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EADDRNOTAVAIL|EAI_AGAIN|ENETDOWN|connection refused|No route to host/i;
const CLOSED_NAMES = new Set([
  "UnexpectedEOFError",
  "StreamResetError",
  "StreamAbortedError",
  "StreamClosedError",
  "ConnectionClosedError",
  "MuxerClosedError",
]);

function codeOf(e: Error): string {
  return String((e as { code?: unknown }).code ?? "");
}

function dialError(peer: ResolvedTarget, e: unknown): Error {
  const all = causes(e);
  if (all.some((x) => x.name === "EncryptionFailedError" && /identity key/.test(x.message))) {
    return new PeerIdentityError(peer.target, peer.id52, e);
  }
  if (all.some((x) => UNREACHABLE.test(codeOf(x)) || UNREACHABLE.test(x.message))) {
    return new PeerUnreachableError(
      peer.target,
      peer.id52,
      peer.addrs,
      all.find((x) => UNREACHABLE.test(codeOf(x)) || UNREACHABLE.test(x.message)),
    );
  }
  if (
    all.some((x) =>
      CLOSED_NAMES.has(x.name) || /ECONNRESET|EPIPE/.test(codeOf(x)) ||
      /ECONNRESET|EPIPE/.test(x.message)
    )
  ) {
    // Dropped before the handshake finished: not the allow-list (that acts after it), but a
    // connection limit of the peer, or something at that address that does not speak libp2p.
    return new RemoteStatusError(
      peer.target,
      `${peer.target}: the connection was dropped during the handshake (the peer may be ` +
        `limiting connections from this address, or what answers at ${
          peer.addrs.join(", ")
        } is not a libp2p peer)`,
      { id52: peer.id52, cause: e },
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  return new RemoteStatusError(peer.target, `${peer.target}: cannot connect: ${message}`, {
    id52: peer.id52,
    cause: e,
  });
}

function streamError(peer: ResolvedTarget, protocol: string, e: unknown): Error {
  const all = causes(e);
  if (all.some((x) => x.name === "UnsupportedProtocolError")) {
    return new RemoteProtocolError(
      peer.target,
      peer.id52,
      `it does not serve ${protocol} (not a @fastn/context peer, or another version)`,
      e,
    );
  }
  return new RemoteProtocolError(
    peer.target,
    peer.id52,
    `the stream failed (${e instanceof Error ? e.message : String(e)})`,
    e,
  );
}

function answerError(peer: ResolvedTarget, e: unknown, max: number): Error {
  const all = causes(e);
  if (all.some((x) => x.name === "UnsupportedProtocolError")) return streamError(peer, "it", e);
  if (all.some((x) => x.name === "InvalidDataLengthError" || x.name === "StreamBufferError")) {
    return new RemoteProtocolError(
      peer.target,
      peer.id52,
      `its answer is larger than ${max} bytes`,
      e,
    );
  }
  if (all.some((x) => x.name === "UnexpectedEOFError")) {
    return new RemoteProtocolError(
      peer.target,
      peer.id52,
      "it closed the stream without answering",
      e,
    );
  }
  return new RemoteProtocolError(
    peer.target,
    peer.id52,
    `no answer (${e instanceof Error ? e.message : String(e)})`,
    e,
  );
}

function isCleanEnd(e: unknown): boolean {
  return e instanceof Error && e.name === "UnexpectedEOFError" &&
    /0\/1 bytes|0 bytes/.test(e.message);
}
