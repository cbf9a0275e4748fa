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
 * The permissions `localDir()` and serving a socket in it need and that are not granted, without
 * prompting: an empty list when everything is there.
 */
export function missingPermissions(): string[] {
  const missing: string[] = [];
  const q = (d: Deno.PermissionDescriptor): boolean =>
    Deno.permissions.querySync(d).state === "granted";
  if (!q({ name: "env", variable: DIR_ENV })) {
    missing.push(`--allow-env=${DIR_ENV}`);
    return missing;
  }
  const override = Deno.env.get(DIR_ENV);
  if ((override === undefined || override === "") && !q({ name: "sys", kind: "uid" })) {
    missing.push("--allow-sys=uid");
    return missing;
  }
  const dir = localDir();
  if (!q({ name: "read", path: dir })) missing.push(`--allow-read=${dir}`);
  if (!q({ name: "write", path: dir })) missing.push(`--allow-write=${dir}`);
  return missing;
}

/**
 * Makes `dir` if needed (mode 0700) and checks that it is a real directory of this user that no
 * one else may enter. A directory of ours with looser bits is tightened.
 *
 * @throws {Error} naming the directory and what is wrong with it.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const info = Deno.lstatSync(dir);
  if (info.isSymlink || !info.isDirectory) {
    throw new Error(
      `${dir} is not a directory of its own (a symlink or a file): refusing to use it`,
    );
  }
  const uid = Deno.build.os === "windows" ? null : safeUid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    throw new Error(`${dir} belongs to uid ${info.uid}, not to this user (${uid}): refusing it`);
  }
  if (info.mode !== null && (info.mode & 0o077) !== 0) Deno.chmodSync(dir, 0o700);
}

function safeUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    return null; // no --allow-sys: the directory came from FASTN_CONTEXT_DIR, trust its owner
  }
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

/** The `<pid>.sock` files in `dir`, by pid; none when the directory does not exist. */
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
    if (pid !== undefined) found.push({ pid, path: `${dir}/${entry.name}` });
  }
  return found.sort((a, b) => a.pid - b.pid);
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
