import { createWriteStream, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { compileLogFormat } from '../src/replay/log-format.js';
import { parseLogLine, parseLogTime } from '../src/replay/parse-log.js';
import { cli, tmpFile } from './helpers.js';

const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

/** $time_local for a UTC instant */
function timeLocal(ms: number): string {
  const d = new Date(ms);
  return `${p2(d.getUTCDate())}/${MON[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

function line(ip: string, ms: number, request: string, status: number): string {
  return `${ip} - - [${timeLocal(ms)}] "${request}" ${status} 27 "-" "curl/8.5.0"`;
}
const login = (ip: string, ms: number, status = 401) => line(ip, ms, 'POST /auth/login/ HTTP/1.1', status);

const CONFIG = [
  'ignoreIp: [127.0.0.1/8, "::1", 198.51.100.0/24]',
  'defaults: { bantime: 1h, findtime: 10m, maxretry: 5 }',
  'jails:',
  '  django-login: { preset: django.login }',
  '  django-admin: { preset: django.admin }',
  '',
].join('\n');

describe('parseLogLine (nginx combined / common)', () => {
  it('reads the fields a rule needs', () => {
    expect(parseLogLine('203.0.113.7 - bob [10/Oct/2000:13:55:36 -0700] "POST /auth/login/?next=/ HTTP/1.1" 401 27 "-" "curl/8"')).toEqual({
      ip: '203.0.113.7',
      time: Date.UTC(2000, 9, 10, 20, 55, 36),
      method: 'POST',
      url: '/auth/login/?next=/',
      status: 401,
    });
    // common log format, IPv6, IPv4-mapped folded to IPv4
    expect(parseLogLine('2001:DB8::1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/2.0" 200 1')).toMatchObject({ ip: '2001:db8::1' });
    expect(parseLogLine('::ffff:192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.0" 200 -')).toMatchObject({ ip: '192.0.2.1' });
    expect(parseLogTime('01/Jan/2026:00:00:00 +0530')).toBe(Date.UTC(2025, 11, 31, 18, 30, 0));
  });

  it('rejects what it cannot trust', () => {
    for (const bad of [
      '',
      'garbage',
      '999.1.1.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1',
      'localhost - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1',
      '192.0.2.1 - - [01/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1',
      '192.0.2.1 - - [2026-01-01T00:00:00Z] "GET / HTTP/1.1" 200 1',
      '192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "-" 400 0 "-" "-"',
      '192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01" 400 157 "-" "-"',
      '192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "POST /auth/login/ HTTP/1.1" 4011 1',
      '192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] "POST /auth/login/ HTTP/1.1',
    ]) {
      expect(parseLogLine(bad), bad).toBeNull();
    }
  });
});

describe('portcullis replay', () => {
  it("the guide's scenario: 6 failed POST /auth/login/ in a minute → banned at the 5th", async () => {
    const config = tmpFile('portcullis.yml', CONFIG);
    const lines = [
      line('192.0.2.10', T0, 'GET / HTTP/1.1', 200),
      ...Array.from({ length: 6 }, (_, i) => login('203.0.113.7', T0 + 1000 + i * 10_000)),
      'not an access log line',
      line('192.0.2.10', T0 + 2000, '-', 400),
      '',
      // successes and other addresses never count
      login('192.0.2.11', T0 + 3000, 200),
      login('192.0.2.12', T0 + 4000),
      // ignoreIp and loopback fail without consequence
      ...Array.from({ length: 6 }, (_, i) => login('198.51.100.9', T0 + i)),
      ...Array.from({ length: 6 }, (_, i) => login('127.0.0.1', T0 + i)),
    ];
    const log = tmpFile('access.log', `${lines.join('\n')}\n`);
    const r = await cli(['--config', config, 'replay', log]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Lines: 24 read, 3 unparseable, log time 2026-11-25 10:00:00Z → 2026-11-25 10:00:51Z\n/);
    expect(r.stdout).toMatch(/django-login\s+7\s+2\s+15\s+1\n/);
    expect(r.stdout).toMatch(/django-admin\s+0\s+21\s+3\s+0\n/);
    expect(r.stdout).toMatch(/Would have banned 1 time:\n/);
    expect(r.stdout).toMatch(/2026-11-25 10:00:41Z\s+203\.0\.113\.7\s+django-login\s+1h\s+1\s+6\n/);

    const json = JSON.parse((await cli(['--config', config, 'replay', log, '--json'])).stdout);
    expect(json).toMatchObject({ lines: 24, unparseable: 3, from: T0, to: T0 + 51_000 });
    expect(json.jails).toEqual([
      { jail: 'django-login', hasRule: true, matched: 7, missed: 2, ignored: 15, bans: 1 },
      { jail: 'django-admin', hasRule: true, matched: 0, missed: 21, ignored: 3, bans: 0 },
    ]);
    // banned at the 5th failure (line 6 of the log), for the jail's bantime
    expect(json.bans).toEqual([
      { ip: '203.0.113.7', jail: 'django-login', at: T0 + 41_000, until: T0 + 41_000 + 3_600_000, count: 1, line: 6 },
    ]);
  });

  it('--jail limits the replay to one jail (a disabled one too); unknown jail → exit 1', async () => {
    const config = tmpFile('portcullis.yml', `${CONFIG}  later: { preset: django.login, maxretry: 2, enabled: false }\n`);
    const log = tmpFile('access.log', `${[0, 1, 2].map((i) => login('203.0.113.8', T0 + i)).join('\n')}\n`);
    const r = JSON.parse((await cli(['--config', config, 'replay', log, '--jail', 'later', '--json'])).stdout);
    expect(r.jails).toEqual([{ jail: 'later', hasRule: true, matched: 3, missed: 0, ignored: 0, bans: 1 }]);
    expect(r.bans).toEqual([expect.objectContaining({ ip: '203.0.113.8', line: 2 })]);
    const bad = await cli(['--config', config, 'replay', log, '--jail', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('portcullis: error: Unknown jail: "nope"\n');
  });

  it('a missing log: exit 1, one line', async () => {
    const r = await cli(['replay', '/nonexistent/access.log']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^portcullis: error: cannot read \/nonexistent\/access\.log: .*\n$/);
  });

  it('streams a 200,000-line log: counts, sweeping windows and the increment', async () => {
    const config = tmpFile('portcullis.yml', CONFIG);
    const path = tmpFile('big.log', '');
    const out = createWriteStream(path);
    const write = async (s: string) => {
      if (!out.write(`${s}\n`)) await once(out, 'drain');
    };
    // background: 20,000 addresses, each failing once every 1,000 s (never 5 in 10 min),
    // every 4th line a harmless GET; 100 ms of log time per line
    let lines = 0;
    let failures = 0;
    let unparseable = 0;
    const N = 200_000;
    for (let i = 0; i < N; i++) {
      const ip = `10.${(i % 20_000) >> 8}.${i % 256}.1`;
      const t = T0 + i * 100;
      if (i % 4 === 3) await write(line(ip, t, 'GET /static/app.css HTTP/1.1', 200));
      else {
        await write(login(ip, t));
        failures++;
      }
      lines++;
      if (i % 50_000 === 7) {
        await write(`${ip} - - [broken`);
        lines++;
        unparseable++;
      }
      // an attacker: 5 quick failures at the start, and again 2 h later → banned twice, the second for 2 h
      if (i === 10 || i === 72_010) {
        for (let k = 0; k < 5; k++) await write(login('203.0.113.66', t + k));
        lines += 5;
        failures += 5;
      }
    }
    out.end();
    await once(out, 'finish');

    const r = await cli(['--config', config, 'replay', path, '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.lines).toBe(lines);
    expect(rep.unparseable).toBe(unparseable);
    expect(rep.jails[0]).toEqual({
      jail: 'django-login',
      hasRule: true,
      matched: failures,
      missed: lines - failures - unparseable,
      ignored: unparseable,
      bans: 2,
    });
    // log times have whole seconds
    const t1 = T0 + 1_000;
    const t2 = T0 + 7_201_000;
    expect(rep.bans).toEqual([
      expect.objectContaining({ ip: '203.0.113.66', at: t1, until: t1 + 3_600_000, count: 1 }),
      expect.objectContaining({ ip: '203.0.113.66', at: t2, until: t2 + 7_200_000, count: 2 }),
    ]);
  });

  it('draws no progress bar when stderr is not a terminal', async () => {
    const log = tmpFile('access.log', `${login('203.0.113.9', T0)}\n`);
    const r = await cli(['replay', log], { tty: false });
    expect(r).toMatchObject({ code: 0, stderr: '' });
  });

  it('reads a gzipped log (rotated: access.log.2.gz, two gzip members as logrotate appends) and standard input', async () => {
    const config = tmpFile('portcullis.yml', CONFIG);
    const attempts = Array.from({ length: 6 }, (_, i) => login('203.0.113.7', T0 + i * 1000));
    const text = (ls: string[]) => `${ls.join('\n')}\n`;
    const gz = tmpFile('access.log.2.gz', '');
    writeFileSync(gz, Buffer.concat([gzipSync(text(attempts.slice(0, 3))), gzipSync(text(attempts.slice(3)))]));
    const expected = { lines: 6, unparseable: 0, bans: [expect.objectContaining({ ip: '203.0.113.7', line: 5 })] };

    const fromGz = await cli(['--config', config, 'replay', gz, '--json']);
    expect(fromGz).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(fromGz.stdout)).toMatchObject(expected);

    const fromStdin = await cli(['--config', config, 'replay', '-', '--json'], { stdin: text(attempts) });
    expect(fromStdin).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(fromStdin.stdout)).toMatchObject({ file: '-', ...expected });

    // zcat-less: gzip piped in is recognised by its bytes, not its name
    const gzStdin = await cli(['--config', config, 'replay', '-'], { stdin: gzipSync(text(attempts)) });
    expect(gzStdin.code).toBe(0);
    expect(gzStdin.stdout).toMatch(/^Lines: 6 read, 0 unparseable/);

    // a truncated gzip is an error, not a short report
    const cut = tmpFile('cut.log.gz', '');
    const whole = gzipSync(text(attempts));
    writeFileSync(cut, whole.subarray(0, whole.length - 12));
    const broken = await cli(['--config', config, 'replay', cut]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^portcullis: error: cannot read .*cut\.log\.gz: .*\n$/);
  });

  it('nothing parses: exit 1 with a hint, after the report', async () => {
    const config = tmpFile('portcullis.yml', CONFIG);
    const log = tmpFile('app.log', 'INFO starting\nWARN 203.0.113.7 login failed\n');
    const r = await cli(['--config', config, 'replay', log]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Lines: 2 read, 2 unparseable\n/);
    expect(r.stderr).toMatch(
      /^portcullis: error: none of the 2 lines parsed as nginx "combined" \(or "common"\): if nginx writes this log with its own log_format, pass it: --log-format '.*'\n$/,
    );
    // an empty log is a log with nothing in it, not a wrong format
    expect((await cli(['--config', config, 'replay', '-'], { stdin: '' })).code).toBe(0);
  });

  it('--log-format: a custom nginx log_format, pasted as nginx writes it', async () => {
    const config = tmpFile('portcullis.yml', CONFIG);
    const directive = `log_format timed escape=default '$time_iso8601 $remote_addr "$request_method $request_uri" $status '\n    'rt=$request_time ua="$http_user_agent" xff="$http_x_forwarded_for"';`;
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
    const custom = (ip: string, ms: number, status: number, ua = 'curl/8') =>
      `${iso(ms)} ${ip} "POST /auth/login/" ${status} rt=0.012 ua="${ua}" xff="-"`;
    const lines = [
      ...Array.from({ length: 5 }, (_, i) => custom('203.0.113.7', T0 + i * 1000, 401)),
      // a user agent with what nginx logs for a quote (\x22) and spaces cannot shift the fields
      custom('192.0.2.5', T0 + 9000, 401, 'x\\x22 401 rt=1 \\x22'),
      custom('192.0.2.6', T0 + 9000, 200),
    ];
    const log = tmpFile('timed.log', `${lines.join('\n')}\n`);
    const r = await cli(['--config', config, 'replay', log, '--log-format', directive, '--json']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({ lines: 7, unparseable: 0, from: T0, to: T0 + 9000 });
    expect(rep.jails[0]).toMatchObject({ jail: 'django-login', matched: 6, missed: 1, bans: 1 });
    expect(rep.bans).toEqual([expect.objectContaining({ ip: '203.0.113.7', at: T0 + 4000, line: 5 })]);

    // the same log without the format: nothing parses, the hint names the flag
    const plain = await cli(['--config', config, 'replay', log]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('--log-format');

    // the format as a bare string, with ${var} and $time_local / $request / $msec forms
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's ${var} form, a plain string as a user writes it
    const parse = compileLogFormat('[$time_local] ${remote_addr}:"$request" $status $msec');
    expect(parse('[10/Oct/2000:13:55:36 -0700] 203.0.113.9:"POST /x/ HTTP/1.1" 401 971234567.123')).toEqual({
      ip: '203.0.113.9',
      time: Date.UTC(2000, 9, 10, 20, 55, 36),
      method: 'POST',
      url: '/x/',
      status: 401,
    });
    expect(compileLogFormat('$msec $remote_addr "$request" $status')('971234567.5 203.0.113.9 "GET / HTTP/1.1" 404')).toMatchObject({
      time: 971_234_567_500,
    });
    // garbage in a field still never becomes an address
    expect(parse('[10/Oct/2000:13:55:36 -0700] 1.2.3.4; rm:"POST /x/ HTTP/1.1" 401 1')).toBeNull();

    // a format that cannot say who failed at what: exit 1 naming what is missing
    const short = await cli(['--config', config, 'replay', log, '--log-format', '$remote_addr $status']);
    expect(short.code).toBe(1);
    expect(short.stderr).toBe(
      'portcullis: error: --log-format: the format lacks a time ($time_local, $time_iso8601 or $msec) and $request (or $request_method and $request_uri): replay needs them to judge a line\n',
    );
  });
});
