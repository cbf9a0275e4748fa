/**
 * Loaded before libp2p. libp2p's peer store locks with `mortice`, which makes a
 * `BroadcastChannel` and calls `unref?.()` on it so that it does not keep a Node process alive.
 * Deno's `BroadcastChannel` has no `unref`, so the channel kept the process alive after
 * `node.stop()`. Here `unref` closes the channel: a channel that only serves one process has
 * nothing to say to anyone, and the process exits by itself once the node is stopped.
 *
 * It also asks for the environment first: libp2p's dependencies read it while they load, and
 * without `--allow-env` Deno would stop the import with a stack naming some variable of theirs.
 *
 * @module
 */

if (Deno.permissions.querySync({ name: "env" }).state !== "granted") {
  throw new Deno.errors.NotCapable(
    "@fastn/context/remote needs --allow-env (all of it: libp2p's dependencies read the " +
      "environment as they load); remote access also needs --allow-net, and --allow-read and " +
      "--allow-write of the fastn home ($FASTN_HOME, default ~/.fastn); or -A for all",
  );
}

interface Unrefable {
  unref?: () => void;
}

if (typeof BroadcastChannel === "function") {
  const proto = BroadcastChannel.prototype as BroadcastChannel & Unrefable;
  if (typeof proto.unref !== "function") {
    Object.defineProperty(proto, "unref", {
      configurable: true,
      writable: true,
      value: function unref(this: BroadcastChannel): void {
        this.close();
      },
    });
  }
}
