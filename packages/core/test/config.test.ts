import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, parseDuration, FOREVER, formatDuration, resolveJails, banDuration } from '@portcullis/core';

function errorOf(input: unknown): ConfigError {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('durations', () => {
  it('reads fail2ban forms', () => {
    expect(parseDuration(600)).toBe(600_000);
    expect(parseDuration('600')).toBe(600_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('1w')).toBe(604_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration(-1)).toBe(FOREVER);
    expect(parseDuration('-1')).toBe(FOREVER);
  });
  it('rejects everything else', () => {
    for (const bad of ['1 hour', '', 'h', '10x', 0, -5, '1h 30m', null, {}]) expect(() => parseDuration(bad)).toThrow(/Not a duration/);
  });
  it('formats', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(FOREVER)).toBe('forever');
  });
});

describe('config', () => {
  it('fills defaults like jail.local [DEFAULT]', () => {
    const c = parseConfig({});
    expect(c.prefix).toBe('portcullis');
    expect(c.defaults).toEqual({ bantime: 3_600_000, findtime: 600_000, maxretry: 5 });
    expect(c.trustProxy).toEqual([]);
    expect(Object.keys(c.jails)).toEqual(['django-login']);
    expect(c.firewall.backend).toBe('ufw');
  });

  it('names each bad field', () => {
    const err = errorOf({
      defaults: { maxretry: 0, bantime: '1 hour' },
      jails: { x: { preset: 'django.nope' }, 'bad name!': {} },
      trustProxy: ['10.0.0.0/33'],
      ignoreIp: ['300.1.1.1'],
      redis: 'not a url',
    });
    const paths = err.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['defaults.maxretry', 'defaults.bantime', 'jails.x.preset', 'jails.bad name!', 'trustProxy.0', 'ignoreIp.0', 'redis']),
    );
    expect(err.message).toMatch(/defaults\.maxretry: maxretry must be at least 1/);
    expect(err.message).toMatch(/defaults\.bantime: expected a duration like 600.*"1 hour"/);
    expect(err.message).toMatch(/jails\.x\.preset: unknown preset/);
    expect(err.message).toMatch(/trustProxy\.0: expected an IP address or CIDR, got "10\.0\.0\.0\/33"/);
    expect(err.code).toBe('ERR_PORTCULLIS_CONFIG');
  });

  it('catches typos in field names', () => {
    expect(errorOf({ jails: { a: { bantim: 5 } } }).message).toMatch(/jails\.a: unknown field\(s\) "bantim"/);
  });

  it('normalises CIDRs and merges presets with jail overrides', () => {
    const c = parseConfig({
      trustProxy: ['10.1.2.3/8', '::ffff:192.168.0.1'],
      jails: {
        login: { preset: 'django.login', maxretry: 3 },
        flood: { preset: 'http.notFound' },
        api: { methods: ['post'], pathPrefix: '/api/', statuses: [403], bantime: -1 },
      },
    });
    expect(c.trustProxy).toEqual(['10.0.0.0/8', '192.168.0.1']);
    const jails = resolveJails(c);
    expect(jails.get('login')).toMatchObject({ maxretry: 3, bantime: 3_600_000, findtime: 600_000 });
    expect(jails.get('flood')).toMatchObject({ maxretry: 30, findtime: 60_000 });
    expect(jails.get('api')).toMatchObject({ bantime: FOREVER });
    const facts = (method: string, url: string, status: number) => ({ method, url, status, header: () => undefined });
    expect(jails.get('login')!.matches(facts('POST', '/auth/login/', 401))).toBe(true);
    expect(jails.get('login')!.matches(facts('POST', '/auth/login/', 200))).toBe(false);
    expect(jails.get('login')!.matches(facts('GET', '/auth/login/', 401))).toBe(false);
    expect(jails.get('flood')!.matches(facts('GET', '/wp-login.php', 404))).toBe(true);
    expect(jails.get('flood')!.matches(facts('GET', '/static/app.js', 404))).toBe(false);
    expect(jails.get('api')!.matches(facts('POST', '/api/x?y=1', 403))).toBe(true);
  });

  it('computes fail2ban increments', () => {
    const inc = parseConfig({}).increment;
    expect(banDuration(1000, 0, inc)).toBe(1000);
    expect(banDuration(1000, 1, inc)).toBe(2000);
    expect(banDuration(1000, 3, inc)).toBe(8000);
    expect(banDuration(3_600_000, 20, inc)).toBe(604_800_000); // maxtime 1w
    const multi = parseConfig({ increment: { multipliers: [1, 5, 30] } }).increment;
    expect(banDuration(1000, 1, multi)).toBe(5000);
    expect(banDuration(1000, 9, multi)).toBe(30_000);
  });
});
