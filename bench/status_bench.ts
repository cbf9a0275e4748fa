/**
 * A status snapshot plus the full dashboard of 10,000 contexts, against `JSON.stringify` of an
 * equivalent plain tree (the baseline), in the same run.
 *
 * Run: `deno bench -A bench/status_bench.ts`. Target: snapshot + render within 3× the baseline.
 *
 * @module
 */

import { Context, Metric } from "../mod.ts";
import { renderStatus } from "../src/status/render.ts";
import { status, statusJson } from "../src/status/status.ts";
import type { SystemMetrics } from "../src/status/system_metrics.ts";
import { SEED_SYSTEM } from "../tests/fixtures/system.ts";

const SYSTEM: SystemMetrics = SEED_SYSTEM;

// 1 root, 100 services, 99 sessions each: 10,000 contexts with data, a metric and counters.
const root = Context.root("global");
for (let i = 0; i < 100; i++) {
  const svc = root.child(`service-${i}`).create();
  svc.incrementTotal("connections", 1_000 + i);
  for (let j = 0; j < 99; j++) {
    const session = svc.child(`peer-${j}@bv478gen`).withData("peer", `peer-${j}`)
      .withMetric("bytes_processed", Metric.bytes(15_200_000 + j)).create();
    session.incrementTotal("commands", j);
    session.incrementLive("commands");
  }
}

interface PlainNode {
  name: string;
  path: string;
  createdAt: number;
  durationMs: number;
  idleMs: number;
  cancelled: boolean;
  data: Record<string, unknown>;
  metrics: Record<string, unknown>;
  totalCounters: Record<string, number>;
  liveCounters: Record<string, number>;
  children: PlainNode[];
}

// The baseline's input: the same tree as plain objects with the same fields, made once.
const now = Date.now();
function plain(name: string, path: string, withSession: boolean): PlainNode {
  return {
    name,
    path,
    createdAt: now,
    durationMs: 1_000,
    idleMs: 10,
    cancelled: false,
    data: withSession ? { peer: name } : {},
    metrics: withSession ? { bytes_processed: { kind: "bytes", value: 15_200_000 } } : {},
    totalCounters: withSession ? { commands: 1 } : { connections: 1_000 },
    liveCounters: withSession ? { commands: 1 } : {},
    children: [],
  };
}
const plainTree = plain("global", "global", false);
for (let i = 0; i < 100; i++) {
  const svc = plain(`service-${i}`, `global.service-${i}`, false);
  plainTree.children.push(svc);
  for (let j = 0; j < 99; j++) {
    svc.children.push(plain(`peer-${j}@bv478gen`, `${svc.path}.peer-${j}@bv478gen`, true));
  }
}

const FULL = { color: false, maxDepth: Infinity, maxChildren: Infinity };

// For comparison only: a plain copy of a status, every field of every ContextStatus.
const sameFields = structuredClone(statusJson({ root, system: SYSTEM }));

Deno.bench({
  name: "JSON.stringify of an equivalent plain tree (10,000 nodes)",
  group: "status of 10,000 contexts",
  baseline: true,
}, () => {
  JSON.stringify(plainTree);
});

Deno.bench({
  name: "status() + renderStatus(), every context shown",
  group: "status of 10,000 contexts",
}, () => {
  renderStatus(status({ root, system: SYSTEM }), FULL);
});

Deno.bench({
  name: "status() + String(), the default folded dashboard",
  group: "status of 10,000 contexts",
}, () => {
  String(status({ root, system: SYSTEM }));
});

Deno.bench({
  name: "JSON.stringify of a plain copy of the status (same fields)",
  group: "status of 10,000 contexts",
}, () => {
  JSON.stringify(sameFields);
});

Deno.bench({
  name: "statusJson() alone",
  group: "status of 10,000 contexts",
}, () => {
  statusJson({ root, system: SYSTEM });
});

Deno.bench({
  name: "JSON.stringify(statusJson())",
  group: "status of 10,000 contexts",
}, () => {
  JSON.stringify(statusJson({ root, system: SYSTEM }));
});
