/**
 * What a person sees when a process starts or cannot start: remote access saying who it is,
 * configuration mistakes in one line with exit code 2, and every missing Deno permission named
 * in one message.
 *
 * @module
 */

import assert from "node:assert/strict";
import { cli, MAIN_APP, ROOT, socketDir, start } from "./fixtures/process.ts";

const REMOTE_MAIN = `${ROOT}tests/fixtures/remote_main.ts`;

function home(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "fastn-home-test-" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

function writeConfig(home: string, text: string): string {
  Deno.mkdirSync(`${home}/remote-access`, { recursive: true });
  Deno.writeTextFileSync(`${home}/remote-access/config.toml`, text);
  return `${home}/remote-access/config.toml`;
}

/** No line of a stack trace. */
function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, text);
}

Deno.test("remote access says its id52 and addresses at start, and warns that config.toml is missing", async () => {
  using dir = socketDir();
  using h = home();
  await using app = start(["run", "-A", REMOTE_MAIN], {
    dir: dir.path,
    env: { FASTN_HOME: h.path },
  });
  await app.stdout.until((t) => t.includes("ready"), "the ready line", 20_000);
  const err = await app.stderr.until((t) => /warning/.test(t), "the warning");
  assert.match(
    err,
    /^remote access: this machine is [0-9a-v]{52}, listening on \/ip4\/127\.0\.0\.1\/tcp\/\d+$/m,
  );
  assert.match(
    err,
    new RegExp(
      `^remote access: warning: there is no ${h.path}/remote-access/config\\.toml, so every ` +
        `peer is refused`,
      "m",
    ),
  );
  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 0, app.stderr.text);
});

Deno.test("remote access warns when [access] status is empty", async () => {
  using dir = socketDir();
  using h = home();
  const path = writeConfig(h.path, "[access]\nstatus = []\n");
  await using app = start(["run", "-A", REMOTE_MAIN], {
    dir: dir.path,
    env: { FASTN_HOME: h.path },
  });
  const err = await app.stderr.until((t) => /warning/.test(t), "the warning", 20_000);
  assert.match(err, new RegExp(`warning: \\[access\\] status in ${path} is empty`));
  await app.stdout.until((t) => t.includes("ready"), "the ready line"); // signals are handled
  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 0, app.stderr.text);
});

Deno.test("a bad config.toml stops remote access in one line, without a stack, exit 2", async () => {
  using dir = socketDir();
  using h = home();
  const path = writeConfig(h.path, '[access]\nstatus = ["bob"]\n');
  await using app = start(["run", "-A", REMOTE_MAIN], {
    dir: dir.path,
    env: { FASTN_HOME: h.path },
  });
  assert.deepEqual(await app.exited(), 2);
  assert.deepEqual(app.stdout.text, ""); // fn never ran
  assert.deepEqual(
    app.stderr.text,
    `remote access failed to start: ${path}:2: access.status[0]: "bob" is neither an alias ` +
      `defined in [peers] nor an id52\n`,
  );
});

Deno.test("a short token from the environment is one line and exit 2", async () => {
  using dir = socketDir();
  await using app = start(["run", "-A", `${ROOT}examples/service.ts`, "--http-port", "0"], {
    dir: dir.path,
    env: { FASTN_CONTEXT_TOKEN: "short" },
  });
  assert.deepEqual(await app.exited(), 2);
  assert.deepEqual(
    app.stderr.text,
    "the HTTP listener failed to start: the environment variable FASTN_CONTEXT_TOKEN must be " +
      "at least 16 characters, got 5\n",
  );
});

Deno.test("main() with remote access names every missing permission in one message, exit 2", async () => {
  using dir = socketDir();
  using h = home();
  await using app = start(["run", "--no-prompt", "--allow-env", REMOTE_MAIN], {
    dir: dir.path,
    env: { FASTN_HOME: h.path },
  });
  assert.deepEqual(await app.exited(), 2);
  assertNoStack(app.stderr.text);
  const lines = app.stderr.text.trimEnd().split("\n");
  assert.deepEqual(lines.length, 1, app.stderr.text);
  assert.match(lines[0], /^remote_main: missing Deno permissions: /);
  for (
    const flag of [
      `--allow-read=${dir.path}`,
      `--allow-write=${dir.path}`,
      "--allow-net",
      `--allow-read=${h.path}`,
      `--allow-write=${h.path}`,
    ]
  ) assert.ok(lines[0].includes(` ${flag}`), `${flag} in ${lines[0]}`);
});

Deno.test("main() without permissions names every missing flag in one warning and runs on", async () => {
  using dir = socketDir();
  await using app = start(["run", "--no-prompt", MAIN_APP, "--mode", "return"], { dir: dir.path });
  assert.deepEqual(await app.exited(), 0);
  const warning = app.stderr.text.split("\n").filter((l) => l.includes("endpoint is off"));
  assert.deepEqual(warning.length, 1, app.stderr.text);
  for (
    const flag of [
      "--allow-env=FASTN_CONTEXT_DIR",
      "--allow-sys=uid",
      "--allow-read=/tmp/fastn-context-<uid>",
      "--allow-write=/tmp/fastn-context-<uid>",
      "--allow-net",
    ]
  ) assert.ok(warning[0].includes(flag), `${flag} in ${warning[0]}`);
});

Deno.test("the README's minimal flags are enough for main() and for cli.ts status", async () => {
  using dir = socketDir();
  const flags = [
    "--no-prompt",
    "--allow-env=FASTN_CONTEXT_DIR",
    `--allow-read=${dir.path}`,
    `--allow-write=${dir.path}`,
    "--allow-net",
  ];
  await using app = start(["run", ...flags, MAIN_APP], { dir: dir.path });
  await app.stdout.until((t) => /^ready/m.test(t), "the ready line");
  await using reader = start(["run", ...flags, `${ROOT}cli.ts`, "status"], { dir: dir.path });
  assert.deepEqual(await reader.exited(), 0, reader.stderr.text);
  assert.match(reader.stdout.text, /── pid \d+ · main_app · up /);
  await app.closeStdin();
  assert.deepEqual(await app.exited(), 0);
  assert.doesNotMatch(app.stderr.text, /endpoint is off/);
});

Deno.test("cli.ts names every missing permission in one line, exit 2", async () => {
  using dir = socketDir();
  using h = home();
  const run = async (args: string[]): Promise<{ code: number; stderr: string }> => {
    await using p = start(["run", "--no-prompt", `${ROOT}cli.ts`, ...args], {
      dir: dir.path,
      env: { FASTN_HOME: h.path },
    });
    await p.closeStdin();
    return { code: await p.exited(), stderr: p.stderr.text };
  };
  const local = await run(["status"]);
  assert.deepEqual(local.code, 2);
  assert.match(
    local.stderr,
    /^cli\.ts status: missing Deno permissions: --allow-env=FASTN_CONTEXT_DIR --allow-sys=uid --allow-read=\S+ --allow-write=\S+ --allow-net .*-A for all\n$/,
  );
  const remote = await run(["status", "alice"]);
  assert.deepEqual(remote.code, 2);
  assert.match(
    remote.stderr,
    /^cli\.ts status: missing Deno permissions: --allow-env --allow-net --allow-read=\S+ --allow-write=\S+, or -A for all\n$/,
  );
  const id = await run(["id"]);
  assert.deepEqual(id.code, 2);
  assert.match(id.stderr, /^cli\.ts id: missing Deno permissions: --allow-env --allow-read=\S+/);
  // with -A they run (no process: exit 1, said in one line)
  assert.deepEqual((await cli(["status"], { dir: dir.path })).code, 1);
});

Deno.test("the demo and local status load no npm package: deno info lists none", async () => {
  for (const file of ["examples/demo.ts", "examples/service.ts", "cli.ts", "mod.ts"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", file],
      cwd: ROOT,
      stdout: "piped",
    }).output();
    // (Its npmPackages is the lockfile's whole snapshot; the modules are what the file loads.)
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: Array<{ kind: string; specifier: string }>;
    };
    const npm = info.modules.filter((m) => m.kind === "npm" || m.specifier.startsWith("npm:"));
    assert.deepEqual(npm.map((m) => m.specifier), [], file);
    assert.ok(info.modules.length > 0, file);
  }
});

Deno.test("cli.ts status with an empty DENO_DIR downloads nothing from npm", async () => {
  using dir = socketDir();
  const denoDir = Deno.makeTempDirSync({ prefix: "fastn-deno-dir-" });
  try {
    await using p = start(["run", "-A", `${ROOT}cli.ts`, "status"], {
      dir: dir.path,
      env: { DENO_DIR: denoDir },
    });
    await p.closeStdin();
    assert.deepEqual(await p.exited(), 1); // no process found
    assert.match(p.stderr.text, /no process found/);
    assert.doesNotMatch(p.stderr.text, /Download/);
    assert.throws(() => Deno.statSync(`${denoDir}/npm/registry.npmjs.org`));
  } finally {
    Deno.removeSync(denoDir, { recursive: true });
  }
});

Deno.test("the demo run with an empty DENO_DIR downloads nothing from npm", async () => {
  using dir = socketDir();
  const denoDir = Deno.makeTempDirSync({ prefix: "fastn-deno-dir-" });
  try {
    await using p = start(["run", "-A", `${ROOT}examples/demo.ts`, "--calm"], {
      dir: dir.path,
      env: { DENO_DIR: denoDir },
    });
    await p.closeStdin();
    assert.deepEqual(await p.exited(), 0, p.stderr.text);
    assert.match(p.stdout.text, /the service exited with code 0/);
    assert.doesNotMatch(p.stdout.text + p.stderr.text, /Download/);
    assert.throws(() => Deno.statSync(`${denoDir}/npm/registry.npmjs.org`));
  } finally {
    Deno.removeSync(denoDir, { recursive: true });
  }
});
