/**
 * `cli.ts replay` and recording in real processes: --at, --json, --find, --diff, the interactive
 * keys, usage errors (exit 2), and a recording that survives `kill -9`, an uncaught error and a
 * shutdown that hangs.
 */
import assert from "node:assert/strict";
import { Context, renderStatus, type Status, status } from "../mod.ts";
import { openRecording, RecordingWriter } from "../src/status/recording.ts";
import { decodeKeys, replayCommand, type ReplayIo, type ReplayKey } from "../src/cli/replay.ts";
import { clocked, yields } from "./fixtures/lock_helpers.ts";
import { cli, exists, ROOT, socketDir, start, startApp } from "./fixtures/process.ts";
import { SEED_SYSTEM } from "./fixtures/system.ts";

const APP = `${ROOT}tests/fixtures/recording_app.ts`;
const T0 = Date.parse("2025-11-30T22:00:00Z");

function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "fastn-replay-test-" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

/**
 * A recording of 11 moments, 15 s apart from T0: a proxy whose requests grow, a `conn` from the
 * 6th moment, a deadlock at the 9th that is broken at the 10th.
 */
async function sample(dir: string): Promise<{ path: string; live: Status[] }> {
  const { root, clock } = clocked("global", T0);
  const path = `${dir}/rec.jsonl`;
  const w = new RecordingWriter(path);
  const live: Status[] = [];
  const snap = (): void => {
    const s = status({ root, system: SEED_SYSTEM });
    assert.ok(w.write(s));
    live.push(s);
  };
  snap();
  const proxy = root.child("http-proxy").create();
  const a = root.mutex("a", 0), b = root.mutex("b", 0);
  let one: Context | undefined, two: Context | undefined;
  for (let i = 1; i <= 10; i++) {
    clock.t += 15_000;
    proxy.incrementTotal("requests", i);
    if (i === 5) proxy.child("conn").create();
    if (i === 8) {
      one = root.child("one").create();
      two = root.child("two").create();
      await one.spawn(() => a.lock());
      await two.spawn(() => b.lock());
      one.spawn(() => b.lock()).catch(() => {});
      two.spawn(() => a.lock()).catch(() => {});
      await yields(10);
    }
    if (i === 9) {
      two!.cancel("break");
      one!.cancel("break");
      await yields(20);
    }
    snap();
  }
  w.close();
  return { path, live };
}

/** An io that collects what the command writes. */
function collect(
  options: { terminal?: boolean; keys?: ReplayKey[] } = {},
): ReplayIo & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    isTerminal: options.terminal ?? false,
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
    keys: options.keys === undefined ? undefined : async function* (): AsyncGenerator<ReplayKey> {
      for (const k of options.keys!) {
        await yields(1);
        yield k;
      }
    },
    sleep: (_ms: number, _signal: AbortSignal) => yields(1),
  };
  return io;
}

function dashboard(s: Status): string {
  return renderStatus(s, { color: false });
}

Deno.test("replay --at +90s prints that moment's dashboard under its recorded time", async () => {
  using dir = tempDir();
  const { path, live } = await sample(dir.path);
  const io = collect();
  assert.equal(await replayCommand([path, "--at", "+90s", "--no-color"], io), 0);
  const [head, ...rest] = io.stdout.trimEnd().split("\n");
  assert.equal(
    head,
    `── replay ${path} · 2025-11-30T22:01:30.000Z · +1m 30s · change 7 of 11 ──`,
  );
  assert.equal(rest.join("\n"), dashboard(live[6]));
  assert.equal(io.stderr, "");
});

Deno.test("replay --at between two changes shows the earlier one, its durations grown", async () => {
  using dir = tempDir();
  const { path, live } = await sample(dir.path);
  const io = collect();
  assert.equal(await replayCommand([path, "--at", "2025-11-30T22:01:35Z", "--json"], io), 0);
  const s = JSON.parse(io.stdout) as Status;
  assert.equal(s.timestamp, T0 + 95_000);
  assert.equal(s.global.durationMs, 95_000);
  assert.deepEqual(s.global.children[0].totalCounters, live[6].global.children[0].totalCounters);
});

Deno.test("replay --json prints the snapshot itself", async () => {
  using dir = tempDir();
  const { path, live } = await sample(dir.path);
  const io = collect();
  assert.equal(await replayCommand([path, "--at", "start", "--json"], io), 0);
  assert.deepEqual(JSON.parse(io.stdout), JSON.parse(JSON.stringify(live[0])));
});

Deno.test("replay --find deadlock lands on the first frame that has it", async () => {
  using dir = tempDir();
  const { path, live } = await sample(dir.path);
  const first = live.findIndex((s) => s.warnings.some((w) => w.code === "deadlock"));
  assert.equal(first, 8);
  const io = collect();
  assert.equal(await replayCommand([path, "--find", "deadlock", "--no-color"], io), 0);
  const [head, ...rest] = io.stdout.trimEnd().split("\n");
  assert.match(head, /change 9 of 11/);
  assert.equal(rest.join("\n"), dashboard(live[first]));
  assert.match(rest.join("\n"), /deadlock/i);

  const none = collect();
  assert.equal(await replayCommand([path, "--find", "waiter-stuck"], none), 1);
  assert.match(none.stderr, /"waiter-stuck" never shows in .*11 moments/);
});

Deno.test("replay --diff prints the contexts that came, the locks and the counters' deltas", async () => {
  using dir = tempDir();
  const { path } = await sample(dir.path);
  const io = collect();
  assert.equal(await replayCommand([path, "--diff", "+1m", "+2m"], io), 0);
  assert.equal(
    io.stdout,
    [
      `── diff ${path} · 2025-11-30T22:01:00.000Z (+1m) → 2025-11-30T22:02:00.000Z (+2m) ──`,
      "contexts started (3):",
      "  + global.http-proxy.conn",
      "  + global.one",
      "  + global.two",
      "locks taken (2):",
      "  + a (mutex, exclusive) by global.one",
      "  + b (mutex, exclusive) by global.two",
      "waits started (2):",
      "  + global.two waits for a",
      "  + global.one waits for b",
      "warnings appeared (1):",
      "  + deadlock: " + (openRecording(path).statusAt(8).warnings[0].message),
      "counters (1):",
      "  global.http-proxy.requests: 10 → 36 (+26)",
      "",
    ].join("\n"),
  );
  const json = collect();
  assert.equal(await replayCommand([path, "--diff", "start", "end", "--json"], json), 0);
  assert.deepEqual(JSON.parse(json.stdout).counters["global.http-proxy.requests"], {
    from: null,
    to: 55,
    delta: 55,
  });
});

Deno.test("in a terminal, arrows step between changes, Shift+arrows jump a minute, space plays, q quits", async () => {
  using dir = tempDir();
  const { path } = await sample(dir.path);
  const keys: ReplayKey[] = ["right", "right", "shift-right", "left", "shift-left", "end", "left"];
  const io = collect({ terminal: true });
  io.keys = async function* (): AsyncGenerator<ReplayKey> {
    for (const k of [...keys, "home", "space"] as ReplayKey[]) {
      await yields(1);
      yield k;
    }
    // q once the play has reached the end
    const screen = (): string => io.stdout.split("\x1b[H\x1b[2J").at(-1)!;
    while (!/change 11 of 11[^]*space play \(/.test(screen())) await yields(1);
    yield "quit";
  };
  assert.equal(await replayCommand([path, "--no-color"], io), 0);
  const heads = io.stdout.split("\n").filter((l) => l.includes("── replay"))
    .map((l) => / · (\+[^·]+) · change (\d+)/.exec(l)!.slice(1).join(" @"));
  assert.deepEqual(heads.slice(0, 9), [
    "+0s @1", // start
    "+15s @2", // →
    "+30s @3", // →
    "+1m 30s @7", // Shift+→
    "+1m 15s @6", // ←
    "+15s @2", // Shift+←
    "+2m 30s @11", // End
    "+2m 15s @10", // ←
    "+0s @1", // Home
  ]);
  // space plays through every change to the end, then stops; q quits.
  assert.deepEqual(heads.slice(9).map((h) => h.split(" @")[1]), [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "11",
  ]);
  assert.ok(io.stdout.includes("▶ playing"));
  assert.ok(io.stdout.startsWith("\x1b[H\x1b[2J"));
});

Deno.test("terminal bytes decode into replay keys", () => {
  assert.deepEqual(decodeKeys("\x1b[C\x1b[D\x1b[1;2C\x1b[1;2D \x1b[H\x1b[Fxq\x03"), [
    "right",
    "left",
    "shift-right",
    "shift-left",
    "space",
    "home",
    "end",
    "quit",
    "quit",
  ]);
});

Deno.test("bad replay input gets clear errors and exit 2", async () => {
  using dir = tempDir();
  const { path } = await sample(dir.path);
  const cases: Array<[string[], RegExp]> = [
    [[], /which recording\? cli.ts replay FILE/],
    [[path, path], /one recording at a time/],
    [[path, "--at", "yesterday"], /--at "yesterday": a moment is an offset from the start/],
    [[path, "--at", "+1h"], /--at \+1h: after it ends \(it runs from 2025-11-30T22:00:00.000Z/],
    [[path, "--at", "2025-11-30T21:00:00Z"], /before the recording starts/],
    [[path, "--at", "+1m", "--find", "conn"], /--at and --find do not go together/],
    [[path, "--diff", "+1m"], /--diff needs two moments: --diff T1 T2/],
    [[path, "--speed", "0"], /--speed "0": a positive number/],
    [[path, "--find", ""], /--find needs what to find/],
    [[path, "--bogus"], /^cli\.ts replay: unknown option --bogus\n/],
    [[`${dir.path}/none.jsonl`], /none.jsonl: no such recording/],
  ];
  for (const [args, message] of cases) {
    const io = collect();
    assert.equal(await replayCommand(args, io), 2, args.join(" "));
    assert.match(io.stderr, message);
    assert.equal(io.stdout, "");
  }
});

Deno.test("a recording in a newer format is refused with exit 1 and says why", async () => {
  using dir = tempDir();
  const path = `${dir.path}/rec.jsonl`;
  Deno.writeTextFileSync(path, '{"fastn-context-recording":7,"at":1,"source":{}}\n');
  const io = collect();
  assert.equal(await replayCommand([path], io), 1);
  assert.match(io.stderr, /format version 7; this @fastn\/context reads version 1/);
});

Deno.test("bad status --record input gets clear errors and exit 2", async () => {
  using dir = socketDir();
  const cases: Array<[string[], RegExp]> = [
    [["status", "--record", "x.jsonl"], /--record records a watch: add -w/],
    [["status", "-w", "--record-max-bytes", "1M"], /--record-max-bytes goes with --record FILE/],
    [["status", "-w", "--record", "x", "--record-max-bytes", "lots"], /a number of bytes/],
    [["status", "-w", "--record", "x", "--record-max-bytes", "10"], /at least 16384/],
    [["status", "-w", "--record", "x", "alice,bob"], /--record records one target/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args, { dir: dir.path });
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

// ── real processes ─────────────────────────────────────────────────────────────────────────────

Deno.test("a process recording itself, killed with kill -9, leaves a recording that replays", async () => {
  using sockets = socketDir();
  using dir = tempDir();
  const path = `${dir.path}/rec.jsonl`;
  const app = await startApp([APP, "--record", path, "--mode", "busy"], { dir: sockets.path });
  app.child.kill("SIGKILL");
  await app.exited();
  const rec = openRecording(path);
  assert.ok(rec.length >= 2, `${rec.length} moments`);
  assert.ok(rec.notes.length <= 1, rec.notes.join("\n"));
  const last = rec.statusAt(rec.length - 1);
  assert.ok(last.global.totalCounters.ticks > 0);
  const r = await cli(["replay", path, "--at", "end", "--no-color"], { dir: sockets.path });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fastn Status Dashboard/);
  assert.match(r.stdout, /conn-/);
});

Deno.test("an uncaught error flushes the change the stream held back", async () => {
  using sockets = socketDir();
  using dir = tempDir();
  const path = `${dir.path}/rec.jsonl`;
  await using app = start(["run", "-A", APP, "--record", path, "--mode", "crash"], {
    dir: sockets.path,
  });
  assert.notEqual(await app.exited(), 0);
  assert.match(app.stderr.text, /uncaught on purpose/);
  const rec = openRecording(path);
  const last = rec.statusAt(rec.length - 1);
  assert.deepEqual(last.global.children.map((c) => c.name), ["before-crash"]);
});

Deno.test("a shutdown that hangs is recorded to its end", async () => {
  using sockets = socketDir();
  using dir = tempDir();
  const path = `${dir.path}/rec.jsonl`;
  await using app = await startApp([APP, "--record", path, "--mode", "hang"], {
    dir: sockets.path,
  });
  app.child.kill("SIGTERM");
  assert.equal(await app.exited(), 1);
  assert.match(app.stderr.text, /hung/);
  const rec = openRecording(path);
  const last = rec.statusAt(rec.length - 1);
  const stubborn = last.global.children.find((c) => c.name === "stubborn");
  assert.ok(stubborn?.cancelled, JSON.stringify(last.global.children));
  assert.equal(last.global.cancelReason, "SIGTERM");
  assert.deepEqual(Deno.statSync(path).mode! & 0o777, 0o600);
});

Deno.test("status -w --record records what the watcher sees of a local process", async () => {
  using sockets = socketDir();
  using dir = tempDir();
  const path = `${dir.path}/watch.jsonl`;
  const selfPath = `${dir.path}/self.jsonl`;
  await using app = await startApp([APP, "--record", selfPath, "--mode", "busy"], {
    dir: sockets.path,
  });
  await using watcher = start(
    ["run", "-A", `${ROOT}cli.ts`, "status", "-w", "--pid", String(app.pid), "--record", path],
    { dir: sockets.path },
  );
  await watcher.stdout.until(
    (t) => (t.match(/fastn Status Dashboard/g) ?? []).length >= 2,
    "two screens",
  );
  watcher.child.kill("SIGINT");
  assert.equal(await watcher.exited(), 0, watcher.stderr.text);
  const rec = openRecording(path);
  assert.ok(rec.length >= 2);
  assert.deepEqual(rec.sources[0], { kind: "pid", pid: app.pid, name: "recording_app.ts" });
  assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
  assert.ok(rec.statusAt(rec.length - 1).global.totalCounters.ticks > 0);
});

// ── the web dashboard ──────────────────────────────────────────────────────────────────────────

const CHROMIUM = "/usr/bin/chromium";
const noChromium = !exists(CHROMIUM) && !Deno.env.get("CI");

Deno.test({
  name: "the web dashboard opens a recording from a file: a slider through its moments, and find",
  ignore: noChromium,
  async fn() {
    using dir = tempDir();
    const { path, live } = await sample(dir.path);
    const { chromium } = await import("playwright-core");
    const { serveHttp } = await import("../src/serve/http_listener.ts");
    const root = Context.root("live-root");
    const listener = serveHttp({ root, port: 0, name: "replay-test" });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on("request", (r) => void requests.push(r.url()));
      await page.goto(listener.address.url);
      await page.locator('li.ctx[data-path="live-root"]').first().waitFor({ timeout: 5_000 });
      await page.locator("#rec-file").setInputFiles(path);
      await page.locator('li.ctx[data-path="global"]').first().waitFor({ timeout: 5_000 });
      assert.match(await page.locator("#rec-time").textContent() ?? "", /change 1 of 11/);
      assert.equal(await page.locator('li.ctx[data-path="live-root"]').count(), 0);
      // The slider to the 7th moment: the conn context is there.
      await page.locator("#rec-slider").fill("6");
      await page.locator('li.ctx[data-path="global.http-proxy.conn"]').waitFor({ timeout: 2_000 });
      assert.match(
        await page.locator("#rec-time").textContent() ?? "",
        /\+1m 30s · change 7 of 11/,
      );
      // find deadlock: the first moment that has it, with the warning shown.
      await page.locator("#rec-find").fill("deadlock");
      await page.locator("#rec-find-go").click();
      await page.locator('ul.warnings li[data-code="deadlock"]').waitFor({ timeout: 2_000 });
      assert.equal(await page.locator("#rec-slider").inputValue(), String(8));
      assert.ok(live[8].warnings.some((w) => w.code === "deadlock"));
      await page.locator("#rec-find").fill("nothing-like-it");
      await page.locator("#rec-find-go").click();
      assert.match(await page.locator("#rec-note").textContent() ?? "", /never shows/);
      // Nothing was sent anywhere: only the page's own requests to the listener.
      const origin = new URL(listener.address.url).origin;
      assert.deepEqual(requests.filter((u) => !u.startsWith(origin)), []);
    } finally {
      await browser.close();
      await listener.close();
    }
  },
});

Deno.test("a recording from elsewhere is checked and cleaned like a status from a socket", async () => {
  using dir = tempDir();
  const path = `${dir.path}/rec.jsonl`;
  const root = Context.root("global", { now: () => T0 });
  root.child("job").create();
  const s = JSON.parse(JSON.stringify(status({ root, system: SEED_SYSTEM }))) as Status;
  const hostile = "\x1b]52;c;ZXZpbA==\x07job\x1b[2J\u202e";
  s.global.children[0].name = hostile;
  s.global.children[0].path = `global.${hostile}`;
  const w = new RecordingWriter(path);
  w.write(JSON.parse(JSON.stringify({ ...s, global: { ...s.global, children: [] } })));
  w.write({ ...s, timestamp: T0 + 1_000 });
  const broken = JSON.parse(JSON.stringify(s));
  broken.global.name = 5;
  broken.timestamp = T0 + 2_000;
  w.write(broken);
  w.close();

  for (const args of [["--at", "+1s"], ["--diff", "start", "+1s"], ["--at", "+1s", "--json"]]) {
    const io = collect();
    await replayCommand([path, ...args, "--no-color"], io);
    // deno-lint-ignore no-control-regex
    assert.doesNotMatch(io.stdout + io.stderr, /[\x1b\x07\u202e]/, args.join(" "));
  }
  const ok = collect();
  await replayCommand([path, "--at", "+1s", "--no-color"], ok);
  assert.match(ok.stdout, /job/);
  const bad = collect();
  await replayCommand([path, "--at", "end", "--no-color"], bad);
  assert.match(bad.stdout, /this moment cannot be shown: .*global\.name must be a string/);
});
