import { describe, expect, it } from 'vitest';
import { JailPorts, parseConfig } from '@portcullis/core';
import { portsCover } from '../src/firewall-ports.js';

describe('JailPorts: the ports a ban closes, by jail', () => {
  it("the guide's ports [80, 443] with the sshd jail: a login ban closes 80/443, an sshd ban 22 (its preset's ports)", () => {
    const config = parseConfig({ firewall: { ports: [443, 80] }, jails: { login: { preset: 'django.login' }, sshd: { preset: 'sshd' } } });
    const ports = new JailPorts(config);
    expect(ports.of('login')).toEqual([80, 443]);
    expect(ports.of('sshd')).toEqual([22]);
    // hand bans and jails the config no longer names: firewall.ports
    expect(ports.of('manual')).toEqual([80, 443]);
    expect(ports.of('gone')).toEqual([80, 443]);
    expect(ports.shapes()).toEqual([[80, 443], [22]]);
  });

  it("a jail's own ports replace firewall.ports; a disabled jail keeps its ports; no ports means every port", () => {
    const config = parseConfig({
      firewall: { ports: [80] },
      jails: { sshd: { preset: 'sshd', ports: [2222, 22, 2222] }, other: { preset: 'django.login', ports: [8443], enabled: false } },
    });
    const ports = new JailPorts(config);
    expect(ports.of('sshd')).toEqual([22, 2222]);
    expect(ports.of('other')).toEqual([8443]);
    const all = new JailPorts(parseConfig({ jails: { login: { preset: 'django.login' }, sshd: { preset: 'sshd' } } }));
    expect(all.of('login')).toEqual([]);
    expect(all.of('sshd')).toEqual([22]);
  });

  it('which bans already close what a jail protects (recordFailure does not count those failures again)', () => {
    const guide = new JailPorts(
      parseConfig({ firewall: { ports: [80, 443] }, jails: { login: { preset: 'django.login' }, sshd: { preset: 'sshd' } } }),
    );
    expect(guide.coveredBy('login')).toEqual(['manual', 'login']);
    expect(guide.coveredBy('sshd')).toEqual(['sshd']);
    const every = new JailPorts(parseConfig({ jails: { login: { preset: 'django.login' }, sshd: { preset: 'sshd' } } }));
    expect(every.coveredBy('sshd')).toEqual(['manual', 'login', 'sshd']);
    expect(every.coveredBy('login')).toEqual(['manual', 'login']);
    expect(portsCover([], [22])).toBe(true);
    expect(portsCover([22], [])).toBe(false);
    expect(portsCover([22, 80, 443], [80, 443])).toBe(true);
    expect(portsCover([80], [80, 443])).toBe(false);
  });
});
