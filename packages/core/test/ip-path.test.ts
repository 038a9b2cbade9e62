import { describe, expect, it } from 'vitest';
import {
  IpSet,
  canonicalTarget,
  clientPrefix,
  normalizeCidr,
  normalizeHostAddress,
  normalizeIp,
  normalizePath,
  parseBanEvent,
  Protection,
  parseConfig,
} from '@portcullis/core';

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

describe('addresses as proxies and sockets write them', () => {
  it.each([
    ['203.0.113.1:40000', '203.0.113.1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['[2001:DB8:0::1]', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['[fe80::1%25eth0]:8080', 'fe80::1'],
    [' 198.51.100.7 ', '198.51.100.7'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8::1', '2001:db8::1'],
  ])('%s → %s', (raw, ip) => expect(normalizeHostAddress(raw)).toBe(ip));

  it.each(['203.0.113.1:port', '203.0.113.1:', '[2001:db8::1]x', '[2001:db8::1', 'unknown', '_hidden', '1.2.3.4%eth0', '1.2.3.4:1:2'])(
    'refuses %s',
    (raw) => expect(normalizeHostAddress(raw)).toBeNull(),
  );

  it('keys IPv6 by prefix, IPv4 as is', () => {
    expect(clientPrefix('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64');
    expect(clientPrefix('2001:db8:1:2:3:4:5:6', 56)).toBe('2001:db8:1::/56');
    expect(clientPrefix('2001:db8:1:2:3:4:5:6', 128)).toBe('2001:db8:1:2:3:4:5:6');
    expect(clientPrefix('203.0.113.7', 64)).toBe('203.0.113.7');
  });
});

describe('the one target the upstream receives', () => {
  it.each([
    ['/auth//login/', '/auth/login/', '/auth/login/'],
    ['http://h/auth/login/?a=1', '/auth/login/?a=1', '/auth/login/'],
    ['/auth%2Flogin/', '/auth/login/', '/auth/login/'],
    ['/x/%2e%2e/auth/./login/', '/auth/login/', '/auth/login/'],
    ['/auth/%256Cogin/', '/auth/%256Cogin/', '/auth/%6Cogin/'],
    ['/caf%C3%A9/?q=%2F', '/caf%C3%A9/?q=%2F', '/café/'],
    ['/a%3Fb', '/a%3Fb', '/a?b'],
    ['/ok/', '/ok/', '/ok/'],
  ])('%s → %s (%s)', (raw, url, path) => expect(canonicalTarget(raw)).toEqual({ url, path }));

  it.each(['/auth\\login/', '/\\auth/', '/a%C0%AF', '/%zz', '/a%00b', '/a#b', 'ftp://h/x', 'h/x'])('refuses %s', (raw) =>
    expect(canonicalTarget(raw)).toBeNull(),
  );
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
