/**
 * Remote status over an encrypted, allow-listed peer-to-peer link (js-libp2p: TCP, Noise,
 * Yamux). The only entry point of `@fastn/context` that loads libp2p; `@fastn/context` itself
 * stays free of npm packages.
 *
 * - Each machine has an Ed25519 identity in `$FASTN_HOME/identity.key` (default `~/.fastn`,
 *   made on first use); its id52 is the 52-character base32hex of the public key.
 * - `$FASTN_HOME/remote-access/config.toml` names peers (`[peers.<alias>]` with `id52` and
 *   `addrs`) and says who may read this machine's status (`[access] status`).
 * - A server ({@linkcode serveRemoteStatus}, or {@linkcode remoteAccess} for `main()`) refuses
 *   every other peer right after the handshake, before it reads anything; a client
 *   ({@linkcode fetchRemoteStatus}, {@linkcode watchRemoteStatus}, {@linkcode connectRemote},
 *   {@linkcode runRemoteStatus}) checks that the peer holds the key its id52 names.
 *
 * @example Serving and reading a status on loopback
 * ```ts
 * import { Context } from "@fastn/context";
 * import { fetchRemoteStatus, loadIdentity, serveRemoteStatus } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const serverHome = await Deno.makeTempDir();
 * const clientHome = await Deno.makeTempDir();
 * const client = await loadIdentity({ home: clientHome });
 *
 * const root = Context.root("global");
 * root.child("http-proxy").create();
 * await using server = await serveRemoteStatus({ root, home: serverHome, allow: [client.id52] });
 *
 * await Deno.mkdir(`${clientHome}/remote-access`);
 * await Deno.writeTextFile(
 *   `${clientHome}/remote-access/config.toml`,
 *   `[peers.alice]\nid52 = "${server.id52}"\naddrs = ${JSON.stringify(server.addrs)}\n`,
 * );
 * const status = await fetchRemoteStatus("alice", { home: clientHome });
 * assert.ok(status.global.children.some((c) => c.name === "http-proxy"));
 * ```
 *
 * @module
 */

import "./src/remote/shim.ts";

export {
  remoteAccess,
  type RemoteAccessOptions,
  type RemoteAccessPlugin,
  type RemoteServer,
  serveRemoteStatus,
} from "./src/remote/server.ts";
export {
  connectRemote,
  fetchRemoteStatus,
  type RemoteClientOptions,
  type RemoteConnection,
  type ResolvedTarget,
  resolveTarget,
  type WatchRemoteOptions,
  watchRemoteStatus,
} from "./src/remote/client.ts";
export {
  type CommandIo,
  runId,
  type RunIdOptions,
  runRemoteStatus,
  type RunRemoteStatusOptions,
} from "./src/cli/remote_command.ts";
export {
  id52FromPeerId,
  id52ToPeerId,
  type Identity,
  loadIdentity,
  type LoadIdentityOptions,
} from "./src/remote/identity.ts";
export { decodeId52, encodeId52, InvalidId52Error, isId52 } from "./src/remote/id52.ts";
export {
  ConfigError,
  loadConfig,
  type LoadConfigOptions,
  parseConfig,
  type PeerConfig,
  type RemoteConfig,
} from "./src/remote/config.ts";
export {
  IdentityError,
  NoAddressError,
  PeerIdentityError,
  PeerRefusedError,
  PeerTimeoutError,
  PeerUnreachableError,
  RemoteProtocolError,
  RemoteStatusError,
  UnknownPeerError,
  UnsafeHomeError,
} from "./src/remote/errors.ts";
export { STATUS_PROTOCOL, STATUS_STREAM_PROTOCOL } from "./src/remote/protocol.ts";
