import { isIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { canonicalTarget, normalizeHostAddress, normalizeIp, plainTargetPath } from '@portcullis/core';
import { isDottedQuad } from '../src/ip.js';
import { canonicalTargetInFull } from '../src/path.js';

/** A small deterministic generator (mulberry32): the same targets every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(next: () => number, pieces: readonly string[], max: number): string {
  let s = '';
  const n = Math.floor(next() * max);
  for (let i = 0; i < n; i++) s += pieces[Math.floor(next() * pieces.length)];
  return s;
}

// what request targets are made of, the troublesome parts over-represented
const TARGET_PIECES = [
  ...'/ / / auth login a b . .. % %2F %2f %2e %6C %25 %C0%AE %E2%82%AC %00 ? ?x=1 & = # ; ;x é ~ - _ { } | ^ ` " : @ *'.split(' '),
  '\\',
  ' ',
  '\t',
];
const PREFIXES = ['', '', '', '/', '//', 'http://h', 'https://host:8443', 'HTTP://x', 'ftp://x', '*'];

describe('the clean request shortcut agrees with canonicalisation in full', () => {
  const next = random(8);
  const targets = Array.from({ length: 50_000 }, () => PREFIXES[Math.floor(next() * PREFIXES.length)]! + generate(next, TARGET_PIECES, 12));
  targets.push('/', '/auth/login/', '/static/app.js?v=3', '/a/b/c/?next=/x&y=%2F', '/.well-known/x', '/a//b', '/a/./b');

  it('plainTargetPath, when it answers, gives the path in full and forwards the target as sent', () => {
    let answered = 0;
    for (const t of targets) {
      const plain = plainTargetPath(t);
      if (plain === null) continue;
      answered++;
      const full = canonicalTargetInFull(t);
      expect(full, t).not.toBeNull();
      expect(plain, t).toBe(full!.path);
      expect(canonicalTarget(t), t).toEqual({ url: t, path: plain });
    }
    // the shortcut is taken by the common targets, not only by a few
    expect(answered).toBeGreaterThan(1_000);
    for (const common of ['/', '/auth/login/', '/static/app.js?v=3', '/a/b/c/?next=/x&y=%2F'])
      expect(plainTargetPath(common), common).not.toBeNull();
  });

  it('canonicalTarget refuses exactly what canonicalisation in full refuses, and the upstream resolves the same path', () => {
    for (const t of targets) {
      const fast = canonicalTarget(t);
      const full = canonicalTargetInFull(t);
      expect(fast === null, t).toBe(full === null);
      if (fast === null || full === null) continue;
      expect(fast.path, t).toBe(full.path);
      // the url forwarded, decoded again at the upstream, is that path (fixed point)
      if (fast.path !== '*') expect(canonicalTargetInFull(fast.url)?.path, t).toBe(full.path);
    }
  });
});

describe('the dotted-quad shortcut agrees with node:net', () => {
  it('isDottedQuad is isIPv4, over octets and generated strings', () => {
    for (let o = 0; o < 1000; o++) {
      for (const form of [`${o}.1.2.3`, `1.2.3.${o}`, `0${o}.1.1.1`, `1.1.00${o}.1`]) expect(isDottedQuad(form), form).toBe(isIPv4(form));
    }
    const next = random(4);
    const pieces = ['0', '1', '2', '5', '9', '25', '255', '256', '00', '.', '.', '.', ':', '[', ' ', 'a', '-', '1000'];
    for (let i = 0; i < 100_000; i++) {
      const s = generate(next, pieces, 10);
      expect(isDottedQuad(s), s).toBe(isIPv4(s));
    }
  });

  it('addresses keep their canonical form through the shortcut, and everything else the long way', () => {
    expect(normalizeIp('203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeHostAddress('203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeHostAddress(' 203.0.113.7 ')).toBe('203.0.113.7');
    expect(normalizeHostAddress('203.0.113.7:40000')).toBe('203.0.113.7');
    expect(normalizeHostAddress('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeIp('203.000.113.7')).toBeNull();
    expect(normalizeIp('256.0.0.1')).toBeNull();
  });
});
