/**
 * The per-user directory where every `main()` process publishes its status socket
 * (`<pid>.sock`), and the checks that keep it private. Internal.
 *
 * @module
 */

/** The environment variable that moves the directory. */
/** The header every answer of a status endpoint carries; its value is the protocol version. */
export const PROTOCOL_HEADER = "x-fastn-context";
/** The protocol version this package speaks. */
export const PROTOCOL_VERSION = "1";

export const DIR_ENV = "FASTN_CONTEXT_DIR";

/** The file name of the socket of process `pid`. */
export function socketName(pid: number): string {
  return `${pid}.sock`;
}

/** The pid a socket file name stands for, or undefined when the name is not `<pid>.sock`. */
export function pidOfSocket(fileName: string): number | undefined {
  const m = /^([1-9][0-9]{0,9})\.sock$/.exec(fileName);
  return m === null ? undefined : Number(m[1]);
}

/**
 * The directory of local status sockets: `$FASTN_CONTEXT_DIR` when set, else
 * `/tmp/fastn-context-<uid>`. Not `$XDG_RUNTIME_DIR`: a service started by systemd or cron and a
 * shell of the same user often disagree on it, and then would not see each other.
 *
 * @throws {Deno.errors.NotCapable} without `--allow-env` (and `--allow-sys=uid` when the variable
 * is not set).
 */
export function localDir(): string {
  const override = Deno.env.get(DIR_ENV);
  if (override !== undefined && override !== "") return override;
  const uid = Deno.uid();
  return uid === null ? `${tmpBase()}/fastn-context` : `/tmp/fastn-context-${uid}`;
}

function tmpBase(): string {
  // Windows has no uid; its temp folder is per user already.
  return Deno.env.get("TEMP") ?? Deno.env.get("TMP") ?? ".";
}

/**
 * The Deno permissions that serving a status socket (with `pid`, this process's socket) or
 * reading the sockets of the directory (without it) needs and that are not granted, found
 * without prompting, all at once: an empty list when everything is there. Unix sockets are net
 * access in Deno 2 (`unix:<path>`), and a socket's path holds its process's pid, so that one is
 * asked as `--allow-net`.
 */
export function missingPermissions(options: { pid?: number } = {}): string[] {
  const missing: string[] = [];
  const q = (d: Deno.PermissionDescriptor): boolean =>
    Deno.permissions.querySync(d).state === "granted";
  const envOk = q({ name: "env", variable: DIR_ENV });
  if (!envOk) missing.push(`--allow-env=${DIR_ENV}`);
  const override = envOk ? Deno.env.get(DIR_ENV) : undefined;
  let dir: string | undefined = override === "" ? undefined : override;
  if (dir === undefined) {
    if (!q({ name: "sys", kind: "uid" })) missing.push("--allow-sys=uid");
    else dir = localDir();
  }
  const shown = dir ?? "/tmp/fastn-context-<uid>";
  if (dir === undefined || !q({ name: "read", path: dir })) missing.push(`--allow-read=${shown}`);
  if (dir === undefined || !q({ name: "write", path: dir })) missing.push(`--allow-write=${shown}`);
  if (!q({ name: "net" })) {
    let sockets: string[] = [];
    if (dir !== undefined && options.pid !== undefined) {
      sockets = [`${dir}/${socketName(options.pid)}`];
    } else if (dir !== undefined && q({ name: "read", path: dir })) {
      try {
        sockets = listSockets(dir).map((s) => s.path);
      } catch {
        // unreadable: asked for above
      }
    }
    if (dir === undefined || sockets.some((path) => !q({ name: "net", host: `unix:${path}` }))) {
      missing.push("--allow-net");
    }
  }
  return missing;
}

/**
 * `missing` as one line for people: the flags, and why `--allow-net` is there.
 */
export function permissionsText(missing: readonly string[]): string {
  const net = missing.includes("--allow-net")
    ? " (--allow-net: Deno counts a Unix socket as net access to its path)"
    : "";
  return `${missing.join(" ")}${net}, or -A for all`;
}

/**
 * The union of lists of missing flags, without a narrow flag that a wide one covers
 * (`--allow-env=X` beside `--allow-env`).
 */
export function mergePermissions(...lists: ReadonlyArray<readonly string[]>): string[] {
  const all = [...new Set(lists.flat())];
  return all.filter((flag) => {
    const eq = flag.indexOf("=");
    return eq < 0 || !all.includes(flag.slice(0, eq));
  });
}

/**
 * Makes `dir` if needed (mode 0700) and checks that it is a real directory of this user that no
 * one else may enter (see {@linkcode checkSocketDir}). A directory of ours with looser bits is
 * tightened.
 *
 * @throws {UnsafeSocketDirError} naming the directory and what is wrong with it.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  checkSocketDir(dir);
}

/**
 * A socket directory that is not safe to use: a symlink, not a directory, or another user's.
 * Another local user who made it can put sockets in it that answer with an invented status.
 */
export class UnsafeSocketDirError extends Error {
  /** The directory. */
  readonly dir: string;

  /**
   * Makes the error for `dir`.
   *
   * @param dir The directory.
   * @param problem What is wrong with it.
   */
  constructor(dir: string, problem: string) {
    super(
      `refusing the socket directory ${dir}: ${problem}. Another user may have made it to show ` +
        `an invented status; remove it, or set ${DIR_ENV} to a directory of your own`,
    );
    this.name = "UnsafeSocketDirError";
    this.dir = dir;
  }
}

/**
 * The checks both sides of the local endpoint make before they use `dir`: `main()` before it
 * binds its socket there, `cli.ts status` before it reads (or removes) any socket in it. The
 * directory must be a directory (not a symlink to one) that belongs to this user; a directory
 * of ours that others may enter is tightened to 0700. False when it does not exist.
 *
 * @throws {UnsafeSocketDirError} naming the directory, its owner and what is wrong.
 */
export function checkSocketDir(dir: string): boolean {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  if (info.isSymlink) {
    let target = "somewhere else";
    try {
      target = Deno.readLinkSync(dir);
    } catch {
      // unreadable: said without it
    }
    throw new UnsafeSocketDirError(dir, `it is a symbolic link (to ${target}), not a directory`);
  }
  if (!info.isDirectory) throw new UnsafeSocketDirError(dir, "it is not a directory");
  const uid = Deno.build.os === "windows" ? null : safeUid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new UnsafeSocketDirError(
      dir,
      `it belongs to ${userName(info.uid)}, not to this user (${userName(uid)})`,
    );
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) Deno.chmodSync(dir, 0o700);
  return true;
}

function safeUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    return null; // no --allow-sys: the directory came from FASTN_CONTEXT_DIR, trust its owner
  }
}

/** `alice (uid 1001)`: the uid, after its user name when /etc/passwd can be read. */
export function userName(uid: number): string {
  try {
    for (const line of Deno.readTextFileSync("/etc/passwd").split("\n")) {
      const [name, , id] = line.split(":");
      if (Number(id) === uid && name !== undefined && name !== "") return `${name} (uid ${uid})`;
    }
  } catch {
    // no /etc/passwd, or no permission to read it
  }
  return `uid ${uid}`;
}

/** What `GET /info` answers. */
export interface ProcessInfo {
  /** The process id. */
  readonly pid: number;
  /** The process's name as given to `main()` (by default its main module's file name). */
  readonly name: string;
  /** When the endpoint started, epoch ms. */
  readonly startedAt: number;
  /** The endpoint protocol version. */
  readonly protocol: number;
}

/** One socket file found in the directory. */
export interface LocalSocket {
  /** The pid its name claims. */
  readonly pid: number;
  /** Its full path. */
  readonly path: string;
}

/**
 * The `<pid>.sock` sockets of this user in `dir`, by pid; none when the directory does not
 * exist. Anything else with such a name (a file, a directory, a symlink, a FIFO, another user's
 * socket) is left out. Check the directory first ({@linkcode checkSocketDir}).
 */
export function listSockets(dir: string): LocalSocket[] {
  const found: LocalSocket[] = [];
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return found;
    throw e;
  }
  for (const entry of entries) {
    const pid = pidOfSocket(entry.name);
    if (pid === undefined) continue;
    const path = `${dir}/${entry.name}`;
    if (isOwnSocket(path)) found.push({ pid, path });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

/** Whether `path` is a socket (not a link to one) of this user. */
function isOwnSocket(path: string): boolean {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return false;
  }
  if (info.isSocket !== true) return false;
  const uid = Deno.build.os === "windows" ? null : safeUid();
  return uid === null || info.uid === null || info.uid === uid;
}

/**
 * Removes the socket at `path` (a stale one, of a process that is gone): only when it is a socket
 * of this user, checked with `lstat`; a file, directory, symlink or FIFO there is left alone.
 */
export function removeStaleSocket(path: string): void {
  if (isOwnSocket(path)) removeQuietly(path);
}

/** Removes a file, ignoring one that is already gone. */
export function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // gone already, or not ours to remove
  }
}

/** Whether process `pid` runs (true when that cannot be told, without `--allow-run`). */
export function isAlive(pid: number): boolean {
  try {
    if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return true;
    Deno.kill(pid, 0);
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
}
