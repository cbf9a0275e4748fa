/**
 * The deadlines of one context tree: a binary min-heap of the pending deadlines and one timer,
 * armed for the earliest. A deadline costs no timer of its own: 100,000 contexts with deadlines
 * keep one pending timer per tree. Internal.
 *
 * Ending a context takes its entry out of the heap at once (O(log n)). The timer is not moved
 * when the earliest entry goes: it fires at the moment it was armed for, finds nothing due and
 * arms itself for the new earliest entry (or stays off when none is left). So contexts made and
 * ended one after another, as requests are, set a timer only once per timer period, not once
 * each. The timer is unref'd: it never keeps a process alive.
 *
 * @module
 */

/**
 * The timer functions a tree's deadlines use: `setTimeout`/`clearTimeout` by default (unref'd).
 * Tests pass their own to fire deadlines without waiting and to count pending timers.
 *
 * @example A fake timer source that fires on demand
 * ```ts
 * import { Context, type DeadlineTimers } from "@fastn/context";
 * import assert from "node:assert/strict";
 *
 * let t = 0;
 * const pending = new Map<number, () => void>();
 * let id = 0;
 * const timers: DeadlineTimers = {
 *   setTimeout: (fn) => (pending.set(++id, fn), id),
 *   clearTimeout: (h) => void pending.delete(h as number),
 * };
 * const root = Context.root("svc", { now: () => t, timers });
 * const req = root.child("request").withTimeout(100).create();
 * t = 100;
 * for (const [h, fn] of pending) pending.delete(h), fn();
 * assert.ok(req.cancelled);
 * req.end();
 * ```
 */
export interface DeadlineTimers {
  /** Calls `fn` once after `delayMs` ms; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, delayMs: number): unknown;
  /** Stops the timer of `handle` (a handle this source returned, not fired yet). */
  clearTimeout(handle: unknown): void;
}

/** The longest delay `setTimeout` takes: a later deadline is reached in steps. */
const MAX_DELAY_MS = 2_147_483_647;

/** The default timer source: the global timers, unref'd. */
export const DEFAULT_TIMERS: DeadlineTimers = Object.freeze({
  setTimeout(fn: () => void, delayMs: number): unknown {
    const id = setTimeout(fn, delayMs);
    // deno-lint-ignore no-explicit-any
    const deno = (globalThis as any).Deno;
    if (typeof deno?.unrefTimer === "function") deno.unrefTimer(id);
    // deno-lint-ignore no-explicit-any
    else (id as any)?.unref?.();
    return id;
  },
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as number);
  },
});

/** What the queue holds: when it is due (epoch ms) and where it is in the heap (-1: not in). */
export interface Timed {
  readonly at: number;
  slot: number;
}

/** The pending deadlines of one tree and the one timer armed for the earliest. */
export class DeadlineQueue<T extends Timed> {
  readonly #heap: T[] = [];
  readonly #now: () => number;
  readonly #timers: DeadlineTimers;
  readonly #expire: (item: T) => void;
  #handle: unknown = undefined;
  /** When the armed timer fires (epoch ms on the tree's clock); Infinity when none is armed. */
  #armedAt = Infinity;
  #firing = false;

  constructor(
    now: () => number,
    timers: DeadlineTimers,
    expire: (item: T) => void,
  ) {
    this.#now = now;
    this.#timers = timers;
    this.#expire = expire;
  }

  /** Pending deadlines. */
  get size(): number {
    return this.#heap.length;
  }

  /** Whether a timer is armed. */
  get armed(): boolean {
    return this.#handle !== undefined;
  }

  /** Adds an entry (not in the heap yet) and arms the timer if it is now the earliest. */
  add(e: T): void {
    const heap = this.#heap;
    e.slot = heap.length;
    heap.push(e);
    this.#up(e.slot);
    if (e.at < this.#armedAt && !this.#firing) this.#arm(e.at);
  }

  /** Takes an entry out, if it is in; the timer stays as it is (see the module doc). */
  remove(e: T): void {
    const i = e.slot;
    if (i < 0) return;
    e.slot = -1;
    const heap = this.#heap;
    const last = heap.pop()!;
    if (last === e) return;
    heap[i] = last;
    last.slot = i;
    this.#down(i);
    this.#up(last.slot);
  }

  #arm(at: number): void {
    if (this.#handle !== undefined) this.#timers.clearTimeout(this.#handle);
    this.#armedAt = at;
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, Math.ceil(at - this.#now())));
    this.#handle = this.#timers.setTimeout(this.#fire, delay);
  }

  #fire = (): void => {
    this.#handle = undefined;
    this.#armedAt = Infinity;
    this.#firing = true;
    try {
      const heap = this.#heap;
      const now = this.#now();
      while (heap.length > 0 && heap[0].at <= now) {
        const e = heap[0];
        this.remove(e);
        try {
          this.#expire(e);
        } catch { /* one context's cancel hooks must not stop the others' deadlines */ }
      }
    } finally {
      this.#firing = false;
    }
    const first = this.#heap[0];
    if (first !== undefined) this.#arm(first.at);
  };

  #up(i: number): void {
    const heap = this.#heap;
    const e = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = heap[p];
      if (pe.at <= e.at) break;
      heap[i] = pe;
      pe.slot = i;
      i = p;
    }
    heap[i] = e;
    e.slot = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const e = heap[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && heap[c + 1].at < heap[c].at) c++;
      const ce = heap[c];
      if (ce.at >= e.at) break;
      heap[i] = ce;
      ce.slot = i;
      i = c;
    }
    heap[i] = e;
    e.slot = i;
  }
}
