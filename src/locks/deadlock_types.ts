/**
 * What a deadlock finding says: the cycle's members, each a context waiting for a lock that the
 * next member holds.
 *
 * @module
 */

import type { Context } from "../core/context.ts";
import type { LockKind, LockMode } from "../core/options.ts";

/**
 * One member of a deadlock cycle: a context waiting for a lock that the next member holds (or,
 * for an rwlock reader, waits to write before it).
 *
 * @example
 * ```ts
 * import type { DeadlockMember } from "@fastn/context";
 *
 * const describe = (m: DeadlockMember): string =>
 *   `${m.context.path} waits for ${m.kind} "${m.lockName}" (${m.mode})`;
 * ```
 */
export interface DeadlockMember {
  /** The waiting context. */
  readonly context: Context;
  /** The name of the lock it waits for. */
  readonly lockName: string;
  /** The kind of that lock. */
  readonly kind: LockKind;
  /** How the member waits for the lock. */
  readonly mode: LockMode;
}

/**
 * A wait-for cycle: every member waits for a lock held by the next, the last by the first.
 *
 * @example
 * ```ts
 * import { type DeadlockFinding, onDeadlock } from "@fastn/context";
 *
 * using _sub = onDeadlock((f: DeadlockFinding) => {
 *   console.error(f.members.map((m) => `${m.context.path} → "${m.lockName}"`).join(", "));
 * });
 * ```
 */
export interface DeadlockFinding {
  /** The cycle, in order: each member waits for a lock held by the next (the last by the first). */
  readonly members: readonly DeadlockMember[];
  /** When it was found, epoch ms on the clock of the tree of the first member's lock. */
  readonly detectedAt: number;
}
