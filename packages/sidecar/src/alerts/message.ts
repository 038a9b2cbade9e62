import type { FailureDetail } from '@portcullis/core';

/** One ban as an alert tells it. */
export interface BanAlert {
  ip: string;
  jail: string;
  /** why: "5 failures within 600s", or a hand ban's reason */
  reason: string;
  /** ms since epoch */
  at: number;
  /** ms since epoch; -1 forever */
  until: number;
  /** the gateway or host that recorded it ("gateway@web1", "sidecar@db2", "cli") */
  by: string;
  /** bans of this address so far, this one included */
  count: number;
  /** the last failing requests, newest first */
  recent: FailureDetail[];
}

/** Many bans in one message: the first few listed, the rest counted per jail. */
export interface BanDigest {
  /** ms since epoch: the span the digest covers */
  from: number;
  to: number;
  total: number;
  byJail: Record<string, number>;
  listed: BanAlert[];
}

export type AlertMessage = { kind: 'ban'; ban: BanAlert } | { kind: 'digest'; digest: BanDigest };

const iso = (ms: number) => new Date(ms).toISOString();
const untilText = (until: number) => (until === -1 ? 'forever' : iso(until));

function detailLine(d: FailureDetail): string {
  if (d.line) return `  ${iso(d.at)}  ${d.line}`;
  const parts = [d.method ?? '-', d.path ?? '-', d.status ?? '-', d.userAgent ? JSON.stringify(d.userAgent) : '-'];
  return `  ${iso(d.at)}  ${parts.join(' ')}`;
}

function banLines(b: BanAlert): string[] {
  const lines = [
    `Address:  ${b.ip}`,
    `Jail:     ${b.jail}`,
    `Why:      ${b.reason}${b.count > 1 ? ` (ban #${b.count} of this address)` : ''}`,
    `Banned:   ${iso(b.at)}`,
    `Until:    ${untilText(b.until)}`,
    `By:       ${b.by}`,
  ];
  if (b.recent.length > 0) {
    lines.push(`Last ${b.recent.length} failing request${b.recent.length > 1 ? 's' : ''} (newest first):`);
    for (const d of b.recent) lines.push(detailLine(d));
  }
  return lines;
}

/** Subject and plain-text body (mail; the Slack text reuses the body). */
export function renderText(msg: AlertMessage, subjectPrefix = '[portcullis]'): { subject: string; text: string } {
  if (msg.kind === 'ban') {
    const b = msg.ban;
    return {
      subject: `${subjectPrefix} banned ${b.ip} (jail ${b.jail}) until ${untilText(b.until)}`,
      text: `${banLines(b).join('\n')}\n`,
    };
  }
  const d = msg.digest;
  const jails = Object.entries(d.byJail)
    .sort((a, b) => b[1] - a[1])
    .map(([jail, n]) => `  ${jail}: ${n}`);
  const lines = [
    `${d.total} bans between ${iso(d.from)} and ${iso(d.to)} (more than the alert limit: one digest instead of ${d.total} messages).`,
    '',
    'Per jail:',
    ...jails,
    '',
    `The first ${d.listed.length}:`,
    ...d.listed.map((b) => `  ${b.ip}  ${b.jail}  until ${untilText(b.until)}  by ${b.by}  (${b.reason})`),
  ];
  if (d.total > d.listed.length) lines.push(`  ... and ${d.total - d.listed.length} more (portcullis list shows them all)`);
  return { subject: `${subjectPrefix} ${d.total} bans (digest)`, text: `${lines.join('\n')}\n` };
}

/** The webhook body: Portcullis's JSON, or a Slack-compatible {"text": …}. */
export function renderWebhook(msg: AlertMessage, format: 'json' | 'slack'): unknown {
  if (format === 'slack') {
    const { subject, text } = renderText(msg, '');
    return { text: `*${subject.trim()}*\n\`\`\`\n${text}\`\`\`` };
  }
  if (msg.kind === 'ban') return { type: 'portcullis.ban', ...msg.ban };
  return { type: 'portcullis.digest', ...msg.digest };
}
