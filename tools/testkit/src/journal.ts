import { spawnSync } from 'node:child_process';

const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';

/**
 * Appends entries to a real journal file with Debian's systemd-journal-remote
 * (export format on stdin), for journalctl --file to follow: journald itself
 * does not run in a test.
 */
export function journalWrite(file: string, messages: string[], unit = 'ssh.service'): void {
  const t = Date.now() * 1000;
  const input = messages
    .map(
      (m, i) =>
        `__REALTIME_TIMESTAMP=${t + i}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=${unit}\nSYSLOG_IDENTIFIER=sshd\nMESSAGE=${m}\n\n`,
    )
    .join('');
  const r = spawnSync(JOURNAL_REMOTE, ['-o', file, '-'], { input });
  if (r.status !== 0) throw new Error(`systemd-journal-remote failed (apt-get install systemd-journal-remote): ${r.stderr}`);
}
