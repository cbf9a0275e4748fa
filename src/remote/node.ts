/**
 * The libp2p node both ends use: TCP, Noise encryption, Yamux multiplexing, nothing else (no
 * discovery, no identify, no relay). The shim is imported first so that a stopped node lets the
 * process exit.
 *
 * @module
 */

import "./shim.ts";
import type { Libp2p, PeerId } from "@libp2p/interface";
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
      // libp2p takes at most 10 connections in their upgrade at once (default), so 10 idle TCP
      // connections locked every peer out, allowed ones too, for 10 s. Leave more room than one
      // host can fill within its rate of connections per second before its first ones time out.
      maxIncomingPendingConnections: perSecond * Math.ceil(INBOUND_UPGRADE_TIMEOUT_MS / 1_000) +
        32,
    },
    connectionGater: {
      // A node that only dials takes no inbound connection at all.
      denyInboundConnection: () => listen.length === 0,
      denyInboundEncryptedConnection: (peerId: PeerId) => allow === undefined || !allow(peerId),
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
