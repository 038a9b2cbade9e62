import { CommandFailedError, CommandNotFoundError, runCommand, type Runner } from '@portcullis/sidecar';

/** Where a network namespace's private ufw files live (bind-mounted over /etc/ufw and /lib/ufw). */
export interface NetnsUfwDirs {
  etcUfw: string;
  libUfw: string;
}

/**
 * The one bind-mount script: in a private mount namespace, the namespace's
 * copies of the ufw files over /etc/ufw and /lib/ufw, then the command. The
 * directories and the command are positional parameters: no shell parsing
 * of any value.
 */
const UFW_MOUNTS_SH = 'mount --bind "$1" /etc/ufw && mount --bind "$2" /lib/ufw && shift 2 && exec "$@"';

/**
 * argv that runs `cmd` in network namespace `ns`, with the private ufw files
 * when `dirs` is given: `ip netns exec <ns> unshare -m sh -c '<mounts>' sh <dirs> <cmd…>`.
 */
export function netnsArgv(ns: string, dirs: NetnsUfwDirs | undefined, cmd: readonly string[]): string[] {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(ns)) throw new TypeError(`bad namespace name ${JSON.stringify(ns)}`);
  return dirs
    ? ['ip', 'netns', 'exec', ns, 'unshare', '-m', 'sh', '-c', UFW_MOUNTS_SH, 'sh', dirs.etcUfw, dirs.libUfw, ...cmd]
    : ['ip', 'netns', 'exec', ns, ...cmd];
}

/**
 * A sidecar `Runner` whose commands act on a network namespace only, so ufw
 * and nft see the namespace's kernel tables and a private copy of the ufw
 * files, and the machine's own firewall is never touched. Errors name the
 * inner command, and a missing inner binary is reported as such.
 */
export function netnsRunner(ns: string, dirs?: NetnsUfwDirs, inner: Runner = runCommand): Runner {
  const [ip, ...prefix] = netnsArgv(ns, dirs, []);
  return async (command, args, opts) => {
    try {
      return await inner(ip!, [...prefix, command, ...args], opts);
    } catch (err) {
      if (err instanceof CommandFailedError) {
        if (err.exitCode === 127 || (/No such file or directory/.test(err.stderr) && err.stderr.includes(command))) {
          throw new CommandNotFoundError(command);
        }
        throw new CommandFailedError(command, args, err.exitCode, err.stderr);
      }
      throw err;
    }
  };
}
