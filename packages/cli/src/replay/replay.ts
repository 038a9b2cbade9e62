import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { MemoryBanStore, Protection, type Jail, type PortcullisConfig, type ResponseFacts } from '@portcullis/core';
import { parseLogLine, type LineParser } from './parse-log.js';

export interface JailTally {
  jail: string;
  /** false for header-only jails: an access log cannot show X-Portcullis-Failure */
  hasRule: boolean;
  /** lines the rule matched from addresses that may be banned */
  matched: number;
  /** parsed lines the rule did not match */
  missed: number;
  /** unparseable lines, and matches from loopback/trustProxy/ignoreIp */
  ignored: number;
  bans: number;
}

export interface ReplayBan {
  ip: string;
  jail: string;
  /** log time of the failure that banned it (ms) */
  at: number;
  /** ms since epoch, -1 forever */
  until: number;
  /** bans of this address so far, including this one (increment) */
  count: number;
  /** 1-based line number in the log */
  line: number;
}

export interface ReplayReport {
  lines: number;
  unparseable: number;
  /** log time of the first and last parsed line (ms), null for an empty log */
  from: number | null;
  to: number | null;
  jails: JailTally[];
  bans: ReplayBan[];
}

/**
 * Runs an access log through jails as fail2ban-regex does, but with the
 * gateway's own rules: each matching line is a failure at the log's own
 * timestamp in an in-memory store (sliding window, maxretry, increment),
 * Redis is never touched. Lines stream through readline, so the log's
 * size does not matter; the store sweeps expired windows as log time moves.
 */
export async function replayLog(
  input: Readable,
  config: PortcullisConfig,
  jails: Jail[],
  parse: LineParser = parseLogLine,
): Promise<ReplayReport> {
  // jitter (rndtime) would make two replays of one log differ: none here
  const store = new MemoryBanStore({ config, by: 'replay', maxEvents: 1, random: () => 0 });
  const protection = new Protection(config);
  const tallies = jails.map((j) => ({ jail: j.name, hasRule: j.hasRule, matched: 0, missed: 0, ignored: 0, bans: 0 }));
  const report: ReplayReport = { lines: 0, unparseable: 0, from: null, to: null, jails: tallies, bans: [] };
  const facts: ResponseFacts = { method: '', url: '', status: 0, header: () => undefined };

  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) {
    report.lines++;
    const entry = parse(line);
    if (!entry) {
      report.unparseable++;
      for (const t of tallies) t.ignored++;
      continue;
    }
    if (report.from === null || entry.time < report.from) report.from = entry.time;
    if (report.to === null || entry.time > report.to) report.to = entry.time;
    facts.method = entry.method;
    facts.url = entry.url;
    facts.status = entry.status;
    const protectedIp = protection.reasonFor(entry.ip) !== null;
    for (let i = 0; i < jails.length; i++) {
      const jail = jails[i]!;
      const tally = tallies[i]!;
      if (!jail.matches(facts)) {
        tally.missed++;
        continue;
      }
      if (protectedIp || jail.ignore?.has(entry.ip)) {
        tally.ignored++;
        continue;
      }
      tally.matched++;
      const r = await store.recordFailure(jail, entry.ip, entry.time);
      if (r.banned) {
        tally.bans++;
        report.bans.push({ ip: entry.ip, jail: jail.name, at: entry.time, until: r.until, count: r.bans, line: report.lines });
      }
    }
  }
  await store.close();
  return report;
}
