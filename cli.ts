/**
 * The `status` command line of `@fastn/context`.
 *
 * ```sh
 * deno run -A cli.ts status
 * ```
 *
 * @module
 */

/**
 * Runs the command line with `args` and returns the exit code: 0 when every target answered,
 * 1 when one failed, 2 for a usage error.
 *
 * @example
 * ```ts
 * import { run } from "@fastn/context/cli";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(await run(["--help"]), 0);
 * ```
 */
export function run(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log("usage: cli.ts status [--json] [-w]");
    return Promise.resolve(0);
  }
  console.error("cli.ts: the status command arrives with the main/CLI issue");
  return Promise.resolve(2);
}

if (import.meta.main) Deno.exit(await run(Deno.args));
