/**
 * Hostile input at the local socket door. A real process serves its status on its Unix socket
 * (`tests/fixtures/hostile_target.ts`, with a 1 s deadline for a request head); the tests send it
 * malformed HTTP, huge heads, slow clients that never finish, hundreds of connections at once,
 * unknown paths and methods, and clients that vanish in the middle of a stream. Each is refused
 * with a clear answer (or closed), a normal client gets `/status` while the attack runs, and
 * afterwards the target's heap (measured by the target right after a collection), its RSS and
 * its open sockets are back where they were.
 *
 * The attacks are those of every door, `DOOR_ATTACKS` of `tests/fixtures/hostile_client.ts`:
 * `tests/hostile_tcp_test.ts` runs them at the TCP listener.
 *
 * @module
 */

import { attackTests, DOOR_ATTACKS, doorCounts, figuresTest } from "./fixtures/hostile_client.ts";

/** How many hostile requests and connections the tests sent, by kind; the last test says. */
const sent = doorCounts();

attackTests({}, sent, DOOR_ATTACKS); // at the target's Unix socket

figuresTest("the figures of the hostile clients", sent);
