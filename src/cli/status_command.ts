/**
 * `cli.ts status`: reads the status of every local process that runs `main()` through its Unix
 * socket, once or as a watch that redraws only when a process reports a change. Internal.
 *
 * @module
 */

import { getText, isAlive, openStream, type SseEvent, TargetError } from "./client.ts";
import { formatDuration } from "../status/format.ts";
import { jsonText } from "../core/json.ts";
import { safeText } from "../core/names.ts";
import { checkReceivedStatus } from "../status/received.ts";
import {
  type CommandIo as CliIo,
  EXIT,
  headerLine,
  parseCommand,
  parseCommandArgs,
  processIo,
  redraw,
  UsageError,
  wantsColor,
  watchStop,
} from "./io.ts";
import { checkRecordOptions, RecordingWriter } from "../status/recording.ts";
import { renderStatus } from "../status/render.ts";
import type { Status } from "../status/types.ts";
import {
  checkSocketDir,
  listSockets,
  localDir,
  type LocalSocket,
  missingPermissions,
  permissionsText,
  type ProcessInfo,
  removeStaleSocket,
} from "../serve/socket_dir.ts";
import { missingRemotePermissions } from "../remote/home.ts";

/** The remote half, imported only for remote targets (see `deno task compile` for its include). */
const REMOTE_COMMAND = new URL("./remote_command.ts", import.meta.url).href;

/** What `remote_command.ts` gives; written here so that not even its types pull in libp2p. */
interface RemoteCommand {
  runRemoteStatus(
    targets: string[],
    options: {
      json: boolean;
      watch: boolean;
      color: boolean;
      io: CliIo;
      record?: { path: string; maxBytes?: number };
    },
  ): Promise<number>;
}

/** The text of `cli.ts status --help`. */
export const STATUS_HELP = `usage: cli.ts status [options]
       cli.ts status TARGET[,TARGET...] [-w] [--json]

Shows the context tree of every process on this machine that runs main() from @fastn/context,
each under a header with its pid, name and uptime. With targets (aliases from
$FASTN_HOME/remote-access/config.toml, or 52-character id52s), asks those peers instead, over an
encrypted, allow-listed peer-to-peer link; several are asked in parallel.

options:
  --pid PID      only this process (repeat it, or give a comma-separated list)
  -w, --watch    keep watching: redraw when a process reports a change (no polling);
                 ends when every watched process has exited, or on Ctrl-C
  --json         print JSON instead of the dashboard (with -w: one JSON line per change)
  --record FILE  with -w, record what the watch sees (one process or peer) to FILE, for
                 cli.ts replay FILE: JSON lines, secrets redacted, mode 0600
  --record-max-bytes N
                 keep at most N bytes of recording (rotated segments FILE.1, ...;
                 K, M, G suffixes; default 64M)
  --no-color     no ANSI colours (also when NO_COLOR is set or stdout is not a terminal)
  --color        ANSI colours even when stdout is not a terminal
  -h, --help     show this help

Processes publish their sockets in $FASTN_CONTEXT_DIR (default /tmp/fastn-context-<uid>).

exit codes: 0 every target answered, 1 a target failed or none was found, 2 a usage error`;

interface Parsed {
  targets: string[];
  pids: number[] | undefined;
  watch: boolean;
  json: boolean;
  color: boolean;
  record: { path: string; maxBytes: number } | undefined;
}

/** Runs `status` with the arguments after the word `status`; resolves with the exit code. */
export async function statusCommand(
  args: string[],
  io: CliIo = processIo(),
): Promise<number> {
  // Every mistake parseOptions finds is in the arguments (a UsageError, or one of --record's).
  const parsed = parseCommand("status", STATUS_HELP, io, () => parseOptions(args, io));
  if (typeof parsed === "number") return parsed;

  // Every permission the command needs, asked at once.
  const missing = parsed.targets.length > 0 ? missingRemotePermissions() : missingPermissions();
  if (missing.length > 0) {
    const text = parsed.targets.length > 0
      ? `${missing.join(" ")}, or -A for all`
      : permissionsText(missing);
    io.err(`cli.ts status: missing Deno permissions: ${text}\n`);
    return EXIT.usage;
  }

  if (parsed.targets.length > 0) {
    // Only remote targets load libp2p (about 200 ms), so local status stays fast; and the
    // specifier is one Deno does not follow ahead of time, so a local status (the demo's) never
    // downloads libp2p's npm packages.
    const { runRemoteStatus } = await import(REMOTE_COMMAND) as RemoteCommand;
    return await runRemoteStatus(parsed.targets, {
      record: parsed.record,
      json: parsed.json,
      watch: parsed.watch,
      color: parsed.color,
      io: { out: io.out, err: io.err, isTerminal: io.isTerminal },
    });
  }

  const dir = localDir();

  const found = await discover(dir, parsed.pids, io);
  if (parsed.record !== undefined && found.targets.length > 1) {
    io.err(
      `cli.ts status: --record records one process, and ${found.targets.length} run main() ` +
        `(pids ${found.targets.map((t) => t.pid).join(", ")}): pick one with --pid\n`,
    );
    return EXIT.usage;
  }
  if (found.targets.length === 0) {
    if (parsed.pids === undefined && !found.failed) {
      io.err(
        `cli.ts status: no process found: nothing in ${dir} runs main() from @fastn/context\n`,
      );
    }
    return EXIT.failed;
  }
  return parsed.watch
    ? await watch(found.targets, parsed, io, found.failed)
    : await once(found.targets, parsed, io, found.failed);
}

function parseOptions(args: string[], io: CliIo): Parsed | "help" {
  const { values, positionals } = parseCommandArgs(args, {
    pid: { type: "string", multiple: true },
    watch: { type: "boolean", short: "w" },
    json: { type: "boolean" },
    color: { type: "boolean" },
    "no-color": { type: "boolean" },
    record: { type: "string" },
    "record-max-bytes": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) return "help";
  const record = recordOption(values.record, values["record-max-bytes"], values.watch === true);
  if (record !== undefined && positionals.join(",").split(",").filter((t) => t.trim()).length > 1) {
    throw new Error(`--record records one target, got ${positionals.join(",")}`);
  }
  if (positionals.length > 0 && values.pid !== undefined) {
    throw new UsageError(`--pid is for local processes; it does not go with remote targets`);
  }
  let pids: number[] | undefined;
  for (const spec of values.pid ?? []) {
    for (const part of spec.split(",")) {
      const text = part.trim();
      if (!/^[1-9][0-9]{0,9}$/.test(text)) {
        throw new UsageError(`--pid ${JSON.stringify(part)}: a process id is a positive integer`);
      }
      (pids ??= []).includes(Number(text)) || pids.push(Number(text));
    }
  }
  return {
    targets: positionals,
    pids,
    watch: values.watch === true,
    json: values.json === true,
    record,
    color: wantsColor(io, { color: values.color, noColor: values["no-color"] }),
  };
}

// `--record FILE [--record-max-bytes N]`: checked here, so a bad one changes nothing.
function recordOption(
  path: string | undefined,
  max: string | undefined,
  watch: boolean,
): { path: string; maxBytes: number } | undefined {
  if (path === undefined) {
    if (max !== undefined) throw new Error(`--record-max-bytes goes with --record FILE`);
    return undefined;
  }
  if (!watch) throw new Error(`--record records a watch: add -w`);
  let maxBytes: number | undefined;
  if (max !== undefined) {
    const m = /^([0-9]+)([KMG]?)$/i.exec(max.trim());
    if (m === null) {
      throw new Error(`--record-max-bytes ${JSON.stringify(max)}: a number of bytes, like 64M`);
    }
    maxBytes = Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as const)[
      m[2].toUpperCase() as "" | "K" | "M" | "G"
    ];
  }
  return checkRecordOptions({ path, maxBytes }, "--record");
}

/** A process to read, with what `/info` said. */
interface Target {
  readonly pid: number;
  readonly path: string;
  readonly info: ProcessInfo;
}

// Finds the processes to read: every socket in `dir` (or those of `pids`), asks each for /info,
// and removes the sockets of processes that are gone. Errors of named targets are reported.
async function discover(
  dir: string,
  pids: number[] | undefined,
  io: CliIo,
): Promise<{ targets: Target[]; failed: boolean }> {
  let sockets: LocalSocket[];
  try {
    // The same checks as main(): a directory another user made (or a symlink) may hold sockets
    // that show an invented status. Refused, and nothing in it is read or removed.
    if (!checkSocketDir(dir)) return { targets: [], failed: false };
    sockets = listSockets(dir);
  } catch (e) {
    io.err(`cli.ts status: ${safeText((e as Error).message)}\n`);
    return { targets: [], failed: true };
  }
  let failed = false;
  if (pids !== undefined) {
    const byPid = new Map(sockets.map((s) => [s.pid, s]));
    sockets = [];
    for (const pid of pids) {
      const s = byPid.get(pid);
      if (s !== undefined) sockets.push(s);
      else {
        failed = true;
        io.err(
          `cli.ts status: pid ${pid}: no process found (no ${pid}.sock in ${dir}: ` +
            `${isAlive(pid) ? "it does not run main() from @fastn/context" : "no such process"})\n`,
        );
      }
    }
  }
  const answers = await Promise.all(sockets.map((s) => readInfo(s)));
  const targets: Target[] = [];
  for (const [i, a] of answers.entries()) {
    const s = sockets[i];
    if (!(a instanceof TargetError)) {
      targets.push({ pid: s.pid, path: s.path, info: a });
      continue;
    }
    if (a.kind === "stale") {
      removeStaleSocket(s.path);
      if (pids === undefined) continue; // a dead process's leftover: cleaned, nothing to say
      failed = true;
      io.err(`cli.ts status: pid ${s.pid}: the process is gone (removed its stale socket)\n`);
      continue;
    }
    failed = true;
    io.err(`cli.ts status: pid ${s.pid}: ${safeText(a.message)}\n`);
  }
  return { targets, failed };
}

async function readInfo(s: LocalSocket): Promise<ProcessInfo | TargetError> {
  for (let attempt = 0;; attempt++) {
    try {
      const info = JSON.parse(await getText(s.path, "/info")) as ProcessInfo;
      if (typeof info !== "object" || info === null || info.pid !== s.pid) {
        return new TargetError(
          "foreign",
          `${s.path} answers for pid ${safeText(String(info?.pid))}, not for ${s.pid}: ` +
            `not its socket`,
        );
      }
      if (typeof info.name !== "string" || !Number.isFinite(info.startedAt)) {
        return new TargetError("foreign", `${s.path} answers /info without a name and a start`);
      }
      // The name comes from another process: made safe to print once, here.
      return { ...info, name: safeText(info.name) };
    } catch (e) {
      const err = asTargetError(e);
      // Refused while the pid still runs: maybe a process between bind and listen. Ask again once.
      if (err.kind === "stale" && attempt === 0 && isAlive(s.pid)) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      return err;
    }
  }
}

function asTargetError(e: unknown): TargetError {
  if (e instanceof TargetError) return e;
  if (e instanceof SyntaxError) return new TargetError("foreign", `an answer that is not JSON`);
  return new TargetError("failed", (e as Error)?.message ?? String(e));
}

async function once(
  targets: Target[],
  opts: Parsed,
  io: CliIo,
  failedBefore: boolean,
): Promise<number> {
  let failed = failedBefore;
  // Always the JSON, checked and made safe here: the text a process would render for us is
  // drawn by it, and could hold anything.
  const answers = await Promise.all(
    targets.map((t) =>
      getText(t.path, "/status").then(receivedStatus).catch((e: unknown) => asTargetError(e))
    ),
  );
  const now = Date.now();
  if (opts.json) {
    const list = [];
    for (const [i, t] of targets.entries()) {
      const a = answers[i];
      if (a instanceof TargetError) {
        failed = true;
        io.err(targetError(t, a));
        list.push({ pid: t.pid, name: t.info.name, error: { kind: a.kind, message: a.message } });
        continue;
      }
      list.push({ ...processFields(t, now), status: a });
    }
    io.out(jsonText(list, 2) + "\n");
    return failed ? EXIT.failed : EXIT.ok;
  }
  const screens: string[] = [];
  for (const [i, t] of targets.entries()) {
    const a = answers[i];
    if (a instanceof TargetError) {
      failed = true;
      io.err(targetError(t, a));
      continue;
    }
    screens.push(header(t, now, opts.color) + "\n" + renderStatus(a, { color: opts.color }));
  }
  if (screens.length > 0) io.out(screens.join("\n\n") + "\n");
  return failed ? EXIT.failed : EXIT.ok;
}

function processFields(t: Target, now: number): Record<string, unknown> {
  return {
    pid: t.pid,
    name: t.info.name,
    startedAt: t.info.startedAt,
    uptimeMs: Math.max(0, now - t.info.startedAt),
  };
}

function targetError(t: Target, e: TargetError): string {
  return `cli.ts status: pid ${t.pid} (${t.info.name}): ${safeText(e.message)}\n`;
}

// A status answer of a process: JSON, checked field by field, every string made safe to print.
function receivedStatus(text: string): Status {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TargetError("foreign", "its status is not JSON");
  }
  try {
    return checkReceivedStatus(value);
  } catch (e) {
    throw new TargetError("foreign", (e as Error).message);
  }
}

/** The line above a process's tree: pid, name and uptime. */
export function header(t: Target, now: number, color: boolean): string {
  const up = formatDuration(Math.max(0, now - t.info.startedAt));
  return headerLine(`pid ${t.pid} · ${t.info.name} · up ${up}`, color);
}

interface Watched {
  readonly target: Target;
  /** The last status, and when it came by this machine's clock. */
  status: Status | undefined;
  receivedAt: number;
  gone: string | undefined;
}

/** How often a watch on a terminal redraws to let ages tick while nothing changes. */
const TICK_MS = 1_000;

async function watch(
  initial: Target[],
  opts: Parsed,
  io: CliIo,
  failedBefore: boolean,
): Promise<number> {
  let failed = failedBefore;
  using stop = watchStop();
  const watched = new Map<number, Watched>();
  let recorder: RecordingWriter | undefined;
  if (opts.record !== undefined) {
    const t = initial[0];
    try {
      recorder = new RecordingWriter(opts.record.path, {
        maxBytes: opts.record.maxBytes,
        source: { kind: "pid", pid: t.pid, name: t.info.name },
      });
    } catch (e) {
      io.err(`cli.ts status: cannot record to ${opts.record.path}: ${(e as Error).message}\n`);
      return EXIT.failed;
    }
  }
  const record = (s: Status): void => {
    try {
      recorder?.write(s);
    } catch (e) {
      failed = true;
      io.err(`cli.ts status: the recording stopped: ${(e as Error).message}\n`);
      recorder?.close();
      recorder = undefined;
    }
  };
  // Always the JSON, checked and made safe here, and drawn here: between changes the ages tick
  // by this machine's clock (the time since a status came, added to its timestamp), with no
  // request to the process.
  const route = "/status/stream";

  const draw = (): void => {
    if (opts.json) return;
    const now = Date.now();
    const parts: string[] = [];
    for (const w of [...watched.values()].sort((a, b) => a.target.pid - b.target.pid)) {
      const head = header(w.target, now, opts.color);
      if (w.gone !== undefined) parts.push(`${head}\n(${w.gone})`);
      else if (w.status !== undefined) {
        const at = w.status.timestamp + (now - w.receivedAt);
        const screen = renderStatus(w.status, { color: opts.color, now: at });
        parts.push(`${head}\n${screen.replace(/\n+$/, "")}`);
      }
    }
    redraw(io, parts);
  };
  // Only on a terminal, where the screen is redrawn in place; a pipe gets one screen a change.
  const ticker = !opts.json && io.isTerminal
    ? setInterval(() => {
      if ([...watched.values()].some((w) => w.status !== undefined && w.gone === undefined)) {
        draw();
      }
    }, TICK_MS)
    : undefined;

  const follow = async (t: Target): Promise<void> => {
    const w: Watched = { target: t, status: undefined, receivedAt: 0, gone: undefined };
    watched.set(t.pid, w);
    try {
      const events = await openStream(t.path, route, { signal: stop.signal });
      for await (const ev of events as AsyncIterable<SseEvent>) {
        if (ev.event !== "status") continue;
        const received = receivedStatus(ev.data);
        record(received);
        if (opts.json) {
          io.out(jsonText({ ...processFields(t, Date.now()), status: received }) + "\n");
        } else {
          w.status = received;
          w.receivedAt = Date.now();
          draw();
        }
      }
      if (!stop.signal.aborted) {
        w.gone = "the process exited";
        io.err(`cli.ts status: pid ${t.pid} (${t.info.name}): the process exited\n`);
        draw();
      }
    } catch (e) {
      if (stop.signal.aborted) return;
      const err = asTargetError(e);
      failed = true;
      w.gone = safeText(err.message);
      io.err(targetError(t, err));
      draw();
    }
  };

  try {
    await Promise.all(initial.map(follow));
  } finally {
    clearInterval(ticker);
    recorder?.close();
  }
  return failed ? EXIT.failed : EXIT.ok;
}
