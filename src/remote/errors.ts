/**
 * The named errors of remote status access. Each names the target as the user wrote it (an alias
 * or an id52) and says what went wrong in words a person can act on.
 *
 * @module
 */

/**
 * The base class of every error a remote status request ends with: `target` is what was asked
 * (an alias or an id52), `id52` the peer when it is known.
 *
 * @example Telling a peer's failure from a bug
 * ```ts
 * import { fetchRemoteStatus, RemoteStatusError } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * const err = await fetchRemoteStatus("alice", { home }).catch((e) => e);
 * assert.ok(err instanceof RemoteStatusError);
 * assert.deepEqual(err.target, "alice");
 * ```
 */
export class RemoteStatusError extends Error {
  /** The target as given: an alias or an id52. */
  readonly target: string;
  /** The peer's id52, when it is known. */
  readonly id52: string | undefined;

  /**
   * Makes an error about `target`.
   *
   * @param target The alias or id52 that was asked.
   * @param message What went wrong.
   * @param options The peer's id52 when known, and the underlying error.
   */
  constructor(target: string, message: string, options: { id52?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RemoteStatusError";
    this.target = target;
    this.id52 = options.id52;
  }
}

/**
 * The target is neither an alias of `[peers]` in `config.toml` nor an id52.
 *
 * @example
 * ```ts
 * import { parseConfig, resolveTarget, UnknownPeerError } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const config = parseConfig('[peers.alice]\nid52 = "' + "0".repeat(52) + '"\n');
 * assert.throws(
 *   () => resolveTarget(config, "bob"),
 *   (e) => e instanceof UnknownPeerError && e.message.endsWith("(known: alice)"),
 * );
 * ```
 */
export class UnknownPeerError extends RemoteStatusError {
  /**
   * Makes the error for an alias that `configFile` does not define.
   *
   * @param target The unknown alias.
   * @param configFile The config file that was searched.
   * @param known The aliases it does define.
   */
  constructor(target: string, configFile: string, known: string[]) {
    super(
      target,
      `unknown peer ${JSON.stringify(target)}: no [peers.${target}] in ${configFile} and not an ` +
        `id52 (${known.length === 0 ? "no peers are defined" : `known: ${known.join(", ")}`})`,
    );
    this.name = "UnknownPeerError";
  }
}

/**
 * The peer is known (by alias or id52) but `config.toml` lists no address to dial it at.
 *
 * @example
 * ```ts
 * import { NoAddressError, parseConfig, resolveTarget } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const id52 = "0".repeat(52);
 * const config = parseConfig(`[peers.alice]\nid52 = "${id52}"\n`);
 * assert.throws(() => resolveTarget(config, "alice"), NoAddressError);
 * assert.throws(() => resolveTarget(config, id52), /no known address for peer/);
 * ```
 */
export class NoAddressError extends RemoteStatusError {
  /**
   * Makes the error for a peer without addresses in `configFile`.
   *
   * @param target The alias or id52.
   * @param id52 The peer's id52.
   * @param configFile The config file that was searched.
   */
  constructor(target: string, id52: string, configFile: string) {
    super(
      target,
      `${target}: no known address for peer ${id52}: add addrs = ["/ip4/…/tcp/…"] to its ` +
        `[peers.<alias>] table in ${configFile}`,
      { id52 },
    );
    this.name = "NoAddressError";
  }
}

/**
 * The peer did not connect and answer within the time allowed (`timeoutMs`).
 *
 * @example A port that accepts connections and never speaks
 * ```ts
 * import { fetchRemoteStatus, loadIdentity, PeerTimeoutError } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * const { id52 } = await loadIdentity({ home: await Deno.makeTempDir() });
 * const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conns: Deno.Conn[] = [];
 * const accepting = (async () => { for await (const c of silent) conns.push(c); })();
 * await Deno.mkdir(`${home}/remote-access`);
 * await Deno.writeTextFile(
 *   `${home}/remote-access/config.toml`,
 *   `[peers.quiet]\nid52 = "${id52}"\naddrs = ["/ip4/127.0.0.1/tcp/${silent.addr.port}"]\n`,
 * );
 * const err = await fetchRemoteStatus("quiet", { home, timeoutMs: 100 }).catch((e) => e);
 * assert.ok(err instanceof PeerTimeoutError);
 * assert.deepEqual(err.message, "quiet did not answer within 100 ms");
 * silent.close();
 * await accepting;
 * for (const c of conns) c.close();
 * ```
 */
export class PeerTimeoutError extends RemoteStatusError {
  /** The time allowed, in milliseconds. */
  readonly timeoutMs: number;

  /**
   * Makes the error for a peer that took longer than `timeoutMs`.
   *
   * @param target The alias or id52.
   * @param id52 The peer's id52.
   * @param timeoutMs The time allowed.
   */
  constructor(target: string, id52: string, timeoutMs: number) {
    super(target, `${target} did not answer within ${timeoutMs} ms`, { id52 });
    this.name = "PeerTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The peer completed the encrypted handshake, then closed the connection: it does not list this
 * machine's id52 in its `[access] status`. (The client only sees the connection end; this error
 * says what that means.)
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import { fetchRemoteStatus, PeerRefusedError, serveRemoteStatus } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * // A server that allows nobody.
 * await using server = await serveRemoteStatus({
 *   root: Context.root("global"),
 *   home: await Deno.makeTempDir(),
 * });
 * await Deno.mkdir(`${home}/remote-access`);
 * await Deno.writeTextFile(
 *   `${home}/remote-access/config.toml`,
 *   `[peers.alice]\nid52 = "${server.id52}"\naddrs = ${JSON.stringify(server.addrs)}\n`,
 * );
 * const err = await fetchRemoteStatus("alice", { home }).catch((e) => e);
 * assert.ok(err instanceof PeerRefusedError);
 * assert.match(err.message, /^refused by alice: /);
 * ```
 */
export class PeerRefusedError extends RemoteStatusError {
  /**
   * Makes the error for a peer that closed the connection right after the handshake.
   *
   * @param target The alias or id52.
   * @param id52 The peer's id52.
   * @param cause What the connection did (an unexpected end of stream, a reset).
   */
  constructor(target: string, id52: string, cause?: unknown) {
    super(
      target,
      `refused by ${target}: it closed the connection right after the handshake; ask its owner ` +
        `to add this machine's id52 (cli.ts id) to [access] status in its config.toml`,
      { id52, cause },
    );
    this.name = "PeerRefusedError";
  }
}

/**
 * The peer that answered at the address holds a different key than its id52 says: the Noise
 * handshake proved it is someone else.
 *
 * @example
 * ```ts
 * import { Context } from "@fastn/context";
 * import {
 *   fetchRemoteStatus,
 *   loadIdentity,
 *   PeerIdentityError,
 *   serveRemoteStatus,
 * } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * const someoneElse = await loadIdentity({ home: await Deno.makeTempDir() });
 * await using server = await serveRemoteStatus({
 *   root: Context.root("global"),
 *   home: await Deno.makeTempDir(),
 * });
 * await Deno.mkdir(`${home}/remote-access`);
 * await Deno.writeTextFile(
 *   `${home}/remote-access/config.toml`,
 *   `[peers.alice]\nid52 = "${someoneElse.id52}"\naddrs = ${JSON.stringify(server.addrs)}\n`,
 * );
 * const err = await fetchRemoteStatus("alice", { home }).catch((e) => e);
 * assert.ok(err instanceof PeerIdentityError);
 * assert.match(err.message, /the peer at its address is not /);
 * ```
 */
export class PeerIdentityError extends RemoteStatusError {
  /**
   * Makes the error for a peer whose key is not the one `id52` names.
   *
   * @param target The alias or id52.
   * @param id52 The id52 that was expected.
   * @param cause The handshake's error.
   */
  constructor(target: string, id52: string, cause?: unknown) {
    super(
      target,
      `${target}: the peer at its address is not ${id52}: its key does not match the expected ` +
        `identity (wrong id52 in config.toml, or another machine at that address)`,
      { id52, cause },
    );
    this.name = "PeerIdentityError";
  }
}

/**
 * Nothing answered at any of the peer's addresses (connection refused, no route, unknown host).
 *
 * @example A port nobody listens on
 * ```ts
 * import { fetchRemoteStatus, PeerUnreachableError } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * await Deno.mkdir(`${home}/remote-access`);
 * // Port 9 (discard): a low port, where nothing listens.
 * await Deno.writeTextFile(
 *   `${home}/remote-access/config.toml`,
 *   `[peers.prod]\nid52 = "${"0".repeat(52)}"\naddrs = ["/ip4/127.0.0.1/tcp/9"]\n`,
 * );
 * const err = await fetchRemoteStatus("prod", { home }).catch((e) => e);
 * assert.ok(err instanceof PeerUnreachableError);
 * assert.match(err.message, /^prod: nothing answers at \/ip4\/127\.0\.0\.1\/tcp\//);
 * ```
 */
export class PeerUnreachableError extends RemoteStatusError {
  /**
   * Makes the error for a peer that none of `addrs` reached.
   *
   * @param target The alias or id52.
   * @param id52 The peer's id52.
   * @param addrs The addresses that were tried.
   * @param cause The dial's error.
   */
  constructor(target: string, id52: string, addrs: readonly string[], cause?: unknown) {
    const why = cause instanceof Error ? `: ${cause.message}` : "";
    super(target, `${target}: nothing answers at ${addrs.join(", ")}${why}`, { id52, cause });
    this.name = "PeerUnreachableError";
  }
}

/**
 * The peer answered, but with an error frame (a limit it enforces, a request it rejects) or with
 * something that is not a status.
 *
 * @example
 * ```ts ignore
 * import { connectRemote, RemoteProtocolError } from "@fastn/context/remote";
 *
 * await using alice = await connectRemote("alice");
 * try {
 *   await alice.status();
 * } catch (e) {
 *   // e.g. "alice: it answered: too many open streams (at most 8)"
 *   if (e instanceof RemoteProtocolError) console.error(e.message);
 * }
 * ```
 */
export class RemoteProtocolError extends RemoteStatusError {
  /**
   * Makes the error for an answer that is not a status.
   *
   * @param target The alias or id52.
   * @param id52 The peer's id52.
   * @param message What was wrong with the answer.
   * @param cause The underlying error.
   */
  constructor(target: string, id52: string, message: string, cause?: unknown) {
    super(target, `${target}: ${message}`, { id52, cause });
    this.name = "RemoteProtocolError";
  }
}

/**
 * The identity key file is unreadable, corrupt, not an Ed25519 key, or readable by others.
 *
 * @example
 * ```ts
 * import { IdentityError, loadIdentity } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * await loadIdentity({ home });
 * await Deno.chmod(`${home}/identity.key`, 0o644);
 * await assert.rejects(
 *   loadIdentity({ home }),
 *   (e) => e instanceof IdentityError && e.message.endsWith("run chmod 600 on it"),
 * );
 * ```
 */
export class IdentityError extends Error {
  /** The key file. */
  readonly path: string;

  /**
   * Makes the error for the key file at `path`.
   *
   * @param path The key file.
   * @param message What is wrong with it.
   * @param cause The underlying error.
   */
  constructor(path: string, message: string, cause?: unknown) {
    super(`${path}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = "IdentityError";
    this.path = path;
  }
}

/**
 * A part of the fastn home that someone other than its user could change: the home or its
 * `remote-access` folder writable by the group or others, `config.toml` writable by them (another
 * user could add their id52 to `[access] status`), any of them owned by another user, or an
 * `identity.key` that is a symbolic link. The message names the path and the command that fixes
 * it.
 *
 * @example
 * ```ts
 * import { loadConfig, UnsafeHomeError } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * await Deno.mkdir(`${home}/remote-access`);
 * await Deno.writeTextFile(`${home}/remote-access/config.toml`, "");
 * await Deno.chmod(`${home}/remote-access/config.toml`, 0o666);
 * await assert.rejects(
 *   loadConfig({ home }),
 *   (e) => e instanceof UnsafeHomeError && e.message.endsWith(`run chmod 600 ${e.path}`),
 * );
 * ```
 */
export class UnsafeHomeError extends Error {
  /** The file or folder. */
  readonly path: string;

  /**
   * Makes the error for `path`.
   *
   * @param path The file or folder.
   * @param message What is wrong with it and how to fix it.
   */
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "UnsafeHomeError";
    this.path = path;
  }
}
