import { normalizeCidr, portsKey, sortedPorts, type FirewallConfig } from '@portcullis/core';
import { CommandFailedError, type Runner } from '../exec.js';

/** one rule of our chain: an address and the ports its ban closes ([] every port) */
export interface DockerBan {
  ip: string;
  ports: readonly number[];
}

/** our chain, jumped to from the top of Docker's DOCKER-USER */
export const DOCKER_CHAIN = 'portcullis-docker';

/**
 * ufw with Docker: a published port is DNATed in nat PREROUTING (8080 → the
 * container's 80) and crosses filter FORWARD, where Docker's own ACCEPT rules
 * come before ufw's chains: `ufw route deny` rules are never reached.
 * DOCKER-USER is Docker's documented place for a host's own rules: FORWARD
 * jumps there first, and Docker never flushes it. Our bans go to a chain of
 * our own jumped to from it, matching the port the client asked for
 * (`-m conntrack --ctorigdstport`, kept from before the DNAT), one rule per
 * port of the ban's jail (sshd: 22; a login ban: firewall.ports). The chain is
 * rewritten whole by one `iptables-restore -n` per change (atomic), from the
 * bans ufw's files hold, so it never drifts from them.
 */
export class DockerUserChain {
  constructor(
    private readonly fw: FirewallConfig,
    private readonly run: Runner,
  ) {}

  /** the rules of our chain for these bans (an address and the ports its rule closes, [] every port), per family */
  rules(bans: ReadonlyArray<DockerBan>): { v4: string[]; v6: string[] } {
    const out = { v4: [] as string[], v6: [] as string[] };
    const target = this.fw.action === 'reject' ? 'REJECT' : 'DROP';
    const sorted = [...bans].sort((a, b) => (a.ip === b.ip ? portsKey(a.ports).localeCompare(portsKey(b.ports)) : a.ip < b.ip ? -1 : 1));
    for (const ban of sorted) {
      const cidr = normalizeCidr(ban.ip);
      if (!cidr) continue;
      const protos = this.fw.protocol === 'any' ? (ban.ports.length ? ['tcp', 'udp'] : [null]) : [this.fw.protocol];
      const ports = ban.ports.length ? sortedPorts(ban.ports) : [null];
      for (const proto of protos) {
        for (const port of ports) {
          const match = [
            `-s ${cidr.text}`,
            proto ? `-p ${proto}` : '',
            port === null ? '-m conntrack --ctdir ORIGINAL' : `-m conntrack --ctorigdstport ${port} --ctdir ORIGINAL`,
          ]
            .filter(Boolean)
            .join(' ');
          (cidr.kind === 'ipv4' ? out.v4 : out.v6).push(`-A ${DOCKER_CHAIN} ${match} -j ${target}`);
        }
      }
    }
    return out;
  }

  /** loads our chain with exactly these bans and makes sure DOCKER-USER jumps to it */
  async sync(bans: ReadonlyArray<DockerBan>): Promise<void> {
    const rules = this.rules(bans);
    for (const [cmd, lines] of [
      ['iptables', rules.v4],
      ['ip6tables', rules.v6],
    ] as const) {
      await this.run(`${cmd}-restore`, ['-w', '-n'], { input: ['*filter', `:${DOCKER_CHAIN} - [0:0]`, ...lines, 'COMMIT', ''].join('\n') });
      if (!(await this.ok(cmd, ['-C', 'DOCKER-USER', '-j', DOCKER_CHAIN]))) {
        // Docker creates DOCKER-USER at its start and keeps what it finds there
        if (!(await this.ok(cmd, ['-S', 'DOCKER-USER']))) await this.run(cmd, ['-w', '-N', 'DOCKER-USER']);
        await this.run(cmd, ['-w', '-I', 'DOCKER-USER', '1', '-j', DOCKER_CHAIN]);
      }
    }
  }

  /** what the kernel lost of our chain (its jump, or rules), for these bans */
  async lost(bans: ReadonlyArray<DockerBan>): Promise<string[]> {
    const rules = this.rules(bans);
    const lost: string[] = [];
    for (const [cmd, lines] of [
      ['iptables', rules.v4],
      ['ip6tables', rules.v6],
    ] as const) {
      if (lines.length === 0) continue;
      if (!(await this.ok(cmd, ['-C', 'DOCKER-USER', '-j', DOCKER_CHAIN]))) {
        lost.push(`${cmd} DOCKER-USER jump to ${DOCKER_CHAIN}`);
        continue;
      }
      const { stdout } = await this.run(cmd, ['-w', '-S', DOCKER_CHAIN]);
      const have = stdout.split('\n').filter((l) => l.startsWith(`-A ${DOCKER_CHAIN} `)).length;
      if (have < lines.length) lost.push(`${cmd} ${DOCKER_CHAIN} (${have} of ${lines.length} rules)`);
    }
    return lost;
  }

  private async ok(cmd: string, args: string[]): Promise<boolean> {
    try {
      await this.run(cmd, ['-w', ...args]);
      return true;
    } catch (err) {
      if (err instanceof CommandFailedError) return false;
      throw err;
    }
  }
}
