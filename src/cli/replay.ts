/**
 * `cli.ts replay <file>`: draws the dashboard of a recording as it was at any moment, steps
 * through it in a terminal, finds when something first showed, and says what changed between
 * two moments. Internal.
 *
 * @module
 */

import {
  type CommandIo as CliIo,
  EXIT,
  headerLine,
  parseCommand,
  parseCommandArgs,
  processIo,
} from "./io.ts";
import { safeText } from "../core/names.ts";
import { checkReceivedStatus, ReceivedStatusError } from "../status/received.ts";
import { formatDuration } from "../status/format.ts";
import { jsonText } from "../core/json.ts";
import {
  openRecording,
  type Recording,
  type RecordingDiff,
  RecordingError,
} from "../status/recording.ts";
import { renderStatus } from "../status/render.ts";

/** The text of `cli.ts replay --help`. */
export const REPLAY_HELP = `usage: cli.ts replay FILE [options]

Replays a recording made by main(fn, { record }) or by cli.ts status -w --record FILE: the
dashboard as it was at any moment. FILE is the recording's path (its older segments FILE.1,
FILE.2, ... are read too).

In a terminal, steps through it: ← → the previous or next change, Shift+← → a minute back or on,
Home End the first or last moment, space plays (at --speed), q quits. Elsewhere it prints the last
moment (or the one asked for) and exits.

options:
  --at TIME        print the dashboard at TIME and exit: +90s, +1m30s, +250ms from the start,
                   -30s before the end, a wall-clock time (2025-11-30T22:04:05Z, 22:04:05 on the
                   recording's day, local time), or start / end
  --json           print the status (JSON) instead of the dashboard
  --find WHAT      go to the first moment WHAT shows: deadlock, waiter-stuck (any warning code),
                   or a context's name or path; exit 1 when it never does
  --diff T1 T2     print what changed from T1 to T2: contexts that came and went, locks, waits,
                   warnings, counters' deltas
  --speed N        how many times faster than real time space plays (default 1)
  --no-color       no ANSI colours (also when NO_COLOR is set or stdout is not a terminal)
  --color          ANSI colours even when stdout is not a terminal
  -h, --help       show this help

exit codes: 0 shown, 1 the recording cannot be read or --find found nothing, 2 a usage error`;

/** A key of the interactive replay. */
export type ReplayKey =
  | "left"
  | "right"
  | "shift-left"
  | "shift-right"
  | "home"
  | "end"
  | "space"
  | "quit";

/** Where `replay` reads keys and writes; tests pass their own. */
export interface ReplayIo extends CliIo {
  /** Keys from a terminal; `undefined` when standard input is not one. */
  keys?: () => AsyncIterator<ReplayKey>;
  /**
   * Resolves after `ms` (playing), or at once when `signal` aborts.
   * @default {a timer}
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A moment as typed: resolved against the recording once it is open. */
type Moment =
  | { kind: "offset"; ms: number }
  | { kind: "fromEnd"; ms: number }
  | { kind: "wall"; ms: number }
  | { kind: "clock"; h: number; m: number; s: number; ms: number }
  | { kind: "start" }
  | { kind: "end" };

interface Parsed {
  file: string;
  at: Moment | undefined;
  find: string | undefined;
  diff: [Moment, Moment] | undefined;
  json: boolean;
  speed: number;
  color: boolean;
}

class UsageError extends Error {}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a moment: `+90s`, `+1m30s`, `-30s`, `start`, `end`, an ISO date-time, epoch ms, or a
 * local `HH:MM[:SS[.mmm]]`.
 */
function parseMoment(text: string, option: string): Moment {
  const t = text.trim();
  const bad = (): never => {
    throw new UsageError(
      `${option} ${JSON.stringify(text)}: a moment is an offset from the start (+90s, +1m30s, ` +
        `+250ms), before the end (-30s), a wall-clock time (2025-11-30T22:04:05Z, 22:04:05), ` +
        `epoch ms, start or end`,
    );
  };
  if (t === "start") return { kind: "start" };
  if (t === "end") return { kind: "end" };
  const rel = /^([+-])((?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)$/.exec(t);
  if (rel !== null) {
    let ms = 0;
    for (const [, n, unit] of rel[2].matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
      ms += Number(n) * UNIT_MS[unit];
    }
    return rel[1] === "+" ? { kind: "offset", ms } : { kind: "fromEnd", ms };
  }
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(t);
  if (clock !== null) {
    const [h, m, s] = [Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0)];
    if (h > 23 || m > 59 || s > 59) bad();
    return { kind: "clock", h, m, s, ms: Number((clock[4] ?? "0").padEnd(3, "0")) };
  }
  if (/^\d{10,16}$/.test(t)) return { kind: "wall", ms: Number(t) };
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}/.test(t)) {
    const ms = Date.parse(t.replace(" ", "T"));
    if (Number.isFinite(ms)) return { kind: "wall", ms };
  }
  return bad();
}

/** The epoch ms of a moment in `rec`; a UsageError when it is outside the recording. */
function resolveMoment(m: Moment, rec: Recording, option: string, text: string): number {
  const start = rec.startedAt, end = rec.endedAt;
  let at: number;
  switch (m.kind) {
    case "start":
      return start;
    case "end":
      return end;
    case "offset":
      at = start + m.ms;
      break;
    case "fromEnd":
      at = end - m.ms;
      break;
    case "wall":
      at = m.ms;
      break;
    case "clock": {
      // That time of day on the recording's first day, or the next day when it is before it.
      const d = new Date(start);
      d.setHours(m.h, m.m, m.s, m.ms);
      at = d.getTime();
      if (at < start) {
        d.setDate(d.getDate() + 1);
        at = d.getTime();
      }
    }
  }
  if (at < start || at > end) {
    throw new UsageError(
      `${option} ${text}: ${at < start ? "before the recording starts" : "after it ends"} ` +
        `(it runs from ${iso(start)} to ${iso(end)}, ${formatDuration(end - start)})`,
    );
  }
  return at;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function parseReplayArgs(args: string[], io: CliIo): Parsed | "help" {
  const rest: string[] = [];
  let diffText: [string, string] | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--diff") {
      if (diffText !== undefined) throw new UsageError(`--diff is given twice`);
      if (args[i + 1] === undefined || args[i + 2] === undefined) {
        throw new UsageError(`--diff needs two moments: --diff T1 T2`);
      }
      diffText = [args[i + 1], args[i + 2]];
      i += 2;
    } else if (a.startsWith("--diff=")) {
      throw new UsageError(`--diff takes two moments after it: --diff T1 T2`);
    } else rest.push(a);
  }
  const { values, positionals } = parseCommandArgs(rest, {
    at: { type: "string" },
    find: { type: "string" },
    json: { type: "boolean" },
    speed: { type: "string" },
    color: { type: "boolean" },
    "no-color": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) return "help";
  if (positionals.length === 0) throw new UsageError(`which recording? cli.ts replay FILE`);
  if (positionals.length > 1) {
    throw new UsageError(
      `one recording at a time, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  const given = [
    values.at !== undefined && "--at",
    values.find !== undefined && "--find",
    diffText !== undefined && "--diff",
  ].filter(Boolean);
  if (given.length > 1) throw new UsageError(`${given.join(" and ")} do not go together`);
  if (values.find !== undefined && values.find.trim() === "") {
    throw new UsageError(`--find needs what to find: deadlock, a warning code or a context name`);
  }
  let speed = 1;
  if (values.speed !== undefined) {
    speed = Number(values.speed);
    if (!/^\d+(\.\d+)?$/.test(values.speed) || !(speed > 0) || !Number.isFinite(speed)) {
      throw new UsageError(`--speed ${JSON.stringify(values.speed)}: a positive number, like 10`);
    }
  }
  return {
    file: positionals[0],
    at: values.at === undefined ? undefined : parseMoment(values.at, "--at"),
    find: values.find,
    diff: diffText === undefined
      ? undefined
      : [parseMoment(diffText[0], "--diff"), parseMoment(diffText[1], "--diff")],
    json: values.json === true,
    speed,
    color: values["no-color"] ? false : values.color ? true : io.isTerminal && !noColorEnv(),
  };
}

function noColorEnv(): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: "NO_COLOR" }).state === "granted" &&
      (Deno.env.get("NO_COLOR") ?? "") !== "";
  } catch {
    return false;
  }
}

/**
 * Runs `replay` with the arguments after the word `replay`; resolves with the exit code.
 * @internal
 */
export async function replayCommand(
  args: string[],
  io: ReplayIo = replayIo(),
): Promise<number> {
  const p = parseCommand("replay", REPLAY_HELP, io, () => parseReplayArgs(args, io));
  if (typeof p === "number") return p;

  let rec: Recording;
  try {
    rec = openRecording(p.file);
  } catch (e) {
    if (e instanceof RecordingError && e.kind === "missing") {
      io.err(`cli.ts replay: ${e.message}\n`);
      return EXIT.usage;
    }
    io.err(`cli.ts replay: ${(e as Error).message}\n`);
    return EXIT.failed;
  }
  for (const note of rec.notes) io.err(`cli.ts replay: note: ${safeText(note)}\n`);
  if (rec.length === 0) {
    io.err(`cli.ts replay: ${p.file} holds no moment yet\n`);
    return EXIT.failed;
  }

  let at: number;
  try {
    if (p.diff !== undefined) {
      const [a, b] = p.diff.map((m, k) =>
        resolveMoment(m, rec, "--diff", args[args.indexOf("--diff") + 1 + k])
      );
      printDiff(rec, a, b, p, io);
      return EXIT.ok;
    }
    at = p.at !== undefined
      ? resolveMoment(p.at, rec, "--at", args[args.indexOf("--at") + 1] ?? "")
      : rec.endedAt;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`cli.ts replay: ${e.message}\n`);
    return EXIT.usage;
  }
  if (p.find !== undefined) {
    const i = rec.find(p.find);
    if (i < 0) {
      io.err(
        `cli.ts replay: ${JSON.stringify(p.find)} never shows in ${p.file} ` +
          `(${rec.length} moments from ${iso(rec.startedAt)} to ${iso(rec.endedAt)})\n`,
      );
      return EXIT.failed;
    }
    at = rec.atOf(i);
  }
  const keys = io.keys;
  if (keys !== undefined && p.at === undefined && !p.json) {
    const start = p.find !== undefined ? at : rec.startedAt;
    return await interactive(rec, start, p, io, keys(), io.sleep ?? sleep);
  }
  io.out(moment(rec, at, p) + "\n");
  return EXIT.ok;
}

/** The dashboard (or JSON) of the recording at `at`, under a header with the time. */
function moment(rec: Recording, at: number, p: Parsed): string {
  const i = rec.indexAt(at);
  let status;
  try {
    // A recording may come from anywhere: checked and cleaned like a status from a socket.
    status = checkReceivedStatus(rec.statusAt(i, at));
  } catch (e) {
    if (!(e instanceof ReceivedStatusError)) throw e;
    return `${header(rec, at, i, p)}\n(this moment cannot be shown: ${safeText(e.message)})`;
  }
  if (p.json) return jsonText(status, 2);
  return header(rec, at, i, p) + "\n" + renderStatus(status, { color: p.color });
}

function header(rec: Recording, at: number, i: number, p: Parsed): string {
  const since = at - rec.atOf(i);
  const text = `replay ${safeText(rec.path)} · ${iso(at)} · +${
    formatDuration(at - rec.startedAt)
  } · change ${i + 1} of ${rec.length}${since > 0 ? ` (${formatDuration(since)} after it)` : ""}`;
  return headerLine(text, p.color);
}

function printDiff(rec: Recording, a: number, b: number, p: Parsed, io: CliIo): void {
  const d: RecordingDiff = rec.diff(rec.indexAt(a), rec.indexAt(b));
  d.from = a;
  d.to = b;
  if (p.json) {
    io.out(jsonText(d, 2) + "\n");
    return;
  }
  const out: string[] = [
    `── diff ${safeText(rec.path)} · ${iso(a)} (+${formatDuration(a - rec.startedAt)}) → ${
      iso(b)
    } ` +
    `(+${formatDuration(b - rec.startedAt)}) ──`,
  ];
  const section = (title: string, mark: string, items: string[]): void => {
    if (items.length === 0) return;
    out.push(`${title} (${items.length}):`);
    for (const x of items) out.push(`  ${mark} ${safeText(x)}`);
  };
  section("contexts started", "+", d.contextsStarted);
  section("contexts ended", "-", d.contextsEnded);
  section("locks taken", "+", d.locksTaken);
  section("locks released", "-", d.locksReleased);
  section("waits started", "+", d.waitsStarted);
  section("waits ended", "-", d.waitsEnded);
  section("warnings appeared", "+", d.warningsAppeared);
  section("warnings cleared", "-", d.warningsCleared);
  const counters = Object.entries(d.counters);
  if (counters.length > 0) {
    out.push(`counters (${counters.length}):`);
    for (const [k, c] of counters.sort(([x], [y]) => x < y ? -1 : 1)) {
      const sign = c.delta >= 0 ? "+" : "−";
      out.push(`  ${safeText(k)}: ${c.from ?? "–"} → ${c.to ?? "–"} (${sign}${Math.abs(c.delta)})`);
    }
  }
  if (out.length === 1) out.push("nothing changed");
  io.out(out.join("\n") + "\n");
}

// ── the interactive replay ─────────────────────────────────────────────────────────────────────

/** The longest wait between two changes while playing, ms of real time. */
const MAX_PLAY_WAIT_MS = 5_000;
const MINUTE = 60_000;

async function interactive(
  rec: Recording,
  start: number,
  p: Parsed,
  io: CliIo,
  keys: AsyncIterator<ReplayKey>,
  sleepFor: (ms: number, signal: AbortSignal) => Promise<void>,
): Promise<number> {
  let at = start;
  let playing = false;
  let pending = keys.next();
  const last = rec.length - 1;
  try {
    for (;;) {
      const i = rec.indexAt(at);
      const help = `←/→ change · Shift+←/→ minute · Home/End · space ${
        playing ? "pause" : "play"
      } (×${p.speed}) · q quit${playing ? " · ▶ playing" : ""}`;
      io.out(`${io.isTerminal ? "\x1b[H\x1b[2J" : ""}${moment(rec, at, p)}\n\n${help}\n`);
      let ev: IteratorResult<ReplayKey> | "tick";
      if (playing && i < last) {
        const wait = Math.min(MAX_PLAY_WAIT_MS, (rec.atOf(i + 1) - at) / p.speed);
        const stop = new AbortController();
        ev = await Promise.race([pending, sleepFor(wait, stop.signal).then(() => "tick" as const)]);
        stop.abort();
      } else {
        playing = false;
        ev = await pending;
      }
      if (ev === "tick") {
        at = rec.atOf(i + 1);
        if (i + 1 === last) playing = false; // the end: stop there
        continue;
      }
      if (ev.done) return EXIT.ok;
      pending = keys.next();
      switch (ev.value) {
        case "quit":
          return EXIT.ok;
        case "space":
          playing = !playing && i < last;
          break;
        case "right":
          at = i < last ? rec.atOf(i + 1) : at;
          break;
        case "left":
          // To the moment of the change shown, or the one before when already there.
          at = at > rec.atOf(i) ? rec.atOf(i) : i > 0 ? rec.atOf(i - 1) : at;
          break;
        case "shift-right":
          at = Math.min(rec.endedAt, at + MINUTE);
          break;
        case "shift-left":
          at = Math.max(rec.startedAt, at - MINUTE);
          break;
        case "home":
          at = rec.startedAt;
          break;
        case "end":
          at = rec.endedAt;
          break;
      }
    }
  } finally {
    await keys.return?.();
  }
}

/**
 * The keys in a chunk read from a terminal in raw mode (arrows, Shift+arrows, Home, End, space,
 * q, Ctrl-C); other bytes are ignored.
 * @internal
 */
export function decodeKeys(text: string): ReplayKey[] {
  const keys: ReplayKey[] = [];
  // deno-lint-ignore no-control-regex
  const re = /\x1b\[1;2([CD])|\x1b[[O]([CDHF])|\x1b\[([14])~|( )|([qQ\x03])|[\s\S]/g;
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) keys.push(m[1] === "C" ? "shift-right" : "shift-left");
    else if (m[2] !== undefined) {
      keys.push(({ C: "right", D: "left", H: "home", F: "end" } as const)[m[2] as "C"]);
    } else if (m[3] !== undefined) keys.push(m[3] === "1" ? "home" : "end");
    else if (m[4] !== undefined) keys.push("space");
    else if (m[5] !== undefined) keys.push("quit");
  }
  return keys;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

async function* terminalKeys(): AsyncGenerator<ReplayKey> {
  Deno.stdin.setRaw(true);
  try {
    const buf = new Uint8Array(64);
    const decoder = new TextDecoder();
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) return;
      yield* decodeKeys(decoder.decode(buf.subarray(0, n)));
    }
  } finally {
    Deno.stdin.setRaw(false);
  }
}

function replayIo(): ReplayIo {
  const io = processIo();
  const tty = io.isTerminal && Deno.stdin.isTerminal();
  return { ...io, keys: tty ? terminalKeys : undefined };
}
