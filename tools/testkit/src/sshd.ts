import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_V4, SERVER_V6, type TestNet } from './netns.js';

/**
 * A real OpenSSH sshd (Debian's openssh-server) in a test namespace, on
 * 192.0.2.1:22 and [2001:db8:5c::1]:22, logging to a file of its own (-E): password logins on,
 * root allowed with the test's key only in `authorized_keys`.
 */
export class TestSshd {
  readonly dir: string;
  readonly log: string;
  readonly clientKey: string;

  private constructor(
    private readonly net: TestNet,
    name: string,
  ) {
    this.dir = join(net.dir, name);
    this.log = join(this.dir, 'auth.log');
    this.clientKey = join(this.dir, 'client_key');
  }

  static start(net: TestNet, name = 'sshd'): TestSshd {
    const s = new TestSshd(net, name);
    mkdirSync(s.dir, { recursive: true });
    // sshd's privilege separation directory (systemd makes it on a normal boot)
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    for (const [file, type] of [
      ['host_key', 'ed25519'],
      ['client_key', 'ed25519'],
    ] as const) {
      const r = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(s.dir, file)]);
      if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
    }
    copyFileSync(`${s.clientKey}.pub`, join(s.dir, 'authorized_keys'));
    chmodSync(join(s.dir, 'authorized_keys'), 0o600);
    writeFileSync(s.log, '');
    const config = join(s.dir, 'sshd_config');
    writeFileSync(
      config,
      [
        'Port 22',
        `ListenAddress ${SERVER_V4}`,
        `ListenAddress ${SERVER_V6}`,
        `HostKey ${join(s.dir, 'host_key')}`,
        `PidFile ${join(s.dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(s.dir, 'authorized_keys')}`,
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PermitRootLogin yes',
        'StrictModes no',
        'MaxStartups 100',
        'LogLevel INFO',
        '',
      ].join('\n'),
    );
    const child = spawn('ip', ['netns', 'exec', net.server, '/usr/sbin/sshd', '-D', '-f', config, '-E', s.log], { stdio: 'ignore' });
    net.track(child);
    return s;
  }

  private target(from: string, user: string): string {
    return `${user}@${from.includes(':') ? SERVER_V6 : SERVER_V4}`;
  }

  private clientArgs(from: string): string[] {
    return [
      '-b',
      from,
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'ConnectTimeout=3',
      '-o',
      'LogLevel=ERROR',
    ];
  }

  /** one password attempt with a wrong password; true when sshd answered "Permission denied" (a counted failure) */
  failPassword(from: string, user = 'root'): boolean {
    const r = this.net.inClient([
      'sshpass',
      '-p',
      'not-the-password',
      'ssh',
      ...this.clientArgs(from),
      '-o',
      'PubkeyAuthentication=no',
      '-o',
      'PreferredAuthentications=password',
      '-o',
      'NumberOfPasswordPrompts=1',
      this.target(from, user),
      'true',
    ]);
    return /Permission denied/.test(r.stderr);
  }

  /** a logged-in session from `from` (key login), open until killed */
  holdSession(from: string): void {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.net.client,
        'ssh',
        ...this.clientArgs(from),
        '-i',
        this.clientKey,
        '-o',
        'BatchMode=yes',
        this.target(from, 'root'),
        'sleep 600',
      ],
      { stdio: 'ignore' },
    );
    this.net.track(child);
  }
}
