/**
 * The reading side (issue 18): what `cli.ts status` reads comes from outside the process and is
 * not trusted. A socket directory another user made is refused, hostile text never reaches the
 * terminal raw, a status that is not one is refused naming the field, stale-socket cleanup
 * removes only sockets, secrets in thrown values are redacted, idle streams cannot lock the
 * endpoint out, and names refuse invisible and bidi characters.
 */

import assert from "node:assert/strict";
import { configure, Context, main, renderStatus, status, statusJson } from "../mod.ts";
import { processInfo, serveRoutes } from "../src/serve/endpoint.ts";
import { cli, exists, socketDir } from "./fixtures/process.ts";
import { assertClean, EVIL, hostileStatus } from "./fixtures/hostile_status.ts";

const encoder = new TextEncoder();

/** A forged endpoint at `<dir>/<this pid>.sock` that answers `status` (and `info`) as given. */
function fakeEndpoint(
  dir: string,
  answers: { status: unknown; name?: string; text?: string },
): { path: string; close(): Promise<void> } {
  const path = `${dir}/${Deno.pid}.sock`;
  const headers = { "x-fastn-context": "1", "content-type": "application/json" };
  const server = Deno.serve({ path, onListen() {} }, (req) => {
    const url = new URL(req.url);
    switch (url.pathname) {
      case "/info":
        return new Response(
          JSON.stringify({
            pid: Deno.pid,
            name: answers.name ?? "forged",
            startedAt: Date.now(),
            protocol: 1,
          }),
          { headers },
        );
      case "/status":
        return new Response(JSON.stringify(answers.status), { headers });
      case "/status/text":
        return new Response(answers.text ?? "forged dashboard", { headers });
      case "/status/stream": {
        const data = url.searchParams.get("format") === "text"
          ? (answers.text ?? "forged dashboard")
          : JSON.stringify(answers.status);
        const body = `event: status\n${data.split("\n").map((l) => `data: ${l}`).join("\n")}\n\n`;
        return new Response(body, { headers: { ...headers, "content-type": "text/event-stream" } });
      }
    }
    return new Response("no", { status: 404, headers });
  });
  return { path, close: () => server.shutdown() };
}

/** A second local user for the test, removed after; undefined when one cannot be made. */
async function otherUser(): Promise<{ name: string; uid: number } & AsyncDisposable | undefined> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return undefined;
  const name = `fastnctx${Deno.pid % 100_000}`;
  const run = (cmd: string, args: string[]) =>
    new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output().catch(() => ({
      success: false,
      stdout: new Uint8Array(),
    }));
  const made = await run("useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", name]);
  if (!made.success) return undefined;
  const id = await run("id", ["-u", name]);
  const uid = Number(new TextDecoder().decode(id.stdout).trim());
  return {
    name,
    uid,
    async [Symbol.asyncDispose]() {
      await run("userdel", [name]);
    },
  };
}

Deno.test("cli.ts status refuses a socket directory another user made, naming it and its owner; main() says its endpoint is off because of it", async (t) => {
  await using other = await otherUser();
  if (other === undefined) {
    console.log("skipped: needs root on Linux to add a second local user with useradd");
    return;
  }
  const base = await Deno.makeTempDir({ prefix: "fastn-forged-" });
  const planted = `${base}/planted`;
  await Deno.mkdir(planted, { mode: 0o755 });
  await Deno.chmod(planted, 0o755);
  const fake = fakeEndpoint(planted, { status: statusJson({ root: Context.root("forged-root") }) });
  await Deno.chown(fake.path, other.uid, other.uid);
  await Deno.chown(planted, other.uid, other.uid);
  try {
    await t.step("the directory itself", async () => {
      const r = await cli(["status", "--no-color"], { dir: planted });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /forged/);
      assert.ok(
        r.stderr.includes(
          `refusing the socket directory ${planted}: it belongs to ${other.name} (uid ${other.uid})`,
        ),
        r.stderr,
      );
    });
    await t.step("a symlink to it", async () => {
      const link = `${base}/link`;
      await Deno.symlink(planted, link);
      const r = await cli(["status", "--json"], { dir: link });
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /forged/);
      assert.ok(
        r.stderr.includes(`refusing the socket directory ${link}: it is a symbolic link`),
        r.stderr,
      );
    });
    await t.step("main() runs without its endpoint and says why", async () => {
      const reports: string[] = [];
      const before = Deno.env.get("FASTN_CONTEXT_DIR");
      Deno.env.set("FASTN_CONTEXT_DIR", planted);
      try {
        await main(() => {}, {
          root: Context.root("global"),
          exit: () => {},
          report: (t) => reports.push(t),
          signals: [],
        });
      } finally {
        if (before === undefined) Deno.env.delete("FASTN_CONTEXT_DIR");
        else Deno.env.set("FASTN_CONTEXT_DIR", before);
      }
      assert.ok(
        reports.some((r) =>
          r.includes("the status endpoint is off") &&
          r.includes(`${planted}: it belongs to ${other.name} (uid ${other.uid})`)
        ),
        reports.join("\n"),
      );
      assert.ok(exists(fake.path), "nothing in the refused directory was touched");
    });
  } finally {
    await fake.close();
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("hostile text from a socket never reaches the terminal raw: text, --json and watch", async () => {
  using dir = socketDir();
  const hostile = await hostileStatus();
  const fake = fakeEndpoint(dir.path, {
    status: hostile,
    name: `app${EVIL.title}${EVIL.rlo}`,
    text: `forged${EVIL.clear}${EVIL.clipboard}`,
  });
  try {
    for (
      const args of [
        ["status", "--no-color"],
        ["status", "--json"],
        ["status", "-w", "--no-color"],
        ["status", "-w", "--json"],
      ]
    ) {
      const r = await cli(args, { dir: dir.path });
      assertClean(r.stdout, `stdout of ${args.join(" ")}`);
      assertClean(r.stderr, `stderr of ${args.join(" ")}`);
      if (args.includes("--json")) {
        // The JSON still parses, to the cleaned status: escapes are shown, not acted on.
        const line = r.stdout.trim().split("\n")[0];
        const parsed = args.includes("-w") ? JSON.parse(line) : JSON.parse(r.stdout)[0];
        assert.match(parsed.status.global.name, /^root\uFFFD.*\\u202e.*end$/);
      } else {
        assert.match(r.stdout, /root\uFFFD\]0;pwned\uFFFD.*\\u202e\\u2066\\u200b\\u2028end/);
        assert.match(r.stdout, /app\uFFFD\]0;pwned\uFFFD\\u202e/, "the /info name too");
        assert.doesNotMatch(r.stdout, /forged/, "the text a process renders is not used");
      }
    }
  } finally {
    await fake.close();
  }
});

Deno.test("a status from a socket that is not a status is refused naming the field, never half-drawn", async () => {
  using dir = socketDir();
  const broken = structuredClone(statusJson({ root: Context.root("global") }));
  (broken.global as unknown as { children: unknown[] }).children = [{ name: 5 }];
  const fake = fakeEndpoint(dir.path, { status: broken });
  try {
    for (const args of [["status", "--no-color"], ["status", "--json"], ["status", "-w"]]) {
      const r = await cli(args, { dir: dir.path });
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /not a valid status: global\.children\[0\]\.name must be a string/);
      if (args.includes("--json")) {
        const [entry] = JSON.parse(r.stdout);
        assert.equal(entry.status, undefined, "no status in the JSON");
        assert.match(entry.error.message, /global\.children\[0\]\.name/);
      } else {
        assert.doesNotMatch(r.stdout, /Dashboard|└──/, `${args.join(" ")}: nothing of it is drawn`);
      }
    }
  } finally {
    await fake.close();
  }
});

Deno.test("stale-socket cleanup removes only sockets: files, directories, symlinks and FIFOs stay", async () => {
  using dir = socketDir();
  const d = dir.path;
  // pids far above pid_max: no such process runs.
  Deno.writeTextFileSync(`${d}/99999901.sock`, "a regular file");
  Deno.mkdirSync(`${d}/99999902.sock`);
  Deno.symlinkSync(`${d}/99999901.sock`, `${d}/99999903.sock`);
  const fifo = await new Deno.Command("mkfifo", { args: [`${d}/99999904.sock`] }).output();
  // And a real stale socket: bound by a process that exited without removing it.
  const bound = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `Deno.listen({ transport: "unix", path: "${d}/99999905.sock" }); Deno.exit(0);`],
  }).output();
  assert.ok(bound.success);
  assert.ok(Deno.lstatSync(`${d}/99999905.sock`).isSocket, "a socket file is left behind");
  const r = await cli(["status"], { dir: d });
  assert.equal(r.code, 1);
  assert.ok(exists(`${d}/99999901.sock`), "the regular file stays");
  assert.ok(exists(`${d}/99999902.sock`), "the directory stays");
  assert.ok(Deno.lstatSync(`${d}/99999903.sock`).isSymlink, "the symlink stays");
  if (fifo.success) assert.ok(exists(`${d}/99999904.sock`), "the FIFO stays");
  assert.ok(!exists(`${d}/99999905.sock`), "the stale socket is removed");
});

Deno.test("a thrown object and a cancel reason are redacted like data: nested keys and pair arrays", () => {
  const root = Context.root("global");
  const failed = root.child("request").create();
  const token = "Bearer s3cr3t-t0ken-value";
  const thrown = {
    request: { headers: { authorization: token }, url: "/x" },
    pairs: [["Authorization", token], ["accept", "json"]],
    passphrase: "open sesame",
  };
  const done = failed.spawn(() => Promise.reject(thrown));
  const cancelled = root.child("job").create();
  cancelled.cancel({ reason: "rotate", session_id: "sess-123456", jwt: "eyJhbGciOi.jwt" });
  return done.catch(() => {}).then(() => {
    const json = JSON.stringify(statusJson({ root }));
    const text = String(status({ root }));
    for (const secret of [token, "open sesame", "sess-123456", "eyJhbGciOi.jwt"]) {
      assert.ok(!json.includes(secret), `status JSON shows ${secret}`);
      assert.ok(!text.includes(secret), `the dashboard shows ${secret}`);
    }
    const st = statusJson({ root });
    assert.match(st.global.children[0].error!, /"authorization":"\[redacted\]"/);
    assert.match(st.global.children[0].error!, /\["Authorization","\[redacted\]"\]/);
    assert.match(st.global.children[0].error!, /"accept","json"/);
    assert.match(st.global.children[1].cancelReason!, /"reason":"rotate"/);
  });
});

Deno.test("the wider secret key list: passphrase, pwd, auth, jwt, bearer, session_id, ssh_key, pin; short entries match whole words only", () => {
  const root = Context.root("global");
  const secret = [
    "passphrase",
    "db_pwd",
    "auth",
    "basicAuth",
    "jwt",
    "bearer",
    "session_id",
    "sessionId",
    "ssh_key",
    "pin",
    "card_pin",
    "cardPin",
    "pin2",
  ];
  const plain = ["spinner", "pinned", "author", "shipping", "mapping", "ping", "authority"];
  for (const k of [...secret, ...plain]) root.setData(k, "v");
  const data = statusJson({ root }).global.data;
  for (const k of secret) assert.equal(data[k], "[redacted]", k);
  for (const k of plain) assert.equal(data[k], "v", k);
  // configure() entries follow the same rule.
  const before = configure();
  try {
    configure({ secretKeys: ["ssn"] });
    const r = Context.root("global");
    r.setData("customer_ssn", "x");
    r.setData("lessons", "y");
    assert.deepEqual(statusJson({ root: r }).global.data, {
      customer_ssn: "[redacted]",
      lessons: "y",
    });
  } finally {
    configure(before);
  }
});

Deno.test("idle event streams cannot lock /status and /metrics out: streams have a cap of their own", async () => {
  const root = Context.root("global");
  const routes = serveRoutes({ hostname: "127.0.0.1", port: 0 }, {
    root,
    info: processInfo("flood"),
    limits: { maxConnections: 8, maxStreams: 4 },
  });
  const port = (routes.addr as Deno.NetAddr).port;
  const idle: Deno.Conn[] = [];
  try {
    // 20 streams that read their answer's head and then nothing more.
    const heads: string[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      idle.push(c);
      await c.write(encoder.encode("GET /status/stream HTTP/1.1\r\nHost: localhost\r\n\r\n"));
      heads.push(await readHead(c));
    }
    for (const route of ["/status", "/metrics", "/info", "/status/text"]) {
      const res = await fetch(`http://127.0.0.1:${port}${route}`);
      await res.body?.cancel();
      assert.equal(res.status, 200, `${route} is answered during the flood`);
    }
    const ok = heads.filter((h) => h.startsWith("HTTP/1.1 200")).length;
    assert.equal(ok, 4, "4 streams are served");
    const refused = heads.filter((h) => h.startsWith("HTTP/1.1 503"));
    assert.equal(refused.length, 16, "the other 16 are told there are too many streams");
    assert.match(refused[0], /too many open streams \(4 open, at most 4\)/);
  } finally {
    for (const c of idle) c.close();
    await routes.close();
  }
});

/** Reads a connection until the end of an answer's head (or its end), within 5 s. */
async function readHead(conn: Deno.Conn): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return text;
}

Deno.test("names refuse bidi and invisible characters, naming the argument and the character", () => {
  const root = Context.root("global");
  for (
    const [name, cp] of [
      ["admin\u202e", "U+202E"],
      ["\u2066x", "U+2066"],
      ["a\u200bb", "U+200B"],
      ["line\u2028sep", "U+2028"],
      ["bom\ufeff", "U+FEFF"],
    ]
  ) {
    assert.throws(
      () => root.child(name).create(),
      (e: Error) =>
        e instanceof TypeError &&
        e.message.includes(`name must not contain invisible or bidi characters (found ${cp}`),
    );
    assert.throws(() => root.setData(name, 1), TypeError);
    assert.throws(() => root.mutex(name, {}), TypeError);
  }
  assert.equal(statusJson({ root }).global.children.length, 0, "nothing was made");
  // Plain non-Latin names are fine.
  root.child("Zürich-東京-مرحبا").create();
});

Deno.test("invisible and bidi characters in data are shown escaped on every output", async () => {
  const root = Context.root("global");
  const value = `a${EVIL.rlo}b${EVIL.isolate}c${EVIL.zwsp}d${EVIL.lineSep}e`;
  root.child("worker").withData("note", value).create();
  // The dashboard shows them as escapes.
  const text = renderStatus(status({ root }), { color: false });
  assertClean(text, "the dashboard");
  assert.match(text, /note: a\\u202eb\\u2066c\\u200bd\\u2028e/);
  // The endpoint's JSON, stream and text carry them as JSON escapes or escapes: the same value.
  const routes = serveRoutes({ hostname: "127.0.0.1", port: 0 }, {
    root,
    info: processInfo("escapes"),
  });
  const port = (routes.addr as Deno.NetAddr).port;
  try {
    const body = await (await fetch(`http://127.0.0.1:${port}/status`)).text();
    assertClean(body, "/status");
    assert.equal(JSON.parse(body).global.children[0].data.note, value, "the value is intact");
    const shown = await (await fetch(`http://127.0.0.1:${port}/status/text`)).text();
    assertClean(shown, "/status/text");
    const res = await fetch(`http://127.0.0.1:${port}/status/stream`);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    assertClean(first, "/status/stream");
  } finally {
    await routes.close();
  }
});
