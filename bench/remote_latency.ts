/**
 * Remote status latency on loopback, between real processes (`deno task bench:remote`):
 *
 * 1. from a client process starting (`status alice`) to the tree printed on its stdout, and to
 *    its exit — target under 1 s;
 * 2. per request on an open connection (a new stream each, the way `status()` of
 *    `connectRemote` works) — target under 10 ms;
 * 3. for the record: dial + handshake + first answer in a running process, and a watch's first
 *    snapshot.
 *
 * @module
 */

import { connectRemote, watchRemoteStatus } from "../remote.ts";
import {
  clientCommand,
  exitWithin,
  makeHome,
  peerTable,
  startServer,
} from "../tests/fixtures/remote_harness.ts";

const PROCESS_RUNS = 10;
const REQUESTS = 500;

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return `median ${at(0.5).toFixed(2)} ms, p95 ${at(0.95).toFixed(2)} ms, min ${
    s[0].toFixed(2)
  } ms, max ${s[s.length - 1].toFixed(2)} ms (n=${s.length})`;
}

const client = await makeHome();
const serverHome = await makeHome();
await serverHome.config(`[access]\nstatus = ["${client.id52}"]\n`);
const server = await startServer(serverHome);
await client.config(peerTable("alice", server.id52, server.addrs));

try {
  // 1. A client process: spawn → tree printed → exit.
  const toTree: number[] = [];
  const toExit: number[] = [];
  for (let i = 0; i <= PROCESS_RUNS; i++) {
    const start = performance.now();
    const child = clientCommand(client, ["alice"]).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    let treeAt: number | undefined;
    while (true) {
      const r = await reader.read();
      if (r.done) break;
      out += r.value;
      if (treeAt === undefined && out.includes("└── ")) treeAt = performance.now() - start;
    }
    const [status, stderr] = await Promise.all([
      exitWithin(child, 15_000),
      new Response(child.stderr).text(),
    ]);
    if (status.code !== 0 || treeAt === undefined) {
      throw new Error(`client failed (${status.code}): ${stderr}`);
    }
    if (i === 0) continue; // the first run warms Deno's caches
    toTree.push(treeAt);
    toExit.push(performance.now() - start);
  }
  console.log(`client process, start → tree printed: ${stats(toTree)}`);
  console.log(`client process, start → exit:         ${stats(toExit)}`);

  // 2. Requests on an open connection.
  const t0 = performance.now();
  const remote = await connectRemote("alice", { home: client.dir });
  await remote.status();
  const firstMs = performance.now() - t0;
  const perRequest: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    await remote.status();
    perRequest.push(performance.now() - t);
  }
  await remote.close();
  console.log(`in a running process, connect + first answer: ${firstMs.toFixed(2)} ms`);
  console.log(`per request on an open connection:    ${stats(perRequest)}`);

  // 3. A watch's first snapshot (new node, dial, stream).
  const w0 = performance.now();
  for await (const _ of watchRemoteStatus("alice", { home: client.dir })) break;
  console.log(`watch, start → first snapshot: ${(performance.now() - w0).toFixed(2)} ms`);
} finally {
  const code = await server.stop();
  await Promise.all([client.remove(), serverHome.remove()]);
  if (code !== 0) console.error(`the server exited with code ${code}`);
  Deno.exitCode = code;
}
