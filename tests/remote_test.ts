/**
 * Remote status between real processes on 127.0.0.1, each with a fastn home of its own.
 */

import assert from "node:assert/strict";
import type { Connection, Stream } from "@libp2p/interface";
import { lpStream } from "@libp2p/utils";
import { multiaddr } from "@multiformats/multiaddr";
import { Context, type Status } from "../mod.ts";
import {
  connectRemote,
  fetchRemoteStatus,
  InvalidId52Error,
  NoAddressError,
  PeerTimeoutError,
  remoteAccess,
  runRemoteStatus,
  serveRemoteStatus,
  STATUS_PROTOCOL,
  UnknownPeerError,
  watchRemoteStatus,
} from "../remote.ts";
import { loadKeyedIdentity, peerIdFromId52 } from "../src/remote/identity.ts";
import { createNode } from "../src/remote/node.ts";
import {
  clientCommand,
  exitWithin,
  type Home,
  LineReader,
  makeHome,
  peerTable,
  runClient,
  type ServerProcess,
  startServer,
} from "./fixtures/remote_harness.ts";

/** A server process whose `[access] status` lists `allowed`, and a cleanup for everything. */
async function serverAllowing(...allowed: Home[]): Promise<{ home: Home; server: ServerProcess }> {
  const home = await makeHome();
  await home.config(`[access]\nstatus = ${JSON.stringify(allowed.map((h) => h.id52))}\n`);
  return { home, server: await startServer(home) };
}

function names(status: Status): string[] {
  const out: string[] = [];
  const walk = (c: Status["global"]): void => {
    out.push(c.name);
    c.children.forEach(walk);
  };
  walk(status.global);
  return out;
}

async function stopAll(servers: ServerProcess[], homes: Home[]): Promise<void> {
  const codes = await Promise.all(servers.map((s) => s.stop()));
  assert.deepEqual(codes, servers.map(() => 0), "every server exits by itself with code 0");
  await Promise.all(homes.map((h) => h.remove()));
}

Deno.test("an allowed peer reads the tree of another process, and both exit by themselves", async () => {
  const me = await makeHome();
  const { home, server } = await serverAllowing(me);
  try {
    await me.config(peerTable("alice", server.id52, server.addrs));
    const run = await runClient(me, ["alice"]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    const lines = run.stdout.split("\n");
    assert.equal(lines[0], `── alice · ${server.id52.slice(0, 8)}… ──`);
    assert.match(run.stdout, /├── http-proxy \(/);
    assert.match(run.stdout, /alice-session .*user: alice/);
    assert.match(run.stdout, /Total: 1,013 requests \| Live: 1 connection/);
  } finally {
    await stopAll([server], [home, me]);
  }
});

Deno.test("an allowed peer asks by id52 and gets the same tree as JSON", async () => {
  const me = await makeHome();
  const { home, server } = await serverAllowing(me);
  try {
    await me.config(peerTable("alice", server.id52, server.addrs));
    const run = await runClient(me, ["--json", server.id52]);
    assert.equal(run.code, 0, run.stderr);
    const [answer] = JSON.parse(run.stdout);
    assert.equal(answer.target, server.id52);
    assert.equal(answer.alias, "alice");
    assert.ok(names(answer.status).includes("alice-session"));
  } finally {
    await stopAll([server], [home, me]);
  }
});

Deno.test("an allowed peer watches a change arrive", async () => {
  const me = await makeHome();
  const { home, server } = await serverAllowing(me);
  try {
    await me.config(peerTable("alice", server.id52, server.addrs));
    // In this process: the first snapshot at once, then the one with the new child.
    let added: string | undefined;
    for await (const s of watchRemoteStatus("alice", { home: me.dir })) {
      if (added === undefined) {
        assert.ok(names(s).includes("http-proxy"));
        added = await server.addChild();
      } else if (names(s).includes(added)) {
        break;
      }
    }
    // In a client process: `status alice -w --json`, one line per change, ended by SIGTERM.
    const child = clientCommand(me, ["alice", "-w", "--json"]).spawn();
    const out = new LineReader(child.stdout);
    const stderr = new Response(child.stderr).text();
    const first = JSON.parse(await out.until((l) => l.startsWith("{"), "the first snapshot"));
    assert.equal(first.target, "alice");
    const next = await server.addChild();
    await out.until((l) => names(JSON.parse(l).status).includes(next), `a snapshot with ${next}`);
    child.kill("SIGTERM");
    await out.rest();
    const status = await exitWithin(child, 10_000);
    assert.equal(await stderr, "");
    assert.equal(status.code, 0);
  } finally {
    await stopAll([server], [home, me]);
  }
});

Deno.test("a peer that is not on the allow-list is refused, and the client says so", async () => {
  const friend = await makeHome();
  const stranger = await makeHome();
  const { home, server } = await serverAllowing(friend);
  try {
    await stranger.config(peerTable("alice", server.id52, server.addrs));
    await friend.config(peerTable("alice", server.id52, server.addrs));
    const run = await runClient(stranger, ["alice"]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^cli\.ts status: refused by alice: /);
    // The server refused at connection time: it counted the refusal and read no request.
    const status = await fetchRemoteStatus("alice", { home: friend.dir });
    const listener = status.global.children.find((c) => c.name === "remote-access")!;
    assert.equal(listener.totalCounters.refused, 1);
    assert.equal(listener.totalCounters.requests, 1); // the friend's, not the stranger's
  } finally {
    await stopAll([server], [home, friend, stranger]);
  }
});

Deno.test("a wrong id52 fails the identity check", async () => {
  const me = await makeHome();
  const impostor = await makeHome(); // a real key that is not the server's
  const { home, server } = await serverAllowing(me);
  try {
    await me.config(peerTable("alice", impostor.id52, server.addrs));
    const run = await runClient(me, ["alice"]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(
      run.stderr,
      `cli.ts status: alice: the peer at its address is not ${impostor.id52}: its key does not ` +
        `match the expected identity (wrong id52 in config.toml, or another machine at that ` +
        `address)\n`,
    );
  } finally {
    await stopAll([server], [home, me, impostor]);
  }
});

Deno.test("several targets at once: one is down, the others are still shown, exit code 1", async () => {
  const me = await makeHome();
  const down = await makeHome();
  const [a, b] = await Promise.all([serverAllowing(me), serverAllowing(me)]);
  try {
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (closed.addr as Deno.NetAddr).port;
    closed.close(); // nothing listens there any more
    await me.config(
      peerTable("alice", a.server.id52, a.server.addrs) +
        peerTable("bob", b.server.id52, b.server.addrs) +
        peerTable("prod", down.id52, [`/ip4/127.0.0.1/tcp/${port}`]),
    );
    const run = await runClient(me, ["alice,bob,prod"]);
    assert.equal(run.code, 1);
    const headers = run.stdout.split("\n").filter((l) => l.startsWith("── "));
    assert.deepEqual(headers, [
      `── alice · ${a.server.id52.slice(0, 8)}… ──`,
      `── bob · ${b.server.id52.slice(0, 8)}… ──`,
    ]);
    assert.match(
      run.stderr,
      new RegExp(
        `^cli\\.ts status: prod: nothing answers at /ip4/127\\.0\\.0\\.1/tcp/${port}: .*ECONNREFUSED`,
      ),
    );
    assert.equal(run.stderr.split("\n").filter(Boolean).length, 1);

    const json = await runClient(me, ["--json", "prod,alice"]);
    assert.equal(json.code, 1);
    const list = JSON.parse(json.stdout);
    assert.deepEqual(list.map((e: { target: string }) => e.target), ["prod", "alice"]);
    assert.equal(list[0].error.name, "PeerUnreachableError");
    assert.ok(names(list[1].status).includes("http-proxy"));
  } finally {
    await stopAll([a.server, b.server], [a.home, b.home, me, down]);
  }
});

Deno.test("1,000 malformed, truncated and oversized frames are refused one by one while an allowed client keeps getting answers", async () => {
  const good = await makeHome();
  const rogue = await makeHome();
  const { home, server } = await serverAllowing(good, rogue);
  await good.config(peerTable("alice", server.id52, server.addrs));
  const node = await createNode(await loadKeyedIdentity({ home: rogue.dir }));
  const target = server.addrs.map((a) => multiaddr(`${a}/p2p/${peerIdFromId52(server.id52)}`));
  const conn = await node.dial(target);
  const remote = await connectRemote("alice", { home: good.dir });
  try {
    const bad = badRequests();
    let done = false;
    const answers: Promise<number> = (async () => {
      let n = 0;
      while (!done) {
        const s = await remote.status();
        assert.equal(s.global.name, "global");
        n++;
      }
      return n;
    })();
    const verdicts: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < 1000) {
        const i = next++;
        verdicts[i] = await sendRaw(conn, bad[i % bad.length]);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    done = true;
    const good_answers = await answers;
    assert.equal(verdicts.length, 1000);
    const wrong = verdicts.flatMap((v, i) => v === bad[i % bad.length].refusal ? [] : [[i, v]]);
    assert.deepEqual(wrong, [], "every bad frame is refused with an error frame saying why");
    assert.ok(good_answers >= 10, `the allowed client got ${good_answers} answers meanwhile`);
    // and the rogue peer itself can still ask properly afterwards
    assert.match(await sendRaw(conn, frame(new TextEncoder().encode("{}"))), /^\{"status"/);
  } finally {
    await remote.close();
    await node.stop();
    await stopAll([server], [home, good, rogue]);
  }
});

Deno.test("a peer holds at most 8 streams at once; the 9th gets an error frame", async () => {
  const me = await makeHome();
  const { home, server } = await serverAllowing(me);
  await me.config(peerTable("alice", server.id52, server.addrs));
  const remote = await connectRemote("alice", { home: me.dir });
  const stop = new AbortController();
  try {
    const watches = Array.from({ length: 8 }, () => remote.watch({ signal: stop.signal }));
    await Promise.all(watches.map((w) => w.next())); // 8 open streams, each had its first frame
    await assert.rejects(
      remote.status(),
      /alice: it answered: too many open streams \(at most 8\)/,
    );
    stop.abort();
    await Promise.all(watches.map((w) => w.return?.()));
  } finally {
    await remote.close();
    await stopAll([server], [home, me]);
  }
});

Deno.test("a peer that does not answer in time fails with PeerTimeoutError", async () => {
  const me = await makeHome();
  const silent = await makeHome();
  // A TCP port that accepts and then says nothing: no handshake ever completes.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) accepted.push(c);
  })();
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    await me.config(peerTable("silent", silent.id52, [`/ip4/127.0.0.1/tcp/${port}`]));
    const err = await fetchRemoteStatus("silent", { home: me.dir, timeoutMs: 300 }).catch((e) => e);
    assert.ok(err instanceof PeerTimeoutError, String(err));
    assert.equal(err.message, "silent did not answer within 300 ms");
    assert.equal(err.id52, silent.id52);
  } finally {
    listener.close();
    await accepting;
    for (const c of accepted) c.close();
    await Promise.all([me.remove(), silent.remove()]);
  }
});

Deno.test("targets that cannot be dialled are named errors before any connection", async () => {
  const me = await makeHome();
  const other = await makeHome();
  try {
    await me.config(
      `[peers.nowhere]\nid52 = "${other.id52}"\n\n[peers.alice]\nid52 = "${other.id52}"\naddrs = []\n`,
    );
    const ask = (target: string) => fetchRemoteStatus(target, { home: me.dir }).catch((e) => e);

    const unknown = await ask("bob");
    assert.ok(unknown instanceof UnknownPeerError);
    assert.match(
      unknown.message,
      /^unknown peer "bob": no \[peers\.bob\] in .*config\.toml and not an id52 \(known: nowhere, alice\)$/,
    );

    const typo = await ask(other.id52.slice(0, 10) + "w" + other.id52.slice(11));
    assert.ok(typo instanceof InvalidId52Error);
    assert.equal(typo.index, 10);
    assert.match(
      typo.message,
      /character "w" at index 10 is not in the base32hex alphabet 0-9a-v$/,
    );

    const short = await ask(other.id52.slice(0, 50));
    assert.ok(short instanceof InvalidId52Error);
    assert.match(short.message, /it has 50 characters, an id52 has 52$/);

    const noAddr = await ask("nowhere");
    assert.ok(noAddr instanceof NoAddressError);
    assert.match(noAddr.message, /^nowhere: no known address for peer /);
    assert.ok((await ask(other.id52)) instanceof NoAddressError);

    // The command line says the same on stderr and exits 1.
    const err: string[] = [];
    const code = await runRemoteStatus(["bob,nowhere"], {
      json: false,
      watch: false,
      color: false,
      home: me.dir,
      io: { out: () => {}, err: (t) => err.push(t), isTerminal: false },
    });
    assert.equal(code, 1);
    assert.equal(err.length, 2);
    assert.match(err[0], /^cli\.ts status: unknown peer "bob"/);
    assert.match(err[1], /^cli\.ts status: nowhere: no known address/);
  } finally {
    await Promise.all([me.remove(), other.remove()]);
  }
});

Deno.test("a server started for main() keeps answering during the shutdown, until it is stopped", async () => {
  const me = await makeHome();
  const serverHome = await makeHome();
  await serverHome.config(`[access]\nstatus = ["${me.id52}"]\n`);
  const root = Context.root("global");
  root.child("stuck-task").create();
  const server = await remoteAccess({ home: serverHome.dir }).start(root);
  try {
    await me.config(peerTable("alice", server.id52, server.addrs));
    root.cancel("SIGTERM");
    const status = await fetchRemoteStatus("alice", { home: me.dir });
    const stuck = status.global.children.find((c) => c.name === "stuck-task");
    assert.equal(stuck?.cancelled, true);
  } finally {
    await server.stop();
    await Promise.all([me.remove(), serverHome.remove()]);
  }
});

Deno.test("a server started directly stops when its tree is cancelled", async () => {
  const serverHome = await makeHome();
  const root = Context.root("global");
  const server = await serveRemoteStatus({ root, home: serverHome.dir });
  root.cancel("shutdown");
  await server.stop(); // resolves with the stop the cancel began
  assert.deepEqual(server.addrs, []);
  await serverHome.remove();
});

// ---- raw frames ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function frame(body: Uint8Array): Uint8Array {
  return new Uint8Array([...varint(body.length), ...body]);
}

interface Bad {
  /** The bytes sent. */
  bytes: Uint8Array;
  /** Whether the client closes its side after sending (a truncated frame needs it). */
  close: boolean;
  /** The error frame the server answers with. */
  refusal?: string;
}

function badRequests(): Bad[] {
  const text = (s: string) => new TextEncoder().encode(s);
  const notJson = "bad request: not JSON";
  const truncated = "bad request: the stream ended inside the frame";
  const tooLarge = "bad request: larger than 4096 bytes";
  const badPrefix = "bad request: invalid length prefix";
  return [
    { bytes: frame(text("{not json")), close: false, refusal: notJson },
    { bytes: frame(text("[1,2,3]")), close: false, refusal: "bad request: expected a JSON object" },
    {
      bytes: frame(text('{"shell":"rm -rf /"}')),
      close: false,
      refusal: 'bad request: unknown field "shell"',
    },
    {
      bytes: frame(text('{"minIntervalMs":-5}')),
      close: false,
      refusal: "bad request: minIntervalMs must be a non-negative number",
    },
    {
      bytes: frame(new Uint8Array([0xff, 0xfe, 0xfd])),
      close: false,
      refusal: "bad request: not UTF-8",
    },
    { bytes: frame(new Uint8Array(0)), close: false, refusal: notJson }, // an empty frame
    { bytes: new Uint8Array([...varint(100), ...text("{}{}{}")]), close: true, refusal: truncated },
    { bytes: new Uint8Array([0x85]), close: true, refusal: truncated }, // inside the length prefix
    {
      bytes: new Uint8Array([...varint(4097), ...new Uint8Array(64)]),
      close: false,
      refusal: tooLarge,
    },
    { bytes: new Uint8Array([...varint(1 << 30), 1, 2, 3]), close: false, refusal: badPrefix },
    { bytes: new Uint8Array(12).fill(0xff), close: false, refusal: badPrefix }, // an endless varint
    {
      bytes: new Uint8Array(0),
      close: true,
      refusal: "bad request: the stream ended before a request",
    },
  ];
}

/** Sends `bad` on a new status stream and returns the error message (or the raw answer). */
async function sendRaw(conn: Connection, bad: Bad | Uint8Array): Promise<string> {
  const b = bad instanceof Uint8Array ? { bytes: bad, close: false } : bad;
  const stream: Stream = await conn.newStream(STATUS_PROTOCOL);
  try {
    if (b.bytes.length > 0) stream.send(b.bytes);
    if (b.close) await stream.close();
    const lp = lpStream(stream, { maxDataLength: 16 << 20, maxBufferSize: 16 << 20 });
    const answer = new TextDecoder().decode((await lp.read()).subarray());
    if (answer.startsWith('{"status"')) return answer;
    return JSON.parse(answer).error;
  } catch (e) {
    return `no answer: ${(e as Error).name}: ${(e as Error).message}`;
  } finally {
    if (stream.status === "open") stream.abort(new Error("done"));
  }
}
