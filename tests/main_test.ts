import assert from "node:assert/strict";
import { Context, current, main } from "../mod.ts";
import {
  appears,
  exists,
  GRACEFUL,
  MAIN_APP,
  socketDir,
  start,
  startApp,
} from "./fixtures/process.ts";

/** Runs `main` in this process with a root of its own, no endpoint, and the exit recorded. */
async function runMain(
  fn: (ctx: Context) => unknown,
  options: {
    shutdownGraceMs?: number;
    signals?: Deno.Signal[];
    sameSignalMs?: number;
    quiet?: boolean;
  } = {},
): Promise<{ code: number; exited: number | undefined; reports: string[]; root: Context }> {
  const root = Context.root("global");
  const reports: string[] = [];
  let exited: number | undefined;
  const code = await main(fn, {
    root,
    endpoint: false,
    color: false,
    exit: (c) => (exited = c),
    report: (text) => reports.push(text),
    name: "app",
    ...options,
  });
  return { code, exited, reports, root };
}

Deno.test("main runs fn in the root, with current() being the root across awaits", async () => {
  let seen: [Context, Context] | undefined;
  const { code, root } = await runMain(async (ctx) => {
    await Promise.resolve();
    seen = [ctx, current()];
  });
  assert.deepEqual(code, 0);
  assert.ok(seen !== undefined && seen[0] === root && seen[1] === root);
});

Deno.test("when fn returns, the tree is cancelled with 'main returned' and tasks get to finish", async () => {
  let finishedCleanly = false;
  const { code, exited, reports, root } = await runMain((ctx) => {
    ctx.child("flusher").spawn(async (task) => {
      await task.wait();
      await new Promise((r) => setTimeout(r, 20));
      finishedCleanly = true;
    });
  });
  assert.deepEqual([code, exited], [0, 0]);
  assert.deepEqual(root.cancelReason, "main returned");
  assert.ok(finishedCleanly);
  assert.deepEqual(reports.length, 1);
  assert.match(
    reports[0],
    /^app: stopped \(main returned\): 1 task finished, shutdown took \d+ms$/,
  );
});

Deno.test("a clean shutdown says one line unless quiet", async () => {
  const loud = await runMain(async (ctx) => {
    ctx.child("a").spawn(async (t) => await t.wait());
    ctx.child("b").spawn(async (t) => await t.wait());
    queueMicrotask(() => Deno.kill(Deno.pid, "SIGUSR2"));
    await ctx.wait();
  }, { signals: ["SIGUSR2"] });
  assert.deepEqual(loud.code, 0);
  assert.deepEqual(loud.reports.length, 1);
  assert.match(
    loud.reports[0],
    /^app: stopped \(SIGUSR2\): 2 tasks finished, shutdown took \d+ms$/,
  );
  const quiet = await runMain((ctx) => void ctx.child("a").spawn(async (t) => await t.wait()), {
    quiet: true,
  });
  assert.deepEqual([quiet.code, quiet.reports], [0, []]);
});

Deno.test("an error thrown by fn is reported with the tree it left, and the exit code is 1", async () => {
  const { code, reports, root } = await runMain(async (ctx) => {
    ctx.child("doomed-worker").spawn(async (task) => await task.wait());
    await Promise.resolve();
    throw new Error("boom");
  });
  assert.deepEqual(code, 1);
  assert.deepEqual(reports.length, 1);
  assert.match(reports[0], /main failed: Error: boom/);
  assert.match(reports[0], /doomed-worker/);
  assert.deepEqual(root.cancelReason, "main failed");
});

Deno.test("a task still running after the grace is printed, and the exit code is 1", async () => {
  let release!: () => void;
  const stubborn = new Promise<void>((r) => (release = r));
  const { code, reports } = await runMain((ctx) => {
    ctx.child("stubborn-task").spawn(() => stubborn);
  }, { shutdownGraceMs: 30 });
  release();
  assert.deepEqual(code, 1);
  assert.match(reports[0], /shutdown \(main returned\) hung: 1 task still running after the 30ms/);
  assert.match(reports[0], /stubborn-task/);
});

Deno.test("a signal cancels the tree with the signal's name as reason", async () => {
  const { code, root } = await runMain(async (ctx) => {
    queueMicrotask(() => Deno.kill(Deno.pid, "SIGUSR2"));
    await ctx.wait();
  }, { signals: ["SIGUSR2"] });
  assert.deepEqual(code, 0);
  assert.deepEqual(root.cancelReason, "SIGUSR2");
});

Deno.test("a second signal during the shutdown exits at once with 128 + its number", async () => {
  let release!: () => void;
  const stubborn = new Promise<void>((r) => (release = r));
  const { code, reports } = await runMain(async (ctx) => {
    ctx.child("stubborn-task").spawn(() => stubborn);
    Deno.kill(Deno.pid, "SIGUSR2");
    await ctx.wait();
    setTimeout(() => Deno.kill(Deno.pid, "SIGUSR2"), 10);
  }, { signals: ["SIGUSR2"], shutdownGraceMs: 10_000, sameSignalMs: 0 });
  release();
  assert.deepEqual(code, 128 + 12);
  assert.match(reports[0], /a second signal during the shutdown \(SIGUSR2\)/);
  assert.match(reports[0], /stubborn-task/);
});

Deno.test("a second signal right after the first is the same keypress: the shutdown goes on", async () => {
  let release!: () => void;
  const stubborn = new Promise<void>((r) => (release = r));
  const { code, reports, root } = await runMain(async (ctx) => {
    ctx.child("slow-task").spawn(() => stubborn);
    Deno.kill(Deno.pid, "SIGUSR2");
    await ctx.wait();
    Deno.kill(Deno.pid, "SIGUSR2"); // within the window (a minute here, so never flaky)
    await new Promise((r) => setTimeout(r, 0));
    setTimeout(release, 50);
  }, { signals: ["SIGUSR2"], shutdownGraceMs: 10_000, sameSignalMs: 60_000 });
  assert.deepEqual(code, 0, reports.join("\n"));
  assert.deepEqual(root.cancelReason, "SIGUSR2");
  assert.match(reports[0], /^app: stopped \(SIGUSR2\)/);
});

Deno.test("a remote plugin is started with the root before fn runs and stopped at shutdown", async () => {
  const events: string[] = [];
  let startedWith: Context | undefined;
  const remote = {
    start(root: Context) {
      startedWith = root;
      events.push("start");
      return Promise.resolve({ stop: () => Promise.resolve(void events.push("stop")) });
    },
  };
  const root = Context.root("global");
  const code = await main(() => void events.push("fn"), {
    root,
    remote,
    endpoint: false,
    quiet: true,
    exit: () => {},
  });
  assert.deepEqual(code, 0);
  assert.deepEqual(events, ["start", "fn", "stop"]);
  assert.ok(startedWith === root);
});

Deno.test("a remote plugin that cannot start is reported, fn does not run, and the exit is 1", async () => {
  const reports: string[] = [];
  let ran = false;
  const code = await main(() => void (ran = true), {
    root: Context.root("global"),
    remote: { start: () => Promise.reject(new Error("bad config.toml")) },
    endpoint: false,
    color: false,
    exit: () => {},
    report: (text) => reports.push(text),
  });
  assert.deepEqual([code, ran], [1, false]);
  assert.match(reports[0], /remote access failed to start: Error: bad config\.toml/);
});

Deno.test("main refuses a bad fn or grace before it starts anything", async () => {
  // @ts-expect-error: not a function
  await assert.rejects(() => main("app"), TypeError);
  await assert.rejects(() => main(() => {}, { shutdownGraceMs: -1 }), RangeError);
});

Deno.test("SIGTERM with a task that finishes in time exits 0", async () => {
  using dir = socketDir();
  await using app = await startApp([GRACEFUL, "--grace-ms", "3000"], { dir: dir.path });
  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 0);
  assert.match(app.stdout.text, /shutting down: SIGTERM/);
  assert.doesNotMatch(app.stderr.text, /hung/);
});

Deno.test("SIGTERM with a task that ignores cancellation prints the tree naming it and exits 1", async () => {
  using dir = socketDir();
  await using app = await startApp([GRACEFUL, "--ignore-cancel", "--grace-ms", "300"], {
    dir: dir.path,
  });
  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 1);
  assert.match(app.stderr.text, /shutdown \(SIGTERM\) hung: 1 task still running after the 300ms/);
  assert.match(app.stderr.text, /backup-upload/);
  assert.doesNotMatch(app.stderr.text, /mail-sender/); // it finished in time
});

Deno.test("an error thrown by fn in a real process prints it with the tree and exits 1", async () => {
  using dir = socketDir();
  await using app = start(["run", "-A", MAIN_APP, "--mode", "throw"], { dir: dir.path });
  assert.deepEqual(await app.exited(), 1);
  assert.match(app.stderr.text, /main failed: Error: boom/);
  assert.match(app.stderr.text, /doomed-worker/);
});

Deno.test("the socket is 0600 in a 0700 directory while the process runs, and gone after", async () => {
  using dir = socketDir();
  const sockets = `${dir.path}/sockets`;
  await using app = await startApp([MAIN_APP], { dir: sockets });
  const socket = `${sockets}/${app.pid}.sock`;
  await appears(socket);
  assert.deepEqual(Deno.statSync(socket).mode! & 0o777, 0o600);
  assert.deepEqual(Deno.statSync(sockets).mode! & 0o777, 0o700);
  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 0);
  assert.ok(!exists(socket));
});

Deno.test("without the permissions it needs, main warns once and the application runs on", async () => {
  using dir = socketDir();
  await using app = start(["run", "--no-prompt", MAIN_APP, "--mode", "return"], { dir: dir.path });
  assert.deepEqual(await app.exited(), 0);
  assert.match(app.stdout.text, /returning/);
  const warnings = app.stderr.text.match(/the status endpoint is off/g) ?? [];
  assert.deepEqual(warnings.length, 1, app.stderr.text);
  assert.match(app.stderr.text, /--allow-env=FASTN_CONTEXT_DIR/);
});

Deno.test("with endpoint: false, main serves nothing", async () => {
  using dir = socketDir();
  await using app = await startApp([MAIN_APP, "--no-endpoint"], { dir: dir.path });
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
  await app.closeStdin(); // fn returns at the end of its stdin
  assert.deepEqual(await app.exited(), 0);
  assert.match(
    app.stderr.text,
    /^main_app: stopped \(main returned\): 1 task finished, shutdown took \d+ms\n$/,
  );
});
