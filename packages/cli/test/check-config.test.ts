import { describe, expect, it } from 'vitest';
import { cli, tmpFile } from './helpers.js';

describe('portcullis check-config', () => {
  it('a good config: exit 0 and a summary of the jails', async () => {
    const file = tmpFile(
      'portcullis.yml',
      [
        'defaults: { bantime: 1h, findtime: 10m, maxretry: 5 }',
        'jails:',
        '  django-login: { preset: django.login }',
        '  django-admin: { preset: django.admin, maxretry: 3 }',
        '  http-404: { preset: http.notFound }',
        '  signal: { preset: django.signal, enabled: false }',
      ].join('\n'),
    );
    const r = await cli(['check-config', file]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`${file}: OK — 4 jails (3 enabled), store: in-memory (no redis configured)`);
    expect(lines[2]).toMatch(/^JAIL\s+RULE\s+MAXRETRY\s+FINDTIME\s+BANTIME$/);
    expect(r.stdout).toMatch(/django-login\s+POST \/auth\/login\/ → 401\s+5\s+10m\s+1h\n/);
    expect(r.stdout).toMatch(/django-admin\s+POST \/admin\/login\/ → 200\s+3\s+10m\s+1h\n/);
    expect(r.stdout).toMatch(/http-404\s+any any path → 404 \(except \/static\/ .*\)\s+30\s+1m\s+1h\n/);
    expect(r.stdout).toMatch(/signal \(disabled\)\s+X-Portcullis-Failure header only\s+5\s+10m\s+1h\n/);
  });

  it('a JSON config, found through --config, with --json output', async () => {
    const file = tmpFile('p.json', JSON.stringify({ redis: 'redis://10.0.0.5:6379', jails: { a: { statuses: [401], path: '/x/' } } }));
    const r = await cli(['--config', file, 'check-config', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: true,
      redis: 'redis://10.0.0.5:6379',
      jails: [{ name: 'a', rule: 'any /x/ → 401', maxretry: 5 }],
    });
  });

  it('--config beats $PORTCULLIS_CONFIG, which beats ./portcullis.yml', async () => {
    const a = tmpFile('portcullis.yml', 'jails: { from-cwd: { preset: django.login } }\n');
    const cwd = a.replace(/\/portcullis\.yml$/, '');
    const b = tmpFile('env.yml', 'jails: { from-env: { preset: django.login } }\n');
    const c = tmpFile('flag.yml', 'jails: { from-flag: { preset: django.login } }\n');
    expect((await cli(['check-config'], { cwd, env: { PORTCULLIS_CONFIG: b } })).stdout).toContain('from-env');
    expect((await cli(['-c', c, 'check-config'], { cwd, env: { PORTCULLIS_CONFIG: b } })).stdout).toContain('from-flag');
    expect((await cli(['check-config'], { cwd })).stdout).toContain('from-cwd');
  });

  it('./portcullis.yml in the working directory is the default', async () => {
    const file = tmpFile('portcullis.yml', 'jails: { x: { preset: drf.token } }\n');
    const r = await cli(['check-config'], { cwd: file.replace(/\/portcullis\.yml$/, '') });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/x\s+POST \/api-token-auth\/ → 400/);
  });

  it('a bad config: exit 1, every error with its field path', async () => {
    const file = tmpFile(
      'portcullis.yml',
      [
        'defaults: { bantime: soon }',
        'ignoreIp: [10.0.0.300]',
        'jails:',
        '  django-login: { preset: django.nope, maxretry: 0 }',
        'typo: 1',
      ].join('\n'),
    );
    const r = await cli(['check-config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.every((l) => l.startsWith(`portcullis: error: ${file}: `))).toBe(true);
    const paths = lines.map((l) => l.slice(`portcullis: error: ${file}: `.length).split(':')[0]);
    expect(paths.sort()).toEqual(
      ['(file)', 'defaults.bantime', 'ignoreIp.0', 'jails.django-login.maxretry', 'jails.django-login.preset'].sort(),
    );
    expect(r.stderr).toContain('unknown field(s) "typo"');
  });

  it('other commands refuse a bad config in one line, exit 1', async () => {
    const file = tmpFile('portcullis.yml', 'defaults: { maxretry: 0 }\nprefix: "a b"\n');
    const r = await cli(['list'], { env: { PORTCULLIS_CONFIG: file } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^portcullis: error: Invalid Portcullis config in .*portcullis\.yml: (prefix|defaults\.maxretry): .* \(and 1 more; run portcullis check-config\)\n$/,
    );
  });

  it('unreadable, unparseable and missing files: exit 1', async () => {
    const missing = await cli(['check-config', '/nonexistent/portcullis.yml']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read \/nonexistent\/portcullis\.yml/);
    const broken = await cli(['check-config', tmpFile('portcullis.yml', 'jails: [unclosed\n')]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/cannot parse/);
    const none = await cli(['check-config']);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe('portcullis: error: no config file: name one, set PORTCULLIS_CONFIG or create ./portcullis.yml\n');
  });

  it('a bad REDIS_URL is a config error', async () => {
    const r = await cli(['list'], { env: { REDIS_URL: 'http://example.com' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/in REDIS_URL: redis: expected a redis:\/\//);
  });

  it('--json prints only the JSON document, the problems inside it', async () => {
    const file = tmpFile('portcullis.yml', 'defaults: { bantime: soon }\ntypo: 1\n');
    const r = await cli(['check-config', file, '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout) as { ok: boolean; file: string; issues: Array<{ path: string }> };
    expect(doc).toMatchObject({ ok: false, file });
    expect(doc.issues.map((i) => i.path).sort()).toEqual(['', 'defaults.bantime']);
    const none = await cli(['check-config', '--json']);
    expect(none).toMatchObject({ code: 1, stderr: '' });
    expect(JSON.parse(none.stdout)).toMatchObject({ ok: false, file: null });
  });

  it('settings that switch protection off or trust everybody are refused, naming the field', async () => {
    const file = tmpFile(
      'portcullis.yml',
      [
        'trustProxy: [0.0.0.0/0]',
        'ignoreIp: [127.0.0.1, "::/0"]',
        'gateway: { blockStatus: 200 }',
        'jails:',
        '  django-login: { preset: django.login, ignoreIp: [0.0.0.0/0] }',
        '',
      ].join('\n'),
    );
    const r = await cli(['check-config', file, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { issues: Array<{ path: string; message: string }> };
    const byPath = Object.fromEntries(doc.issues.map((i) => [i.path, i.message]));
    expect(Object.keys(byPath).sort()).toEqual(
      ['gateway.blockStatus', 'ignoreIp.1', 'jails.django-login.ignoreIp.0', 'trustProxy.0'].sort(),
    );
    expect(byPath['ignoreIp.1']).toMatch(/switches banning off/);
    expect(byPath['gateway.blockStatus']).toMatch(/4xx or 5xx/);
    // the block answers that are meant: 403, 429, 503
    for (const status of [403, 429, 503]) {
      expect((await cli(['check-config', tmpFile('portcullis.yml', `gateway: { blockStatus: ${status} }\n`)])).code).toBe(0);
    }
  });
});
