/**
 * Named locks that know who holds them and who waits: {@linkcode ContextMutex},
 * {@linkcode ContextRwLock} and {@linkcode ContextSemaphore}, made by `ctx.mutex()`,
 * `ctx.rwlock()` and `ctx.semaphore()`.
 *
 * The holder or waiter is `current()` at the call. Every acquire, release, wait start and give-up
 * marks that context active and calls `tree.changed()` on the tree of the lock's owner, whose
 * `locks` registry lists the lock while it is held or waited on.
 *
 * For status:
 * - holders and waiters: iterate `lockRegistry(tree).locks` and call `holders()` / `waiters()` (oldest first,
 *   queue order); `since` is on the tree's clock.
 * - leaked guards: a holder whose `context.ended` is true holds a leaked guard;
 *   {@linkcode leakedGuards} lists them for a tree.
 * - deadlocks: `lockRegistry(tree).deadlocks` (see `deadlock.ts`).
 *
 * Timestamps (`since` of holders, guards and waiters, the activity of the contexts) come from
 * the tree's coarse clock: with the default `Date.now` the time is re-read at least once per turn
 * of the event loop and at least every 64 lock or activity events, whichever comes first, so a
 * stamp is never staler than one turn of the event loop; a tree with an injected clock
 * (`Context.root(name, { now })`) reads it at every event.
 *
 * Fast paths (a free lock) allocate only the guard and its resolved promise, run no deadlock
 * check and make no `Error`; waits, hand-offs and give-ups take the slow path. A lock is listed in
 * its tree's registry at its first take and stays listed when released (status sees only the
 * locks that are held or waited on: the registry prunes the free ones when it is read and when
 * it has doubled), so taking and releasing a lock again costs no `Set` work.
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
