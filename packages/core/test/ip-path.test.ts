import { describe, expect, it } from 'vitest';
import { IpSet, normalizeCidr, normalizeIp, normalizePath, parseBanEvent, Protection, parseConfig } from '@portcullis/core';

describe('addresses', () => {
  it('accepts and canonicalises real addresses only', () => {
    expect(normalizeIp('203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeIp('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(normalizeIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    for (const bad of ['1.2.3.4; rm -rf /', '999.1.1.1', '', '01.2.3.4', '1.2.3', 'fe80::1%eth0', 'localhost', '1.2.3.4 ', '0x7f.0.0.1'])
      expect(normalizeIp(bad)).toBeNull();
  });
  it('masks CIDRs', () => {
    expect(normalizeCidr('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(normalizeCidr('2001:db8::1/32')?.text).toBe('2001:db8::/32');
    expect(normalizeCidr('1.2.3.4/32')?.text).toBe('1.2.3.4');
    expect(normalizeCidr('1.2.3.4/33')).toBeNull();
    expect(normalizeCidr('1.2.3.4/')).toBeNull();
  });
  it('matches sets', () => {
    const set = new IpSet(['10.0.0.0/8', '2001:db8::/32', '192.0.2.1']);
    expect(set.has('10.200.1.1')).toBe(true);
    expect(set.has('11.0.0.1')).toBe(false);
    expect(set.has('2001:db8:1::5')).toBe(true);
    expect(set.has('2001:db9::5')).toBe(false);
    expect(set.has('192.0.2.1')).toBe(true);
    expect(set.has('192.0.2.2')).toBe(false);
  });
  it('protects loopback, trusted proxies and ignoreIp, also inside CIDRs', () => {
    const p = new Protection(parseConfig({ trustProxy: ['10.0.0.1'], ignoreIp: ['198.51.100.0/24'] }));
    expect(p.reasonFor('127.0.0.5')).toMatch(/loopback/);
    expect(p.reasonFor('::1')).toMatch(/loopback/);
    expect(p.reasonFor('10.0.0.1')).toMatch(/trusted proxy/);
    expect(p.reasonFor('198.51.100.9')).toMatch(/ignoreIp/);
    expect(p.reasonFor('203.0.113.7')).toBeNull();
    expect(p.reasonForCidr(normalizeCidr('10.0.0.0/8')!)).toMatch(/trusted proxy/);
    expect(p.reasonForCidr(normalizeCidr('0.0.0.0/0')!)).toMatch(/loopback/);
    expect(p.reasonForCidr(normalizeCidr('203.0.113.0/24')!)).toBeNull();
  });
});

describe('paths as Django resolves them', () => {
  it.each([
    ['/auth/login/', '/auth/login/'],
    ['/auth/%6Cogin/', '/auth/login/'],
    ['/auth%2Flogin/', '/auth/login/'],
    ['//auth/login/', '/auth/login/'],
    ['///auth/login/?next=/x', '/auth/login/'],
    ['/Auth/Login/', '/Auth/Login/'],
    ['/bad%zz/', '/bad%zz/'],
  ])('%s → %s', (raw, path) => expect(normalizePath(raw)).toBe(path));
});

describe('stream events', () => {
  it('accepts good events and refuses bad addresses', () => {
    expect(parseBanEvent(['type', 'ban', 'ip', '203.0.113.7', 'jail', 'x', 'until', '123', 'at', '100'])).toMatchObject({
      type: 'ban',
      ip: '203.0.113.7',
      until: 123,
    });
    for (const ip of ['1.2.3.4; rm -rf /', '999.1.1.1', '']) {
      expect(() => parseBanEvent({ type: 'ban', ip, jail: 'x', until: '1', at: '1' })).toThrow(/bad ip/);
    }
    expect(() => parseBanEvent({ type: 'nuke', ip: '1.2.3.4', jail: 'x', at: '1' })).toThrow(/unknown type/);
  });
});
