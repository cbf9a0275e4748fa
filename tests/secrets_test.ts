/**
 * Secrets: values marked `{ secret: true }`, and values under keys named like secrets, never
 * leave the process through a status (status(), statusJson(), the dashboard, the stream, the
 * endpoint's routes, /metrics, a crash report, remote access), while getData() still returns them.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  configure,
  Context,
  main,
  Metric,
  renderStatus,
  status,
  statusJson,
  statusStream,
} from "../mod.ts";
import { serveStatus } from "../src/serve/endpoint.ts";
import { socketDir } from "./fixtures/process.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

const SECRET = "hunter2-s3cr3t-value";

/** Every way a status of `root` can be written out, as text. */
async function everyOutput(root: Context): Promise<string[]> {
  const s = status({ root });
  const ac = new AbortController();
  let streamed = "";
  for await (const snap of statusStream({ root, signal: ac.signal })) {
    streamed = JSON.stringify(snap) + String(snap);
    ac.abort();
  }
  return [
    JSON.stringify(s),
    String(s),
    renderStatus(s, { color: true }),
    JSON.stringify(statusJson({ root })),
    streamed,
  ];
}

Deno.test("a value set with { secret: true } is redacted in every status, and getData returns it", async () => {
  const root = Context.root("global");
  const conn = root.child("conn").create();
  conn.setData("dsn", `postgres://app:${SECRET}@db/app`, { secret: true });
  conn.setData("peer", "alice");
  assert.deepEqual(conn.getData("dsn"), `postgres://app:${SECRET}@db/app`);
  for (const text of await everyOutput(root)) {
    assert.ok(!text.includes(SECRET), text);
  }
  const [shown] = statusJson({ root }).global.children;
  assert.deepEqual(shown.data, { dsn: "[redacted]", peer: "alice" });
  assert.match(String(status({ root })), /dsn: \[redacted\]/);
});

Deno.test("withData(key, value, { secret: true }) marks the child's value secret from the start", async () => {
  const root = Context.root("global");
  const job = root.child("job").withData("session", SECRET, { secret: true })
    .withData("shell", "bash").create();
  assert.deepEqual(job.getData("session"), SECRET);
  assert.deepEqual(statusJson({ root }).global.children[0].data, {
    session: "[redacted]",
    shell: "bash",
  });
  for (const text of await everyOutput(root)) assert.ok(!text.includes(SECRET));
});

Deno.test("keys named like secrets are redacted whatever their case and separators", () => {
  const root = Context.root("global");
  const secretKeys = [
    "token",
    "Password",
    "db_passwd",
    "client_secret",
    "X-API-Key",
    "apiKey",
    "Authorization",
    "Set-Cookie",
    "private_key",
    "aws_credentials",
    "refresh-token",
  ];
  for (const key of secretKeys) root.setData(key, SECRET);
  for (const key of ["peer", "path", "user", "shell", "last_command"]) root.setData(key, "shown");
  const data = statusJson({ root }).global.data;
  for (const key of secretKeys) assert.deepEqual(data[key], "[redacted]", key);
  for (const key of ["peer", "path", "user", "shell", "last_command"]) {
    assert.deepEqual(data[key], "shown", key);
  }
  for (const key of secretKeys) assert.deepEqual(root.getData(key), SECRET);
});

Deno.test("keys named like secrets inside a data value are redacted at any depth, the stored value untouched", () => {
  const root = Context.root("global");
  const value = {
    host: "db.internal",
    login: { user: "app", password: SECRET, history: [{ token: SECRET, at: 1 }] },
    ports: [5432, 5433],
  };
  root.setData("database", value);
  assert.deepEqual(statusJson({ root }).global.data.database, {
    host: "db.internal",
    login: { user: "app", password: "[redacted]", history: [{ token: "[redacted]", at: 1 }] },
    ports: [5432, 5433],
  });
  assert.deepEqual(root.getData("database"), value);
  assert.ok(!String(status({ root })).includes(SECRET));
});

Deno.test("a text metric named like a secret is redacted; numbers and other metrics stay", () => {
  const root = Context.root("global");
  root.addMetric("session_token", Metric.text(SECRET));
  root.addMetric("tokens_used", Metric.counter(42));
  root.addMetric("shell", Metric.text("bash"));
  assert.deepEqual(statusJson({ root }).global.metrics, {
    session_token: { kind: "text", value: "[redacted]" },
    tokens_used: { kind: "counter", value: 42 },
    shell: { kind: "text", value: "bash" },
  });
});

Deno.test("a key once marked secret stays secret when it is set again without the option", () => {
  const root = Context.root("global");
  root.setData("dsn", "first", { secret: true });
  root.setData("dsn", SECRET);
  root.setData("dsn", SECRET, { secret: false });
  assert.deepEqual(statusJson({ root }).global.data, { dsn: "[redacted]" });
  assert.deepEqual(root.getData("dsn"), SECRET);
});

Deno.test("a bad secret option is a TypeError naming it, and nothing is stored", () => {
  const root = Context.root("global");
  for (const options of ["secret", 1, null, { secret: "yes" }, { secret: 1 }]) {
    assert.throws(() => root.setData("k", SECRET, options as Any), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^options(\.secret)? must be/);
      return true;
    });
    assert.throws(() => root.child("c").withData("k", SECRET, options as Any), TypeError);
  }
  assert.deepEqual(root.getData("k"), undefined);
  assert.deepEqual(statusJson({ root }).global.data, {});
});

Deno.test("configure({ secretKeys }) changes which names are secret; a bad list changes nothing", () => {
  const before = configure();
  try {
    assert.ok(before.secretKeys.includes("password"));
    const root = Context.root("global");
    root.setData("customer_ssn", "078-05-1120");
    root.setData("password", "p");
    assert.deepEqual(statusJson({ root }).global.data.customer_ssn, "078-05-1120");
    configure({ secretKeys: [...before.secretKeys, "SSN"] });
    assert.deepEqual(statusJson({ root }).global.data.customer_ssn, "[redacted]");
    configure({ secretKeys: [] });
    assert.deepEqual(statusJson({ root }).global.data, {
      customer_ssn: "078-05-1120",
      password: "p",
    });
    const now = configure();
    const bad: Array<[unknown, ErrorConstructor, RegExp]> = [
      ["token", TypeError, /^options\.secretKeys must be an array of strings/],
      [[1], TypeError, /^options\.secretKeys\[0\] must be a string/],
      [["ok", ""], RangeError, /^options\.secretKeys\[1\] must not be empty/],
      [["a\nb"], TypeError, /^options\.secretKeys\[0\] must not contain control characters/],
      [Array(257).fill("k"), RangeError, /at most 256 entries/],
    ];
    for (const [secretKeys, type, message] of bad) {
      assert.throws(() => configure({ secretKeys } as Any), (e: Error) => {
        assert.ok(e instanceof type, String(e));
        assert.match(e.message, message);
        return true;
      });
    }
    assert.deepEqual(configure(), now, "nothing changed");
  } finally {
    configure(before);
  }
});

Deno.test("the endpoint's /status, /status/text, /status/stream and /metrics carry no secret", async () => {
  using dir = socketDir();
  const root = Context.root("global");
  root.child("conn").withData("api_key", SECRET).withData("peer", "alice").create()
    .setData("dsn", SECRET, { secret: true });
  root.addMetric("auth_token", Metric.text(SECRET));
  await using endpoint = serveStatus({ root, dir: dir.path });
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: endpoint.path } });
  try {
    for (const route of ["/status", "/status/text", "/status/text?color=1", "/metrics"]) {
      const res = await fetch(`http://localhost${route}`, { client });
      const text = await res.text();
      assert.deepEqual(res.status, 200, route);
      assert.ok(!text.includes(SECRET), `${route} shows the secret`);
    }
    for (const route of ["/status/stream", "/status/stream?format=text"]) {
      const ac = new AbortController();
      const res = await fetch(`http://localhost${route}`, { client, signal: ac.signal });
      const reader = res.body!.getReader();
      let text = "";
      while (!text.includes("\n\n")) {
        const r = await reader.read();
        if (r.done) break;
        text += new TextDecoder().decode(r.value);
      }
      ac.abort();
      await reader.cancel().catch(() => {});
      assert.match(text, /^event: status/);
      assert.ok(!text.includes(SECRET), `${route} shows the secret`);
    }
  } finally {
    client.close();
  }
});

Deno.test("the tree main() prints when fn fails shows no secret", async () => {
  const root = Context.root("global");
  const reports: string[] = [];
  const code = await main(async (ctx) => {
    ctx.child("db").withData("password", SECRET).create();
    await Promise.resolve();
    throw new Error("boom");
  }, { root, endpoint: false, color: false, exit: () => {}, report: (t) => reports.push(t) });
  assert.deepEqual(code, 1);
  assert.match(reports.join("\n"), /password: \[redacted\]/);
  assert.ok(!reports.join("\n").includes(SECRET));
});

Deno.test("no status of a process serving remote access shows its identity key, which is 0600", async () => {
  const { remoteAccess } = await import("../remote.ts");
  const { loadKeyedIdentity } = await import("../src/remote/identity.ts");
  const home = await Deno.makeTempDir({ prefix: "fastn-home-" });
  const root = Context.root("global");
  const server = await remoteAccess({ home }).start(root);
  try {
    const identity = await loadKeyedIdentity({ home });
    assert.deepEqual((await Deno.stat(identity.path)).mode! & 0o777, 0o600);
    const raw = identity.privateKey.raw;
    const seed = raw.subarray(0, 32);
    const file = await Deno.readFile(identity.path);
    const forms = [
      hex(seed),
      hex(raw),
      hex(file),
      btoa(String.fromCharCode(...seed)).replace(/=+$/, ""),
      btoa(String.fromCharCode(...file)).replace(/=+$/, ""),
    ];
    const outputs = await everyOutput(root);
    assert.ok(outputs[0].includes(identity.id52), "the public id52 is shown");
    for (const text of outputs) {
      for (const form of forms) assert.ok(!text.includes(form), "a status shows the key");
    }
  } finally {
    await (server as { stop(): Promise<void> }).stop();
    await Deno.remove(home, { recursive: true });
  }
});

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
