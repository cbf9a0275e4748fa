/**
 * Named locks that know who holds them and who waits: {@linkcode ContextMutex},
 * {@linkcode ContextRwLock} and {@linkcode ContextSemaphore}, made by `ctx.mutex()`,
 * `ctx.rwlock()` and `ctx.semaphore()`.
 *
 * The holder or waiter is `current()` at the call. Every acquire, release, wait start and give-up
 * marks that context active and calls `tree.changed()` on the tree of the lock's owner, whose
 * `locks` registry holds the lock while it is held or waited on.
 *
 * For status:
 * - holders and waiters: iterate `lockRegistry(tree).locks` and call `holders()` / `waiters()` (oldest first,
 *   queue order); `since` is on the tree's clock.
 * - leaked guards: a holder whose `context.ended` is true holds a leaked guard;
 *   {@linkcode leakedGuards} lists them for a tree.
 * - deadlocks: `tree.deadlocks` (see `deadlock.ts`).
 *
 * Fast paths (a free lock) allocate only the guard and its resolved promise, run no deadlock
 * check and make no `Error`; waits, hand-offs and give-ups take the slow path. Their cost is
 * mostly the two clock reads (take, release) and the registry's `Set` add and delete.
 *
 * @module
 */

import { provideLocks } from "../core/context.ts";
import { cancelAllWaits } from "./deadlock.ts";
import { newMutex } from "./mutex.ts";
import { newRwLock } from "./rwlock.ts";
import { newSemaphore } from "./semaphore.ts";

provideLocks({
  mutex: newMutex,
  rwlock: newRwLock,
  semaphore: newSemaphore,
  cancelWaits: cancelAllWaits,
});
