/**
 * What the flight recorder costs, against baselines measured in the same run:
 *
 * - record: a status snapshot as the stream takes one (the baseline), against the same snapshot
 *   written to a recording (snapshot + delta + one write), for a tree the size of
 *   examples/service.ts and for 1,000 contexts. The stream takes at most one snapshot a second,
 *   so the recorder's share of a core is this time per second; a request pays nothing.
 * - replay: a 64 MB recording made once at the start (rotated segments, a full snapshot every
 *   1,000 deltas): opening it (reading and indexing) and reaching a moment anywhere in it.
 *   Target: any moment in under 1 s, open included.
 *
 * Run: `deno bench -A bench/recording_bench.ts`.
 *
 * @module
 */

import { Context, Metric } from "../mod.ts";
import { statusJson } from "../src/status/status.ts";
import { openRecording, RecordingWriter } from "../src/status/recording.ts";
import { SEED_SYSTEM } from "../tests/fixtures/system.ts";

const dir = Deno.makeTempDirSync({ prefix: "fastn-recording-bench-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** A tree like examples/service.ts: ~20 contexts with data, metrics and counters. */
function serviceTree(): { root: Context; change: (i: number) => void } {
  const root = Context.root("global");
  const listener = root.child("remote-access-listener").create();
  const sessions = ["alice", "bob", "carol"].map((p) =>
    listener.child(`${p}@bv478gen`).withData("shell", "bash").create()
  );
  for (const s of sessions) {
    s.child("stdout-handler").withMetric("bytes", Metric.bytes(912)).create();
    s.child("stderr-stream").create();
  }
  const chat = root.child("chat-service").create();
  chat.child("presence-monitor").withData("tracked", 3).create();
  chat.child("message-relay").create();
  const proxy = root.child("http-proxy").create();
  const pool = proxy.child("request-handler-pool").create();
  return {
    root,
    change(i) {
      pool.incrementTotal("requests");
      sessions[i % 3].setData("last_command", `ls -la ${i % 10}`);
    },
  };
}

/** 1,000 contexts: 20 services of 49 sessions. */
function bigTree(): { root: Context; change: (i: number) => void } {
  const root = Context.root("global");
  const sessions: Context[] = [];
  for (let i = 0; i < 20; i++) {
    const svc = root.child(`service-${i}`).create();
    for (let j = 0; j < 49; j++) {
      sessions.push(
        svc.child(`peer-${j}`).withData("peer", `peer-${j}`).withMetric("b", Metric.bytes(j))
          .create(),
      );
    }
  }
  return {
    root,
    change(i) {
      for (let k = 0; k < 5; k++) sessions[(i * 5 + k) % sessions.length].incrementTotal("cmds");
    },
  };
}

for (const [name, make] of [["service-sized", serviceTree], ["1,000 contexts", bigTree]] as const) {
  const base = make();
  const rec = make();
  const writer = new RecordingWriter(`${dir}/${name.replace(/\W/g, "")}.jsonl`);
  let i = 0, j = 0;
  Deno.bench({
    name: `${name}: change + snapshot (the stream's own work)`,
    group: `record ${name}`,
    baseline: true,
    fn() {
      base.change(i++);
      statusJson({ root: base.root, system: SEED_SYSTEM });
    },
  });
  Deno.bench({
    name: `${name}: change + snapshot + record`,
    group: `record ${name}`,
    fn() {
      rec.change(j++);
      writer.write(statusJson({ root: rec.root, system: SEED_SYSTEM }));
    },
  });
}

// ── a 64 MB recording ───────────────────────────────────────────────────────────────────────────

const BIG = 64 * 1024 * 1024;
const bigPath = `${dir}/big.jsonl`;
{
  // 300 contexts; each moment 40 of them change: ~3 KB deltas, ~150 KB full snapshots.
  let t = 1_700_000_000_000;
  const root = Context.root("global", { now: () => t });
  const kids: Context[] = [];
  for (let i = 0; i < 10; i++) {
    const svc = root.child(`service-${i}`).create();
    for (let j = 0; j < 29; j++) kids.push(svc.child(`s-${j}`).withData("peer", `p${j}`).create());
  }
  const w = new RecordingWriter(bigPath, { maxBytes: BIG });
  const started = performance.now();
  let n = 0;
  while (w.bytesWritten < BIG * 1.1) {
    t += 1_000;
    for (let k = 0; k < 40; k++) kids[(n * 40 + k) % kids.length].incrementTotal("cmds");
    w.write(statusJson({ root, system: SEED_SYSTEM }));
    n++;
  }
  w.close();
  let onDisk = 0;
  for (const e of Deno.readDirSync(dir)) {
    if (e.name.startsWith("big.jsonl")) onDisk += Deno.statSync(`${dir}/${e.name}`).size;
  }
  console.log(
    `made a recording of ${(onDisk / 2 ** 20).toFixed(1)} MiB on disk (${n} moments written, ` +
      `${(w.bytesWritten / n).toFixed(0)} B each on average) in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

const opened = openRecording(bigPath);
let seed = 1;
const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;

Deno.bench({
  name: "64 MB: open (read and index every segment)",
  group: "replay 64 MB",
  baseline: true,
  fn() {
    openRecording(bigPath);
  },
});
Deno.bench({
  name: "64 MB: open + the status of a random moment",
  group: "replay 64 MB",
  fn() {
    const rec = openRecording(bigPath);
    rec.statusAt(Math.floor(random() * rec.length));
  },
});
Deno.bench({
  name: "64 MB: the status of a random moment (open already)",
  group: "replay 64 MB",
  fn() {
    // A fresh cache each time: the worst case, up to 1,000 deltas after the snapshot.
    const i = Math.floor(random() * opened.length);
    opened.statusAt(i === 0 ? 0 : i);
    opened.statusAt(0);
  },
});
