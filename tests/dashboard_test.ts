/**
 * The live web dashboard in a real headless Chromium (Debian's `chromium`, driven by
 * `playwright-core`; no browser is downloaded). Without `/usr/bin/chromium` these tests are
 * skipped, or fail when `CI` is set (CI must install it: see `.ci/run`).
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { configure, Context } from "../mod.ts";
import { type HttpListener, serveHttp } from "../src/serve/http_listener.ts";
import { exists, ROOT, SERVICE, socketDir, startApp } from "./fixtures/process.ts";

const CHROMIUM = "/usr/bin/chromium";
const missing = !exists(CHROMIUM);
const inCi = Boolean(Deno.env.get("CI"));
const skipped = missing && !inCi;
const why = `(skipped: ${CHROMIUM} not found; apt-get install chromium)`;

/** Names a test, and makes it fail in CI when Chromium is missing. */
function browserTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: skipped ? `${name} ${why}` : name,
    ignore: skipped,
    async fn() {
      if (missing) {
        throw new Error(
          `${CHROMIUM} is missing: CI must install Debian's chromium (see the block at the top ` +
            `of .ci/run: apt-get install -y chromium)`,
        );
      }
      await fn();
    },
  });
}

async function launch(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

/** A dashboard of `root` served on loopback, open in a fresh page of a headless Chromium. */
async function openDashboard(
  root: Context,
): Promise<{ page: Page; listener: HttpListener } & AsyncDisposable> {
  const listener = serveHttp({ root, port: 0, name: "dashboard-test" });
  let browser: Browser | undefined;
  try {
    browser = await launch();
    const page = await browser.newPage();
    await page.goto(listener.address.url);
    await page.locator(`li.ctx[data-path="${root.path}"]`).first().waitFor({ timeout: 5_000 });
    return {
      page,
      listener,
      async [Symbol.asyncDispose]() {
        await browser?.close();
        await listener.close();
      },
    };
  } catch (e) {
    await browser?.close();
    await listener.close();
    throw e;
  }
}

/** The page's globals this file uses: it is type-checked without the DOM's types. */
interface PageGlobals {
  document: {
    createElement(tag: string): { style: { color: string }; remove(): void };
    body: { append(node: unknown): void };
    querySelector(selector: string): { textContent: string | null } | null;
  };
  getComputedStyle(element: unknown): { color: string };
}

const ctxRow = (path: string): string => `li.ctx[data-path="${path}"]`;

browserTest(
  "the dashboard shows a context created after the page loaded within two seconds",
  async () => {
    const root = Context.root("global");
    await using d = await openDashboard(root);
    const job = root.child("late-arrival").withData("queue", "emails").create();
    const shownAfter = performance.now();
    await d.page.locator(ctxRow("global.late-arrival")).waitFor({ timeout: 2_000 });
    assert.ok(performance.now() - shownAfter < 2_000);
    const row = await d.page.locator(`${ctxRow("global.late-arrival")} > .row`).textContent();
    assert.match(row ?? "", /late-arrival/);
    assert.match(row ?? "", /queue="?emails/);
    job.end();
  },
);

browserTest("the dashboard shows a stuck waiter in the warning colour", async () => {
  const before = configure();
  configure({ stuckWaiterMs: 300 });
  try {
    const root = Context.root("global");
    await using d = await openDashboard(root);
    const output = root.mutex("session-output-lock", {});
    const holder = root.child("stdout-handler").create();
    const guard = await holder.spawn(() => output.lock());
    const waiting = root.child("stderr-stream").spawn(() => output.lock());

    const row = d.page.locator('tr.waiter[data-waiter="global.stderr-stream"]');
    await row.waitFor({ timeout: 2_000 });
    const stuck = d.page.locator('tr.waiter.stuck[data-waiter="global.stderr-stream"]');
    await stuck.waitFor({ timeout: 3_000 });
    const [color, warn] = await stuck.locator("td").first().evaluate((td) => {
      const { document, getComputedStyle } = globalThis as unknown as PageGlobals;
      const probe = document.createElement("span");
      probe.style.color = "var(--warn)";
      document.body.append(probe);
      const warn = getComputedStyle(probe).color;
      probe.remove();
      return [getComputedStyle(td).color, warn];
    });
    assert.deepEqual(color, warn);
    assert.deepEqual(warn, "rgb(180, 83, 9)");
    // The waiting context's chip in the tree is in the warning colour too, and so is the warning.
    const chip = d.page.locator(`${ctxRow("global.stderr-stream")} > .row .chip.waiting.warn`);
    await chip.waitFor({ timeout: 2_000 });
    await d.page.locator('ul.warnings li[data-code="waiter-stuck"]').waitFor({ timeout: 2_000 });

    guard.release();
    (await waiting).release();
    holder.end();
  } finally {
    configure(before);
  }
});

browserTest("the dashboard drops a cancelled context within two seconds", async () => {
  const root = Context.root("global");
  await using d = await openDashboard(root);
  let doomed: Context | undefined;
  const task = root.child("doomed-worker").spawn(async (ctx) => {
    doomed = ctx;
    await ctx.wait();
  });
  await d.page.locator(ctxRow("global.doomed-worker")).waitFor({ timeout: 2_000 });
  doomed!.cancel("test over");
  await task;
  const gone = performance.now();
  await d.page.locator(ctxRow("global.doomed-worker")).waitFor({
    state: "detached",
    timeout: 2_000,
  });
  assert.ok(performance.now() - gone < 2_000);
  assert.deepEqual(await d.page.locator(ctxRow("global")).count(), 1);
});

browserTest("the dashboard collapses a subtree and keeps its ages ticking", async () => {
  const root = Context.root("global");
  await using d = await openDashboard(root);
  const proxy = root.child("http-proxy").create();
  proxy.child("request").create();
  await d.page.locator(ctxRow("global.http-proxy.request")).waitFor({ timeout: 2_000 });

  await d.page.locator(`${ctxRow("global.http-proxy")} > .row .toggle`).click();
  await d.page.locator(ctxRow("global.http-proxy.request")).waitFor({
    state: "hidden",
    timeout: 2_000,
  });
  await d.page.locator(`${ctxRow("global.http-proxy")} > .row .toggle`).click();
  await d.page.locator(ctxRow("global.http-proxy.request")).waitFor({ timeout: 2_000 });

  // No new status arrives (nothing changes), yet the age goes on: the page ticks it itself.
  const age = d.page.locator(`${ctxRow("global.http-proxy")} > .row .age`);
  const first = await age.textContent();
  await d.page.waitForFunction(
    ([selector, text]) => {
      const { document } = globalThis as unknown as PageGlobals;
      return document.querySelector(selector)?.textContent !== text;
    },
    [`${ctxRow("global.http-proxy")} > .row .age`, first] as const,
    { timeout: 3_000 },
  );
  proxy.end();
});

browserTest(
  "the example service's dashboard, token and all, saved as a screenshot (docs/dashboard.png with FASTN_UPDATE_SCREENSHOT=1)",
  async () => {
    using dir = socketDir();
    const token = "dashboard-test-token-0123456789";
    await using app = await startApp([SERVICE, "--stuck", "--tick-ms", "200", "--http-port", "0"], {
      dir: dir.path,
      env: { FASTN_CONTEXT_TOKEN: token },
    });
    const ready = JSON.parse(app.stdout.text.match(/^ready (.*)$/m)![1]) as {
      http: string;
      status: string;
    };
    for (let i = 0; i < 4; i++) await (await fetch(`${ready.http}/`)).text();
    await (await fetch(`${ready.http}/chat?from=dave&text=hi`)).text();

    await using browser = await launch();
    const page = await browser.newPage({ viewport: { width: 1360, height: 980 } });
    await page.goto(`${ready.status}#token=${token}`);
    // The token left the address bar, and the stuck waiter of --stuck shows.
    assert.ok(!page.url().includes(token));
    await page.locator("tr.waiter.stuck").first().waitFor({ timeout: 8_000 });
    await page.locator('ul.warnings li[data-code="lock-held-long"]').waitFor({ timeout: 8_000 });
    // Requests in three bursts, each seen by the page, draw the rate chart.
    let sent = 5; // the 4 above and the chat message
    for (const burst of [6, 14, 9]) {
      await Promise.all(
        Array.from({ length: burst }, async () => await (await fetch(`${ready.http}/`)).text()),
      );
      sent += burst;
      await page.locator(".ctx .chip", { hasText: new RegExp(`^requests ${sent}$`) })
        .waitFor({ timeout: 4_000 });
    }
    // The rate panel shows the busiest counter by itself.
    assert.deepEqual(await page.locator("#counter").inputValue(), "all · requests");
    await page.locator("#proc").getByText("service.ts").waitFor({ timeout: 2_000 });
    Deno.mkdirSync(`${ROOT}docs`, { recursive: true });
    // The README's picture is refreshed on request only, so a test run leaves the checkout clean.
    const shot = Deno.env.get("FASTN_UPDATE_SCREENSHOT")
      ? `${ROOT}docs/dashboard.png`
      : `${await Deno.makeTempDir({ prefix: "fastn-dashboard-" })}/dashboard.png`;
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(Deno.statSync(shot).size > 10_000);

    app.child.kill("SIGTERM");
    assert.deepEqual(await app.exited(), 0, app.stderr.text);
  },
);

browserTest(
  "warning cards tick with the lock tables' clock, and paths read as in the CLI, broken only at a /",
  async () => {
    const before = configure();
    configure({ longHeldLockMs: 200, stuckWaiterMs: 200 });
    try {
      const root = Context.root("global");
      await using d = await openDashboard(root);
      await d.page.setViewportSize({ width: 700, height: 900 });
      const session = root.child("remote-access-listener").create().child("alice@bv478gen")
        .create();
      const output = session.mutex("session-output-lock", {});
      const guard = await session.child("stdout-handler").create().spawn(() => output.lock());
      const waiting = session.child("stderr-stream").create().spawn(() => output.lock());

      const card = d.page.locator('ul.warnings li[data-code="lock-held-long"]');
      await card.locator(".age").waitFor({ timeout: 3_000 });
      // One clock: the card's age and the lock table's age read the same, and both move on
      // while no status comes.
      const read = (): Promise<[string, string]> =>
        d.page.evaluate(() => {
          const { document } = globalThis as unknown as PageGlobals;
          return [
            document.querySelector('ul.warnings li[data-code="lock-held-long"] .age')
              ?.textContent ?? "",
            document.querySelector("tr.holder td:last-child .age")?.textContent ?? "",
          ] as [string, string];
        });
      const [cardAge, tableAge] = await read();
      assert.deepEqual(cardAge, tableAge);
      await d.page.waitForFunction(
        (first) => {
          const { document } = globalThis as unknown as PageGlobals;
          return document.querySelector('ul.warnings li[data-code="lock-held-long"] .age')
            ?.textContent !== first;
        },
        cardAge,
        { timeout: 3_000 },
      );
      const [cardLater, tableLater] = await read();
      assert.deepEqual(cardLater, tableLater);

      // The CLI's path form, and no name broken inside.
      const holder = await d.page.locator("tr.holder td").nth(2).textContent();
      assert.deepEqual(holder, "alice@bv478gen/stdout-handler");
      const waiter = await d.page.locator("tr.waiter td").nth(1).textContent();
      assert.deepEqual(waiter, "alice@bv478gen/stderr-stream");
      assert.match((await card.textContent()) ?? "", /held by alice@bv478gen\/stdout-handler/);
      const broken = await d.page.locator("td.path .seg, ul.warnings .seg").evaluateAll((segs) =>
        segs.filter((s) =>
          (s as unknown as { getClientRects(): unknown[] }).getClientRects().length > 1
        )
          .length
      );
      assert.deepEqual(broken, 0);
      const overflowing = await d.page.locator("ul.warnings li").evaluateAll((lis) =>
        lis.filter((li) => {
          const e = li as unknown as { scrollWidth: number; clientWidth: number };
          return e.scrollWidth > e.clientWidth;
        }).length
      );
      assert.deepEqual(overflowing, 0);

      guard.release();
      (await waiting).release();
    } finally {
      configure(before);
    }
  },
);

browserTest("the rate panel starts on the busiest counter, not a flat one", async () => {
  const root = Context.root("global");
  const quiet = root.child("quiet").create();
  quiet.incrementTotal("bad_requests");
  await using d = await openDashboard(root);
  assert.deepEqual(await d.page.locator("#counter").inputValue(), "all · bad_requests");
  const proxy = root.child("http-proxy").create();
  for (let round = 1; round <= 3; round++) {
    proxy.incrementTotal("requests", 10);
    await d.page.locator(".ctx .chip", { hasText: new RegExp(`^requests ${round * 10}$`) })
      .waitFor({ timeout: 4_000 });
  }
  assert.deepEqual(await d.page.locator("#counter").inputValue(), "all · requests");
  // A counter someone picked stays picked.
  await d.page.locator("#counter").selectOption("all · bad_requests");
  proxy.incrementTotal("requests", 10);
  await d.page.locator(".ctx .chip", { hasText: /^requests 40$/ }).waitFor({ timeout: 4_000 });
  assert.deepEqual(await d.page.locator("#counter").inputValue(), "all · bad_requests");
});

browserTest("same-named siblings show their shared counters once, on the first", async () => {
  const root = Context.root("global");
  const pool = root.child("pool").create();
  for (let i = 0; i < 3; i++) pool.child("worker").create().incrementTotal("jobs", 20);
  await using d = await openDashboard(root);
  const rows = d.page.locator(`${ctxRow("global.pool.worker")} > .row`);
  await rows.nth(2).waitFor({ timeout: 2_000 });
  const texts = await rows.allTextContents();
  assert.match(texts[0], /all 3 worker together:.*jobs 60/);
  assert.match(texts[1], /counters shared with the first worker/);
  assert.match(texts[2], /counters shared with the first worker/);
  assert.doesNotMatch(texts[1] + texts[2], /jobs 60/);
});
