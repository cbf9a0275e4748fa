/**
 * What the locks of one context tree share with status: the locks held or waited on right now,
 * and the deadlock cycles found and not yet broken. Kept beside the tree (a weak map keyed by
 * it), so the tree itself knows nothing of locks.
 *
 * @module
 */

import type { Tree } from "../core/tree.ts";
import type { LockHolderInfo, NamedLock } from "../core/context.ts";
import type { DeadlockFinding } from "./deadlock_types.ts";

/**
 * The active locks and deadlock findings of one tree. Internal: read by status.
 * @internal
 */
export class LockRegistry {
  /**
   * Locks that are held or waited on right now. Locks add themselves while they are held or
   * waited on and remove themselves when they are free again, so the registry never keeps a
   * dropped lock alive.
   */
  readonly locks: Set<NamedLock> = new Set();
  /**
   * Deadlock cycles found and not yet broken: the deadlock search adds a finding when a wait
   * closes a cycle and removes it when any member stops waiting.
   */
  readonly deadlocks: DeadlockFinding[] = [];
}

const registries = new WeakMap<Tree, LockRegistry>();

/**
 * The lock registry of `tree`, made on first use. Locks look it up once, when they are made.
 * @internal
 */
export function lockRegistry(tree: Tree): LockRegistry {
  let r = registries.get(tree);
  if (r === undefined) registries.set(tree, r = new LockRegistry());
  return r;
}

/**
 * A lock whose guard's holder context has ended. Internal, for status.
 * @internal
 */
export interface LeakedGuard {
  /** The lock. */
  readonly lock: NamedLock;
  /** The holder; `holder.context.ended` is true. */
  readonly holder: LockHolderInfo;
}

/**
 * The guards in `tree` whose holder context has ended (left the tree while holding). Internal,
 * for status; the same can be read from `holders()` of each active lock.
 * @internal
 */
export function leakedGuards(tree: Tree): LeakedGuard[] {
  const out: LeakedGuard[] = [];
  for (const lock of lockRegistry(tree).locks) {
    for (const holder of lock.holders()) {
      if (holder.context.ended) out.push({ lock, holder });
    }
  }
  return out;
}
