import assert from "node:assert/strict";
import {
  CLOSED_ADDR,
  exitWithin,
  makeHome,
  otherId52,
  peerTable,
  startServer,
} from "./fixtures/remote_harness.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

async function cli(
  home: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", CLI, ...args],
    env: { FASTN_HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const [out, err] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const status = await exitWithin(child, 15_000);
  return { code: status.code, out, err };
}

Deno.test("cli.ts status alice,ghost shows alice's tree and names the peer that failed", async () => {
  const me = await makeHome();
  const serverHome = await makeHome();
  await serverHome.config(`[access]\nstatus = ["${me.id52}"]\n`);
  const server = await startServer(serverHome);
  try {
    await me.config(
      peerTable("alice", server.id52, server.addrs) +
        peerTable("ghost", otherId52(server.id52), [CLOSED_ADDR]),
    );
    const one = await cli(me.dir, ["status", "alice"]);
    assert.equal(one.code, 0, one.err);
    assert.match(one.out, /── alice · /);
    assert.match(one.out, /├── http-proxy \(/);

    const two = await cli(me.dir, ["status", "alice,ghost"]);
    assert.equal(two.code, 1, "one target failed");
    assert.match(two.out, /── alice · /, "the peer that answered is still shown");
    assert.match(
      two.err,
      /^cli\.ts status: ghost: nothing answers at \/ip4\/127\.0\.0\.1\/tcp\/9: /m,
      "the error names the target, and why it failed",
    );

    const json = await cli(me.dir, ["status", "alice", "--json"]);
    assert.equal(json.code, 0, json.err);
    const parsed = JSON.parse(json.out);
    assert.ok(Array.isArray(parsed) || typeof parsed === "object");
  } finally {
    assert.equal(await server.stop(), 0);
    await Promise.all([me.remove(), serverHome.remove()]);
  }
});

Deno.test("cli.ts status with an unknown alias or a bad id52 says why and exits 1", async () => {
  const me = await makeHome();
  try {
    const unknown = await cli(me.dir, ["status", "nobody"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /nobody/);
    const bad = await cli(me.dir, ["status", "a".repeat(51)]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /51/);
  } finally {
    await me.remove();
  }
});

Deno.test("cli.ts id prints this machine's id52, the same every time", async () => {
  const me = await makeHome();
  try {
    const a = await cli(me.dir, ["id"]);
    assert.equal(a.code, 0, a.err);
    assert.equal(a.out.trim(), me.id52);
    assert.match(a.out.trim(), /^[0-9a-v]{52}$/);
    assert.equal((await cli(me.dir, ["id", "extra"])).code, 2);
  } finally {
    await me.remove();
  }
});

Deno.test("cli.ts status --pid with a remote target is a usage error", async () => {
  const me = await makeHome();
  try {
    const r = await cli(me.dir, ["status", "--pid", "1", "alice"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--pid is for local processes/);
  } finally {
    await me.remove();
  }
});
