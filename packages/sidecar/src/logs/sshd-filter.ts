import { normalizeIp } from '@portcullis/core';

/** What one sshd log line says about an address. */
export type SshdEvent =
  | { kind: 'failure'; ip: string; message: string }
  | { kind: 'login'; ip: string; port: number; user: string }
  | { kind: 'logout'; ip: string; port: number };

/**
 * "Nov 25 08:00:01 web1 sshd[812]: " or "2026-11-25T08:00:01.5+00:00 web1 sshd-session[812]: ".
 * A syslog line from any other program is not sshd's, whatever it says
 * (`logger "Failed password for root from 1.2.3.4"` must not ban 1.2.3.4).
 */
const SYSLOG = /^(?:[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+)(?: \S+)? (\S+?)(?:\[\d+\])?: (?:\[ID \d+ [\w.]+\] )?/;
const SSHD_TAG = /^sshd(?:-session)?$/;
/** "error: ", "fatal: ", "error: PAM: " */
const LEVEL = /^(?:(?:error|fatal): (?:PAM: )?)?/;

const HOST = '(\\S+)';
const PORT = '(?: port \\d+)?';
const ON = '(?: on \\S+(?: port \\d+)?)?';
const PREAUTH = '(?: \\[preauth\\])?';
const PROTO = '(?: ssh\\d*)?';

/**
 * The failure lines of fail2ban's sshd filter in its normal mode, written
 * anew. Where a user name can hold spaces (an invalid user is whatever the
 * client sent), the address is the LAST "from <addr>" of the line, anchored
 * at its end: a name like "x from 10.0.0.9 port 1 ssh2" cannot aim a ban.
 * Lines whose user name must be a real account take `\S+`.
 */
const FAILURES: RegExp[] = [
  // Failed password / keyboard-interactive(/pam) / none, invalid user: nothing follows the protocol
  new RegExp(`^Failed (?!publickey|hostbased)\\S+ for (?:invalid user .*|<invalid username>) from ${HOST}${PORT}${ON}${PROTO}$`),
  // … a real account (no spaces): the address follows it; ": …" after the protocol is the client's (ssh1 ruser)
  new RegExp(`^Failed (?!publickey|hostbased)\\S+ for (?!invalid user )\\S+ from ${HOST}${PORT}${ON}${PROTO}(?:: .*)?$`),
  // Failed publickey counts for an invalid user only (a real user's client offers each of its keys: fail2ban's default too)
  new RegExp(`^Failed publickey for invalid user .* from ${HOST}${PORT}${PROTO}: [\\w@.-]+ (?:SHA256:[A-Za-z0-9+/=$]+|[0-9a-f:]+)$`),
  // hostbased: the account is real (no spaces); the client's own words follow ": "
  new RegExp(`^Failed hostbased for \\S+ from ${HOST}${PORT}${PROTO}(?:: .*)?$`),
  new RegExp(`^[aA]uthentication (?:failure|error|failed) for .* from ${HOST}(?: via \\S+)?${PORT}${ON}${PREAUTH}$`),
  new RegExp(`^User not known to the underlying authentication module for .* from ${HOST}${PORT}${PREAUTH}$`),
  new RegExp(`^ROOT LOGIN REFUSED FROM ${HOST}${PORT}${PREAUTH}$`),
  new RegExp(`^[iI](?:llegal|nvalid) user .* from ${HOST}${PORT}${ON}${PREAUTH}$`),
  new RegExp(
    `^User \\S+ from ${HOST} not allowed because (?:not listed in AllowUsers|listed in DenyUsers|not in any group|a group is listed in DenyGroups|none of user's groups are listed in AllowGroups)${PREAUTH}$`,
  ),
  new RegExp(`^refused connect from \\S+ \\(${HOST}\\)$`),
  new RegExp(`^Received disconnect from ${HOST}${PORT}:\\s*3: .*: Auth fail${PREAUTH}$`),
  new RegExp(`^maximum authentication attempts exceeded for (?:invalid user )?.* from ${HOST}${PORT}${PROTO}${PREAUTH}$`),
  // preauth disconnects that are failures in normal mode
  new RegExp(
    `^Disconnecting (?:invalid|authenticating) user \\S+ ${HOST}${PORT}: (?:Change of username or service not allowed: .*|Too many authentication failures) \\[preauth\\]$`,
  ),
];

const ACCEPTED = /^Accepted \S+ for (\S+) from (\S+) port (\d+)(?: ssh\d*)?(?:: .*)?$/;
const DISCONNECTED = /^Disconnected from user \S+ (\S+) port (\d+)$/;

/** The message part of a line, or null when a syslog header names another program. */
export function sshdMessage(line: string): string | null {
  const text = line.trimEnd();
  const header = SYSLOG.exec(text);
  if (header) {
    if (!SSHD_TAG.test(header[1]!)) return null;
    return text.slice(header[0].length).replace(LEVEL, '');
  }
  return text.replace(LEVEL, '');
}

/**
 * Reads one line of sshd's log (a syslog file line, or a journald MESSAGE).
 * Host names (UseDNS yes) are never resolved: an attacker controls its
 * reverse DNS. Returns null for anything else.
 */
export function parseSshdLine(line: string): SshdEvent | null {
  const message = sshdMessage(line);
  if (message === null || message.length > 2000) return null;
  const accepted = ACCEPTED.exec(message);
  if (accepted) {
    const ip = normalizeIp(accepted[2]!);
    return ip ? { kind: 'login', ip, port: Number(accepted[3]), user: accepted[1]! } : null;
  }
  const closed = DISCONNECTED.exec(message);
  if (closed) {
    const ip = normalizeIp(closed[1]!);
    return ip ? { kind: 'logout', ip, port: Number(closed[2]) } : null;
  }
  for (const re of FAILURES) {
    const m = re.exec(message);
    if (!m) continue;
    const ip = normalizeIp(m[1]!);
    return ip ? { kind: 'failure', ip, message } : null;
  }
  return null;
}
