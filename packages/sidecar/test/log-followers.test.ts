import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileFollower } from '../src/logs/file-follower.js';
import { JournalFollower } from '../src/logs/journal-follower.js';
import { journalWrite, waitFor } from '@portcullis/testkit';
import { quiet } from './harness.js';

let dir: string;
const running: Array<{ stop(): Promise<void> }> = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pc-follow-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((f) => f.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function fileFollower(path: string, seen: string[], fail?: { next: number }) {
  const f = new FileFollower(path, {
    stateFile: join(dir, 'state.json'),
    logger: quiet,
    pollMs: 20,
    onLines: async (lines) => {
      if (fail && fail.next > 0) {
        fail.next--;
        throw new Error('redis down');
      }
      seen.push(...lines);
    },
  });
  running.push(f);
  return f;
}

describe('FileFollower: tail -F that remembers', () => {
  it('starts at the end the first time, holds a partial line, follows rotation and truncation', async () => {
    const log = join(dir, 'auth.log');
    writeFileSync(log, 'old history line\n');
    const seen: string[] = [];
    await fileFollower(log, seen).start();
    appendFileSync(log, 'one\ntw');
    await waitFor('one', () => seen.includes('one'));
    appendFileSync(log, 'o\n');
    await waitFor('two whole', () => seen.includes('two'));
    // logrotate (create): the writer still appends to the renamed file for a moment
    renameSync(log, `${log}.1`);
    appendFileSync(`${log}.1`, 'late in the old file\n');
    writeFileSync(log, 'first of the new file\n');
    await waitFor('the new file', () => seen.includes('first of the new file'));
    // rsyslog writes to the old file until its HUP: read for a moment after the switch
    appendFileSync(`${log}.1`, 'after the switch, in the old file\n');
    await waitFor('the late line of the old file', () => seen.includes('after the switch, in the old file'));
    // copytruncate
    truncateSync(log, 0);
    appendFileSync(log, 'after truncation\n');
    await waitFor('after truncation', () => seen.includes('after truncation'));
    expect(seen).toEqual([
      'one',
      'two',
      'late in the old file',
      'first of the new file',
      'after the switch, in the old file',
      'after truncation',
    ]);
  });

  it('resumes where it stopped, also when the file was rotated meanwhile (the rest is read from auth.log.1)', async () => {
    const log = join(dir, 'auth.log');
    writeFileSync(log, '');
    const seen: string[] = [];
    const a = fileFollower(log, seen);
    await a.start();
    appendFileSync(log, 'a1\n');
    await waitFor('a1', () => seen.includes('a1'));
    await a.stop();
    appendFileSync(log, 'while down 1\nwhile down 2\n');
    const b = fileFollower(log, seen);
    await b.start();
    await waitFor('lines written while down', () => seen.includes('while down 2'));
    await b.stop();
    appendFileSync(log, 'before rotation\n');
    renameSync(log, `${log}.1`);
    writeFileSync(log, 'in the new file\n');
    await fileFollower(log, seen).start();
    await waitFor('the new file', () => seen.includes('in the new file'));
    expect(seen).toEqual(['a1', 'while down 1', 'while down 2', 'before rotation', 'in the new file']);
  });

  it('a batch whose handler fails is read again, not skipped', async () => {
    const log = join(dir, 'auth.log');
    writeFileSync(log, '');
    const seen: string[] = [];
    const fail = { next: 3 };
    await fileFollower(log, seen, fail).start();
    appendFileSync(log, 'must not be lost\n');
    await waitFor('delivered after the failures', () => seen.includes('must not be lost'));
    expect(fail.next).toBe(0);
    expect(seen).toEqual(['must not be lost']);
  });
});

describe('JournalFollower: journalctl -f -o json -u ssh -u sshd, resuming at its cursor', () => {
  it('reads only the units asked for, and resumes after a restart without losing or repeating', async () => {
    const file = join(dir, 'system.journal');
    journalWrite(file, ['history before the first start']);
    const seen: string[] = [];
    const follower = () => {
      const f = new JournalFollower({
        units: ['ssh', 'sshd'],
        file,
        stateFile: join(dir, 'cursor.json'),
        logger: quiet,
        onLines: async (l) => void seen.push(...l),
      });
      running.push(f);
      return f;
    };
    const a = follower();
    await a.start();
    // journalctl needs a moment to start following: keep writing until the first line arrives
    await waitFor('first entry', () => {
      if (!seen.includes('e1')) journalWrite(file, ['e1']);
      return seen.includes('e1');
    });
    journalWrite(file, ['Failed password for root from 192.0.2.2 port 1 ssh2']);
    journalWrite(file, ['from another unit'], 'cron.service');
    await waitFor('the sshd line', () => seen.some((l) => l.startsWith('Failed password')));
    await a.stop();
    journalWrite(file, ['while down']);
    await follower().start();
    await waitFor('the entry written while down', () => seen.includes('while down'));
    const firstE1 = seen.indexOf('e1');
    expect(seen.slice(firstE1 + seen.filter((l) => l === 'e1').length)).toEqual([
      'Failed password for root from 192.0.2.2 port 1 ssh2',
      'while down',
    ]);
    expect(seen).not.toContain('history before the first start');
    expect(seen).not.toContain('from another unit');
  });
});
