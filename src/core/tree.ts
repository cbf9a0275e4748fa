/**
 * What one context tree shares: its clock and timers, its counter store, its pending deadlines,
 * the listeners told of changes, and recent events kept for status. Internal.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { config } from "./config.ts";
import { CounterStore } from "./counters.ts";
import { errorText } from "./errors.ts";
import type { DeadlineQueue, DeadlineTimers } from "./deadlines.ts";

/** A clock giving epoch milliseconds. */
export type Clock = () => number;

/** A task that failed, kept for status. */
export interface FailedTask {
  /** The path of the context the task ran in. */
  readonly contextPath: string;
  /** The error's message (or its text). */
  readonly message: string;
  /** When it failed, epoch ms. */
  readonly at: number;
}

/** A live count lowered below zero, kept for status. */
export interface LiveBelowZero {
  /** The path of the context that lowered it. */
  readonly contextPath: string;
  /** The counter's name. */
  readonly counter: string;
  /** When, epoch ms. */
  readonly at: number;
}

/** How many stamps one reading of the coarse clock serves at most. */
export const COARSE_CLOCK_EVENTS = 64;

let cached = 0;
let left = 0;
let expiring = false;

function expire(): void {
  expiring = false;
  left = 0;
}

/**
 * `Date.now()`, read at most once per {@linkcode COARSE_CLOCK_EVENTS} calls and at least once per
 * turn of the event loop (a `setImmediate` scheduled at each reading makes the next call read
 * again), so a stamp is never staler than one turn of the event loop.
 */
export function coarseNow(): number {
  if (left > 0) {
    left--;
    return cached;
  }
  cached = Date.now();
  left = COARSE_CLOCK_EVENTS - 1;
  if (!expiring) {
    expiring = true;
    setImmediate(expire);
  }
  return cached;
}

/** The state one context tree shares. */
export class Tree {
  /** The tree's clock, read exactly (cancel times, failures, status). */
  readonly now: Clock;
  /** The timers of the tree's deadlines. */
  readonly timers: DeadlineTimers;
  /** The pending deadlines (their items are contexts), made with the first deadline. */
  // deno-lint-ignore no-explicit-any
  deadlines: DeadlineQueue<any> | undefined = undefined;
  /**
   * The clock for lock, waiter and activity timestamps: {@linkcode coarseNow} when the tree runs
   * on `Date.now`, else the tree's own clock, read at every call (injected clocks stay exact).
   */
  readonly stamp: Clock;
  readonly counters: CounterStore = new CounterStore();
  /** Recent task failures, newest last, at most `maxRecentEvents`. */
  readonly failures: FailedTask[] = [];
  /** Recent live counts lowered below zero, newest last, at most `maxRecentEvents`. */
  readonly belowZero: LiveBelowZero[] = [];
  /** Goes up by one at every change a status would show. */
  version = 0;
  #listeners: Array<() => void> = [];

  /** The clock's reading when the tree was made: contexts keep their times relative to it. */
  readonly base: number;

  constructor(now: Clock, timers: DeadlineTimers) {
    this.now = now;
    this.timers = timers;
    this.stamp = now === Date.now ? coarseNow : now;
    this.base = this.stamp();
  }

  /** Records a change; listeners (status streams) are called synchronously and must be cheap. */
  changed(): void {
    this.version++;
    const ls = this.#listeners;
    if (ls.length !== 0) { for (let i = 0; i < ls.length; i++) ls[i](); }
  }

  /** Adds a change listener; returns the function that removes it. */
  listen(fn: () => void): () => void {
    this.#listeners = [...this.#listeners, fn];
    return () => {
      this.#listeners = this.#listeners.filter((f) => f !== fn);
    };
  }

  /** Whether anyone listens for changes. */
  get watched(): boolean {
    return this.#listeners.length > 0;
  }

  /** Keeps a task failure for status. */
  recordFailure(contextPath: string, error: unknown): void {
    push(this.failures, { contextPath, message: errorText(error), at: this.now() });
    this.changed();
  }

  /** Keeps a live count lowered below zero for status. */
  recordBelowZero(contextPath: string, counter: string): void {
    push(this.belowZero, { contextPath, counter, at: this.now() });
    this.changed();
  }
}

function push<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > config.maxRecentEvents) list.splice(0, list.length - config.maxRecentEvents);
}
