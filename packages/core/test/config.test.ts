import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  FOREVER,
  MAX_DURATION_MS,
  PRESETS,
  PRESET_NAMES,
  formatDuration,
  parseConfig,
  parseDuration,
  resolveJails,
  type RuleFields,
} from '@portcullis/core';
import { MIN_BAN_MS, banDuration, banLadder, banLength } from '../src/ban-length.js';

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
      expect.arrayContaining([
        'defaults.maxretry',
        'defaults.bantime',
        'jails.x.preset',
        'jails.bad name!',
        'trustProxy.0',
        'ignoreIp.0',
        'redis',
      ]),
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

describe('configs that cannot misfire', () => {
  it('bounds durations: nothing rounds to 0 (forever), nothing past 10 years', () => {
    for (const bad of [0.0001, '0.4ms', '0.0001s']) {
      expect(() => parseDuration(bad)).toThrow(/Duration out of range.*shorter than 1 ms/);
    }
    expect(() => parseDuration('99999999999w')).toThrow(/Duration out of range.*longer than/);
    expect(parseDuration(MAX_DURATION_MS / 1000)).toBe(MAX_DURATION_MS);
    expect(MAX_DURATION_MS).toBe(315_360_000_000);
    expect(() => parseDuration(MAX_DURATION_MS / 1000 + 1)).toThrow(/out of range/);
    const err = errorOf({
      defaults: { bantime: 0.0001, findtime: '0.4ms' },
      increment: { maxtime: '10ms' },
      jails: { a: { preset: 'django.login', bantime: '99999999999w', findtime: '500ms' } },
      gateway: { resyncInterval: '1ms' },
    });
    expect(err.issues.map((i) => i.path).sort()).toEqual(
      [
        'defaults.bantime',
        'defaults.findtime',
        'gateway.resyncInterval',
        'increment.maxtime',
        'jails.a.bantime',
        'jails.a.findtime',
      ].sort(),
    );
    expect(err.message).toMatch(/jails\.a\.findtime: at least 1s, got "500ms"/);
    expect(err.message).toMatch(/jails\.a\.bantime: Duration out of range: "99999999999w" is longer than/);
    expect(parseConfig({ defaults: { bantime: 1, findtime: '1s' } }).defaults).toMatchObject({ bantime: 1000, findtime: 1000 });
  });

  it('no computed ban length rounds to 0 or passes the maximum', () => {
    const tiny = parseConfig({ increment: { factor: 0.0001 } }).increment;
    expect(banDuration(1000, 1, tiny)).toBe(MIN_BAN_MS);
    expect(banLength(1000, 1, tiny)).toBeGreaterThan(0);
    const huge = parseConfig({ increment: { factor: 1e12, maxtime: '500w' } }).increment;
    expect(banDuration(parseDuration('500w'), 20, huge)).toBe(parseDuration('500w'));
    const jittery = parseConfig({ increment: { rndtime: '500w', maxtime: '500w' } }).increment;
    expect(banDuration(parseDuration('500w'), 3, jittery, () => 0.999)).toBe(MAX_DURATION_MS);
    // fractional factor: whole ms, rounded down, the same rule for every store
    const frac = parseConfig({ increment: { factor: 1.00035 } }).increment;
    expect(banDuration(1000, 1, frac)).toBe(2000);
    expect(banLadder(1000, frac).slice(0, 3)).toEqual([1000, 2000, 4001]);
    expect(banLadder(FOREVER, frac)).toEqual([FOREVER]);
    // the ladder stops where the cap holds
    expect(banLadder(3_600_000, parseConfig({}).increment)).toEqual([
      3_600_000, 7_200_000, 14_400_000, 28_800_000, 57_600_000, 115_200_000, 230_400_000, 460_800_000, 604_800_000,
    ]);
    expect(banLadder(1000, parseConfig({ increment: { multipliers: [1, 5, 30] } }).increment)).toEqual([1000, 5000, 30_000]);
  });

  it('refuses patterns that backtrack exponentially', () => {
    const err = errorOf({ jails: { a: { pathRegex: '^/(a+)+$' } } });
    expect(err.issues.map((i) => i.path)).toEqual(['jails.a.pathRegex']);
    expect(err.message).toMatch(/unsafe regular expression/);
    for (const bad of ['^/(a*)*b', '^/(x+x+)+y$']) expect(() => parseConfig({ jails: { a: { pathRegex: bad } } })).toThrow(/unsafe/);
    // every preset's own pattern passes
    for (const preset of PRESET_NAMES) expect(() => parseConfig({ jails: { a: { preset } } })).not.toThrow();
    expect(() => parseConfig({ jails: { a: { pathRegex: '^/api/v[12]/login/?$' } } })).not.toThrow();
  });

  it('never trusts every address as a proxy', () => {
    for (const everyone of ['0.0.0.0/0', '::/0', '::/0'.replace('::', '0::0')]) {
      const err = errorOf({ trustProxy: ['10.0.0.1', everyone] });
      expect(err.issues.map((i) => i.path)).toEqual(['trustProxy.1']);
      expect(err.message).toMatch(/forge X-Forwarded-For/);
    }
    expect(parseConfig({ trustProxy: ['10.0.0.0/8', '::1'] }).trustProxy).toEqual(['10.0.0.0/8', '::1']);
  });

  describe.each(PRESET_NAMES)("a jail's own path fields replace those of preset %s", (preset) => {
    const fields = PRESETS[preset] as RuleFields;
    const facts = (url: string) => ({
      method: fields.methods?.[0] ?? 'POST',
      url,
      status: fields.statuses?.[0] ?? 401,
      header: () => 'yes',
    });
    it.each([
      ['path', { path: '/mine/login/' }],
      ['pathPrefix', { pathPrefix: '/mine/' }],
      ['pathRegex', { pathRegex: '^/mine/login/$' }],
    ])('with its own %s', (_field, own) => {
      const resolved = resolveJails(parseConfig({ jails: { j: { preset, ...own } } })).get('j')!;
      // a flood jail counts requests, not responses
      const jail = resolved.flood
        ? { matches: (f: ReturnType<typeof facts>) => resolved.flood!.matchesRequest(f.method, f.url) }
        : resolved;
      expect(jail.matches(facts('/mine/login/'))).toBe(true);
      // the preset's own path no longer counts (when it had one)
      const presetPath = typeof fields.path === 'string' ? fields.path : fields.pathRegex ? '/dj-rest-auth/login/' : null;
      if (presetPath && (fields.path !== undefined || preset === 'djRestAuth.login')) expect(jail.matches(facts(presetPath))).toBe(false);
      expect(jail.matches(facts('/elsewhere/'))).toBe(false);
    });
  });
});
