import assert from "node:assert/strict";
import { openStream } from "../src/cli/client.ts";
import type { ContextStatus, Status } from "../src/status/types.ts";
import {
  cli,
  exists,
  MAIN_APP,
  ROOT,
  SERVICE,
  socketDir,
  start,
  startApp,
} from "./fixtures/process.ts";

/** Follows a process's status stream until a snapshot passes `test` (no polling). */
async function statusWhere(
  socket: string,
  test: (s: Status) => boolean,
  what: string,
): Promise<Status> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 8_000);
  try {
    const events = await openStream(socket, "/status/stream", { signal: stop.signal });
    for await (const ev of events) {
      const s = JSON.parse(ev.data) as Status;
      if (test(s)) return s;
    }
    throw new Error(`the stream ended before ${what}`);
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

function names(c: ContextStatus): string[] {
  return [c.name, ...c.children.flatMap(names)];
}

function find(c: ContextStatus, name: string): ContextStatus | undefined {
  if (c.name === name) return c;
  for (const k of c.children) {
    const found = find(k, name);
    if (found !== undefined) return found;
  }
  return undefined;
}

async function startService(dir: string) {
  const app = await startApp([SERVICE, "--stuck", "--tick-ms", "50"], { dir });
  const ready = JSON.parse(app.stdout.text.match(/^ready (.*)$/m)![1]) as { http: string };
  return { app, http: ready.http, socket: `${dir}/${app.pid}.sock` };
}

const SCENE = [
  "remote-access-listener",
  "alice@bv478gen",
  "stdout-handler",
  "stderr-stream",
  "bob@p2nd7avq",
  "command-executor",
  "http-proxy",
  "request-handler-pool",
  "chat-service",
  "presence-monitor",
  "message-relay",
];

Deno.test("the example service reads through the CLI as the design's tree, stuck lock included", async () => {
  using dir = socketDir();
  const { app, http, socket } = await startService(dir.path);
  await using _app = app;
  for (let i = 0; i < 5; i++) await (await fetch(`${http}/`)).text();
  await (await fetch(`${http}/chat?from=dave&text=hi`)).text();
  await statusWhere(socket, (s) => s.lockWaiters.length > 0, "stderr-stream waits for the lock");

  const r = await cli(["status", "--no-color"], { dir: dir.path });
  assert.deepEqual(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^── pid ${app.pid} · service\\.ts · up .* ──$`, "m"));
  for (const name of SCENE) assert.match(r.stdout, new RegExp(`── ${name} \\(`), name);
  assert.match(r.stdout, /🔒 HOLDS "session-output-lock"/);
  assert.match(r.stdout, /⏳ WAITING "session-output-lock"/);
  assert.match(r.stdout, /6 requests/);

  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 0, app.stderr.text);
  assert.ok(!exists(socket));
});

Deno.test("the example service reads through the CLI as JSON with its counters", async () => {
  using dir = socketDir();
  const { app, http } = await startService(dir.path);
  await using _app = app;
  for (let i = 0; i < 3; i++) await (await fetch(`${http}/`)).text();
  await (await fetch(`${http}/missing`)).text();

  const r = await cli(["status", "--json"], { dir: dir.path });
  assert.deepEqual(r.code, 0, r.stderr);
  const [entry] = JSON.parse(r.stdout) as Array<{ pid: number; name: string; status: Status }>;
  assert.deepEqual([entry.pid, entry.name], [app.pid, "service.ts"]);
  const tree = entry.status.global;
  for (const name of SCENE) assert.ok(names(tree).includes(name), name);
  const proxy = find(tree, "http-proxy")!;
  assert.deepEqual(proxy.totalCounters.requests, 4);
  assert.deepEqual(proxy.totalCounters.successful_requests, 3);
  assert.deepEqual(proxy.totalCounters.failed_requests, 1);
  assert.deepEqual(find(tree, "bob@p2nd7avq")!.data.command, "sleep 3600");

  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 0, app.stderr.text);
});

const script = new Deno.Command("script", { args: ["--version"], stdout: "null", stderr: "null" });
const hasScript = await script.output().then((o) => o.success, () => false);

Deno.test({
  name:
    "status -w prints a new screen after a change, ticks its ages while idle, and ends with the process",
  ignore: !hasScript,
  async fn() {
    using dir = socketDir();
    await using app = await startApp([MAIN_APP], { dir: dir.path });
    // Under a pseudo-terminal, as a person would run it.
    const command =
      `'${Deno.execPath()}' run -A '${ROOT}cli.ts' status -w --no-color --pid ${app.pid}`;
    await using watch = start(["-qfec", command, "/dev/null"], {
      dir: dir.path,
      program: "script",
    });
    const screens = (): number =>
      watch.stdout.text.split(`── pid ${app.pid} · main_app`).length - 1;

    await watch.stdout.until((t) => t.includes("└── worker"), "the first screen");
    const first = screens(); // 1, or more if a tick came already
    assert.ok(first >= 1);

    await app.write("change\n");
    await watch.stdout.until((t) => t.includes("job-1"), "a screen with job-1");
    const changed = screens();
    assert.ok(changed > first);

    // Idle: nothing changes in the process, yet the screen is redrawn about once a second with
    // the ages moved on (from the last status and this machine's clock: no new request).
    await watch.stdout.until(() => screens() > changed, "a tick while idle");
    const last = watch.stdout.text.split(`── pid ${app.pid} · main_app`);
    const age = (screen: string): string | undefined =>
      /global \(([\d.]+s) uptime/.exec(screen)?.[1];
    assert.ok(last.at(-1)!.includes("job-1"));
    assert.notDeepEqual(age(last.at(-1)!), age(last.at(-2)!));

    await app.closeStdin(); // main_app's fn returns at the end of its stdin
    assert.deepEqual(await app.exited(), 0);
    await watch.closeStdin();
    assert.deepEqual(await watch.exited(), 0);
    assert.match(watch.stdout.text, /\(the process exited\)/);
    assert.ok(watch.stdout.text.includes("\x1b[2J")); // redrawn in place on a terminal
  },
});

if (!hasScript) {
  console.warn("skipping the status -w test: `script` (util-linux) is not installed");
}

Deno.test("the demo starts the service, shows its status and stops it with exit code 0", async () => {
  using dir = socketDir();
  await using demo = start(["run", "-A", `${ROOT}examples/demo.ts`], { dir: dir.path });
  assert.deepEqual(await demo.exited(), 0, demo.stderr.text);
  const out = demo.stdout.text;
  assert.match(out, /▶ deno run -A cli\.ts status --pid \d+/);
  assert.match(out, /stdout-handler .*\n.*🔒 HOLDS "session-output-lock"/);
  assert.match(out, /the service exited with code 0/);
  assert.deepEqual([...Deno.readDirSync(dir.path)], []);
});
