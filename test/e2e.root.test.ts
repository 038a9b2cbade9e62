import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_V4,
  CLIENT_V6,
  firewallSkipReason,
  NETNS_CLIENT_SCRIPT,
  OTHER_V4,
  OTHER_V6,
  SERVER_V4,
  SERVER_V6,
  TestNet,
  waitFor,
} from '@portcullis/testkit';

/**
 * The whole thing, as a user runs it: the example Django (Debian's Django),
 * the example gateway in front of it, a real Redis, the sidecar on real ufw,
 * all inside a network namespace of the test's own, and a client in a second
 * namespace across a veth pair. The guide's check (§4), then admin and the
 * user_login_failed header path.
 */
const hasDjango = spawnSync('/usr/bin/python3', ['-c', 'import django, rest_framework'], { stdio: 'ignore' }).status === 0;
const skip =
  firewallSkipReason('ufw', 'iptables', 'redis-server') ??
  (hasDjango ? null : 'needs Debian Django: apt-get install python3-django python3-djangorestframework');
if (skip) console.warn(`e2e: skipped: ${skip}`);

const ROOT = process.cwd();
const REDIS_PORT = 6390;
const gatewayFor = (from: string) => (from.includes(':') ? `http://[${SERVER_V6}]:8080` : `http://${SERVER_V4}:8080`);

describe.runIf(!skip)('end to end: Django + gateway + Redis + sidecar on ufw', () => {
  let net: TestNet;
  const procs: ChildProcess[] = [];
  let configPath: string;
  const env = () => ({ ...process.env, REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`, PORTCULLIS_CONFIG: configPath, LOG_LEVEL: 'warn' });

  /** a long-running process in the server namespace (with the private ufw files) */
  function serve(argv: string[], extraEnv: Record<string, string> = {}): ChildProcess {
    const child = spawn(net.serverArgv(argv)[0]!, net.serverArgv(argv).slice(1), {
      env: { ...env(), ...extraEnv },
      stdio: ['ignore', 'ignore', process.env.PORTCULLIS_TEST_LOG ? 'inherit' : 'ignore'],
    });
    procs.push(child);
    net.track(child);
    return child;
  }
  const inServer = (argv: string[]) => spawnSync(net.serverArgv(argv)[0]!, net.serverArgv(argv).slice(1), { env: env(), encoding: 'utf8' });
  const redisCli = (...args: string[]) => inServer(['redis-cli', '-p', String(REDIS_PORT), ...args]).stdout.trim();
  const portcullis = (...args: string[]) => inServer([process.execPath, join(ROOT, 'packages/cli/dist/main.js'), ...args]);
  const client = (from: string, action: string, count = 1, extra: Record<string, unknown> = {}) => {
    const r = net.inClient([
      process.execPath,
      NETNS_CLIENT_SCRIPT,
      JSON.stringify({ base: gatewayFor(from), from, action, count, ...extra }),
    ]);
    return JSON.parse(r.stdout) as Array<{ status: number; step?: string; failureHeader: string | null }>;
  };
  const ufwRules = () => inServer(['iptables', '-S', 'ufw-user-input']).stdout + inServer(['ip6tables', '-S', 'ufw6-user-input']).stdout;

  beforeAll(async () => {
    spawnSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'inherit' });
    net = TestNet.create();
    configPath = join(net.dir, 'portcullis.yml');
    writeFileSync(
      configPath,
      [
        `redis: redis://127.0.0.1:${REDIS_PORT}`,
        'defaults: { bantime: 1h, findtime: 10m, maxretry: 5 }',
        'jails:',
        '  django-login: { preset: django.login }',
        '  django-admin: { preset: django.admin }',
        'firewall: { backend: ufw, ports: [8080] }',
        'sidecar: { healthPort: 0, reconcileInterval: 5s }',
      ].join('\n'),
    );
    net.enableUfw(8080);
    serve(['redis-server', '--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
    serve(['sh', join(ROOT, 'examples/django/run.sh')], {
      PORT: '8000',
      HOST: '127.0.0.1',
      DJANGO_DB_PATH: join(net.dir, 'db.sqlite3'),
      DJANGO_ALLOWED_HOSTS: `${SERVER_V4},[${SERVER_V6}]`,
    });
    await waitFor('redis', () => redisCli('PING') === 'PONG');
    serve([process.execPath, join(ROOT, 'examples/gateway/dist/main.js')], {
      DJANGO_URL: 'http://127.0.0.1:8000',
      PORT: '8080',
      HOST: '::',
    });
    serve([process.execPath, join(ROOT, 'packages/sidecar/dist/main.js'), '--host-id', 'e2e']);
    await waitFor('Django behind the gateway', () => client(OTHER_V4, 'get', 1, { path: '/admin/login/' })[0]!.status === 200, 60_000);
    await waitFor('the sidecar consumer group', () => redisCli('XINFO', 'GROUPS', '{portcullis}:events').includes('e2e'));
  }, 120_000);

  afterAll(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    net?.destroy();
  });

  it("the guide's check: 6 bad logins → 5 × 401 from Django, then 403; status, firewall and unban agree", async () => {
    expect(client(CLIENT_V4, 'apiLogin', 6).map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 403]);

    const status = portcullis('status', 'django-login', '--json');
    expect(status.status).toBe(0);
    expect(status.stdout).toContain(CLIENT_V4);
    expect(redisCli('HGET', `{portcullis}:ban:${CLIENT_V4}`, 'jail')).toBe('django-login');

    // the sidecar puts the rule in the kernel, and the banned address can no longer connect at all
    await waitFor('the ufw rule', () => ufwRules().includes(CLIENT_V4));
    expect(client(CLIENT_V4, 'get', 1)[0]!.status).toBe(0);
    expect(client(OTHER_V4, 'get', 1)[0]!.status).not.toBe(0);

    const unban = portcullis('unban', CLIENT_V4);
    expect(unban.status).toBe(0);
    await waitFor('the ufw rule to go', () => !ufwRules().includes(CLIENT_V4));
    expect(redisCli('EXISTS', `{portcullis}:ban:${CLIENT_V4}`)).toBe('0');
    // the gateway follows too: the client is back, and its failures count from zero
    await waitFor('the gateway to follow', () => client(CLIENT_V4, 'get', 1, { path: '/admin/login/' })[0]!.status === 200);
    expect(client(CLIENT_V4, 'apiLogin', 1, { password: 'demo-password' })[0]!.status).toBe(200);
    expect(client(CLIENT_V4, 'apiLogin', 1)[0]!.status).toBe(401);
    expect(redisCli('ZCARD', `{portcullis}:fail:django-login:${CLIENT_V4}`)).toBe('1');
  });

  it('Django admin: successful logins (302) never count; 5 failed ones (200) ban', () => {
    expect(client(CLIENT_V4, 'adminLogin', 6, { password: 'demo-password' }).map((r) => r.status)).toEqual([302, 302, 302, 302, 302, 302]);
    expect(redisCli('EXISTS', `{portcullis}:fail:django-admin:${CLIENT_V4}`)).toBe('0');
    const bad = client(OTHER_V4, 'adminLogin', 6);
    expect(bad.slice(0, 5).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    // the 6th attempt is stopped at the gateway already when it fetches the form
    expect(bad[5]).toMatchObject({ status: 403, step: 'page' });
    expect(redisCli('HGET', `{portcullis}:ban:${OTHER_V4}`, 'jail')).toBe('django-admin');
  });

  it('the header path: a view that only fires user_login_failed bans too (IPv6: its /64), and the client never sees the header', async () => {
    const results = client(CLIENT_V6, 'customLogin', 6);
    expect(results.slice(0, 5).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(results.every((r) => r.failureHeader === null)).toBe(true);
    expect(results[5]!.status).toBe(403);
    // IPv6 is counted and banned by its /64 (ipv6Prefix): the neighbour in it is shut out too, at the firewall
    const prefix = '2001:db8:5c::/64';
    expect(redisCli('HGET', `{portcullis}:ban:${prefix}`, 'jail')).toBe('django-login');
    await waitFor('the ufw rule for the /64', () => ufwRules().includes(prefix));
    expect(client(OTHER_V6, 'get', 1)[0]!.status).toBe(0);
    expect(portcullis('unban', prefix).status).toBe(0);
    await waitFor('the ufw rule to go', () => !ufwRules().includes(prefix));
    await waitFor('the gateway to follow', () => client(OTHER_V6, 'get', 1, { path: '/admin/login/' })[0]!.status === 200);
  });

  it('a client forging X-Forwarded-For (nobody trusted) is banned by its socket address', () => {
    const results = client(OTHER_V6, 'apiLogin', 6, { spoof: true });
    expect(results.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 403]);
    expect(redisCli('ZRANGE', '{portcullis}:bans', '0', '-1')).toContain('2001:db8:5c::/64');
    expect(redisCli('KEYS', '{portcullis}:*198.18.*')).toBe('');
  });
});
