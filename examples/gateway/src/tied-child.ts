import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

let pdeathsig: boolean | undefined;

/** Linux's parent-death signal, set by util-linux's setpriv before it execs the command. */
function canTieToParent(): boolean {
  pdeathsig ??=
    process.platform === 'linux' && spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' }).status === 0;
  return pdeathsig;
}

/**
 * spawn(), but the child does not outlive this process: the kernel sends it
 * SIGKILL when this process dies, however it dies (SIGKILL included), and
 * every exit this process makes by itself kills it too.
 */
export function spawnTied(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = canTieToParent()
    ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', command, ...args], options)
    : spawn(command, args, options);
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', kill);
  child.once('exit', () => process.off('exit', kill));
  return child;
}
