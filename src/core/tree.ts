/**
 * What one context tree shares: its clock, its counter store, the registry of its active locks,
 * the listeners told of changes, and recent events kept for status. Internal.
 *
 * @module
 */

import { config } from "./config.ts";
import { CounterStore } from "./counters.ts";
import type { DeadlockFinding } from "../locks/deadlock.ts";
import type { NamedLock } from "../locks/locks.ts";

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

/** The kinds of named lock. */
export type LockKind = "mutex" | "rwlock" | "semaphore";

/**
 * How a lock is held or wanted: `exclusive` (a mutex), `read` or `write` (an rwlock), `permits`
 * (a semaphore; see `permits`).
 */
export type LockMode = "exclusive" | "read" | "write" | "permits";

/**
 * An object kept in the tree's lock registry (`Tree.locks`). Locks add themselves while they are
 * held or waited on and remove themselves when they are free again, so the registry holds only
 * active locks and never keeps a dropped lock alive.
 */
export type RegisteredLock = NamedLock;

/** The state one context tree shares. */
export class Tree {
  readonly now: Clock;
  readonly counters: CounterStore = new CounterStore();
  /** Locks that are held or waited on right now. */
  readonly locks: Set<RegisteredLock> = new Set();
  /** Recent task failures, newest last, at most `maxRecentEvents`. */
  readonly failures: FailedTask[] = [];
  /** Recent live counts lowered below zero, newest last, at most `maxRecentEvents`. */
  readonly belowZero: LiveBelowZero[] = [];
  /**
   * Deadlock cycles found and not yet broken. The lock module adds a finding when a wait closes
   * a cycle and removes it when any member stops waiting.
   */
  readonly deadlocks: DeadlockFinding[] = [];
  /** Goes up by one at every change a status would show. */
  version = 0;
  #listeners: Array<() => void> = [];

  /** The clock's reading when the tree was made: contexts keep their times relative to it. */
  readonly base: number;

  constructor(now: Clock) {
    this.now = now;
    this.base = now();
  }

  /** Records a change; listeners (status streams) are called synchronously and must be cheap. */
  changed(): void {
    this.version++;
    const ls = this.#listeners;
    for (let i = 0; i < ls.length; i++) ls[i]();
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

/** The text of an error for status: `Name: message`, or the value as a string. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
