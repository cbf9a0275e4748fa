import assert from "node:assert/strict";
import { Context, main, Metric, openMetrics, type SystemMetrics } from "../mod.ts";
import { serveHttp, TOKEN_ENV } from "../src/serve/http_listener.ts";
import { serveStatus } from "../src/serve/endpoint.ts";
import { snake } from "../src/status/openmetrics.ts";
import { socketDir } from "./fixtures/process.ts";

const SYSTEM: SystemMetrics = {
  cpuUsagePercent: 12.5,
  memoryUsedBytes: 4_000_000_000,
  memoryTotalBytes: 16_000_000_000,
  diskUsedBytes: null,
  diskTotalBytes: null,
  networkRxBytesPerSec: 1_500,
  networkTxBytesPerSec: 700,
  loadAverage: [0.5, 0.25, 0.125],
  uptimeMs: 90_000,
  processRssBytes: 50_000_000,
  processHeapUsedBytes: 10_000_000,
  processHeapTotalBytes: 20_000_000,
  unavailable: { diskUsedBytes: "test", diskTotalBytes: "test" },
};

/** The samples of an exposition, as `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The sample lines of one family. */
function series(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

Deno.test("openMetrics writes totals as counters and live counts as gauges, by context path", () => {
  const root = Context.root("global");
  const proxy = root.child("http-proxy").create();
  proxy.incrementTotal("requests", 3);
  proxy.incrementLive("connections");
  proxy.incrementLive("connections");
  root.child("chat").create().incrementTotal("requests", 2);
  const text = openMetrics({ root, system: SYSTEM });
  const s = samples(text);
  assert.deepEqual(s.get('fastn_app_requests_total{path="global.http-proxy"}'), 3);
  assert.deepEqual(s.get('fastn_app_requests_total{path="global.chat"}'), 2);
  assert.deepEqual(s.get('fastn_live_connections{path="global.http-proxy"}'), 2);
  assert.match(text, /^# TYPE fastn_app_requests counter$/m);
  assert.match(text, /^# TYPE fastn_live_connections gauge$/m);
  assert.deepEqual(s.get('fastn_contexts{path="global.http-proxy"}'), 1);
  assert.ok(text.endsWith("\n# EOF\n"));
});

Deno.test("totals of ended contexts stay in the exposition, and task failures are counted", async () => {
  const root = Context.root("global");
  await root.child("job").spawn((ctx) => ctx.incrementTotal("done", 5));
  const failing = root.child("doomed").spawn(() => Promise.reject(new Error("boom")));
  await failing.catch(() => {});
  root.child("doomed").spawn(() => Promise.reject(new Error("boom again")));
  await new Promise((r) => setTimeout(r, 0));
  const s = samples(openMetrics({ root, system: SYSTEM }));
  assert.deepEqual(s.get('fastn_app_done_total{path="global.job"}'), 5);
  assert.deepEqual(s.get('fastn_task_failures_total{path="global.doomed"}'), 2);
  assert.deepEqual(s.get('fastn_contexts{path="global.job"}'), undefined);
  assert.deepEqual(s.get('fastn_warnings{code="task-failed"}'), 2);
});

Deno.test("durations and sizes are in seconds and bytes", async () => {
  let t = 1_000_000;
  const root = Context.root("global", { now: () => t });
  const worker = root.child("worker").create();
  worker.addMetric("latency_ms", Metric.duration(1_500));
  worker.addMetric("processed", Metric.bytes(2_048));
  worker.addMetric("load", Metric.gauge(0.75));
  worker.addMetric("shell", Metric.text("bash"));
  const m = root.mutex("config", {});
  const guard = await worker.spawn(() => m.lock());
  const waiting = root.child("reader").spawn(() => m.lock());
  t += 2_500;
  const text = openMetrics({ root, system: SYSTEM });
  const s = samples(text);
  assert.deepEqual(s.get('fastn_metric_latency_seconds{path="global.worker"}'), 1.5);
  assert.deepEqual(s.get('fastn_metric_processed_bytes{path="global.worker"}'), 2_048);
  assert.deepEqual(s.get('fastn_metric_load{path="global.worker"}'), 0.75);
  assert.ok(!text.includes("shell"));
  assert.deepEqual(s.get('fastn_context_age_seconds{path="global.worker"}'), 2.5);
  const lock = 'lock="config",kind="mutex"';
  assert.deepEqual(s.get(`fastn_lock_holders{path="global.worker",${lock}}`), 1);
  assert.deepEqual(s.get(`fastn_lock_held_seconds{path="global.worker",${lock}}`), 2.5);
  assert.deepEqual(s.get(`fastn_lock_waiters{path="global.reader",${lock}}`), 1);
  assert.deepEqual(s.get(`fastn_lock_wait_seconds{path="global.reader",${lock}}`), 2.5);
  assert.deepEqual(s.get("fastn_system_cpu_usage_ratio"), 0.125);
  assert.deepEqual(s.get("fastn_system_uptime_seconds"), 90);
  assert.deepEqual(s.get("fastn_system_load15"), 0.125);
  assert.deepEqual(s.get("fastn_system_disk_used_bytes"), undefined); // not readable: left out
  assert.match(text, /^# UNIT fastn_context_age_seconds seconds$/m);
  guard.release();
  (await waiting).release();
});

Deno.test("names become valid metric names and label values are escaped", () => {
  const root = Context.root("global");
  const odd = root.child('say "hi"\\ to.me').create();
  odd.incrementTotal("bytesRead", 1);
  odd.incrementTotal("requests_total", 2);
  odd.incrementTotal("é-ü", 3);
  odd.incrementTotal("9 lives", 4);
  assert.deepEqual(snake("bytesRead"), "bytes_read");
  assert.deepEqual(snake("a--b..c"), "a_b_c");
  assert.deepEqual(snake("Größe"), "gro_e");
  assert.deepEqual(snake("日本"), "unnamed");
  for (const format of ["openmetrics", "prometheus"] as const) {
    const text = openMetrics({ root, format, system: SYSTEM });
    const s = samples(text);
    const path = 'path="global.say \\"hi\\"\\\\ to%2Eme"';
    assert.deepEqual(s.get(`fastn_app_bytes_read_total{${path}}`), 1);
    assert.deepEqual(s.get(`fastn_app_requests_total{${path}}`), 2);
    assert.deepEqual(s.get(`fastn_app_e_u_total{${path}}`), 3);
    assert.deepEqual(s.get(`fastn_app_9_lives_total{${path}}`), 4);
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-z_]+="([^"\\\n]|\\.)*",?)*\})? \S+$/);
    }
  }
});

Deno.test("paths deeper than maxDepth are counted in their ancestor's .* label", () => {
  const root = Context.root("global");
  const a = root.child("a").create();
  const b = a.child("b").create();
  b.incrementTotal("hits", 1);
  b.child("c").create().incrementTotal("hits", 2);
  b.child("c2").create().child("d").create().incrementTotal("hits", 4);
  const s = samples(openMetrics({ root, maxDepth: 2, system: SYSTEM }));
  assert.deepEqual(s.get('fastn_app_hits_total{path="global.a.b"}'), 1);
  assert.deepEqual(s.get('fastn_app_hits_total{path="global.a.b.*"}'), 6);
  assert.deepEqual(s.get('fastn_contexts{path="global.a.b.*"}'), 3);
  assert.deepEqual(s.get("fastn_export_folded_paths"), 3);
  const top = samples(openMetrics({ root, maxDepth: 0, system: SYSTEM }));
  assert.deepEqual(top.get('fastn_app_hits_total{path="global.*"}'), 7);
});

Deno.test("past maxSeries the rest of a level is folded into .* and the sums stay exact", () => {
  const root = Context.root("global");
  const chat = root.child("chat").create();
  for (let i = 0; i < 100; i++) {
    const session = chat.child(`session-${i}`).create();
    session.incrementTotal("messages", i + 1);
    session.child("writer").create().incrementTotal("messages", 1);
  }
  const text = openMetrics({ root, maxSeries: 12, system: SYSTEM });
  const messages = series(text, "fastn_app_messages_total");
  const paths = new Set(messages.map((l) => /path="([^"]*)"/.exec(l)![1]));
  assert.ok(paths.size <= 12, `${paths.size} paths`);
  assert.ok(paths.has("global.chat.*"));
  assert.ok(paths.has("global.chat.session-0")); // the oldest keep their own labels
  const sum = messages.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  assert.deepEqual(sum, (100 * 101) / 2 + 100);
  for (const family of ["fastn_contexts", "fastn_tasks_running", "fastn_context_age_seconds"]) {
    assert.ok(series(text, family).length <= 12, family);
  }
});

Deno.test("a lock family never has more series than maxSeries", async () => {
  const root = Context.root("global");
  const guards = [];
  for (let i = 0; i < 20; i++) guards.push(await root.mutex(`lock-${i}`, 0).lock());
  const text = openMetrics({ root, maxSeries: 5, system: SYSTEM });
  const holders = series(text, "fastn_lock_holders");
  assert.deepEqual(holders.length, 5);
  assert.ok(holders.includes('fastn_lock_holders{path="*",lock="*",kind="*"} 16'));
  for (const g of guards) g.release();
});

Deno.test("maxFamilies leaves the rest of the names out and says how many", () => {
  const root = Context.root("global");
  for (let i = 0; i < 10; i++) root.incrementTotal(`counter_${i}`);
  const text = openMetrics({ root, maxFamilies: 4, system: SYSTEM });
  assert.deepEqual(text.match(/^# TYPE fastn_app_counter_\d+ counter$/gm)?.length, 4);
  assert.deepEqual(samples(text).get("fastn_export_omitted_families"), 6);
});

Deno.test("the Prometheus format names a counter family by its _total samples", () => {
  const root = Context.root("global");
  root.incrementTotal("requests");
  const text = openMetrics({ root, format: "prometheus", system: SYSTEM });
  assert.match(
    text,
    /^# HELP fastn_app_requests_total .*\n# TYPE fastn_app_requests_total counter$/m,
  );
  assert.ok(!text.includes("# EOF"));
  assert.ok(!text.includes("# UNIT"));
});

Deno.test("bad options of openMetrics are TypeErrors and RangeErrors naming the option", () => {
  const bad: Array<[unknown, ErrorConstructor, RegExp]> = [
    [null, TypeError, /^options must be an object/],
    [{ maxDepth: -1 }, RangeError, /options\.maxDepth/],
    [{ maxDepth: "2" }, TypeError, /options\.maxDepth/],
    [{ maxSeries: 1 }, RangeError, /options\.maxSeries must be an integer of at least 2/],
    [{ maxFamilies: 1.5 }, RangeError, /options\.maxFamilies/],
    [{ format: "json" }, RangeError, /options\.format/],
    [{ root: {} }, TypeError, /options\.root must be a Context/],
  ];
  for (const [options, type, message] of bad) {
    assert.throws(() => openMetrics(options as never), (e: unknown) => {
      assert.ok(e instanceof type, String(e));
      assert.match((e as Error).message, message);
      return true;
    });
  }
});

Deno.test("the Unix-socket endpoint serves /metrics in the format Accept asks for, and the dashboard", async () => {
  using dir = socketDir();
  const root = Context.root("global");
  root.incrementTotal("requests", 7);
  await using endpoint = serveStatus({ root, dir: dir.path });
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: endpoint.path } });
  try {
    const om = await fetch("http://localhost/metrics", {
      client,
      headers: { accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5" },
    });
    assert.deepEqual(
      om.headers.get("content-type"),
      "application/openmetrics-text; version=1.0.0; charset=utf-8",
    );
    const omText = await om.text();
    assert.ok(omText.includes('fastn_app_requests_total{path="global"} 7'));
    assert.ok(omText.endsWith("# EOF\n"));

    const plain = await fetch("http://localhost/metrics", { client });
    assert.deepEqual(plain.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.match(await plain.text(), /^# TYPE fastn_app_requests_total counter$/m);

    const page = await fetch("http://localhost/", { client });
    assert.deepEqual(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    assert.match(await page.text(), /status\/stream\?format=json/);
  } finally {
    client.close();
  }
});

Deno.test("a token-protected listener refuses requests without the token or with a wrong one", async () => {
  const token = "s3cret-token-for-tests-0123";
  await using listener = serveHttp({ root: Context.root("global"), port: 0, token });
  const url = listener.address.url;
  for (const path of ["metrics", "status", "status/text", "status/stream", "info"]) {
    const none = await fetch(url + path);
    assert.deepEqual(none.status, 401, path);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer realm="fastn-context"/);
    await none.body?.cancel();
    const wrong = await fetch(url + path, { headers: { authorization: `Bearer ${token}x` } });
    assert.deepEqual(wrong.status, 401, path);
    assert.match(wrong.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    await wrong.body?.cancel();
    const basic = await fetch(url + path, { headers: { authorization: `Basic ${btoa(token)}` } });
    assert.deepEqual(basic.status, 401, path);
    await basic.body?.cancel();
  }
  const ok = await fetch(url + "metrics", { headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(ok.status, 200);
  assert.match(await ok.text(), /^# TYPE fastn_contexts gauge$/m);
  // The page itself holds no data: it loads, then asks for the token.
  const page = await fetch(url);
  assert.deepEqual(page.status, 200);
  await page.body?.cancel();
});

Deno.test("the listener takes its token from FASTN_CONTEXT_TOKEN", async () => {
  const before = Deno.env.get(TOKEN_ENV);
  Deno.env.set(TOKEN_ENV, "token-from-the-environment");
  try {
    await using listener = serveHttp({ root: Context.root("global"), port: 0 });
    const none = await fetch(listener.address.url + "status");
    assert.deepEqual(none.status, 401);
    await none.body?.cancel();
    const ok = await fetch(listener.address.url + "status", {
      headers: { authorization: "Bearer token-from-the-environment" },
    });
    assert.deepEqual(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    if (before === undefined) Deno.env.delete(TOKEN_ENV);
    else Deno.env.set(TOKEN_ENV, before);
  }
});

Deno.test("a listener on a non-loopback address refuses to start without a token", async () => {
  const before = Deno.env.get(TOKEN_ENV);
  Deno.env.delete(TOKEN_ENV);
  try {
    assert.throws(
      () => serveHttp({ root: Context.root("global"), port: 0, hostname: "0.0.0.0" }),
      /refusing to serve the status on 0\.0\.0\.0:0 without a token.*FASTN_CONTEXT_TOKEN/,
    );
    // main() prints the reason in one line, does not run fn, and exits 2 (a mistake in the
    // configuration).
    const reports: string[] = [];
    let ran = false;
    const code = await main(() => void (ran = true), {
      root: Context.root("global"),
      endpoint: false,
      signals: [],
      http: { port: 0, hostname: "0.0.0.0" },
      exit: () => {},
      report: (t) => reports.push(t),
      color: false,
    });
    assert.deepEqual([code, ran], [2, false]);
    assert.match(reports.join("\n"), /^the HTTP listener failed to start: refusing to serve/);
    assert.doesNotMatch(reports.join("\n"), /\n\s+at /); // no stack
  } finally {
    if (before !== undefined) Deno.env.set(TOKEN_ENV, before);
  }
});

Deno.test("without a token the listener answers only requests for a loopback host", async () => {
  await using listener = serveHttp({ root: Context.root("global"), port: 0 });
  const ask = async (host: string): Promise<string> => {
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.address.port });
    const request = `GET /status HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buf = new Uint8Array(4096);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return text.split("\r\n")[0];
  };
  assert.deepEqual(await ask("rebound.example.com"), "HTTP/1.1 403 Forbidden");
  assert.deepEqual(await ask(`localhost:${listener.address.port}`), "HTTP/1.1 200 OK");
  assert.deepEqual(await ask(`127.0.0.1:${listener.address.port}`), "HTTP/1.1 200 OK");
});

Deno.test("main serves the TCP listener while fn runs and stops it at shutdown", async () => {
  const root = Context.root("global");
  let url = "";
  const code = await main(async (ctx) => {
    ctx.child("http-proxy").create().incrementTotal("requests", 2);
    const res = await fetch(url + "metrics");
    assert.match(await res.text(), /fastn_app_requests_total\{path="global\.http-proxy"\} 2/);
  }, {
    root,
    endpoint: false,
    signals: [],
    http: { port: 0, onListen: (a) => (url = a.url) },
    exit: () => {},
  });
  assert.deepEqual(code, 0);
  await assert.rejects(fetch(url + "metrics"));
});

Deno.test("bad http options of main: a wrong type throws, a value out of range is one line and exit 2", async () => {
  const thrown: Array<[unknown, RegExp]> = [
    [{}, /options\.http\.port must be a number/],
    [{ port: 0, hostname: 1 }, /options\.http\.hostname/],
    [{ port: 0, onListen: 1 }, /options\.http\.onListen/],
    [{ port: 0, root: 1 }, /options\.http\.root is not an option/],
  ];
  for (const [http, message] of thrown) {
    await assert.rejects(
      main(() => {}, { root: Context.root("global"), endpoint: false, http: http as never }),
      (e: unknown) => {
        assert.ok(e instanceof TypeError, String(e));
        assert.match((e as Error).message, message);
        return true;
      },
    );
  }
  const reported: Array<[unknown, string]> = [
    [{ port: 70_000 }, "app: options.http.port must be an integer from 0 to 65535, got 70000"],
    [{ port: NaN }, "app: options.http.port must be an integer from 0 to 65535, got NaN"],
    [{ port: 0, token: "short" }, "app: options.http.token must be at least 16 characters, got 5"],
    [
      { port: 0, token: "has spaces in the token" },
      "app: options.http.token must not contain spaces or control characters",
    ],
  ];
  for (const [http, line] of reported) {
    const reports: string[] = [];
    let ran = false;
    const code = await main(() => void (ran = true), {
      root: Context.root("global"),
      endpoint: false,
      http: http as never,
      name: "app",
      color: false,
      exit: () => {},
      report: (t) => reports.push(t),
    });
    assert.deepEqual([code, ran, reports], [2, false, [line]]);
  }
});
