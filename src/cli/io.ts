/**
 * What every command of the command line shares: where it writes, its exit codes, whether it
 * colours, the header above a target's dashboard, and the watch loop's signal handling.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { safeText } from "../core/names.ts";
import { writeAllSync } from "../core/bytes.ts";
import { colorFor } from "../status/format.ts";

const encoder = new TextEncoder();

/** Exit codes of the command line: every target answered, a target failed, a usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * Where a command writes. Tests and embedders pass their own.
 *
 * @example
 * ```ts
 * import type { CommandIo } from "@fastn/context/remote";
 *
 * const out: string[] = [];
 * const io: CommandIo = { out: (t) => out.push(t), err: (t) => out.push(t), isTerminal: false };
 * ```
 */
export interface CommandIo {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Whether standard output is a terminal: colours, and a watch redraws in place. */
  isTerminal: boolean;
}

/** The io of the running process. */
export function processIo(): CommandIo {
  return {
    out: (text) => writeAllSync(Deno.stdout, encoder.encode(text)),
    err: (text) => writeAllSync(Deno.stderr, encoder.encode(text)),
    isTerminal: Deno.stdout.isTerminal(),
  };
}

/**
 * Whether to colour: `--no-color` wins, then `--color`, else when `io` writes to a terminal and
 * `NO_COLOR` is not set.
 */
export function wantsColor(io: CommandIo, flags: { color?: boolean; noColor?: boolean }): boolean {
  if (flags.noColor) return false;
  if (flags.color) return true;
  return colorFor({ isTerminal: () => io.isTerminal });
}

/** The line above a target's dashboard, `── text ──`, bold cyan when colouring. */
export function headerLine(text: string, color: boolean): string {
  const line = `── ${text} ──`;
  return color ? `\x1b[1;36m${line}\x1b[0m` : line;
}

/** What goes before a redraw: the cursor home and a clear on a terminal, nothing elsewhere. */
export function redraw(io: CommandIo, screens: string[]): void {
  const clear = io.isTerminal ? "\x1b[H\x1b[2J" : "";
  io.out(`${clear}${screens.join("\n\n")}\n${io.isTerminal ? "" : "\n"}`);
}

/**
 * A watch's stop: aborted by SIGINT or SIGTERM (SIGINT alone on Windows) or by `signal`. Dispose
 * it to remove the listeners.
 */
export function watchStop(signal?: AbortSignal): AbortController & Disposable {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  if (signal?.aborted) stop.abort();
  signal?.addEventListener("abort", onSignal, { once: true });
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  return Object.assign(stop, {
    [Symbol.dispose](): void {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
      signal?.removeEventListener("abort", onSignal);
    },
  });
}

/**
 * The message of a thrown value, made safe to print: it may quote what a socket or a peer sent,
 * so control characters are replaced and invisible or bidi characters escaped.
 */
export function messageOf(e: unknown): string {
  return safeText(e instanceof Error ? e.message : String(e));
}

/** A mistake in a command's arguments: its message is one line for people. */
export class UsageError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * `parseArgs` of `node:util` (strict), with its errors turned into one short line each:
 * `unknown option --bogus`, `option --pid needs a value`, `unexpected argument "x"`.
 *
 * @throws {UsageError} for any mistake in `args`.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  allowPositionals: boolean,
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true }) as ReturnType<
      typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>
    >;
  } catch (e) {
    throw new UsageError(usageMessage(e));
  }
}

function usageMessage(e: unknown): string {
  const message = messageOf(e);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const option = quoted.replace(/ <value>$/, "");
  switch ((e as { code?: string }).code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return message.includes("does not take")
        ? `option ${option} takes no value`
        : `option ${option} needs a value`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${JSON.stringify(option)}`;
    default:
      return message.split(". ")[0];
  }
}

/**
 * A command's arguments, parsed by `parse`: on `--help` (`parse` returns `"help"`) the help is
 * printed and `EXIT.ok` comes back instead; on a mistake (`parse` throws) the cause and the help
 * go to stderr and `EXIT.usage` comes back.
 */
export function parseCommand<T extends object>(
  command: string,
  help: string,
  io: CommandIo,
  parse: () => T | "help",
): T | number {
  try {
    const parsed = parse();
    if (parsed !== "help") return parsed;
    io.out(help + "\n");
    return EXIT.ok;
  } catch (e) {
    io.err(`cli.ts ${command}: ${(e as Error).message}\n\n${help}\n`);
    return EXIT.usage;
  }
}
