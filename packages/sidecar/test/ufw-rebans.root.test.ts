import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENT_V4, firewallSkipReason, SERVER_V4, waitFor } from '@portcullis/testkit';
import { nsBackend, useTestNet } from '@portcullis/testkit/fixtures';
import { parseUfwUserRules } from '../src/backends/ufw.js';
import { store, testConfig } from './harness.js';

const skip = firewallSkipReason('ufw', 'iptables', 'ip6tables');
if (skip) console.warn(`[skipped] ufw re-ban and batched lift tests: ${skip}`);

const PORT = 8080;

describe.runIf(skip === null)('ufw: a re-ban never opens a gap; bans ending together are lifted together', () => {
  const fw = useTestNet({ port: PORT, redis: true, ufw: true });

  const ourRules = () => [
    ...parseUfwUserRules(readFileSync(join(fw.net.etcUfw, 'user.rules'), 'utf8')),
    ...parseUfwUserRules(readFileSync(join(fw.net.etcUfw, 'user6.rules'), 'utf8')),
  ];
  const kernel = () => fw.net.inServer(['iptables', '-S', 'ufw-user-input']) + fw.net.inServer(['ip6tables', '-S', 'ufw6-user-input']);

  it('re-banning (a longer until, another jail) keeps the rule in the kernel throughout: no probe gets through', async () => {
    const backend = await nsBackend(fw.net, { backend: 'ufw', ports: [PORT] });
    await backend.apply({ add: [{ ip: CLIENT_V4, jail: 'django-login', until: Date.now() + 60_000 }], remove: [] });
    expect(fw.net.canConnect(CLIENT_V4, PORT)).toBe(false);
    // a new connection attempt from the banned address every 20 ms, each given 300 ms
    const code =
      `const net=require('net');let open=0;const t=setInterval(()=>{const s=net.connect({host:'${SERVER_V4}',port:${PORT},localAddress:'${CLIENT_V4}'});` +
      `s.setTimeout(300,()=>s.destroy());s.on('connect',()=>{open++;s.destroy()});s.on('error',()=>{})},20);` +
      `process.stdin.on('data',()=>{clearInterval(t);setTimeout(()=>{console.log('open='+open);process.exit(0)},400)});console.log('probing');`;
    const prober = spawn('ip', ['netns', 'exec', fw.net.client, process.execPath, '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
    fw.net.track(prober);
    let out = '';
    prober.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor('prober running', () => out.includes('probing'));
    for (let i = 1; i <= 5; i++) {
      await backend.apply({
        add: [{ ip: CLIENT_V4, jail: i % 2 ? 'django-admin' : 'django-login', until: Date.now() + 60_000 * (i + 1) }],
        remove: [],
      });
    }
    const last = Date.now() + 3_600_000;
    await backend.apply({ add: [{ ip: CLIENT_V4, jail: 'recidive', until: last }], remove: [] });
    prober.stdin!.write('stop\n');
    await waitFor('prober result', () => /open=\d+/.test(out));
    expect(out).toContain('open=0');
    const mine = ourRules().filter((r) => r.ip === CLIENT_V4);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ jail: 'recidive', until: last });
    expect(
      kernel()
        .split('\n')
        .filter((l) => l.includes(`-s ${CLIENT_V4}/32`)),
    ).toHaveLength(1);
    await backend.apply({ add: [], remove: [{ ip: CLIENT_V4, jail: '', until: 0 }] });
    await waitFor('lifted', () => fw.net.canConnect(CLIENT_V4, PORT));
  });

  it('20 bans (IPv4 and IPv6) ending at the same moment are all lifted by the sidecar, from the files and the kernel', async () => {
    const config = testConfig(fw.redis.url, { firewall: { backend: 'ufw', ports: [PORT] } });
    await fw.sidecar(config, { hostId: 'ufw-lift' });
    const s = await store(config);
    const ips = [
      ...Array.from({ length: 10 }, (_, i) => `198.51.100.${i + 1}`),
      ...Array.from({ length: 10 }, (_, i) => `2001:db8:99::${i + 1}`),
    ];
    for (const ip of ips) await s.ban(ip, { duration: 60_000 });
    await waitFor('20 rules', () => ourRules().length === 20, 30_000);
    // the same until for all 20: re-banned in one go so they end together
    const until = Date.now() + 4000;
    for (const ip of ips) await s.ban(ip, { duration: until - Date.now() });
    await waitFor('untils rewritten', () => ourRules().every((r) => r.until < Date.now() + 10_000), 30_000);
    expect(
      kernel()
        .split('\n')
        .filter((l) => / -s (198\.51\.100\.|2001:db8:99::)/.test(l)),
    ).toHaveLength(20);
    await waitFor('all lifted from the files', () => ourRules().length === 0, 30_000);
    await waitFor('all lifted from the kernel', () => !/ -s (198\.51\.100\.|2001:db8:99::)/.test(kernel()), 5000);
    await s.close();
  });
});
