/**
 * `FASTN_HOME`: where the identity key and `remote-access/config.toml` live.
 *
 * @module
 */

import { UnsafeHomeError } from "./errors.ts";

/** The environment variable that moves the fastn home. */
export const HOME_ENV = "FASTN_HOME";

/**
 * The fastn home: `home` when given, else `$FASTN_HOME`, else `~/.fastn`.
 *
 * @throws {Error} when neither is set and there is no home directory (`$HOME`/`%USERPROFILE%`).
 */
export function fastnHome(home?: string): string {
  if (home !== undefined) {
    if (typeof home !== "string" || home === "") {
      throw new TypeError(`options.home must be a non-empty path, got ${JSON.stringify(home)}`);
    }
    return home;
  }
  const fromEnv = Deno.env.get(HOME_ENV);
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const user = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (user === undefined || user === "") {
    throw new Error(`no fastn home: set ${HOME_ENV} (there is no HOME to put ~/.fastn in)`);
  }
  return `${user.replace(/[\\/]+$/, "")}/.fastn`;
}

/** The identity key file in a fastn home. */
export function identityPath(home: string): string {
  return `${home}/identity.key`;
}

/** The remote access config file in a fastn home. */
export function configPath(home: string): string {
  return `${home}/remote-access/config.toml`;
}

/**
 * Checks that nobody but its user (or root) can change the fastn home `home` or its
 * `remote-access` folder: each, when it exists, belongs to this user or to root and is not
 * writable by the group or others.
 *
 * @throws {UnsafeHomeError} naming the folder and the `chmod` that fixes it.
 */
export async function checkHome(home: string): Promise<void> {
  await checkPath(home, "folder");
  await checkPath(`${home}/remote-access`, "folder");
}

/**
 * Checks `config.toml` (and the folders it is in): not writable by the group or others, owned by
 * this user or root. False when it does not exist.
 *
 * @throws {UnsafeHomeError} naming the file and the `chmod` that fixes it.
 */
export async function checkConfigFile(home: string): Promise<boolean> {
  await checkHome(home);
  return await checkPath(configPath(home), "file");
}

/**
 * Checks that `identity.key` is not a symbolic link (a key must be a file of the home's own, not
 * one another user can swap). False when it does not exist.
 *
 * @throws {UnsafeHomeError} for a symbolic link.
 */
export async function checkKeyFile(path: string): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  if (info.isSymlink) {
    const target = await Deno.readLink(path).catch(() => "another file");
    throw new UnsafeHomeError(
      path,
      `is a symbolic link (to ${target}): the key must be a file of its own; replace the link ` +
        `with the key file itself (mode 600), or remove it to make a new identity`,
    );
  }
  return true;
}

async function checkPath(path: string, kind: "folder" | "file"): Promise<boolean> {
  if (Deno.build.os === "windows") return true;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  const uid = ownUid();
  if (uid !== null && info.uid !== null && info.uid !== uid && info.uid !== 0) {
    throw new UnsafeHomeError(
      path,
      `belongs to uid ${info.uid}, not to this user (uid ${uid}) or root: another user could ` +
        `change it; run chown ${uid} ${path}`,
    );
  }
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    const who = (info.mode & 0o002) !== 0 ? "everyone" : "its group";
    throw new UnsafeHomeError(
      path,
      `is writable by ${who} (mode ${(info.mode & 0o777).toString(8)}), so another user could ` +
        `${kind === "file" ? "change it" : "change what is in it"}; run chmod ${
          kind === "file" ? 600 : 700
        } ${path}`,
    );
  }
  return true;
}

function ownUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    return null; // without --allow-sys the owner is not checked, the mode still is
  }
}

/**
 * The Deno permissions remote access (serving or reading a peer's status, or `cli.ts id`) needs
 * and that are not granted, found without prompting, all at once. libp2p's dependencies read the
 * whole environment, so `--allow-env` has no list; the fastn home is read, and written on first
 * use (the identity key).
 */
export function missingRemotePermissions(options: { home?: string; net?: boolean } = {}): string[] {
  const q = (d: Deno.PermissionDescriptor): boolean =>
    Deno.permissions.querySync(d).state === "granted";
  const missing: string[] = [];
  const envOk = q({ name: "env" });
  if (!envOk) missing.push("--allow-env");
  if (options.net !== false && !q({ name: "net" })) missing.push("--allow-net");
  let home = options.home;
  if (home === undefined && envOk) {
    try {
      home = fastnHome();
    } catch {
      // no home at all: fastnHome() says so when it is used
    }
  }
  const shown = home ?? "~/.fastn";
  if (home === undefined || !q({ name: "read", path: home })) missing.push(`--allow-read=${shown}`);
  if (home === undefined || !q({ name: "write", path: home })) {
    missing.push(`--allow-write=${shown}`);
  }
  return missing;
}
