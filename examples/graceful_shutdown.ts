/**
 * Graceful shutdown with `main()`: on Ctrl-C or SIGTERM the tree is cancelled, and tasks get the
 * grace period to finish. `mail-sender` watches its cancellation, flushes and stops in time.
 * With `--ignore-cancel`, `backup-upload` never looks at its context: when the grace is over,
 * `main()` prints the tree that is still running (naming `backup-upload`, with an
 * `ignores-cancellation` warning) and exits 1.
 *
 * ```sh
 * deno run -A examples/graceful_shutdown.ts                    # Ctrl-C: exits 0
 * deno run -A examples/graceful_shutdown.ts --ignore-cancel    # Ctrl-C: tree printed, exits 1
 * ```
 *
 * `--grace-ms N` sets the grace period (default 2000).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { configure, type Context, main } from "@fastn/context";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    "ignore-cancel": { type: "boolean" },
    "grace-ms": { type: "string", default: "2000" },
  },
});
const graceMs = Number(flags["grace-ms"]);
// Report a task that ignores its cancellation as soon as the grace is over.
configure({ ignoredCancelMs: graceMs });

/** Resolves after `ms`, or at once when `ctx` is cancelled. */
function pause(ctx: Context, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    ctx.signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      ctx.signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

await main(async (ctx) => {
  // Well behaved: sends until cancelled, then flushes what it has and returns.
  ctx.child("mail-sender").withData("queue", "outbox").spawn(async (task) => {
    while (!task.cancelled) {
      await pause(task, 100);
      if (!task.cancelled) task.incrementTotal("sent");
    }
    task.setData("state", "flushing");
    await new Promise((r) => setTimeout(r, 100)); // a short cleanup, well within the grace
  });

  if (flags["ignore-cancel"]) {
    // Badly behaved: never looks at task.cancelled, task.signal or task.wait().
    ctx.child("backup-upload").withData("file", "backup.tar").spawn(async (task) => {
      for (let part = 1;; part++) {
        await new Promise((r) => setTimeout(r, 200));
        task.setData("part", part);
      }
    });
  }

  console.log(`ready ${JSON.stringify({ pid: Deno.pid })}`);
  if (Deno.stdin.isTerminal()) console.error("press Ctrl-C to shut down");
  await ctx.wait();
  console.log(`shutting down: ${ctx.cancelReason}`);
}, { shutdownGraceMs: graceMs });
