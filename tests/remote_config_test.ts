/**
 * `remote-access/config.toml`: peers by alias, the status allow-list, and errors that name the
 * line and the field.
 */

import assert from "node:assert/strict";
import { ConfigError, loadConfig, parseConfig, resolveTarget } from "../remote.ts";

const ALICE = "g1s3mpsms5m5cbl2pi4o2qk2i254d2asumfdidbr48mkfitkc7jg";
const BOB = "0".repeat(52);

/** The ConfigError `text` gives; fails when it parses. */
function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, "config.toml");
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError, the config parsed");
}

/** The line, field and message of the error `text` gives. */
function where(text: string): [number, string, string] {
  const e = errorOf(text);
  return [e.line, e.field, e.message];
}

Deno.test("a config names peers by alias and lists who may read the status", () => {
  const config = parseConfig(
    `# my peers
[peers.alice]
id52 = "${ALICE}"
addrs = ["/ip4/203.0.113.7/tcp/4001", "/dns4/alice.example.com/tcp/4001"]

[peers.bob]
id52 = "${BOB}"

[access]
status = ["alice", "${BOB}"]
`,
    "config.toml",
  );
  assert.deepEqual([...config.peers.keys()], ["alice", "bob"]);
  assert.deepEqual(config.peers.get("alice"), {
    alias: "alice",
    id52: ALICE,
    addrs: ["/ip4/203.0.113.7/tcp/4001", "/dns4/alice.example.com/tcp/4001"],
  });
  assert.deepEqual(config.peers.get("bob")?.addrs, []);
  assert.deepEqual([...config.statusAccess], [ALICE, BOB]);
});

Deno.test("a missing file is an empty config that allows nobody", async () => {
  const home = await Deno.makeTempDir();
  try {
    const config = await loadConfig({ home });
    assert.equal(config.path, `${home}/remote-access/config.toml`);
    assert.equal(config.peers.size, 0);
    assert.equal(config.statusAccess.size, 0);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a file on disk is read from the home's remote-access folder, and its errors name the path", async () => {
  const home = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${home}/remote-access`);
    const path = `${home}/remote-access/config.toml`;
    await Deno.writeTextFile(path, `[peers.alice]\nid52 = "${ALICE}"\n`);
    assert.equal((await loadConfig({ home })).peers.get("alice")?.id52, ALICE);
    await Deno.writeTextFile(path, `[peers.alice]\nid52 = "nope"\n`);
    await assert.rejects(
      loadConfig({ home }),
      (e) => e instanceof ConfigError && e.path === path && e.message.startsWith(`${path}:2: `),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a bad id52 names its line, its field and the bad character", () => {
  const bad = ALICE.slice(0, 7) + "z" + ALICE.slice(8);
  assert.deepEqual(where(`\n[peers.alice]\naddrs = []\nid52 = "${bad}"\n`), [
    4,
    "peers.alice.id52",
    `config.toml:4: peers.alice.id52: not an id52: "${bad}": character "z" at index 7 is not in ` +
    `the base32hex alphabet 0-9a-v`,
  ]);
  assert.deepEqual(where(`[peers.alice]\nid52 = "${ALICE.slice(1)}"\n`).slice(0, 2), [
    2,
    "peers.alice.id52",
  ]);
  assert.match(
    where(`[peers.alice]\nid52 = "${ALICE.slice(1)}"\n`)[2],
    /it has 51 characters, an id52 has 52$/,
  );
});

Deno.test("a missing or mistyped field names the table it belongs in", () => {
  assert.deepEqual(where(`[peers.alice]\naddrs = []\n`), [
    1,
    "peers.alice.id52",
    "config.toml:1: peers.alice.id52: is missing",
  ]);
  assert.deepEqual(where(`[peers]\nalice.id52 = 5\n`), [
    2,
    "peers.alice.id52",
    "config.toml:2: peers.alice.id52: must be a string, got a number (5)",
  ]);
  assert.deepEqual(where(`[peers.alice]\nid52 = "${ALICE}"\naddr = ["/ip4/1.2.3.4/tcp/1"]\n`), [
    3,
    "peers.alice.addr",
    "config.toml:3: peers.alice.addr: unknown field: a peer has id52 and addrs",
  ]);
  assert.deepEqual(where(`[peers.alice]\nid52 = "${ALICE}"\naddrs = "/ip4/1.2.3.4/tcp/1"\n`), [
    3,
    "peers.alice.addrs",
    'config.toml:3: peers.alice.addrs: must be an array of multiaddr strings, got a string ("/ip4/1.2.3.4/tcp/1")',
  ]);
  assert.deepEqual(where(`[peer.alice]\nid52 = "${ALICE}"\n`).slice(0, 2), [1, "peer"]);
  assert.deepEqual(where(`[access]\nshell = ["alice"]\n`).slice(0, 2), [2, "access.shell"]);
});

Deno.test("an address names its line in a multi-line list, and says what is wrong with it", () => {
  const text = (addr: string) =>
    `[peers.alice]\nid52 = "${ALICE}"\naddrs = [\n  "/ip4/10.0.0.1/tcp/4001",\n  "${addr}",\n]\n`;
  assert.deepEqual(where(text("/ip4/10.0.0.1/udp/4001")), [
    5,
    "peers.alice.addrs[1]",
    'config.toml:5: peers.alice.addrs[1]: "/ip4/10.0.0.1/udp/4001": expected /ip4/<address>/tcp/<port> (or ip6, dns, dns4, dns6 with tcp)',
  ]);
  const withP2p = "/ip4/10.0.0.1/tcp/1/p2p/12D3KooWJE2QoQUckiPuHFRaizSZcEuZ4szQNKpbeWwxh4fthhAR";
  assert.match(
    where(text(withP2p))[2],
    /leave out the \/p2p\/ part: the peer's id52 says who it is$/,
  );
  assert.match(
    where(text("/nonsense/1"))[2],
    /^config\.toml:5: peers\.alice\.addrs\[1\]: "\/nonsense\/1" is not a multiaddr/,
  );
});

Deno.test("an access entry that is neither an alias nor an id52 is named by its index", () => {
  assert.deepEqual(
    where(`[peers.alice]\nid52 = "${ALICE}"\n\n[access]\nstatus = [\n  "alice",\n  "bob",\n]\n`),
    [
      7,
      "access.status[1]",
      'config.toml:7: access.status[1]: "bob" is neither an alias defined in [peers] nor an id52',
    ],
  );
  const typo = BOB.slice(0, 51) + "x";
  assert.deepEqual(where(`[access]\nstatus = ["${typo}"]\n`).slice(0, 2), [2, "access.status[0]"]);
  assert.match(where(`[access]\nstatus = ["${typo}"]\n`)[2], /character "x" at index 51/);
  assert.deepEqual(where(`[access]\nstatus = "alice"\n`).slice(0, 2), [2, "access.status"]);
});

Deno.test("aliases must be usable on the command line", () => {
  assert.deepEqual(where(`[peers."a,b"]\nid52 = "${ALICE}"\n`).slice(0, 2), [1, 'peers."a,b"']);
  assert.match(where(`[peers.${BOB}]\nid52 = "${ALICE}"\n`)[2], /an alias must not be an id52/);
});

Deno.test("a TOML syntax error names its line and the key being written", () => {
  const e = errorOf(`[peers.alice]\nid52 = "${ALICE}"\naddrs = ["/ip4/1.2.3.4/tcp/1"\n`);
  assert.equal(e.field, "peers.alice.addrs");
  assert.equal(e.line, 3);
  assert.match(e.message, /^config\.toml:3: peers\.alice\.addrs: invalid TOML: /);
  const unterminated = errorOf(`[access]\nstatus = ["alice]\n`);
  assert.deepEqual([unterminated.line, unterminated.field], [2, "access.status"]);
});

Deno.test("a target resolves by alias, or by id52 through the addresses listed for it", () => {
  const config = parseConfig(
    `[peers.alice]\nid52 = "${ALICE}"\naddrs = ["/ip4/10.0.0.1/tcp/1"]\n\n` +
      `[peers.alice-lan]\nid52 = "${ALICE}"\naddrs = ["/ip4/192.168.1.2/tcp/1"]\n`,
  );
  assert.deepEqual(resolveTarget(config, "alice-lan"), {
    target: "alice-lan",
    alias: "alice-lan",
    id52: ALICE,
    addrs: ["/ip4/192.168.1.2/tcp/1"],
  });
  assert.deepEqual(resolveTarget(config, ALICE), {
    target: ALICE,
    alias: "alice",
    id52: ALICE,
    addrs: ["/ip4/10.0.0.1/tcp/1", "/ip4/192.168.1.2/tcp/1"],
  });
});
