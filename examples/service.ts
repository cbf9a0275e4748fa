/**
 * The scene of the design's `fastn status` screens as a real service: a remote-access listener
 * whose sessions run commands, an HTTP proxy serving real HTTP on localhost, and a chat service
 * with presence and a message relay. Run it, then look at it from another terminal:
 *
 * ```sh
 * deno run -A examples/service.ts            # prints "ready {...}" with its HTTP address
 * deno run -A cli.ts status                  # its tree, from another terminal
 * deno run -A cli.ts status -w               # watch it change
 * curl 'http://127.0.0.1:<port>/chat?from=carol&text=hi'
 * ```
 *
 * `--http-port N` also serves the status on 127.0.0.1:N (0 picks a free port): the live dashboard
 * at `/`, Prometheus metrics at `/metrics`; the ready line gives the address as `status`. With
 * `FASTN_CONTEXT_TOKEN` set, requests need `Authorization: Bearer <token>`.
 *
 * `--record FILE` records its status stream to FILE (replay it with `cli.ts replay FILE`).
 *
 * `--stuck` reproduces the design's stuck `session-output-lock`: after two commands, alice's
 * stdout-handler holds it and her stderr-stream waits for it (with warning thresholds lowered so the warnings show within
 * seconds). `--tick-ms N` sets how often sessions run a command (default 1000). Every HTTP
 * request gets a deadline (`--request-timeout-ms N`, default 30000): status shows `deadline in …`
 * beside it, and a request still running at its deadline is answered 504. Ctrl-C or
 * SIGTERM shuts it down cleanly: every loop here watches its context's cancellation.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { configure, type Context, DeadlineExceededError, main, Metric } from "@fastn/context";

const USAGE =
  "usage: service.ts [--stuck] [--tick-ms N] [--port N] [--http-port N] [--record FILE] " +
  "[--request-timeout-ms N]";
const { values: flags } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        stuck: { type: "boolean" },
        "tick-ms": { type: "string", default: "1000" },
        port: { type: "string", default: "0" },
        "http-port": { type: "string" },
        record: { type: "string" },
        "request-timeout-ms": { type: "string", default: "30000" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    // One line for a mistake in the flags, not parseArgs' advice and a stack.
    console.error(`service.ts: ${(e as Error).message.split(". ")[0]}\n${USAGE}`);
    Deno.exit(2);
  }
})();
if (flags.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const tickMs = Number(flags["tick-ms"]);
const requestTimeoutMs = Number(flags["request-timeout-ms"]);

/** Resolves after `ms`, or at once when `ctx` is cancelled; true when it slept the whole time. */
function pause(ctx: Context, ms: number): Promise<boolean> {
  if (ctx.cancelled) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (slept: boolean): void => {
      clearTimeout(timer);
      ctx.signal.removeEventListener("abort", onAbort);
      resolve(slept);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(true), ms);
    ctx.signal.addEventListener("abort", onAbort);
  });
}

/** Runs a command (killed when `ctx` is cancelled); returns its stdout, stderr and success. */
async function runCommand(
  ctx: Context,
  argv: string[],
): Promise<{ stdout: Uint8Array; stderr: Uint8Array; success: boolean }> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    signal: ctx.signal,
  }).output();
  return { stdout: out.stdout, stderr: out.stderr, success: out.success };
}

// ── remote access ────────────────────────────────────────────────────────────────────────────

interface Terminal {
  lines: number;
  bytes: number;
}

/** One remote shell session: its stdout and stderr pumps share the session's output lock. */
function shellSession(listener: Context, peer: string, commands: string[][]): void {
  const session = listener.child(peer).withData("shell", "bash").create();
  listener.incrementTotal("connections");
  listener.incrementLive("connections");
  const output = session.mutex<Terminal>("session-output-lock", { lines: 0, bytes: 0 });

  session.child("stdout-handler").withMetric("processed", Metric.bytes(0)).spawn(async (task) => {
    let processed = 0;
    for (let i = 0; await pause(task, tickMs); i++) {
      if (flags.stuck && i === 2) {
        // Takes the lock to write to a client that stopped reading, and keeps it until shutdown.
        using _g = await output.lock();
        task.setData("blocked_on", "client write");
        await task.wait();
        return;
      }
      const argv = commands[i % commands.length];
      session.incrementTotal("commands");
      session.incrementLive("commands");
      session.setData("last_command", argv.join(" "));
      try {
        const r = await runCommand(task, argv);
        session.incrementTotal(r.success ? "successful_commands" : "failed_commands");
        using g = await output.lock();
        g.value.lines++;
        g.value.bytes += r.stdout.length;
        processed += r.stdout.length;
        task.addMetric("processed", Metric.bytes(processed));
      } catch (e) {
        if (task.cancelled) return;
        session.incrementTotal("failed_commands");
        task.setData("last_error", String(e));
      } finally {
        session.decrementLive("commands");
      }
    }
  });

  session.child("stderr-stream").withMetric("processed", Metric.bytes(0)).spawn(async (task) => {
    let processed = 0;
    while (await pause(task, tickMs)) {
      // With --stuck this ends up waiting for the lock stdout-handler never gives back; the
      // wait ends (rejects) when shutdown cancels the context.
      try {
        using g = await output.lock();
        g.value.lines++;
        processed += 42;
        task.addMetric("processed", Metric.bytes(processed));
      } catch (e) {
        if (task.cancelled) return;
        throw e;
      }
    }
  });

  session.spawn(async () => {
    await session.wait();
    listener.decrementLive("connections");
  });
}

/** A session running one long command, as bob's `command-executor` in the design. */
function commandSession(listener: Context, peer: string, argv: string[]): void {
  const session = listener.child(peer).withData("command", argv.join(" ")).create();
  listener.incrementTotal("connections");
  listener.incrementLive("connections");
  session.child("command-executor").withData("exit", "pending").spawn(async (task) => {
    session.incrementTotal("commands");
    session.incrementLive("commands");
    try {
      const r = await runCommand(task, argv); // killed by the context's signal at shutdown
      task.setData("exit", r.success ? 0 : 1);
    } catch {
      task.setData("exit", "killed");
    } finally {
      session.decrementLive("commands");
      listener.decrementLive("connections");
    }
  });
}

function remoteAccess(root: Context): void {
  const listener = root.child("remote-access-listener").withData("listen", "/ip4/0.0.0.0/tcp/4001")
    .create();
  shellSession(listener, "alice@bv478gen", [["echo", "hello from alice"], ["ls", "-la", "."]]);
  commandSession(listener, "bob@p2nd7avq", ["sleep", "3600"]);
}

// ── chat ─────────────────────────────────────────────────────────────────────────────────────

interface ChatMessage {
  from: string;
  text: string;
}

/** The chat service: presence of users and a relay that delivers queued messages. */
function chat(root: Context): (message: ChatMessage) => void {
  const service = root.child("chat-service").create();
  const users = new Map<string, number>();
  const queue: ChatMessage[] = [];
  let wake: (() => void) | undefined;

  const presence = service.child("presence-monitor").create();
  const join = (user: string): void => {
    if (users.has(user)) return;
    users.set(user, Date.now());
    service.incrementTotal("users_joined");
    service.incrementLive("users");
    presence.setData("tracked", users.size);
  };

  presence.spawn(async () => {
    for (const u of ["alice", "bob", "carol"]) join(u);
    while (await pause(presence, 5_000)) presence.incrementTotal("heartbeats");
  });

  service.child("message-relay").spawn(async (task) => {
    const stop = (): void => wake?.();
    task.signal.addEventListener("abort", stop);
    while (!task.cancelled) {
      const m = queue.shift();
      if (m === undefined) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      join(m.from);
      service.incrementTotal("messages");
      task.setData("last_message", `${m.from}: ${m.text}`.slice(0, 60));
      // deliver to every user present but the sender
      service.incrementTotal("deliveries", Math.max(0, users.size - 1));
    }
    task.signal.removeEventListener("abort", stop);
  });

  return (message) => {
    queue.push(message);
    wake?.();
  };
}

// ── HTTP proxy ───────────────────────────────────────────────────────────────────────────────

function httpProxy(root: Context, post: (m: ChatMessage) => void): Deno.HttpServer<Deno.NetAddr> {
  const proxy = root.child("http-proxy").create();
  const pool = proxy.child("request-handler-pool").create();
  const workers = pool.semaphore("request-workers", 12);
  return Deno.serve({
    hostname: "127.0.0.1",
    port: Number(flags.port),
    signal: proxy.signal,
    onListen() {},
  }, (req) => {
    proxy.incrementTotal("requests");
    proxy.incrementLive("requests");
    const url = new URL(req.url);
    const request = pool.child("request").withData("path", url.pathname);
    return request.withTimeout(requestTimeoutMs).spawn(async (task) => {
      try {
        // A long poll waits without a worker; everything else takes one of the 12.
        using _worker = url.pathname === "/slow" ? undefined : await workers.acquire();
        const response = await route(task, url, post);
        proxy.incrementTotal(response.ok ? "successful_requests" : "failed_requests");
        return response;
      } finally {
        proxy.decrementLive("requests");
      }
    });
  });
}

async function route(task: Context, url: URL, post: (m: ChatMessage) => void): Promise<Response> {
  switch (url.pathname) {
    case "/":
      return new Response("hello from http-proxy\n");
    case "/chat": {
      const from = url.searchParams.get("from") ?? "anonymous";
      post({ from, text: url.searchParams.get("text") ?? "" });
      return new Response("sent\n");
    }
    case "/slow": {
      if (await pause(task, Number(url.searchParams.get("ms") ?? 1_000))) {
        return new Response("slow hello\n");
      }
      // Cut short: by the request's deadline (504), or by shutdown (503).
      return task.signal.reason instanceof DeadlineExceededError
        ? new Response("deadline exceeded\n", { status: 504 })
        : new Response("shutting down\n", { status: 503 });
    }
    default:
      return new Response("not found\n", { status: 404 });
  }
}

// ── main ─────────────────────────────────────────────────────────────────────────────────────

if (flags.stuck) configure({ longHeldLockMs: 1_000, stuckWaiterMs: 500 });

let status: string | undefined;
await main(async (ctx) => {
  remoteAccess(ctx);
  const post = chat(ctx);
  const server = httpProxy(ctx, post);
  const http = `http://127.0.0.1:${server.addr.port}`;
  console.log(`ready ${JSON.stringify({ pid: Deno.pid, http, status })}`);
  await ctx.wait();
  await server.finished;
}, {
  name: "service.ts",
  http: flags["http-port"] === undefined
    ? undefined
    : { port: Number(flags["http-port"]), onListen: (a) => (status = a.url) },
  record: flags.record === undefined ? undefined : { path: flags.record },
});
