import { describe, expect, it } from 'vitest';
import { parseSshdLine } from '../src/logs/sshd-filter.js';

const ipOf = (line: string) => {
  const e = parseSshdLine(line);
  return e?.kind === 'failure' ? e.ip : null;
};

describe('sshd failure lines (fail2ban sshd filter, normal mode, written anew)', () => {
  it.each([
    ['Nov 25 08:00:01 web1 sshd[812]: Failed password for root from 192.0.2.2 port 41234 ssh2', '192.0.2.2'],
    ['2026-11-25T08:00:01.123456+00:00 web1 sshd-session[812]: Failed password for root from 192.0.2.2 port 41234 ssh2', '192.0.2.2'],
    ['Failed password for invalid user admin from 2001:db8::7 port 41234 ssh2', '2001:db8::7'],
    ['Failed password for invalid user ROOT from 194.117.26.70 port 12345', '194.117.26.70'],
    ['Failed password for invalid user ROOT from aaaa:bbbb:cccc:1234::1:1', 'aaaa:bbbb:cccc:1234::1:1'],
    ['Failed keyboard-interactive/pam for invalid user jamedds from 205.186.180.77 port 33723 ssh2', '205.186.180.77'],
    ['Failed none for invalid user x from 198.51.100.1 port 2 ssh2', '198.51.100.1'],
    [
      'Mar 29 05:59:23 dusky sshd[20878]: [ID 800047 auth.info] Failed keyboard-interactive for <invalid username> from 205.186.180.55 port 42742 ssh2',
      '205.186.180.55',
    ],
    [
      'Failed publickey for invalid user graysky from 198.51.100.9 port 37954 ssh2: RSA SHA256:v3dpapGleDaUKf$4V1vKyR9ZyUgjaJAmoCTcb2PLljI',
      '198.51.100.9',
    ],
    [
      'Failed hostbased for dan from 198.51.100.8 port 45785 ssh2: RSA 8c:e3:aa, client user "dan from 1.2.3.4", client host "x"',
      '198.51.100.8',
    ],
    ['Nov 25 08:00:01 web1 sshd[812]: Invalid user ftp from 192.0.2.9 port 37220', '192.0.2.9'],
    ['Illegal user ftp from 192.0.2.10', '192.0.2.10'],
    ['error: maximum authentication attempts exceeded for root from 61.0.0.1 port 49940 ssh2 [preauth]', '61.0.0.1'],
    ['error: maximum authentication attempts exceeded for invalid user xxx from 192.0.2.7 port 49941 ssh2 [preauth]', '192.0.2.7'],
    ['ROOT LOGIN REFUSED FROM ::ffff:1.2.3.4 port 12345 [preauth]', '1.2.3.4'],
    ['User root from 211.188.220.49 not allowed because not listed in AllowUsers', '211.188.220.49'],
    ['User root from 46.45.128.3 not allowed because listed in DenyUsers', '46.45.128.3'],
    ["User root from 10.0.0.40 not allowed because none of user's groups are listed in AllowGroups", '10.0.0.40'],
    ['refused connect from host.example (::ffff:218.249.210.161)', '218.249.210.161'],
    ['error: Received disconnect from 10.0.0.1 port 7736:3: com.jcraft.jsch.JSchException: Auth fail [preauth]', '10.0.0.1'],
    ['Authentication failure for root from 198.51.100.3 via 192.0.2.1', '198.51.100.3'],
    ['error: PAM: Authentication failure for illegal user nobody from 198.51.100.4', '198.51.100.4'],
    ['User not known to the underlying authentication module for bob from 198.51.100.5', '198.51.100.5'],
    [
      'Disconnecting invalid user admin 192.0.2.117 port 44004: Change of username or service not allowed: (admin,ssh-connection) -> (user,ssh-connection) [preauth]',
      '192.0.2.117',
    ],
    ['Disconnecting authenticating user root 192.0.2.118 port 44005: Too many authentication failures [preauth]', '192.0.2.118'],
  ])('%s', (line, ip) => {
    expect(ipOf(line)).toBe(ip);
  });

  it('a user name cannot aim the ban: the address is the last "from" of the line', () => {
    expect(ipOf('Failed password for invalid user from 10.10.1.1 from 127.0.0.1 port 58946 ssh2')).toBe('127.0.0.1');
    expect(ipOf('Failed password for invalid user test from 10.10.1.2 port 55555 ssh2 from 192.0.2.40 port 58946 ssh2')).toBe('192.0.2.40');
    // fail2ban reads 127.0.0.1 here; sshd ≥ 7 writes nothing after "ssh2" for a password, so this user name is
    // "test from 127.0.0.1 port 58946 ssh2:" and the client is the last address
    expect(ipOf('Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2')).toBe('10.10.1.2');
    expect(ipOf('Invalid user x from 10.9.9.9 port 1 from 192.0.2.41 port 2')).toBe('192.0.2.41');
    // a real account has no spaces: what follows ": " is the client's own text
    expect(ipOf('Failed password for user from 127.0.0.1 port 20000 ssh1: ruser from 1.2.3.4')).toBe('127.0.0.1');
  });

  it('other programs, host names and the lines that are not failures count nothing', () => {
    for (const line of [
      'Nov 25 08:00:01 web1 myuser[4242]: Failed password for root from 192.0.2.2 port 41234 ssh2',
      'Nov 25 08:00:01 web1 sudo: Failed password for root from 192.0.2.2 port 41234 ssh2',
      'User root from example.com not allowed because not listed in AllowUsers',
      'Failed publickey for git from 192.0.2.1 port 57904 ssh2: ECDSA 0e:ff:00',
      'Connection closed by authenticating user root 192.0.2.6 port 33553 [preauth]',
      'Disconnected from authenticating user admin 192.0.2.6 port 33553 [preauth]',
      'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.112  user=root',
      'Received disconnect from 198.51.100.76 port 58846:11: Bye Bye [preauth]',
      'Server listening on 0.0.0.0 port 22.',
      'Failed password for root from 999.1.1.1 port 1 ssh2',
    ])
      expect(parseSshdLine(line), line).toBeNull();
  });

  it('logins and logouts are recognised (a logged-in address is not banned)', () => {
    expect(
      parseSshdLine('Nov 25 08:00:01 web1 sshd[9]: Accepted publickey for root from 192.0.2.3 port 50000 ssh2: ED25519 SHA256:abc'),
    ).toEqual({
      kind: 'login',
      ip: '192.0.2.3',
      port: 50000,
      user: 'root',
    });
    expect(parseSshdLine('Disconnected from user root 192.0.2.3 port 50000')).toEqual({ kind: 'logout', ip: '192.0.2.3', port: 50000 });
  });
});
