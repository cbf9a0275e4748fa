/**
 * The remote half of the command line: `cli.ts status alice,bob` and `cli.ts id`.
 *
 * @module
 */

import { jsonText } from "../core/json.ts";
import { renderStatus } from "../status/render.ts";
import type { Status } from "../status/types.ts";
import { RemoteClient, type ResolvedTarget } from "../remote/client.ts";
import { RemoteStatusError } from "../remote/errors.ts";
import { shortId52 } from "../remote/id52.ts";
import { loadIdentity } from "../remote/identity.ts";
import { type CommandIo, EXIT, headerLine, messageOf, processIo, redraw, watchStop } from "./io.ts";
import { RecordingWriter } from "../status/recording.ts";

export type { CommandIo } from "./io.ts";

/**
 * Options of {@linkcode runRemoteStatus}: what `cli.ts status` parsed from its flags.
 *
 * @example
 * ```ts
 * import type { RunRemoteStatusOptions } from "@fastn/context/remote";
 *
 * const options: RunRemoteStatusOptions = {
 *   json: false,
 *   watch: true,
 *   color: Deno.stdout.isTerminal(),
 *   timeoutMs: 3_000,
 * };
 * ```
 */
export interface RunRemoteStatusOptions {
  /** Print JSON instead of the dashboard (with `watch`: one JSON line per change). */
  json: boolean;
  /** Keep watching: redraw on every change until Ctrl-C, `signal`, or every peer has stopped. */
  watch: boolean;
  /** Colour the dashboard and headers with ANSI escapes. */
  color: boolean;
  /**
   * The fastn home holding this machine's identity and `config.toml`.
   * @default {$FASTN_HOME, else ~/.fastn}
   */
  home?: string;
  /**
   * How long each peer gets to connect and answer (in watch mode: to send its first snapshot).
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * With `watch` and one target: record what the watch sees to `path` (see `cli.ts replay`).
   * @default {undefined (no recording)}
   */
  record?: { path: string; maxBytes?: number };
  /**
   * Ends a watch when aborted (SIGINT and SIGTERM end it too).
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Where to write.
   * @default {standard output and standard error of the process}
   */
  io?: CommandIo;
}

/**
 * Options of {@linkcode runId}.
 *
 * @example
 * ```ts
 * import type { RunIdOptions } from "@fastn/context/remote";
 *
 * const options: RunIdOptions = { home: "/var/lib/fastn" };
 * ```
 */
export interface RunIdOptions {
  /**
   * The fastn home whose identity is printed (made on first use).
   * @default {$FASTN_HOME, else ~/.fastn}
   */
  home?: string;
  /**
   * Where to write.
   * @default {standard output and standard error of the process}
   */
  io?: CommandIo;
}

const PREFIX = "cli.ts status";

/**
 * `cli.ts status alice,bob,prod`: shows the status of remote peers. `targets` are aliases or
 * id52s, each possibly a comma-separated list (`["alice,bob", "prod"]`). They are asked in
 * parallel over one client node; each dashboard is printed under its own header
 * (`── alice · g1s3mpsm… ──`), in the order given. A peer that fails is reported on stderr as
 * `cli.ts status: <target and cause>` and the others are still shown.
 *
 * With `json`, stdout gets one JSON array with an entry per target: `{ target, alias, id52,
 * status }` or `{ target, alias, id52, error: { name, message } }`. With `watch`, the dashboards
 * are redrawn on every change (one JSON line `{ target, alias, id52, status }` per change with
 * `json`) until SIGINT/SIGTERM, `signal`, or every peer has stopped.
 *
 * @example A target that is not in config.toml
 * ```ts
 * import { runRemoteStatus } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const err: string[] = [];
 * const code = await runRemoteStatus(["alice"], {
 *   json: false,
 *   watch: false,
 *   color: false,
 *   home: await Deno.makeTempDir(),
 *   io: { out: () => {}, err: (t) => err.push(t), isTerminal: false },
 * });
 * assert.deepEqual(code, 1);
 * assert.match(err[0], /^cli\.ts status: unknown peer "alice": no \[peers\.alice\] in /);
 * ```
 *
 * @param targets Aliases or id52s, possibly comma-separated.
 * @param options Output format, watch mode, colours, the fastn home, a timeout per peer.
 * @returns 0 when every target answered, 1 when any failed (or none was given).
 */
export async function runRemoteStatus(
  targets: string[],
  options: RunRemoteStatusOptions,
): Promise<number> {
  const io = options.io ?? processIo();
  const names = splitTargets(targets);
  if (names.length === 0) {
    io.err(`${PREFIX}: no target: give an alias or an id52 (alice, alice,bob,prod)\n`);
    return EXIT.failed;
  }
  let client: RemoteClient;
  try {
    client = await RemoteClient.open({ home: options.home, timeoutMs: options.timeoutMs });
  } catch (e) {
    io.err(`${PREFIX}: ${messageOf(e)}\n`);
    return EXIT.failed;
  }
  try {
    const peers: (ResolvedTarget | Error)[] = names.map((name) => {
      try {
        return client.resolve(name);
      } catch (e) {
        return e as Error;
      }
    });
    return options.watch
      ? await watch(client, names, peers, options, io)
      : await once(client, names, peers, options, io);
  } finally {
    await client.close();
  }
}

/**
 * `cli.ts id`: prints this machine's id52 (the key is made on first use), what peers put in
 * their `config.toml`.
 *
 * @example
 * ```ts
 * import { isId52, runId } from "@fastn/context/remote";
 * import assert from "node:assert/strict";
 *
 * const out: string[] = [];
 * const io = { out: (t: string) => out.push(t), err: () => {}, isTerminal: false };
 * assert.deepEqual(await runId({ home: await Deno.makeTempDir(), io }), 0);
 * assert.ok(isId52(out[0].trim()));
 * ```
 *
 * @param options The fastn home, and where to write.
 * @returns 0, or 1 when the identity cannot be read or made (the cause is on stderr).
 */
export async function runId(options: RunIdOptions = {}): Promise<number> {
  const io = options.io ?? processIo();
  try {
    const identity = await loadIdentity({ home: options.home });
    io.out(`${identity.id52}\n`);
    return EXIT.ok;
  } catch (e) {
    io.err(`cli.ts id: ${messageOf(e)}\n`);
    return EXIT.failed;
  }
}

/** The targets of `["alice,bob", "prod"]`: split at commas, trimmed, without repeats. */
export function splitTargets(targets: string[]): string[] {
  const out: string[] = [];
  for (const arg of targets) {
    for (const part of String(arg).split(",")) {
      const name = part.trim();
      if (name !== "" && !out.includes(name)) out.push(name);
    }
  }
  return out;
}

/** The header above a peer's dashboard: alias (or id52) and the id52's first characters. */
export function remoteHeader(peer: ResolvedTarget, color: boolean): string {
  const label = peer.alias ?? peer.target;
  return headerLine(label === peer.id52 ? peer.id52 : `${label} · ${shortId52(peer.id52)}…`, color);
}

async function once(
  client: RemoteClient,
  names: string[],
  peers: (ResolvedTarget | Error)[],
  options: RunRemoteStatusOptions,
  io: CommandIo,
): Promise<number> {
  const answers = await Promise.all(
    peers.map((p) =>
      p instanceof Error ? Promise.resolve(p) : client.fetch(p).catch((e: unknown) => e as Error)
    ),
  );
  let failed = false;
  const jsonList: unknown[] = [];
  const screens: string[] = [];
  for (const [i, answer] of answers.entries()) {
    const peer = peers[i];
    if (answer instanceof Error) {
      failed = true;
      io.err(`${PREFIX}: ${messageOf(answer)}\n`);
      jsonList.push({
        target: names[i],
        ...(peer instanceof Error ? {} : { alias: peer.alias ?? null, id52: peer.id52 }),
        error: { name: answer.name, message: messageOf(answer) },
      });
      continue;
    }
    const p = peer as ResolvedTarget;
    if (options.json) {
      jsonList.push({ target: p.target, alias: p.alias ?? null, id52: p.id52, status: answer });
      continue;
    }
    const screen = render(p, answer, options.color);
    if (screen instanceof Error) {
      failed = true;
      io.err(`${PREFIX}: ${screen.message}\n`);
      continue;
    }
    screens.push(`${remoteHeader(p, options.color)}\n${screen}`);
  }
  if (options.json) io.out(jsonText(jsonList, 2) + "\n");
  else if (screens.length > 0) io.out(screens.join("\n\n") + "\n");
  return failed ? EXIT.failed : EXIT.ok;
}

interface Watched {
  readonly peer: ResolvedTarget;
  /** The last status, and when it came by this machine's clock. */
  status: Status | undefined;
  receivedAt: number;
  note: string | undefined;
}

async function watch(
  client: RemoteClient,
  _names: string[],
  peers: (ResolvedTarget | Error)[],
  options: RunRemoteStatusOptions,
  io: CommandIo,
): Promise<number> {
  let failed = false;
  using stop = watchStop(options.signal);
  const watched: Watched[] = [];
  let recorder: RecordingWriter | undefined;
  const first = peers[0];
  if (options.record !== undefined && first !== undefined && !(first instanceof Error)) {
    try {
      recorder = new RecordingWriter(options.record.path, {
        maxBytes: options.record.maxBytes,
        source: { kind: "peer", target: first.target, id52: first.id52 },
      });
    } catch (e) {
      io.err(`${PREFIX}: cannot record to ${options.record.path}: ${messageOf(e)}\n`);
      return EXIT.failed;
    }
  }

  // Between changes the ages tick by this machine's clock, with no request to the peer.
  const draw = (): void => {
    if (options.json) return;
    const now = Date.now();
    const parts = watched.map((w) => {
      const head = remoteHeader(w.peer, options.color);
      if (w.note !== undefined) return `${head}\n(${w.note})`;
      if (w.status === undefined) return `${head}\n(connecting…)`;
      const screen = render(
        w.peer,
        w.status,
        options.color,
        w.status.timestamp + now - w.receivedAt,
      );
      return `${head}\n${screen instanceof Error ? screen.message : screen}`;
    });
    redraw(io, parts);
  };
  const ticker = !options.json && io.isTerminal
    ? setInterval(() => {
      if (watched.some((w) => w.status !== undefined && w.note === undefined)) draw();
    }, 1_000)
    : undefined;

  const follow = async (w: Watched): Promise<void> => {
    try {
      for await (const status of client.watch(w.peer, { signal: stop.signal })) {
        try {
          recorder?.write(status);
        } catch (e) {
          failed = true;
          io.err(`${PREFIX}: the recording stopped: ${messageOf(e)}\n`);
          recorder?.close();
          recorder = undefined;
        }
        if (options.json) {
          io.out(
            jsonText({
              target: w.peer.target,
              alias: w.peer.alias ?? null,
              id52: w.peer.id52,
              status,
            }) + "\n",
          );
          continue;
        }
        const screen = render(w.peer, status, options.color);
        if (screen instanceof Error) throw screen;
        w.status = status;
        w.receivedAt = Date.now();
        draw();
      }
      if (!stop.signal.aborted) {
        w.note = "the peer stopped serving its status";
        io.err(`${PREFIX}: ${w.peer.target}: the peer stopped serving its status\n`);
        draw();
      }
    } catch (e) {
      if (stop.signal.aborted) return;
      failed = true;
      w.note = messageOf(e);
      io.err(`${PREFIX}: ${messageOf(e)}\n`);
      draw();
    }
  };

  const runs: Promise<void>[] = [];
  for (const p of peers) {
    if (p instanceof Error) {
      failed = true;
      io.err(`${PREFIX}: ${messageOf(p)}\n`);
      continue;
    }
    const w: Watched = { peer: p, status: undefined, receivedAt: 0, note: undefined };
    watched.push(w);
    runs.push(follow(w));
  }
  try {
    await Promise.all(runs);
  } finally {
    clearInterval(ticker);
    recorder?.close();
  }
  return failed ? EXIT.failed : EXIT.ok;
}

// The dashboard of a status received as JSON; a status the renderer cannot take is an error
// about that peer, never a crash of the command.
function render(
  peer: ResolvedTarget,
  status: Status,
  color: boolean,
  now?: number,
): string | Error {
  try {
    const at = now !== undefined && Number.isFinite(now) ? now : undefined;
    return renderStatus(status, { color, now: at }).replace(/\n+$/, "");
  } catch (e) {
    return new RemoteStatusError(
      peer.target,
      `${peer.target}: its status cannot be shown (${messageOf(e)})`,
      { id52: peer.id52, cause: e },
    );
  }
}
