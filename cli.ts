/**
 * The `status` command line of `@fastn/context`: shows the context tree of every process on
 * this machine that runs `main()`, once or as a watch that redraws only on change.
 *
 * ```sh
 * deno run -A cli.ts status              # every local process, each under pid, name, uptime
 * deno run -A cli.ts status --pid 4242   # one process
 * deno run -A cli.ts status -w           # watch: redraws when a process reports a change
 * deno run -A cli.ts status --json       # JSON for scripts
 * ```
 *
 * Exit codes: 0 when every target answered, 1 when any failed (or none was found), 2 for a usage
 * error. Errors go to stderr and name the target and the cause.
 *
 * @module
 */

import { EXIT, parseCommandArgs, UsageError } from "./src/cli/io.ts";
import { statusCommand } from "./src/cli/status_command.ts";
import { missingRemotePermissions } from "./src/remote/home.ts";

const USAGE = `usage: cli.ts <command> [options]

commands:
  status    show the context tree of local processes that run main() (see: cli.ts status --help)
  replay    step through a recording of the status (see: cli.ts replay --help)
  id        this machine's id52, made on first use in $FASTN_HOME (default ~/.fastn)

options:
  -h, --help  show this help`;

const ID_HELP = `usage: cli.ts id

Prints this machine's id52: the 52-character name peers put in their
remote-access/config.toml to reach it. The Ed25519 key behind it is made on first use in
$FASTN_HOME/identity.key (default ~/.fastn/identity.key, mode 0600).

options:
  -h, --help  show this help`;

/**
 * Runs the command line with `args` (as in `Deno.args`) and resolves with the exit code: 0 when
 * every target answered, 1 when one failed or none was found, 2 for a usage error. Output goes to
 * stdout, errors to stderr.
 *
 * @example
 * ```ts
 * import { run } from "@fastn/context/cli";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(await run(["--help"]), 0);
 * assert.deepEqual(await run(["status", "--no-such-flag"]), 2);
 * ```
 *
 * @param args The arguments: a command (`status`) and its options.
 * @returns The exit code.
 */
export async function run(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "status":
      return await statusCommand(rest);
    case "replay": {
      const { replayCommand } = await import("./src/cli/replay.ts");
      return await replayCommand(rest);
    }
    case "id":
      return await idCommand(rest);
    case "-h":
    case "--help":
    case "help":
      console.log(USAGE);
      return EXIT.ok;
    case undefined:
      console.error(USAGE);
      return EXIT.usage;
    default:
      console.error(
        `cli.ts: ${
          command.startsWith("-")
            ? `unknown option ${command}`
            : `unknown command ${JSON.stringify(command)}`
        }\n\n${USAGE}`,
      );
      return EXIT.usage;
  }
}

async function idCommand(args: string[]): Promise<number> {
  try {
    const { values } = parseCommandArgs(args, { help: { type: "boolean", short: "h" } }, false);
    if (values.help) {
      console.log(ID_HELP);
      return EXIT.ok;
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`cli.ts id: ${e.message}\n\n${ID_HELP}`);
    return EXIT.usage;
  }
  const missing = missingRemotePermissions({ net: false });
  if (missing.length > 0) {
    console.error(`cli.ts id: missing Deno permissions: ${missing.join(" ")}, or -A for all`);
    return EXIT.usage;
  }
  // Not a literal specifier: Deno does not fetch libp2p ahead of time for every command.
  const remote = new URL("./remote.ts", import.meta.url).href;
  const { runId } = await import(remote) as { runId(): Promise<number> };
  return await runId();
}

if (import.meta.main) Deno.exit(await run(Deno.args));
