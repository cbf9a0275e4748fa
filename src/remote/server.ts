/**
 * The server side of remote status: a libp2p node that serves `/fastn-context/status/1` and
 * `/fastn-context/status-stream/1` to the peers of `[access] status`, and refuses everyone else
 * when their connection is still being set up.
 *
 * @module
 */

import "./shim.ts";
import type { Connection, Libp2p, PeerId, Stream } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import type { Context } from "../core/context.ts";
import { rootOption } from "../core/current.ts";
import { statusJson } from "../status/status.ts";
import type { Status } from "../status/types.ts";
import { statusStream } from "../status/stream.ts";
import { loadConfig } from "./config.ts";
import { configPath, fastnHome, missingRemotePermissions } from "./home.ts";
import { decodeId52, shortId52 } from "./id52.ts";
import { id52OfPeerId, loadKeyedIdentity } from "./identity.ts";
import { createNode, stopNode } from "./node.ts";
import {
  encodeFrame,
  lengthDecoder,
  MAX_REQUEST_BYTES,
  parseRequest,
  STATUS_PROTOCOL,
  STATUS_STREAM_PROTOCOL,
  type StatusRequest,
} from "./protocol.ts";

/**
 * Options of {@linkcode serveRemoteStatus} and {@linkcode remoteAccess}.
 *
 * @example
 * ```ts
 * import type { RemoteAccessOptions } from "@fastn/context/remote";
 *
 * const options: RemoteAccessOptions = {
 *   listen: ["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"],
 *   maxStreamsPerPeer: 4,
 * };
 * ```
 */
export interface RemoteAccessOptions {
  /**
   * The libp2p multiaddrs to listen on. Port 0 takes a free port; {@linkcode RemoteServer.addrs}
   * says which.
   * @default {["/ip4/127.0.0.1/tcp/0"]}
   */
  listen?: string[];
  /**
   * The fastn home holding `identity.key` and `remote-access/config.toml`.
   * @default {$FASTN_HOME, else ~/.fastn}
   */
  home?: string;
  /**
   * The context whose tree is served. With `remoteAccess()`, the root `main()` passes.
   * @default {global()}
   */
  root?: Context;
  /**
   * More peers allowed to read the status, beside `[access] status` of `config.toml`: aliases
   * of `[peers]` or id52s.
   * @default {[]}
   */
  allow?: string[];
  /**
   * The most streams one peer may have open at once, over all its connections and both
   * protocols; past it a stream gets an error frame and is closed.
   * @default {8}
   */
  maxStreamsPerPeer?: number;
  /**
   * How long the server waits for a request frame, and for a frame it writes to be taken, in ms.
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * How many connections one host (IP address) may open per second; past it a connection is
   * dropped before its handshake.
   * @default {20}
   */
  connectionsPerSecond?: number;
  /**
   * Stop the server when its `remote-access` context is cancelled (by a cancel of `root`).
   * `remoteAccess()` turns it off: `main()` stops the server itself after the shutdown grace,
   * so that peers can watch a shutdown that hangs.
   * @default {true with serveRemoteStatus(), false with remoteAccess()}
   */
  stopOnCancel?: boolean;
  /**
   * The least time between two frames of a status stream, in ms, whatever a client asks.
   * @default {1000}
   */
  minStreamIntervalMs?: number;
  /**
   * Where the server says, once started, what peers need to reach it (its id52 and addresses),
   * and warns when nobody may read the status (`config.toml` missing, or its `[access] status`
   * empty). `main()` passes its own report to {@linkcode remoteAccess}.
   * @default {undefined (says nothing)}
   */
  report?: (text: string) => void;
}

/**
 * A running status server: its id52 and addresses are what peers put in their `config.toml`.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import { type RemoteServer, serveRemoteStatus } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const server: RemoteServer = await serveRemoteStatus({
 *   root: Context.root("global"),
 *   home: await Deno.makeTempDir(),
 * });
 * assert.match(server.addrs[0], /^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/);
 * console.log(`[peers.me]\nid52 = "${server.id52}"\naddrs = ${JSON.stringify(server.addrs)}`);
 * await server.stop();
 * ```
 */
export interface RemoteServer extends AsyncDisposable {
  /** This machine's id52: what peers put in their `config.toml`. */
  readonly id52: string;
  /** The addresses it listens on, without the `/p2p/` part (as `config.toml` wants them). */
  readonly addrs: string[];
  /** Stops listening and closes every connection. Calling it again waits for the same stop. */
  stop(): Promise<void>;
}

/**
 * What `main(fn, { remote })` takes: something that starts serving the status of a root
 * context, made by {@linkcode remoteAccess}.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import { remoteAccess, type RemoteAccessPlugin } from "@fastn/context/remote";
 *
 * const plugin: RemoteAccessPlugin = remoteAccess({ home: await Deno.makeTempDir() });
 * const server = await plugin.start(Context.root("global"));
 * await server.stop();
 * ```
 */
export interface RemoteAccessPlugin {
  /**
   * Starts the server for the tree of `root`. It keeps serving while the tree is cancelled;
   * `main()` stops it once the shutdown is over. `hooks.report` (main()'s report) gets the
   * server's id52, addresses and warnings, unless `options.report` was given.
   */
  start(root: Context, hooks?: { report?: (text: string) => void }): Promise<RemoteServer>;
  /**
   * The Deno permissions the server needs and that are not granted, as flags
   * (`--allow-net`, …): `main()` asks before it starts anything, to name them all at once.
   */
  missingPermissions(): string[];
}

/**
 * Returns the plugin `main(fn, { remote })` starts: at startup it serves the status of the
 * application's tree (see {@linkcode serveRemoteStatus}); at shutdown `main()` stops it.
 * Nothing is read or opened until `start()`.
 *
 * @example With main()
 * ```ts ignore
 * import { main } from "@fastn/context";
 * import { remoteAccess } from "@fastn/context/remote";
 *
 * await main(async (ctx) => {
 *   await ctx.wait();
 * }, { remote: remoteAccess({ listen: ["/ip4/0.0.0.0/tcp/4001"] }) });
 * ```
 *
 * @example Started by hand
 * ```ts
 * import { Context } from "@fastn/context";
 * import { remoteAccess } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const root = Context.root("global");
 * const server = await remoteAccess({ home: await Deno.makeTempDir() }).start(root);
 * assert.deepEqual(root.getTotal("refused", { deep: true }), 0);
 * await server.stop();
 * ```
 *
 * @param options Where to listen, the fastn home, extra allowed peers, limits.
 * @returns The plugin.
 */
export function remoteAccess(options: RemoteAccessOptions = {}): RemoteAccessPlugin {
  const copy = { ...options };
  return {
    start: (root: Context, hooks = {}): Promise<RemoteServer> =>
      serveRemoteStatus({
        ...copy,
        root: copy.root ?? root,
        stopOnCancel: copy.stopOnCancel ?? false,
        report: copy.report ?? hooks.report,
      }),
    missingPermissions: (): string[] => missingRemotePermissions({ home: copy.home }),
  };
}

/**
 * Serves the status of `options.root` on `/fastn-context/status/1` (one snapshot) and
 * `/fastn-context/status-stream/1` (a snapshot, then one per change) to the peers that
 * `[access] status` of `config.toml` (and `options.allow`) lists. Every other peer is refused
 * right after the Noise handshake, before it can open a stream. Requests are length-prefixed
 * JSON frames of at most 4 KiB that must arrive within `timeoutMs`; a bad one is answered with an
 * error frame and its stream closed, and the server goes on.
 *
 * The identity key is made on first use; `config.toml` is read once, at start. The server shows
 * in the tree as a `remote-access` context (totals `requests`, `refused`, `bad_requests`), with a
 * child per open stream named `<alias>@<id52 prefix>`; cancelling that context (or its root)
 * stops the server, unless `stopOnCancel` is false.
 *
 * @example Serving a tree and reading it back
 * ```ts
 * import { Context } from "@fastn/context";
 * import { connectRemote, loadIdentity, serveRemoteStatus } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const clientHome = await Deno.makeTempDir();
 * const client = await loadIdentity({ home: clientHome });
 * const root = Context.root("global");
 * root.child("http-proxy").create();
 * await using server = await serveRemoteStatus({
 *   root,
 *   home: await Deno.makeTempDir(),
 *   allow: [client.id52],
 * });
 *
 * await Deno.mkdir(`${clientHome}/remote-access`);
 * await Deno.writeTextFile(
 *   `${clientHome}/remote-access/config.toml`,
 *   `[peers.alice]\nid52 = "${server.id52}"\naddrs = ${JSON.stringify(server.addrs)}\n`,
 * );
 * await using alice = await connectRemote("alice", { home: clientHome });
 * const status = await alice.status();
 * assert.deepEqual(status.global.children.map((c) => c.name), ["http-proxy", "remote-access"]);
 * ```
 *
 * @param options Where to listen, the tree, the fastn home, extra allowed peers, limits.
 * @returns The running server.
 * @throws {ConfigError} when `config.toml` is wrong, {@linkcode IdentityError} when the key
 * file is, {@linkcode InvalidId52Error} for a bad id52 in `options.allow`, and
 * {@linkcode RangeError}/{@linkcode TypeError} for bad options.
 */
export async function serveRemoteStatus(options: RemoteAccessOptions = {}): Promise<RemoteServer> {
  const listen = options.listen ?? ["/ip4/127.0.0.1/tcp/0"];
  if (!Array.isArray(listen) || listen.length === 0 || listen.some((a) => typeof a !== "string")) {
    throw new TypeError("options.listen must be a non-empty array of multiaddr strings");
  }
  const maxStreams = positiveInt(options.maxStreamsPerPeer ?? 8, "options.maxStreamsPerPeer");
  const timeoutMs = positiveInt(options.timeoutMs ?? 5_000, "options.timeoutMs");
  const perSecond = positiveInt(options.connectionsPerSecond ?? 20, "options.connectionsPerSecond");
  const floorMs = nonNegative(options.minStreamIntervalMs ?? 1_000, "options.minStreamIntervalMs");
  const report = options.report;
  if (report !== undefined && typeof report !== "function") {
    throw new TypeError(`options.report must be a function, got ${typeof report}`);
  }
  const root = rootOption(options.root);
  const missing = missingRemotePermissions({ home: options.home });
  if (missing.length > 0) {
    throw new Deno.errors.NotCapable(
      `remote access needs Deno permissions that are not granted: ${
        missing.join(" ")
      }, or -A for all`,
    );
  }
  const [identity, config] = await Promise.all([
    loadKeyedIdentity({ home: options.home }),
    loadConfig({ home: options.home }),
  ]);
  const allowed = new Set(config.statusAccess);
  const aliases = new Map<string, string>();
  for (const peer of config.peers.values()) {
    if (!aliases.has(peer.id52)) aliases.set(peer.id52, peer.alias);
  }
  for (const name of options.allow ?? []) {
    const peer = config.peers.get(name);
    if (peer !== undefined) allowed.add(peer.id52);
    else {
      decodeId52(name); // throws InvalidId52Error naming the bad character
      allowed.add(name);
    }
  }
  const server = new StatusServer(root, {
    allowed,
    aliases,
    maxStreams,
    timeoutMs,
    floorMs,
    perSecond,
    stopOnCancel: options.stopOnCancel ?? true,
    id52: identity.id52,
  });
  await server.start(identity, listen);
  if (report !== undefined) {
    report(
      `remote access: this machine is ${identity.id52}, listening on ${server.addrs.join(" ")}`,
    );
    if (allowed.size === 0) {
      const path = configPath(fastnHome(options.home));
      report(
        config.peers.size === 0 && !(await exists(path))
          ? `remote access: warning: there is no ${path}, so every peer is refused; list who may ` +
            `read this status in its [access] status`
          : `remote access: warning: [access] status in ${path} is empty, so every peer is ` +
            `refused; list aliases or id52s there`,
      );
    }
  }
  return server;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

interface ServerSettings {
  allowed: ReadonlySet<string>;
  aliases: ReadonlyMap<string, string>;
  maxStreams: number;
  timeoutMs: number;
  floorMs: number;
  perSecond: number;
  stopOnCancel: boolean;
  id52: string;
}

class StatusServer implements RemoteServer {
  readonly id52: string;
  #root: Context;
  #settings: ServerSettings;
  #node: Libp2p | undefined;
  #ctx: Context | undefined;
  #open = new Map<string, number>();
  #handlers = new Set<Promise<void>>();
  #closing = new AbortController();
  #stopping: Promise<void> | undefined;
  #unlisten: (() => void) | undefined;

  constructor(root: Context, settings: ServerSettings) {
    this.#root = root;
    this.#settings = settings;
    this.id52 = settings.id52;
  }

  get addrs(): string[] {
    return (this.#node?.getMultiaddrs() ?? []).map((a) =>
      a.toString().replace(/\/p2p\/[^/]+$/, "")
    );
  }

  async start(identity: Parameters<typeof createNode>[0], listen: string[]): Promise<void> {
    this.#node = await createNode(identity, {
      listen,
      allowInbound: (peerId) => this.#admit(peerId),
      inboundConnectionsPerSecond: this.#settings.perSecond,
    });
    const handlerOptions = { maxInboundStreams: this.#settings.maxStreams };
    await this.#node.handle(
      STATUS_PROTOCOL,
      (stream, connection) => this.#track(this.#serve(stream, connection, false)),
      handlerOptions,
    );
    await this.#node.handle(
      STATUS_STREAM_PROTOCOL,
      (stream, connection) => this.#track(this.#serve(stream, connection, true)),
      handlerOptions,
    );
    this.#ctx = this.#root.child("remote-access")
      .withData("id52", this.id52)
      .withData("addrs", this.addrs)
      .create();
    if (this.#settings.stopOnCancel) {
      const signal = this.#ctx.signal;
      const onAbort = (): void => void this.stop();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#unlisten = () => signal.removeEventListener("abort", onAbort);
    }
  }

  #admit(peerId: PeerId): boolean {
    let id52: string | undefined;
    try {
      id52 = id52OfPeerId(peerId);
    } catch {
      id52 = undefined;
    }
    const ok = id52 !== undefined && this.#settings.allowed.has(id52);
    if (!ok && this.#ctx !== undefined && !this.#ctx.cancelled) {
      this.#ctx.incrementTotal("refused");
    }
    return ok;
  }

  async #serve(stream: Stream, connection: Connection, streaming: boolean): Promise<void> {
    const ctx = this.#ctx;
    if (ctx === undefined || this.#stopping !== undefined) {
      stream.abort(new Error("the server is stopping"));
      return;
    }
    let id52: string;
    try {
      id52 = id52OfPeerId(connection.remotePeer);
    } catch {
      stream.abort(new Error("not an Ed25519 peer"));
      return;
    }
    const open = (this.#open.get(id52) ?? 0) + 1;
    this.#open.set(id52, open);
    const decode = lengthDecoder(MAX_REQUEST_BYTES);
    let started = false;
    const lp = lpStream(stream, {
      maxDataLength: MAX_REQUEST_BYTES,
      lengthDecoder: (data) => {
        started = true; // a byte of the request has arrived
        return decode(data);
      },
    });
    let child: Context | undefined;
    try {
      if (open > this.#settings.maxStreams) {
        ctx.incrementTotal("rejected_streams");
        await this.#fail(
          stream,
          lp,
          `too many open streams (at most ${this.#settings.maxStreams})`,
        );
        return;
      }
      let request: StatusRequest;
      try {
        request = parseRequest(
          (await withTimeout(this.#settings.timeoutMs, (signal) => lp.read({ signal }))).subarray(),
        );
      } catch (e) {
        ctx.incrementTotal("bad_requests");
        await this.#fail(stream, lp, requestProblem(e, this.#settings.timeoutMs, started));
        return;
      }
      const alias = this.#settings.aliases.get(id52);
      child = ctx.child(`${alias ?? "peer"}@${shortId52(id52)}`)
        .withData("peer", id52)
        .withData("protocol", streaming ? STATUS_STREAM_PROTOCOL : STATUS_PROTOCOL)
        .create();
      ctx.incrementTotal("requests");
      if (!streaming) {
        await this.#write(lp, { status: statusJson({ root: this.#root }) });
        await stream.close();
        return;
      }
      await this.#stream(stream, lp, child, request);
    } catch {
      // The peer went away or misbehaved: its stream alone ends, the server goes on.
      if (stream.status === "open") stream.abort(new Error("status stream failed"));
    } finally {
      child?.end();
      const left = (this.#open.get(id52) ?? 1) - 1;
      if (left <= 0) this.#open.delete(id52);
      else this.#open.set(id52, left);
    }
  }

  async #stream(
    stream: Stream,
    lp: ReturnType<typeof lpStream<Stream>>,
    child: Context,
    request: StatusRequest,
  ): Promise<void> {
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    // The client ends a watch by closing its side of the stream (or by resetting it).
    stream.addEventListener("remoteCloseWrite", stop);
    stream.addEventListener("close", stop);
    // It also ends when the server stops, and when its context is cancelled if the server stops
    // on cancel (otherwise it goes on showing the shutdown until main() stops the server).
    const onCancel = (): void => ac.abort();
    const cancels = this.#settings.stopOnCancel ? child.signal : undefined;
    cancels?.addEventListener("abort", onCancel);
    this.#closing.signal.addEventListener("abort", onCancel);
    try {
      const minIntervalMs = Math.max(this.#settings.floorMs, request.minIntervalMs ?? 0);
      for await (
        const snapshot of statusStream({ root: this.#root, signal: ac.signal, minIntervalMs })
      ) {
        if (ac.signal.aborted) break;
        await this.#write(lp, { status: snapshot });
      }
    } finally {
      stream.removeEventListener("remoteCloseWrite", stop);
      stream.removeEventListener("close", stop);
      cancels?.removeEventListener("abort", onCancel);
      this.#closing.signal.removeEventListener("abort", onCancel);
      if (stream.status === "open") {
        await stream.close().catch(() => stream.abort(new Error("close")));
      }
    }
  }

  async #write(
    lp: ReturnType<typeof lpStream<Stream>>,
    answer: { status: Status } | { error: string },
  ): Promise<void> {
    const bytes = encodeFrame(answer);
    await withTimeout(this.#settings.timeoutMs, (signal) => lp.write(bytes, { signal }));
  }

  // Answers a bad or refused request with an error frame, closes our side, and gives the peer
  // `timeoutMs` to read it and close its side; a peer that does not is reset. (Resetting at once
  // could make the peer's stream drop the error frame before it is read.)
  async #fail(
    stream: Stream,
    lp: ReturnType<typeof lpStream<Stream>>,
    message: string,
  ): Promise<void> {
    try {
      await this.#write(lp, { error: message });
      await withTimeout(this.#settings.timeoutMs, async (signal) => {
        await stream.close({ signal });
        if (stream.status !== "open" && stream.status !== "closing") return;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            stream.removeEventListener("close", done);
            signal.removeEventListener("abort", done);
            resolve();
          };
          stream.addEventListener("close", done);
          signal.addEventListener("abort", done);
        });
      });
    } catch {
      // nothing more to tell a peer that does not listen
    }
    if (stream.status === "open" || stream.status === "closing") stream.abort(new Error(message));
  }

  #track(handler: Promise<void>): Promise<void> {
    this.#handlers.add(handler);
    return handler.finally(() => this.#handlers.delete(handler));
  }

  // Streams end first, each closed gracefully so that a watcher sees a clean end; then the
  // connections are aborted (a graceful close keeps a Deno process alive for a second after
  // it) and the node stops.
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#unlisten?.();
      this.#closing.abort();
      await settleWithin([...this.#handlers], STOP_GRACE_MS);
      if (this.#node !== undefined) await stopNode(this.#node);
      this.#ctx?.end();
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** How long a stopping server waits for its streams to end gracefully, in ms. */
const STOP_GRACE_MS = 1_000;

/** Waits for `promises` to settle, or `ms`, whichever comes first. */
async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  if (promises.length === 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([Promise.allSettled(promises), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `fn` with a signal aborted after `ms`; the timer is cleared either way. */
export async function withTimeout<T>(
  ms: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new TimeoutError(ms)), ms);
  try {
    return await fn(ac.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** The reason a {@linkcode withTimeout} signal is aborted with. */
export class TimeoutError extends Error {
  /**
   * Makes the reason for a timeout of `ms`.
   *
   * @param ms The time that ran out.
   */
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = "TimeoutError";
  }
}

function requestProblem(e: unknown, timeoutMs: number, started: boolean): string {
  const err = e as Error;
  if (err instanceof TimeoutError || err?.name === "AbortError") {
    return `bad request: none within ${timeoutMs} ms`;
  }
  switch (err?.name) {
    case "InvalidDataLengthError":
    case "InvalidDataLengthLengthError":
      return `bad request: larger than ${MAX_REQUEST_BYTES} bytes`;
    case "InvalidMessageLengthError":
    case "LengthPrefixError":
      return "bad request: invalid length prefix";
    case "UnexpectedEOFError":
      return started
        ? "bad request: the stream ended inside the frame"
        : "bad request: the stream ended before a request";
  }
  return err?.message?.startsWith("bad request") ? err.message : "bad request";
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function nonNegative(value: number, name: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}
