/**
 * `$FASTN_HOME/remote-access/config.toml`: aliases for peers (their id52 and addresses) and the
 * peers allowed to read this machine's status.
 *
 * ```toml
 * [peers.alice]
 * id52 = "g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jg"
 * addrs = ["/ip4/203.0.113.7/tcp/4001"]
 *
 * [access]
 * status = ["alice"]
 * ```
 *
 * @module
 */

import { multiaddr } from "@multiformats/multiaddr";
import { parse, TomlError } from "smol-toml";
import { checkConfigFile, configPath, fastnHome } from "./home.ts";
import { decodeId52, InvalidId52Error, isId52 } from "./id52.ts";

/**
 * A peer of `[peers.<alias>]`.
 *
 * @example
 * ```ts
 * import { parseConfig, type PeerConfig } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const id52 = "0".repeat(52);
 * const config = parseConfig(
 *   `[peers.alice]\nid52 = "${id52}"\naddrs = ["/ip4/10.0.0.7/tcp/4001"]\n`,
 * );
 * const alice: PeerConfig | undefined = config.peers.get("alice");
 * assert.deepEqual(alice, { alias: "alice", id52, addrs: ["/ip4/10.0.0.7/tcp/4001"] });
 * ```
 */
export interface PeerConfig {
  /** The alias: the table's name. */
  readonly alias: string;
  /** The peer's id52. */
  readonly id52: string;
  /** Where to dial it: libp2p multiaddrs without the `/p2p/` part (may be empty). */
  readonly addrs: readonly string[];
}

/**
 * A parsed `config.toml`: the peers by alias, and the id52s allowed to read this machine's
 * status (aliases of `[access] status` already turned into id52s).
 *
 * @example
 * ```ts
 * import { parseConfig, type RemoteConfig } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const id52 = "0".repeat(52);
 * const config: RemoteConfig = parseConfig(
 *   `[peers.alice]\nid52 = "${id52}"\n\n[access]\nstatus = ["alice"]\n`,
 * );
 * assert.ok(config.statusAccess.has(id52));
 * ```
 */
export interface RemoteConfig {
  /** The file it was read from. */
  readonly path: string;
  /** The peers by alias, in file order. */
  readonly peers: ReadonlyMap<string, PeerConfig>;
  /** The id52s `[access] status` allows to read this machine's status. */
  readonly statusAccess: ReadonlySet<string>;
}

/**
 * A `config.toml` that cannot be used. `line` (1-based) and `field` (a dotted path such as
 * `peers.alice.id52` or `access.status[1]`) say where; the message repeats both, after the
 * file's path: `<path>:<line>: <field>: <problem>`.
 *
 * @example
 * ```ts
 * import { ConfigError, parseConfig } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * try {
 *   parseConfig('[peers.alice]\nid52 = "alice"\n', "config.toml");
 * } catch (e) {
 *   assert.ok(e instanceof ConfigError);
 *   assert.deepEqual([e.line, e.field], [2, "peers.alice.id52"]);
 *   assert.deepEqual(
 *     e.message,
 *     'config.toml:2: peers.alice.id52: not an id52: "alice": it has 5 characters, an id52 has 52',
 *   );
 * }
 * ```
 */
export class ConfigError extends Error {
  /** The config file. */
  readonly path: string;
  /** The 1-based line the problem is on. */
  readonly line: number;
  /** The field the problem is in, as a dotted path; `"(syntax)"` for a TOML syntax error. */
  readonly field: string;

  /**
   * Makes the error for `field` on `line` of the file at `path`.
   *
   * @param path The config file.
   * @param line The 1-based line.
   * @param field The field, as a dotted path.
   * @param problem What is wrong.
   * @param cause The underlying error.
   */
  constructor(path: string, line: number, field: string, problem: string, cause?: unknown) {
    super(`${path}:${line}: ${field}: ${problem}`, cause === undefined ? undefined : { cause });
    this.name = "ConfigError";
    this.path = path;
    this.line = line;
    this.field = field;
  }
}

const ALIAS = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PEER_KEYS = new Set(["id52", "addrs"]);
const ACCESS_KEYS = new Set(["status"]);
const TOP_KEYS = new Set(["peers", "access"]);
const MAX_ADDRS = 64;

/**
 * Options of {@linkcode loadConfig}.
 *
 * @example
 * ```ts
 * import type { LoadConfigOptions } from "@fastn/context/remote";
 *
 * const options: LoadConfigOptions = { home: "/etc/fastn" };
 * ```
 */
export interface LoadConfigOptions {
  /**
   * The fastn home.
   * @default {$FASTN_HOME, else ~/.fastn}
   */
  home?: string;
}

/**
 * Reads `remote-access/config.toml` of the fastn home. A missing file is an empty config (no
 * peers, nobody allowed).
 *
 * @example
 * ```ts
 * import { loadConfig } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const home = await Deno.makeTempDir();
 * assert.deepEqual((await loadConfig({ home })).peers.size, 0);
 *
 * await Deno.mkdir(`${home}/remote-access`);
 * await Deno.writeTextFile(
 *   `${home}/remote-access/config.toml`,
 *   `[peers.alice]\nid52 = "${"0".repeat(52)}"\naddrs = ["/ip4/10.0.0.7/tcp/4001"]\n`,
 * );
 * assert.deepEqual([...(await loadConfig({ home })).peers.keys()], ["alice"]);
 * ```
 *
 * @param options The fastn home.
 * @returns The config.
 * @throws {ConfigError} naming the line and the field of the first problem;
 * {@linkcode UnsafeHomeError} when the home, `remote-access` or `config.toml` is writable by the
 * group or others or belongs to another user.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<RemoteConfig> {
  const home = fastnHome(options.home);
  const path = configPath(home);
  // Whoever can write config.toml decides who may read this machine's status.
  if (!(await checkConfigFile(home))) return emptyConfig(path);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return emptyConfig(path);
    throw e;
  }
  return parseConfig(text, path);
}

/** A config with no peers and nobody allowed. */
export function emptyConfig(path = "config.toml"): RemoteConfig {
  return { path, peers: new Map(), statusAccess: new Set() };
}

/**
 * Parses the text of a `config.toml`; `path` is only used in messages. Peers are
 * `[peers.<alias>]` tables with `id52` (required) and `addrs` (libp2p multiaddrs over TCP,
 * without `/p2p/`); `[access] status` lists aliases or id52s. Anything else is an error.
 *
 * @example
 * ```ts
 * import { parseConfig } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const config = parseConfig(`
 * [peers.alice]
 * id52 = "g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jg"
 * addrs = ["/ip4/203.0.113.7/tcp/4001"]
 *
 * [access]
 * status = ["alice"]
 * `);
 * assert.deepEqual(config.peers.get("alice")?.addrs, ["/ip4/203.0.113.7/tcp/4001"]);
 * assert.deepEqual(config.statusAccess.size, 1);
 * assert.throws(() => parseConfig("[peers.bob]\n"), /:1: peers\.bob\.id52: is missing$/);
 * ```
 *
 * @param text The TOML text.
 * @param path The file it came from, for messages.
 * @returns The config.
 * @throws {ConfigError} naming the line and the field of the first problem.
 */
export function parseConfig(text: string, path = "config.toml"): RemoteConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      const at = keyNear(text, e.line);
      const problem = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      const pos = at.line === e.line ? "" : ` (at line ${e.line}, column ${e.column})`;
      throw new ConfigError(path, at.line, at.field, `invalid TOML: ${problem}${pos}`, e);
    }
    throw e;
  }
  const lines = new LineIndex(text);
  const fail = (field: string[], problem: string, value?: string): never => {
    throw new ConfigError(path, lines.find(field, value), dotted(field), problem);
  };

  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.has(key)) fail([key], "unknown section: expected [peers.<alias>] or [access]");
  }

  const peers = new Map<string, PeerConfig>();
  const peersTable = doc.peers;
  if (peersTable !== undefined) {
    if (!isTable(peersTable)) fail(["peers"], "must be a table of [peers.<alias>] tables");
    for (const [alias, raw] of Object.entries(peersTable as Record<string, unknown>)) {
      const at = ["peers", alias];
      if (!ALIAS.test(alias)) {
        fail(
          at,
          "an alias is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
        );
      }
      if (isId52(alias)) fail(at, "an alias must not be an id52 (it would hide that peer)");
      if (!isTable(raw)) fail(at, "must be a table with id52 and addrs");
      const table = raw as Record<string, unknown>;
      for (const key of Object.keys(table)) {
        if (!PEER_KEYS.has(key)) fail([...at, key], "unknown field: a peer has id52 and addrs");
      }
      if (table.id52 === undefined) fail([...at, "id52"], "is missing");
      if (typeof table.id52 !== "string") {
        fail([...at, "id52"], `must be a string, got ${typeName(table.id52)}`);
      }
      const id52 = table.id52 as string;
      try {
        decodeId52(id52);
      } catch (e) {
        if (!(e instanceof InvalidId52Error)) throw e;
        fail([...at, "id52"], e.message);
      }
      const addrs: string[] = [];
      if (table.addrs !== undefined) {
        if (!Array.isArray(table.addrs)) {
          fail(
            [...at, "addrs"],
            `must be an array of multiaddr strings, got ${typeName(table.addrs)}`,
          );
        }
        const list = table.addrs as unknown[];
        if (list.length > MAX_ADDRS) fail([...at, "addrs"], `more than ${MAX_ADDRS} addresses`);
        list.forEach((addr, i) => {
          const field = [...at, `addrs[${i}]`];
          if (typeof addr !== "string") fail(field, `must be a string, got ${typeName(addr)}`);
          const problem = checkAddr(addr as string);
          if (problem !== undefined) fail(field, problem, addr as string);
          addrs.push(addr as string);
        });
      }
      peers.set(alias, { alias, id52, addrs });
    }
  }

  const statusAccess = new Set<string>();
  const access = doc.access;
  if (access !== undefined) {
    if (!isTable(access)) fail(["access"], "must be a table: [access] status = [...]");
    const table = access as Record<string, unknown>;
    for (const key of Object.keys(table)) {
      if (!ACCESS_KEYS.has(key)) fail(["access", key], "unknown field: [access] has status");
    }
    if (table.status !== undefined) {
      if (!Array.isArray(table.status)) {
        fail(
          ["access", "status"],
          `must be an array of aliases or id52s, got ${typeName(table.status)}`,
        );
      }
      (table.status as unknown[]).forEach((entry, i) => {
        const field = ["access", `status[${i}]`];
        if (typeof entry !== "string") fail(field, `must be a string, got ${typeName(entry)}`);
        const name = entry as string;
        const peer = peers.get(name);
        if (peer !== undefined) {
          statusAccess.add(peer.id52);
        } else if (isId52(name)) {
          statusAccess.add(name);
        } else if (name.length === 52) {
          try {
            decodeId52(name);
          } catch (e) {
            fail(field, (e as Error).message, name);
          }
        } else {
          fail(
            field,
            `${JSON.stringify(name)} is neither an alias defined in [peers] nor an id52`,
            name,
          );
        }
      });
    }
  }
  return { path, peers, statusAccess };
}

/** Why `addr` cannot be dialled, or `undefined` when it is fine. */
function checkAddr(addr: string): string | undefined {
  let names: string[];
  try {
    names = multiaddr(addr).getComponents().map((c) => c.name);
  } catch (e) {
    return `${JSON.stringify(addr)} is not a multiaddr (${(e as Error).message})`;
  }
  if (names.includes("p2p")) {
    return `${JSON.stringify(addr)}: leave out the /p2p/ part: the peer's id52 says who it is`;
  }
  const host = new Set(["ip4", "ip6", "dns", "dns4", "dns6"]);
  if (names.length !== 2 || !host.has(names[0]) || names[1] !== "tcp") {
    return `${JSON.stringify(addr)}: expected /ip4/<address>/tcp/<port> (or ip6, dns, dns4, ` +
      `dns6 with tcp)`;
  }
  return undefined;
}

function isTable(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

function typeName(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (isTable(value)) return "a table";
  return `a ${typeof value} (${typeof value === "string" ? JSON.stringify(value) : String(value)})`;
}

function dotted(field: string[]): string {
  return field.map((k) => /^[A-Za-z0-9_-]+(\[\d+\])?$/.test(k) ? k : JSON.stringify(k)).join(
    ".",
  );
}

/**
 * The key a syntax error on line `line` (1-based) belongs to: the key or table header on that
 * line, else the nearest one above it (an unterminated list is reported where the text ends),
 * with the table it is in.
 */
function keyNear(text: string, line: number): { line: number; field: string } {
  const lines = text.split(/\r?\n/);
  let table: string[] = [];
  let last: { line: number; field: string } | undefined;
  for (let i = 0; i < line && i < lines.length; i++) {
    const header = HEADER.exec(lines[i]) ?? /^\s*\[+\s*([^\]]*?)\s*\]/.exec(lines[i]);
    if (header !== null) {
      table = splitKey(header[1]);
      last = { line: i + 1, field: dotted(table) || "(syntax)" };
      continue;
    }
    const key = KEY.exec(lines[i]);
    if (key !== null) last = { line: i + 1, field: dotted([...table, ...splitKey(key[1])]) };
  }
  return last ?? { line, field: "(syntax)" };
}

const HEADER = /^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$/;
const KEY =
  /^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=/;

/**
 * Where keys are defined in a TOML text: enough of TOML's line structure (table headers, dotted
 * keys, quoted keys) to point an error at the line a person has to edit.
 */
class LineIndex {
  #lines: string[];
  #keys = new Map<string, number>();

  constructor(text: string) {
    this.#lines = text.split(/\r?\n/);
    let table: string[] = [];
    this.#lines.forEach((raw, i) => {
      const header = HEADER.exec(raw);
      if (header !== null) {
        table = splitKey(header[1]);
        this.#define(table, i + 1);
        return;
      }
      const key =
        /^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=/
          .exec(raw);
      if (key !== null) this.#define([...table, ...splitKey(key[1])], i + 1);
    });
  }

  #define(path: string[], line: number): void {
    for (let n = 1; n <= path.length; n++) {
      const k = JSON.stringify(path.slice(0, n));
      if (!this.#keys.has(k)) this.#keys.set(k, line);
    }
  }

  /**
   * The line of `field` (`addrs[2]` is looked up as `addrs`, then `value` is searched from
   * there); the nearest enclosing table when the field itself is not written down; else 1.
   */
  find(field: string[], value?: string): number {
    const path = field.map((k) => k.replace(/\[\d+\]$/, ""));
    for (let n = path.length; n > 0; n--) {
      const line = this.#keys.get(JSON.stringify(path.slice(0, n)));
      if (line === undefined) continue;
      if (value !== undefined && n === path.length) {
        for (let i = line - 1; i < this.#lines.length; i++) {
          const l = this.#lines[i];
          if (l.includes(JSON.stringify(value)) || l.includes(`'${value}'`)) return i + 1;
          if (i > line - 1 && /^\s*(\[|[A-Za-z0-9_"'-]+\s*=)/.test(l)) break;
        }
      }
      return line;
    }
    return 1;
  }
}

function splitKey(key: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/y;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < key.length && (m = re.exec(key)) !== null) {
    parts.push(m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : (m[2] ?? m[3]));
    if (m[0].length === 0) break;
  }
  return parts;
}
