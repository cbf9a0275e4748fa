/**
 * The libp2p node both ends use: TCP, Noise encryption, Yamux multiplexing, nothing else (no
 * discovery, no identify, no relay). The shim is imported first so that a stopped node lets the
 * process exit.
 *
 * @module
 */

import "./shim.ts";
import type { Libp2p, MultiaddrConnection, PeerId } from "@libp2p/interface";
import { noise } from "@libp2p/noise";
import { tcp } from "@libp2p/tcp";
import { yamux } from "@libp2p/yamux";
import { createLibp2p } from "libp2p";
import type { KeyedIdentity } from "./identity.ts";

/**
 * How long an inbound connection has to finish its upgrade (Noise handshake, muxer), in ms.
 * libp2p's default is 10 s; a handshake on a slow link takes a few round trips.
 */
export const INBOUND_UPGRADE_TIMEOUT_MS = 5_000;

/**
 * How long an inbound stream has to name its protocol, in ms. libp2p's default is 10 s, and
 * libp2p@3.3.11 keeps a timer (about 650 bytes) this long for every inbound stream, even one that
 * is long gone: a shorter time holds less after a flood of streams.
 */
export const INBOUND_NEGOTIATION_TIMEOUT_MS = 5_000;

/**
 * The most inbound connections from one host (IP address) in their handshake at once. More than
 * a host can open within its rate of connections in a second, so that the oldest are closed to
 * make room before a new one (an allowed peer's among them) would be.
 */
export const MAX_PENDING_PER_HOST = 32;
/** The most inbound connections in their handshake at once, over every host. */
export const MAX_PENDING = 128;
/**
 * Room in libp2p's own count of connections being set up, above {@linkcode MAX_PENDING}, kept
 * for connections whose peer has already proven its key: a flood of connections that never
 * finish cannot fill it.
 */
export const AUTHENTICATED_RESERVE = 32;

/**
 * Bounds the inbound connections that have not finished their handshake, per host and in all:
 * past a bound, the oldest such connection of that host (or, for the total, of the host with the
 * most) is closed to make room, so that a new connection always gets its turn and a host that
 * floods only ever pushes out its own. A connection leaves the count once its peer's key is
 * proven (or it closes). Internal.
 */
export class HandshakeGuard {
  #byHost = new Map<string, Set<MultiaddrConnection>>();
  #hostOf = new Map<MultiaddrConnection, string>();
  #perHost: number;
  #max: number;

  /**
   * @param perHost The most pending connections of one host.
   * @param max The most pending connections in all.
   */
  constructor(perHost: number = MAX_PENDING_PER_HOST, max: number = MAX_PENDING) {
    this.#perHost = perHost;
    this.#max = max;
  }

  /** How many connections are pending, in all or from `host`. */
  pending(host?: string): number {
    return host === undefined ? this.#hostOf.size : this.#byHost.get(host)?.size ?? 0;
  }

  /** Counts a new inbound connection, closing older pending ones past the bounds. */
  admit(maConn: MultiaddrConnection): void {
    const host = hostOf(maConn);
    let mine = this.#byHost.get(host);
    if (mine === undefined) this.#byHost.set(host, mine = new Set());
    while (mine.size >= this.#perHost) this.#evict(mine.values().next().value!);
    while (this.#hostOf.size >= this.#max) {
      let biggest = mine;
      for (const set of this.#byHost.values()) if (set.size > biggest.size) biggest = set;
      if (biggest.size === 0) break;
      this.#evict(biggest.values().next().value!);
    }
    mine.add(maConn);
    this.#hostOf.set(maConn, host);
    maConn.addEventListener("close", () => this.done(maConn), { once: true });
  }

  /** Takes a connection out of the count: its peer is proven, or it closed. */
  done(maConn: MultiaddrConnection): void {
    const host = this.#hostOf.get(maConn);
    if (host === undefined) return;
    this.#hostOf.delete(maConn);
    const set = this.#byHost.get(host);
    set?.delete(maConn);
    if (set !== undefined && set.size === 0) this.#byHost.delete(host);
  }

  #evict(maConn: MultiaddrConnection): void {
    this.done(maConn);
    maConn.abort(new Error("too many connections in their handshake: the oldest is closed"));
  }
}

/** The host (IP address) a connection comes from, or its whole address when it has none. */
function hostOf(maConn: MultiaddrConnection): string {
  const first = maConn.remoteAddr.getComponents()[0];
  return first?.value ?? maConn.remoteAddr.toString();
}

/** Options of {@linkcode createNode}. */
export interface NodeOptions {
  /** Multiaddrs to listen on; none for a node that only dials. */
  listen?: string[];
  /**
   * Decides, once the Noise handshake has proven the peer's key, whether an inbound connection
   * is kept. A refused peer's connection is closed before any stream is opened.
   */
  allowInbound?: (peerId: PeerId) => boolean;
  /** How long an idle TCP socket is kept, in ms. */
  socketInactivityTimeoutMs?: number;
  /**
   * How many inbound connections one host may open per second.
   * @default {5 (libp2p's own)}
   */
  inboundConnectionsPerSecond?: number;
}

/** Starts a libp2p node with the key of `identity`. */
export async function createNode(
  identity: KeyedIdentity,
  options: NodeOptions = {},
): Promise<Libp2p> {
  const allow = options.allowInbound;
  const listen = options.listen ?? [];
  const perSecond = options.inboundConnectionsPerSecond ?? 5;
  const guard = new HandshakeGuard(
    Math.max(MAX_PENDING_PER_HOST, perSecond + 1),
    Math.max(MAX_PENDING, perSecond + 1),
  );
  return await createLibp2p({
    privateKey: identity.privateKey,
    addresses: { listen },
    transports: [tcp({
      inboundSocketInactivityTimeout: options.socketInactivityTimeoutMs,
      outboundSocketInactivityTimeout: options.socketInactivityTimeoutMs,
    })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: perSecond,
      inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
      inboundStreamProtocolNegotiationTimeout: INBOUND_NEGOTIATION_TIMEOUT_MS,
      // libp2p refuses every connection once this many are in their upgrade: idle connections
      // from a few hosts, each within its rate, used to fill it and lock allowed peers out. The
      // guard below keeps those that have not proven a key under MAX_PENDING, per host and in
      // all, so that this count always has room for connections past their handshake.
      maxIncomingPendingConnections: Math.max(MAX_PENDING, perSecond + 1) + AUTHENTICATED_RESERVE,
    },
    connectionGater: {
      // A node that only dials takes no inbound connection at all.
      denyInboundConnection: (maConn: MultiaddrConnection) => {
        if (listen.length === 0) return true;
        guard.admit(maConn);
        return false;
      },
      denyInboundEncryptedConnection: (peerId: PeerId, maConn: MultiaddrConnection) => {
        guard.done(maConn);
        return allow === undefined || !allow(peerId);
      },
    },
  });
}

/**
 * Stops `node`, aborting its connections first. A graceful close, libp2p's own in `stop()`
 * included, leaves Deno's TCP socket holding the event loop for 0.5 to 1 s after it: every
 * client would linger that long after its last answer. Call it once nothing is left to send.
 */
export async function stopNode(node: Libp2p): Promise<void> {
  for (const conn of node.getConnections()) conn.abort(new Error("the node stopped"));
  await node.stop();
  // Closing a listener makes libp2p's address manager schedule a debounced (1 s) peer store
  // update that nothing cancels: a node that listened would keep the process alive for a second
  // after stop(), and leak a timer into tests. Cancel it (libp2p@3.3.11 internals, hence the
  // optional chaining: a later version without it only brings the second back).
  const internals = node as unknown as {
    components?: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } };
  };
  internals.components?.addressManager?._updatePeerStoreAddresses?.stop?.();
}
