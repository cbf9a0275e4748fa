import assert from "node:assert/strict";
import { run } from "../cli.ts";
import { statusCommand } from "../src/cli/status_command.ts";
import { cli, DYING, exists, MAIN_APP, socketDir, start, startApp } from "./fixtures/process.ts";

Deno.test("status --help prints the usage and exits 0", async () => {
  using dir = socketDir();
  const r = await cli(["status", "--help"], { dir: dir.path });
  assert.deepEqual(r.code, 0);
  assert.match(r.stdout, /usage: cli\.ts status/);
  assert.match(r.stdout, /-w, --watch/);
});

Deno.test("an unknown option is a usage error: exit 2, the cause on stderr", async () => {
  using dir = socketDir();
  const r = await cli(["status", "--frobnicate"], { dir: dir.path });
  assert.deepEqual(r.code, 2);
  assert.deepEqual(r.stderr.split("\n")[0], "cli.ts status: unknown option --frobnicate");
  assert.match(r.stderr, /usage: cli\.ts status/); // the usage follows
  assert.doesNotMatch(r.stderr, /positional argument|place it at the end/); // not parseArgs' text
  assert.deepEqual(r.stdout, "");
});

Deno.test("option mistakes are one line each, then the usage", async () => {
  using dir = socketDir();
  const cases: Array<[string[], string]> = [
    [["status", "--pid"], "cli.ts status: option --pid needs a value"],
    [["status", "--json=yes"], "cli.ts status: option --json takes no value"],
    [["status", "-wz"], "cli.ts status: unknown option -z"],
    [["id", "--bogus"], "cli.ts id: unknown option --bogus"],
    [["id", "extra"], 'cli.ts id: unexpected argument "extra"'],
    [["--bogus"], "cli.ts: unknown option --bogus"],
    [["replay", "--bogus"], "cli.ts replay: unknown option --bogus"],
  ];
  for (const [args, first] of cases) {
    const r = await cli(args, { dir: dir.path });
    assert.deepEqual([r.code, r.stderr.split("\n")[0]], [2, first], args.join(" "));
    assert.match(r.stderr, /\nusage: cli\.ts/, args.join(" "));
  }
});

Deno.test("id --help prints the help of id and exits 0", async () => {
  using dir = socketDir();
  const r = await cli(["id", "--help"], { dir: dir.path });
  assert.deepEqual(r.code, 0);
  assert.match(r.stdout, /^usage: cli\.ts id\n/);
  assert.match(r.stdout, /id52/);
  assert.deepEqual(r.stderr, "");
});

Deno.test("a --pid that is not a number is a usage error", async () => {
  using dir = socketDir();
  const r = await cli(["status", "--pid", "abc"], { dir: dir.path });
  assert.deepEqual(r.code, 2);
  assert.match(r.stderr, /--pid "abc": a process id is a positive integer/);
});

Deno.test("an unknown command or none is a usage error; --help is not", async () => {
  assert.deepEqual(await run(["--help"]), 0);
  using dir = socketDir();
  const r = await cli(["frobnicate"], { dir: dir.path });
  assert.deepEqual(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  assert.deepEqual((await cli([], { dir: dir.path })).code, 2);
});

Deno.test("with no process running main(), status says so on stderr and exits 1", async () => {
  using dir = socketDir();
  const r = await cli(["status"], { dir: dir.path });
  assert.deepEqual(r.code, 1);
  assert.match(r.stderr, /no process found: nothing in .* runs main\(\) from @fastn\/context/);
});

Deno.test("a --pid with no socket exits 1 naming the pid and the cause", async () => {
  using dir = socketDir();
  const r = await cli(["status", "--pid", String(Deno.pid)], { dir: dir.path });
  assert.deepEqual(r.code, 1);
  assert.match(r.stderr, new RegExp(`pid ${Deno.pid}: no process found .*does not run main\\(\\)`));
});

Deno.test("the stale socket of a killed process is removed, and the process not shown", async () => {
  using dir = socketDir();
  const app = await startApp([MAIN_APP], { dir: dir.path });
  const socket = `${dir.path}/${app.pid}.sock`;
  await app[Symbol.asyncDispose](); // SIGKILL: no chance to remove its socket
  assert.ok(exists(socket));
  const r = await cli(["status"], { dir: dir.path });
  assert.deepEqual(r.code, 1);
  assert.match(r.stderr, /no process found/);
  assert.ok(!exists(socket));
});

Deno.test("a stale socket named with --pid is an error that says the process is gone", async () => {
  using dir = socketDir();
  const app = await startApp([MAIN_APP], { dir: dir.path });
  await app[Symbol.asyncDispose]();
  const r = await cli(["status", "--pid", String(app.pid)], { dir: dir.path });
  assert.deepEqual(r.code, 1);
  assert.match(r.stderr, new RegExp(`pid ${app.pid}: the process is gone`));
});

Deno.test("a process that dies mid-query is named with the cause, and the exit is 1", async () => {
  using dir = socketDir();
  await using dying = start(["run", "-A", DYING], { dir: dir.path });
  await dying.stdout.until((t) => t.includes("ready"), "the fake endpoint");
  const r = await cli(["status"], { dir: dir.path });
  assert.deepEqual(r.code, 1);
  assert.match(r.stderr, new RegExp(`pid ${dying.pid} \\(dying\\): the process died mid-query`));
  assert.deepEqual(await dying.exited(), 3);
});

Deno.test("a socket that is not ours is named as such, left in place, and the exit is 1", async () => {
  using dir = socketDir();
  // Something that speaks another protocol, under a live pid (this test's own).
  const banner = `${dir.path}/${Deno.pid}.sock`;
  const listener = Deno.listen({ transport: "unix", path: banner });
  const serving = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(1024)).catch(() => {});
      await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n")).catch(() => {});
      conn.close();
    }
  })();
  // And an HTTP server that is not a status endpoint, under pid 1 (alive).
  const http = Deno.serve(
    { path: `${dir.path}/1.sock`, onListen() {} },
    () => new Response("hello"),
  );
  try {
    const r = await cli(["status"], { dir: dir.path });
    assert.deepEqual(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`pid ${Deno.pid}: .* is not a @fastn/context endpoint \\(it answered "SSH-2.0`),
    );
    assert.doesNotMatch(r.stderr, /no process found/);
    assert.match(r.stderr, /pid 1: .* answers HTTP but is not a @fastn\/context endpoint/);
    assert.ok(exists(banner));
  } finally {
    listener.close();
    await serving.catch(() => {});
    await http.shutdown();
  }
});

Deno.test("one process answering and one failing: the answer is shown, the failure named, exit 1", async () => {
  using dir = socketDir();
  await using app = await startApp([MAIN_APP], { dir: dir.path });
  await using dying = start(["run", "-A", DYING], { dir: dir.path });
  await dying.stdout.until((t) => t.includes("ready"), "the fake endpoint");
  const r = await cli(["status", "--no-color"], { dir: dir.path });
  assert.deepEqual(r.code, 1);
  assert.match(r.stdout, new RegExp(`── pid ${app.pid} · main_app · up `));
  assert.match(r.stdout, /└── worker/);
  assert.match(r.stderr, /died mid-query/);
});

Deno.test("--json gives each process's pid, name, uptime and status", async () => {
  using dir = socketDir();
  await using app = await startApp([MAIN_APP], { dir: dir.path });
  const r = await cli(["status", "--json", "--pid", String(app.pid)], { dir: dir.path });
  assert.deepEqual(r.code, 0, r.stderr);
  const [entry, ...more] = JSON.parse(r.stdout);
  assert.deepEqual(more, []);
  assert.deepEqual([entry.pid, entry.name], [app.pid, "main_app"]);
  assert.ok(entry.uptimeMs >= 0);
  assert.deepEqual(entry.status.global.name, "global");
  assert.deepEqual(entry.status.global.children.map((c: { name: string }) => c.name), ["worker"]);
});

Deno.test("status -w on a terminal lets ages tick about once a second while nothing changes", async () => {
  using dir = socketDir();
  await using app = await startApp([MAIN_APP], { dir: dir.path });
  const before = Deno.env.get("FASTN_CONTEXT_DIR");
  Deno.env.set("FASTN_CONTEXT_DIR", dir.path);
  const screens: string[] = [];
  let wake = (): void => {};
  const io = {
    out: (t: string) => {
      screens.push(t);
      wake();
    },
    err: () => {},
    isTerminal: true,
  };
  try {
    const watching = statusCommand(["-w", "--pid", String(app.pid), "--no-color"], io);
    // Nothing changes in the process, yet the ages move on: wait for three different ones.
    const ages = (): Set<string | undefined> =>
      new Set(screens.map((s) => /global \(([\d.]+s) uptime/.exec(s)?.[1]));
    const ups = (): Set<string | undefined> =>
      new Set(screens.map((s) => / · up ([\d.]+s) ──/.exec(s)?.[1]));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(screens.join("\n"))), 10_000);
      wake = () => {
        if (ages().size < 3 || ups().size < 3) return;
        clearTimeout(timer);
        resolve();
      };
      wake();
    });
    assert.ok(!ages().has(undefined), screens.join("\n"));
    assert.ok(screens.every((s) => s.startsWith("\x1b[H\x1b[2J"))); // redrawn in place
    await app.closeStdin(); // the process returns from fn and exits: the watch ends
    assert.deepEqual(await watching, 0);
  } finally {
    if (before === undefined) Deno.env.delete("FASTN_CONTEXT_DIR");
    else Deno.env.set("FASTN_CONTEXT_DIR", before);
  }
});
