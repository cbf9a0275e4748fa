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
 * A lock as the registry sees it. Internal: implemented by the lock classes.
 * @internal
 */
export interface ListedLock extends NamedLock {
  /** Whether the lock is in its tree's registry; set and cleared by the registry only. */
  listed: boolean;
  /** Whether the lock is held or waited on. */
  readonly busy: boolean;
}

/** The registry keeps at least this many locks before it prunes the free ones. */
const MIN_PRUNE = 64;

/**
 * The active locks and deadlock findings of one tree. Internal: read by status.
 * @internal
 */
export class LockRegistry {
  /**
   * Every lock listed and perhaps free again. A lock lists itself at a take while it is not
   * listed and stays listed when it is released, so taking and releasing a lock again and again
   * costs no `Set` work. Free locks are pruned when {@linkcode locks} is read and whenever the
   * set has grown to twice its size after the last prune (at least {@linkcode MIN_PRUNE}), so the
   * registry keeps a dropped lock alive only until then.
   */
  readonly #all = new Set<ListedLock>();
  #limit = MIN_PRUNE;

  /**
   * Locks that are held or waited on right now (the free ones are pruned first).
   */
  get locks(): ReadonlySet<NamedLock> {
    this.#prune();
    return this.#all;
  }

  /** How many locks are listed, free ones not yet pruned included. */
  get listedSize(): number {
    return this.#all.size;
  }

  /** Lists `lock`, which is not listed; called by a lock when it is taken. */
  list(lock: ListedLock): void {
    lock.listed = true;
    this.#all.add(lock);
    if (this.#all.size > this.#limit) this.#prune();
  }

  #prune(): void {
    for (const lock of this.#all) {
      if (!lock.busy) {
        this.#all.delete(lock);
        lock.listed = false;
      }
    }
    this.#limit = Math.max(MIN_PRUNE, 2 * this.#all.size);
  }

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
