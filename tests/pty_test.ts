/**
 * Ctrl-C in a real terminal: `main()` run by `deno task` inside a pseudo-terminal (tmux), where
 * one keypress reaches the process twice (from the terminal, and forwarded by the task runner).
 *
 * @module
 */

import assert from "node:assert/strict";
import { MAIN_APP } from "./fixtures/process.ts";
import { removeQuietly } from "../src/serve/socket_dir.ts";

const hasTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Resolves with the text of `path` once `test` holds for it, watching its directory. */
async function fileWhere(
  path: string,
  test: (text: string) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<string> {
  const read = (): string => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  const watcher = Deno.watchFs(path.slice(0, path.lastIndexOf("/")));
  const timer = setTimeout(() => watcher.close(), timeoutMs);
  try {
    if (test(read())) return read();
    for await (const _ of watcher) if (test(read())) return read();
  } finally {
    clearTimeout(timer);
    try {
      watcher.close();
    } catch {
      // closed by the timer
    }
  }
  throw new Error(`timed out waiting for ${what}; ${path} holds:\n${read()}`);
}

function tmux(socket: string, ...args: string[]): void {
  const r = new Deno.Command("tmux", { args: ["-S", socket, ...args], stderr: "piped" })
    .outputSync();
  if (!r.success) throw new Error(`tmux ${args[0]}: ${new TextDecoder().decode(r.stderr)}`);
}

Deno.test({
  name: "one Ctrl-C under `deno task` in a terminal is one signal: a clean shutdown, exit 0",
  // Under CI a missing tmux is a failure (.ci/run installs it), never a silent skip.
  ignore: !hasTmux && !Deno.env.get("CI"),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "fastn-context-pty-" });
    // A task of its own; the app takes 600ms to stop, so that a second delivery of the same
    // Ctrl-C lands during the shutdown (where, taken as a second signal, it would force the exit).
    Deno.writeTextFileSync(
      `${dir}/deno.json`,
      JSON.stringify({
        tasks: { app: `deno run -A ${MAIN_APP} --linger-ms 600 --grace-ms 5000` },
        lock: false,
      }),
    );
    const script = `cd ${dir} && FASTN_CONTEXT_DIR=${dir} NO_COLOR=1 ${Deno.execPath()} task app ` +
      `> ${dir}/out 2> ${dir}/err; echo $? > ${dir}/rc.tmp && mv ${dir}/rc.tmp ${dir}/rc`;
    const sockets: string[] = [];
    try {
      for (let round = 1; round <= 5; round++) {
        // A server per round: the last one may still be on its way out.
        const socket = `${dir}/tmux-${round}.sock`;
        sockets.push(socket);
        for (const f of ["out", "err", "rc"]) removeQuietly(`${dir}/${f}`);
        tmux(socket, "new-session", "-d", "-x", "120", "-y", "30", "bash", "-c", script);
        await fileWhere(`${dir}/out`, (t) => /^ready /m.test(t), "the ready line");
        tmux(socket, "send-keys", "C-c");
        const rc = await fileWhere(`${dir}/rc`, (t) => t.endsWith("\n"), "the exit code");
        const err = Deno.readTextFileSync(`${dir}/err`);
        assert.doesNotMatch(err, /second signal/, `round ${round}:\n${err}`);
        assert.match(err, /main_app: stopped \(SIGINT\): \d+ tasks? finished/, `round ${round}`);
        assert.deepEqual(rc.trim(), "0", `round ${round}:\n${err}`);
      }
    } finally {
      for (const socket of sockets) {
        try {
          tmux(socket, "kill-server");
        } catch {
          // the server ended with its last session
        }
      }
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
