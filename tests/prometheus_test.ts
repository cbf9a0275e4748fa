/**
 * The metrics against the real tools: `promtool check metrics` lints the exposition, and a real
 * Prometheus server (Debian's `prometheus`, only its binary, with a config and storage of the
 * test's own) scrapes the example service and answers a query. Without the tools these tests are
 * skipped, or fail when `CI` is set (CI must install them: see `.ci/run`).
 */
import assert from "node:assert/strict";
import { Context, Metric, openMetrics } from "../mod.ts";
import { exists, SERVICE, socketDir, start, startApp } from "./fixtures/process.ts";

const PROMTOOL = "/usr/bin/promtool";
const PROMETHEUS = "/usr/bin/prometheus";
const inCi = Boolean(Deno.env.get("CI"));

/** A test that needs `tool`: skipped without it, failed without it in CI. */
function toolTest(tool: string, name: string, fn: () => Promise<void>): void {
  const missing = !exists(tool);
  Deno.test({
    name: missing && !inCi
      ? `${name} (skipped: ${tool} not found; apt-get install prometheus)`
      : name,
    ignore: missing && !inCi,
    async fn() {
      if (missing) {
        throw new Error(
          `${tool} is missing: CI must install Debian's prometheus package (see the block at ` +
            `the top of .ci/run: apt-get install -y prometheus)`,
        );
      }
      await fn();
    },
  });
}

/** Runs `promtool check metrics` on `text`; resolves with its exit code and output. */
async function promtool(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command(PROMTOOL, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** Starts the example service with its TCP listener; resolves once it is ready. */
async function startService(dir: string, env: Record<string, string> = {}) {
  const app = await startApp([SERVICE, "--stuck", "--tick-ms", "100", "--http-port", "0"], {
    dir,
    env,
  });
  const ready = JSON.parse(app.stdout.text.match(/^ready (.*)$/m)![1]) as {
    http: string;
    status: string;
  };
  return { app, http: ready.http, status: ready.status };
}

/** Polls `probe` until it returns a value other than undefined; rejects after `timeoutMs`. */
async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e; // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}; last error: ${last}`);
}

toolTest(PROMTOOL, "the example service's /metrics passes promtool check metrics", async () => {
  using dir = socketDir();
  const { app, http, status } = await startService(dir.path);
  await using _app = app;
  for (let i = 0; i < 3; i++) await (await fetch(`${http}/`)).text();
  // Wait until the stuck lock of --stuck shows: the exposition then has every kind of family.
  const text = await eventually(async () => {
    const t = await (await fetch(`${status}metrics`)).text();
    return /^fastn_lock_waiters\{/m.test(t) ? t : undefined;
  }, "the stuck waiter in /metrics");
  assert.match(text, /^# TYPE fastn_app_requests_total counter$/m);
  const { code, output } = await promtool(text);
  assert.deepEqual(code, 0, `promtool check metrics:\n${output}\n${text}`);
  app.child.kill("SIGTERM");
  assert.deepEqual(await app.exited(), 0, app.stderr.text);
});

toolTest(
  PROMTOOL,
  "odd names, deep trees and every metric kind pass promtool check metrics",
  async () => {
    const root = Context.root("global");
    const odd = root.child('quotes " and \\ and dots.').create();
    odd.incrementTotal("bytesRead", 10);
    odd.incrementTotal("requests_total");
    odd.incrementTotal("Größe");
    odd.incrementTotal("日本");
    odd.incrementLive("open-files");
    odd.addMetric("latency", Metric.duration(250));
    odd.addMetric("buffer", Metric.bytes(4096));
    odd.addMetric("ratio", Metric.gauge(-0.5));
    odd.addMetric("commands", Metric.counter(3));
    let deep = odd;
    for (let i = 0; i < 10; i++) (deep = deep.child(`level-${i}`).create()).incrementTotal("hits");
    const m = root.semaphore("pool", 2);
    const permit = await m.acquire(2);
    const waiting = root.child("waiter").spawn(() => m.acquire());
    const text = openMetrics({ root, format: "prometheus", maxDepth: 3, maxSeries: 8 });
    const { code, output } = await promtool(text);
    assert.deepEqual(code, 0, `promtool check metrics:\n${output}\n${text}`);
    permit.release();
    (await waiting).release();
  },
);

toolTest(
  PROMETHEUS,
  "a real Prometheus scrapes the example service with its token and answers a query for its request counter",
  async () => {
    using dir = socketDir();
    const token = "prometheus-scrape-token-0123456789";
    const { app, http, status } = await startService(dir.path, { FASTN_CONTEXT_TOKEN: token });
    await using _app = app;
    for (let i = 0; i < 3; i++) await (await fetch(`${http}/`)).text();

    const target = new URL(status).host;
    Deno.writeTextFileSync(
      `${dir.path}/prometheus.yml`,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        "  - job_name: fastn",
        "    metrics_path: /metrics",
        "    authorization:",
        `      credentials: ${JSON.stringify(token)}`,
        "    static_configs:",
        `      - targets: [${JSON.stringify(target)}]`,
        "",
      ].join("\n"),
    );
    // Port 0, and the port it took read from its log: a port freed beforehand for it to take
    // could be taken first by any other process's listener.
    await using prometheus = start([
      `--config.file=${dir.path}/prometheus.yml`,
      `--storage.tsdb.path=${dir.path}/data`,
      "--web.listen-address=127.0.0.1:0",
      "--log.level=info",
    ], { dir: dir.path, program: PROMETHEUS });
    await prometheus.closeStdin();
    const listening = /msg="Listening on" address=127\.0\.0\.1:(\d+)/;
    const log = await prometheus.stderr.until((t) => listening.test(t), "its listening address");
    const api = `http://127.0.0.1:${listening.exec(log)![1]}/api/v1`;

    const query = async (q: string): Promise<string | undefined> => {
      const res = await fetch(`${api}/query?query=${encodeURIComponent(q)}`);
      const body = await res.json() as { data?: { result?: Array<{ value: [number, string] }> } };
      return body.data?.result?.[0]?.value[1];
    };
    try {
      // The target is scraped, and scraped well.
      const health = await eventually(async () => {
        const res = await fetch(`${api}/targets`);
        const body = await res.json() as {
          data: { activeTargets: Array<{ health: string; lastError: string }> };
        };
        const t = body.data.activeTargets[0];
        return t?.health === "up" ? t : undefined;
      }, "the target to be up");
      assert.deepEqual(health.lastError, "");

      const requests = 'fastn_app_requests_total{job="fastn",path="global.http-proxy"}';
      assert.deepEqual(
        await eventually(async () => (await query(requests)) === "3" || undefined, "requests = 3"),
        true,
      );
      // It follows the service: two more requests show at the next scrapes.
      for (let i = 0; i < 2; i++) await (await fetch(`${http}/`)).text();
      assert.deepEqual(
        await eventually(async () => (await query(requests)) === "5" || undefined, "requests = 5"),
        true,
      );
      const waiters = await eventually(
        () => query('sum(fastn_lock_waiters{lock="session-output-lock"})'),
        "the stuck waiter",
      );
      assert.deepEqual(waiters, "1");
      // Prometheus asked for OpenMetrics and read it: only that format carries units.
      const metadata = await (await fetch(`${api}/metadata?metric=fastn_context_age_seconds`))
        .json() as { data: Record<string, Array<{ type: string; unit: string }>> };
      assert.deepEqual(metadata.data.fastn_context_age_seconds?.[0]?.unit, "seconds");
    } catch (e) {
      throw new Error(`${e}\nprometheus said:\n${prometheus.stderr.text}`);
    } finally {
      prometheus.child.kill("SIGTERM");
      await prometheus.exited();
    }
    app.child.kill("SIGTERM");
    assert.deepEqual(await app.exited(), 0, app.stderr.text);
  },
);
