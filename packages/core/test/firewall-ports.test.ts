import { describe, expect, it } from 'vitest';
import { effectiveFirewall, parseConfig } from '@portcullis/core';

describe('effectiveFirewall: the ports a ban closes', () => {
  it("the guide's ports [80, 443] with the sshd jail close 22 too (a ban is per address)", () => {
    const config = parseConfig({ firewall: { ports: [443, 80] }, jails: { login: { preset: 'django.login' }, sshd: { preset: 'sshd' } } });
    expect(effectiveFirewall(config).ports).toEqual([22, 80, 443]);
  });

  it("a jail's own ports are added; disabled jails add nothing; no ports means every port already", () => {
    const config = parseConfig({
      firewall: { ports: [80] },
      jails: { sshd: { preset: 'sshd', ports: [2222] }, other: { preset: 'django.login', ports: [8443], enabled: false } },
    });
    expect(effectiveFirewall(config).ports).toEqual([80, 2222]);
    const all = parseConfig({ jails: { sshd: { preset: 'sshd' } } });
    expect(effectiveFirewall(all)).toBe(all.firewall);
    expect(effectiveFirewall(all).ports).toEqual([]);
  });
});
