/**
 * Named locks against a plain promise-queue mutex (the baseline) and npm async-mutex.
 *
 * Run alone with `deno bench -A bench/locks_bench.ts`; `deno task bench` (bench/summary.ts) prints
 * each ratio against its target:
 *
 * - uncontended `lock()` + release ≤ 1.5× the baseline, and ≥ 8× faster than async-mutex;
 * - a hand-off among 100 contenders ≤ 2× the baseline;
 * - semaphore acquire + release faster than async-mutex's `Semaphore` (ratio ≤ 1);
 * - rwlock read + release ≤ 1.2× our mutex's lock + release.
 *
 * Where the time goes: an uncontended take and release reads the tree clock twice (`Date.now()`,
 * 35–80 ns each on some virtual machines) and adds the lock to the tree's registry `Set` and
 * removes it (about 40 ns while the registry is otherwise empty); the row "baseline + 2 clock
 * reads + registry add/delete" measures that floor.
 *
 * @module
 */

import { Mutex as AsyncMutex, Semaphore as AsyncSemaphore } from "async-mutex";
import { global } from "../mod.ts";

/** The baseline: a mutex that is a flag and a FIFO of resolvers, nothing else. */
class QueueMutex {
  #locked = false;
  #queue: Array<(release: () => void) => void> = [];
  #head = 0;
  readonly #release = (): void => {
    if (this.#head < this.#queue.length) {
      const next = this.#queue[this.#head++];
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
      }
      next(this.#release);
    } else {
      this.#locked = false;
    }
  };

  lock(): Promise<() => void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve(this.#release);
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }
}

// The locks live in the global tree, where current() (global() here) is: one clock per event.
const root = global().child("bench").create();
const CONTENDERS = 100;

// --- uncontended lock + release ---------------------------------------------------------------

const plain = new QueueMutex();
const am = new AsyncMutex();
const ours = root.mutex("bench-uncontended", 0);

Deno.bench("baseline: promise-queue mutex", {
  group: "uncontended lock+release",
  baseline: true,
}, async () => {
  const release = await plain.lock();
  release();
});

// What the contract makes any implementation do on top of the baseline: read the clock at take
// and at release (holder since, activity times) and add the lock to the tree's registry and
// remove it again. The floor for "@fastn/context mutex" below.
const registry = new Set<object>();
const entry = {};
Deno.bench(
  "baseline + 2 clock reads + registry add/delete",
  { group: "uncontended lock+release" },
  async () => {
    const release = await plain.lock();
    Date.now();
    registry.add(entry);
    Date.now();
    registry.delete(entry);
    release();
  },
);

Deno.bench("async-mutex", { group: "uncontended lock+release" }, async () => {
  const release = await am.acquire();
  release();
});

Deno.bench("@fastn/context mutex", { group: "uncontended lock+release" }, async () => {
  const g = await ours.lock();
  g.release();
});

// --- hand-off among 100 contenders -------------------------------------------------------------

const plain100 = new QueueMutex();
const am100 = new AsyncMutex();
const ours100 = root.mutex("bench-handoff", 0);
const oursCtx100 = root.mutex("bench-handoff-contexts", 0);
const workers = Array.from({ length: CONTENDERS }, (_, i) => root.child(`w${i}`).create());

Deno.bench("baseline: promise-queue mutex", {
  group: "hand-off among 100 contenders",
  baseline: true,
}, async () => {
  const all: Promise<void>[] = [];
  for (let i = 0; i < CONTENDERS; i++) all.push(plain100.lock().then((release) => release()));
  await Promise.all(all);
});

Deno.bench("async-mutex", { group: "hand-off among 100 contenders" }, async () => {
  const all: Promise<void>[] = [];
  for (let i = 0; i < CONTENDERS; i++) all.push(am100.acquire().then((release) => release()));
  await Promise.all(all);
});

Deno.bench("@fastn/context mutex", { group: "hand-off among 100 contenders" }, async () => {
  const all: Promise<void>[] = [];
  for (let i = 0; i < CONTENDERS; i++) all.push(ours100.lock().then((g) => g.release()));
  await Promise.all(all);
});

// The same hand-off with each contender in a context of its own (a task per context): what the
// lock adds to the spawns.
Deno.bench("baseline: 100 spawns, no lock", {
  group: "hand-off among 100 contexts",
  baseline: true,
}, async () => {
  const all: Promise<void>[] = [];
  for (let i = 0; i < CONTENDERS; i++) all.push(workers[i].spawn(() => {}));
  await Promise.all(all);
});

Deno.bench("100 spawns, each takes the mutex", {
  group: "hand-off among 100 contexts",
}, async () => {
  const all: Promise<void>[] = [];
  for (let i = 0; i < CONTENDERS; i++) {
    all.push(workers[i].spawn(() => oursCtx100.lock()).then((g) => g.release()));
  }
  await Promise.all(all);
});

// --- fast paths of the other kinds -----------------------------------------------------------

const m = root.mutex("bench-fast-mutex", 0);
const rw = root.rwlock("bench-fast-rwlock", 0);
const sem = root.semaphore("bench-fast-semaphore", 12);
const amSem = new AsyncSemaphore(12);

Deno.bench("mutex lock+release", { group: "fast paths", baseline: true }, async () => {
  const g = await m.lock();
  g.release();
});

Deno.bench("rwlock read+release", { group: "fast paths" }, async () => {
  const g = await rw.read();
  g.release();
});

Deno.bench("rwlock write+release", { group: "fast paths" }, async () => {
  const g = await rw.write();
  g.release();
});

Deno.bench("semaphore acquire+release", { group: "fast paths" }, async () => {
  const g = await sem.acquire();
  g.release();
});

Deno.bench("async-mutex semaphore acquire+release", { group: "fast paths" }, async () => {
  const [, release] = await amSem.acquire();
  release();
});

Deno.bench("mutex tryLock+release (no promise)", { group: "fast paths" }, () => {
  m.tryLock()!.release();
});
