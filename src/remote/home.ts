/**
 * `FASTN_HOME`: where the identity key and `remote-access/config.toml` live.
 *
 * @module
 */

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
