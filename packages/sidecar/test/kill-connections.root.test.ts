import { beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_V4, CLIENT_V6, firewallSkipReason, OTHER_V4, OTHER_V6, waitFor } from '@portcullis/testkit';
import { nsBackend, nsRunner, useTestNet } from '@portcullis/testkit/fixtures';
import { CommandNotFoundError, type FirewallBackend, type Runner } from '@portcullis/sidecar';
import { ConnectionKiller } from '../src/kill-connections.js';

const skip = firewallSkipReason('nft', 'ss', 'conntrack');
if (skip) console.warn(`[skipped] connection killing tests: ${skip}`);

const PORT = 8080;
const KEPT_V4 = '192.0.2.9';
const KEPT_V6 = '2001:db8:5c::9';

describe.runIf(skip === null)('established connections of banned addresses are cut, for every family', () => {
  const fw = useTestNet({ port: PORT, clientAddresses: [KEPT_V4, KEPT_V6] });
  let backend: FirewallBackend;

  beforeAll(async () => {
    backend = await nsBackend(fw.net, { backend: 'nftables', ports: [PORT] });
  });

  /** a connection held open from `from`, once connected */
  async function held(from: string) {
    const h = fw.net.holdConnection(from, PORT);
    await h.connected;
    return h;
  }

  const cases: Array<[string, string[], string[]]> = [
    ['IPv4', [CLIENT_V4], [CLIENT_V4]],
    ['IPv6', [CLIENT_V6], [CLIENT_V6]],
    ['IPv4 and IPv6 in one batch', [CLIENT_V4, CLIENT_V6], [CLIENT_V4, CLIENT_V6]],
    ['ranges of both families', ['192.0.2.2/31', '2001:db8:5c::2/127'], [CLIENT_V4, OTHER_V4, CLIENT_V6, OTHER_V6]],
  ];
  const real = (): Runner => nsRunner(fw.net);
  const withoutConntrack = (): Runner => {
    const run = nsRunner(fw.net);
    return async (cmd, args, opts) => {
      if (cmd === 'conntrack') throw new CommandNotFoundError('conntrack');
      return run(cmd, args, opts);
    };
  };

  for (const [conntrack, runner] of [
    ['with conntrack', real],
    ['without conntrack', withoutConntrack],
  ] as const) {
    for (const [what, banned, cut] of cases) {
      it(`${what}, ${conntrack}: banned → its connections reset, the others live on`, async () => {
        const conns = await Promise.all(cut.map(held));
        const kept = await Promise.all([KEPT_V4, KEPT_V6].map(held));
        const bans = banned.map((ip) => ({ ip, jail: 'j', until: Date.now() + 60_000 }));
        await backend.apply({ add: bans, remove: [] });
        await new ConnectionKiller(runner()).kill(banned);
        await waitFor(`${cut.join(', ')} cut`, () => conns.every((c) => c.isClosed()), 10_000);
        expect(kept.map((k) => k.isClosed())).toEqual([false, false]);
        for (const k of kept) k.child.kill();
        await backend.apply({ add: [], remove: bans });
      });
    }
  }
});
