import { describe, expect, it, beforeEach } from 'vitest';
import {
  parseConfig,
  resolveJails,
  type BanChange,
  type BanEvent,
  type BanStore,
  type PortcullisConfig,
  type PortcullisConfigInput,
  type RecordResult,
} from '@portcullis/core';
import { waitFor } from '@portcullis/testkit';

export const CONTRACT_CONFIG: PortcullisConfigInput = {
  ignoreIp: ['127.0.0.0/8', '::1', '198.51.100.0/24'],
  trustProxy: ['10.9.9.9'],
  defaults: { bantime: '1h', findtime: '10m', maxretry: 5 },
  jails: {
    'django-login': { preset: 'django.login' },
    'http-404': { preset: 'http.notFound', maxretry: 3, findtime: 60 },
  },
};

export interface ContractStore {
  /** a fresh, empty, connected store; `random` is its jitter source */
  make(config: PortcullisConfig, opts?: { random?: () => number }): Promise<BanStore>;
  /** the ban/unban events the store has logged, oldest first */
  events(store: BanStore): Promise<BanEvent[]>;
}

/**
 * How long each ban lasts, by case: both stores must give exactly these
 * lengths (ms; one entry per successive ban of one address).
 */
const BAN_LENGTH_CASES: Array<{
  name: string;
  bantime: number;
  increment?: PortcullisConfigInput['increment'];
  random?: number;
  lengths: number[];
}> = [
  { name: 'fractional factor: whole ms, rounded down', bantime: 1, increment: { factor: 1.00035 }, lengths: [1000, 2000, 4001, 8002] },
  { name: 'multipliers, the last one holding', bantime: 1, increment: { multipliers: [1, 5, 30] }, lengths: [1000, 5000, 30_000, 30_000] },
  { name: 'maxtime caps the increment', bantime: 60, increment: { maxtime: '3m' }, lengths: [60_000, 120_000, 180_000, 180_000] },
  {
    name: 'rndtime with a fixed random source',
    bantime: 10,
    increment: { rndtime: '10s' },
    random: 0.25,
    lengths: [12_500, 22_500, 42_500],
  },
  { name: 'a tiny factor never makes a ban shorter than 1 s', bantime: 1, increment: { factor: 0.0001 }, lengths: [1000, 1000, 1000] },
  { name: 'increment off', bantime: 1, increment: { enabled: false }, lengths: [1000, 1000, 1000] },
  { name: 'forever', bantime: -1, lengths: [-1] },
];

export function banStoreContract(name: string, { make, events }: ContractStore) {
  describe(`${name}: BanStore contract`, () => {
    const config = parseConfig(CONTRACT_CONFIG);
    const jails = resolveJails(config);
    const login = jails.get('django-login')!;
    const flood = jails.get('http-404')!;
    let store: BanStore;
    const T0 = Date.now();

    beforeEach(async () => {
      store = await make(config);
      return () => store.close();
    });

    it('bans at maxretry failures within findtime, for bantime', async () => {
      for (let i = 1; i <= 4; i++) {
        const r = await store.recordFailure(login, '203.0.113.7', T0 + i);
        expect(r).toMatchObject({ count: i, banned: false });
      }
      const r5 = await store.recordFailure(login, '203.0.113.7', T0 + 5);
      expect(r5).toMatchObject({ count: 5, banned: true, until: T0 + 5 + 3_600_000, bans: 1 });
      const ban = await store.isBanned('203.0.113.7', T0 + 10);
      expect(ban).toMatchObject({ ip: '203.0.113.7', jail: 'django-login', until: T0 + 5 + 3_600_000, count: 1 });
      expect(await store.isBanned('203.0.113.8', T0 + 10)).toBeNull();
      const again = await store.recordFailure(login, '203.0.113.7', T0 + 6);
      expect(again).toMatchObject({ banned: false, alreadyBanned: true });
      expect(await store.isBanned('203.0.113.7', T0 + 5 + 3_600_001)).toBeNull();
    });

    it('slides the window: failures spread wider than findtime never ban', async () => {
      // 3 per minute window, one failure every 25 s: at most 3 in any 60 s... just under
      for (let i = 0; i < 20; i++) {
        const r = await store.recordFailure(flood, '203.0.113.20', T0 + i * 31_000);
        expect(r.banned).toBe(false);
        expect(r.count).toBeLessThanOrEqual(2);
      }
      expect(await store.isBanned('203.0.113.20', T0 + 20 * 31_000)).toBeNull();
    });

    it('doubles the second ban (bantime.increment)', async () => {
      let t = T0;
      for (let i = 0; i < 5; i++) await store.recordFailure(login, '203.0.113.30', ++t);
      const first = await store.isBanned('203.0.113.30', t);
      expect(first!.until - first!.at).toBe(3_600_000);
      t = first!.until + 1;
      let r: RecordResult | undefined;
      for (let i = 0; i < 5; i++) r = await store.recordFailure(login, '203.0.113.30', ++t);
      expect(r).toMatchObject({ banned: true, bans: 2, until: t + 7_200_000 });
      const second = await store.isBanned('203.0.113.30', t);
      expect(second).toMatchObject({ count: 2, until: t + 7_200_000 });
    });

    it('never bans loopback, trusted proxies or ignoreIp', async () => {
      for (const ip of ['127.0.0.1', '::1', '10.9.9.9', '198.51.100.4']) {
        for (let i = 0; i < 10; i++) expect((await store.recordFailure(login, ip, T0 + i)).banned).toBe(false);
        expect(await store.isBanned(ip, T0 + 20)).toBeNull();
        await expect(store.ban(ip)).rejects.toThrow(/Refusing to ban/);
      }
      await expect(store.ban('10.0.0.0/8')).rejects.toThrow(/trusted proxy/);
    });

    it('refuses malformed addresses', async () => {
      await expect(store.recordFailure(login, '1.2.3.4; rm -rf /')).rejects.toThrow(/Not a valid IP/);
      await expect(store.ban('999.1.1.1')).rejects.toThrow(/Not a valid/);
      await expect(store.unban('')).rejects.toThrow(/Not a valid/);
    });

    it('counts 200 concurrent failures from one address exactly', async () => {
      const big = { ...login, maxretry: 1000 };
      const results = await Promise.all(Array.from({ length: 200 }, () => store.recordFailure(big, '203.0.113.40', T0)));
      const counts = results.map((r) => r.count).sort((a, b) => a - b);
      expect(counts).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      const [st] = await store.status('django-login', T0);
      expect(st!.totalFailed).toBe(200);
    });

    it('keeps 1,000 addresses failing at once apart', async () => {
      const ips = Array.from({ length: 1000 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
      const results = await Promise.all(ips.flatMap((ip) => [store.recordFailure(login, ip, T0), store.recordFailure(login, ip, T0 + 1)]));
      const byIp = new Map<string, number>();
      for (const [i, r] of results.entries()) byIp.set(ips[Math.floor(i / 2)]!, Math.max(byIp.get(ips[Math.floor(i / 2)]!) ?? 0, r.count));
      expect([...byIp.values()].every((c) => c === 2)).toBe(true);
      const [st] = await store.status('django-login', T0 + 2);
      expect(st!.currentlyFailed).toBe(1000);
    });

    it('bans and unbans by hand, CIDRs included', async () => {
      const rec = await store.ban('203.0.113.50', { duration: 60_000, jail: 'django-login', reason: 'test', by: 'cli', now: T0 });
      expect(rec).toMatchObject({ ip: '203.0.113.50', until: T0 + 60_000, jail: 'django-login', by: 'cli' });
      await store.ban('192.0.2.0/24', { duration: -1 });
      expect(await store.isBanned('192.0.2.77')).toMatchObject({ ip: '192.0.2.0/24', until: -1, jail: 'manual' });
      const list = await store.listBans(T0 + 1);
      expect(list.map((b) => b.ip).sort()).toEqual(['192.0.2.0/24', '203.0.113.50']);
      expect(await store.unban('203.0.113.50')).toBe(true);
      expect(await store.unban('203.0.113.50')).toBe(false);
      expect(await store.isBanned('203.0.113.50', T0 + 1)).toBeNull();
      expect(await store.unbanAll()).toBe(1);
      expect(await store.listBans()).toEqual([]);
    });

    it('bans many addresses at once, all or nothing', async () => {
      const ips = Array.from({ length: 2500 }, (_, i) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`);
      const recs = await store.banMany(ips, { duration: 60_000, jail: 'django-login', reason: 'blocklist', now: T0 });
      expect(recs).toHaveLength(2500);
      expect(recs[0]).toMatchObject({ ip: '198.18.0.1', until: T0 + 60_000, jail: 'django-login', reason: 'blocklist', count: 1 });
      expect(await store.isBanned('198.18.9.250', T0 + 1)).toMatchObject({ jail: 'django-login', until: T0 + 60_000 });
      expect(await store.activeBans(T0 + 1)).toHaveLength(2500);
      const [st] = await store.status('django-login', T0 + 1);
      expect(st!.totalBanned).toBe(2500);
      // one bad entry: nothing written
      await expect(store.banMany(['203.0.113.90', 'nope'], { now: T0 })).rejects.toThrow(/Not a valid/);
      await expect(store.banMany(['203.0.113.91', '127.0.0.1'], { now: T0 })).rejects.toThrow(/Refusing to ban/);
      expect(await store.isBanned('203.0.113.90', T0 + 1)).toBeNull();
      expect(await store.isBanned('203.0.113.91', T0 + 1)).toBeNull();
      expect(await store.banMany([])).toEqual([]);
    });

    it('pages through the active bans with a cursor, each at least once', async () => {
      const ips = Array.from({ length: 2500 }, (_, i) => `2001:db8:1::${(i + 1).toString(16)}`);
      await store.banMany(ips, { duration: 60_000, now: T0 });
      await store.ban('203.0.113.95', { duration: 1_000, now: T0 }); // expired by the time we read
      const seen = new Set<string>();
      let cursor = '0';
      let pages = 0;
      do {
        const page = await store.activeBansPage(cursor, { now: T0 + 2_000, count: 100 });
        for (const b of page.bans) {
          expect(b.until).toBe(T0 + 60_000);
          seen.add(b.ip);
        }
        cursor = page.cursor;
        pages++;
      } while (cursor !== '0' && pages < 10_000);
      expect(seen.size).toBe(2500);
      expect(seen.has('203.0.113.95')).toBe(false);
    });

    it('reads what changed since a change-log position, in order', async () => {
      const start = await store.changeLogPosition();
      expect(await store.readChangeLog(start)).toEqual({ position: start, changes: [] });
      await store.ban('203.0.113.96', { duration: 60_000, now: T0 });
      await store.ban('2001:db8::/48', { duration: -1, now: T0 });
      await store.unban('203.0.113.96');
      const read = await store.readChangeLog(start);
      expect(read!.changes).toEqual([
        { type: 'ban', ip: '203.0.113.96', jail: 'manual', until: T0 + 60_000 },
        { type: 'ban', ip: '2001:db8::/48', jail: 'manual', until: -1 },
        { type: 'unban', ip: '203.0.113.96' },
      ]);
      expect(read!.position).toBe(await store.changeLogPosition());
      // in steps: the position moves past what was read
      const first = await store.readChangeLog(start, 2);
      expect(first!.changes).toHaveLength(2);
      expect((await store.readChangeLog(first!.position))!.changes).toEqual([{ type: 'unban', ip: '203.0.113.96' }]);
      expect((await store.readChangeLog(read!.position))!.changes).toEqual([]);
    });

    it('says so when the change log no longer reaches back to a position', async () => {
      const small = await make(parseConfig({ ...CONTRACT_CONFIG, streamMaxLen: 100 }));
      try {
        const start = await small.changeLogPosition();
        await small.ban('203.0.113.97', { duration: 60_000 });
        const mid = (await small.readChangeLog(start))!.position;
        await small.banMany(
          Array.from({ length: 1000 }, (_, i) => `2001:db8:2::${(i + 1).toString(16)}`),
          { duration: 60_000 },
        );
        expect(await small.readChangeLog(start)).toBeNull();
        expect(await small.readChangeLog(mid)).toBeNull();
        expect(await small.readChangeLog('not a position')).toBeNull();
      } finally {
        await small.close();
      }
    });

    it('unban forgets the failure window', async () => {
      for (let i = 0; i < 4; i++) await store.recordFailure(login, '203.0.113.60');
      await store.ban('203.0.113.60');
      await store.unban('203.0.113.60');
      expect((await store.recordFailure(login, '203.0.113.60')).count).toBe(1);
    });

    it('reports status like fail2ban-client status <jail>', async () => {
      for (let i = 0; i < 5; i++) await store.recordFailure(login, '203.0.113.70');
      await store.recordFailure(login, '203.0.113.71');
      const [st] = await store.status('django-login');
      expect(st).toMatchObject({ jail: 'django-login', currentlyFailed: 1, totalFailed: 6, currentlyBanned: 1, totalBanned: 1 });
      expect(st!.bans.map((b) => b.ip)).toEqual(['203.0.113.70']);
      const all = await store.status();
      expect(all.map((s) => s.jail)).toEqual(['django-login', 'http-404']);
    });

    it('reserves at most maxretry attempts in flight, however many arrive at once', async () => {
      const answers = await Promise.all(Array.from({ length: 200 }, () => store.reserve(login, '203.0.113.100', 30_000, T0)));
      const granted = answers.filter((a) => a.state === 'reserved');
      expect(granted).toHaveLength(5);
      expect(answers.filter((a) => a.state === 'over')).toHaveLength(195);
      expect(new Set(granted.map((a) => (a.state === 'reserved' ? a.token : ''))).size).toBe(5);
      // another address and another jail have their own budgets
      expect((await store.reserve(login, '203.0.113.101', 30_000, T0)).state).toBe('reserved');
      expect((await store.reserve(flood, '203.0.113.100', 30_000, T0)).state).toBe('reserved');
    });

    it('a released reservation frees its unit; one turned into a failure keeps it', async () => {
      const take = () => store.reserve(login, '203.0.113.102', 30_000, T0);
      const tokens: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await take();
        expect(r).toMatchObject({ state: 'reserved', used: i });
        if (r.state === 'reserved') tokens.push(r.token);
      }
      expect(await take()).toMatchObject({ state: 'over', used: 5 });
      // a success: given back
      await store.release(login, '203.0.113.102', tokens.pop()!);
      const again = await take();
      expect(again.state).toBe('reserved');
      if (again.state === 'reserved') tokens.push(again.token);
      // failures: recorded with their reservations; the budget stays spent until the ban
      for (let i = 0; i < 4; i++) {
        await store.recordFailure(login, '203.0.113.102', T0 + 1, undefined, 1, tokens.shift()!);
        expect(await take()).toMatchObject({ state: 'over', used: 5 });
      }
      await store.recordFailure(login, '203.0.113.102', T0 + 2, undefined, 1, tokens.shift()!);
      expect(await store.reserve(login, '203.0.113.102', 30_000, T0 + 3)).toMatchObject({ state: 'banned', until: T0 + 2 + 3_600_000 });
    });

    it('a failure recorded with its reservation leaves no held unit and counts exactly once', async () => {
      const ip = '203.0.113.104';
      // four attempts in flight at once, their failures recorded at once
      const answers = await Promise.all(Array.from({ length: 4 }, () => store.reserve(login, ip, 30_000, T0)));
      const tokens = answers.map((a) => (a.state === 'reserved' ? a.token : 'not reserved'));
      const results = await Promise.all(tokens.map((token, i) => store.recordFailure(login, ip, T0 + 1 + i, undefined, 1, token)));
      expect(results.map((r) => r.count).sort()).toEqual([1, 2, 3, 4]);
      // 4 failures, 0 held: held and failed would read 8 (over), neither would read 0
      expect(await store.reserve(login, ip, 30_000, T0 + 10)).toMatchObject({ state: 'reserved', used: 4 });
      const [st] = await store.status('django-login', T0 + 10);
      expect(st).toMatchObject({ currentlyFailed: 1, totalFailed: 4 });
      // a late release of a token the failure already gave back changes nothing
      await store.release(login, ip, tokens[0]!);
      expect(await store.reserve(login, ip, 30_000, T0 + 11)).toMatchObject({ state: 'over', used: 5 });
    });

    it('an already banned address gives its reservation back with the failure', async () => {
      const ip = '203.0.113.106';
      const held = await store.reserve(login, ip, 30_000, T0);
      expect(held.state).toBe('reserved');
      await store.ban(ip, { duration: 60_000, now: T0 });
      const r = await store.recordFailure(login, ip, T0 + 1, undefined, 1, held.state === 'reserved' ? held.token : '');
      expect(r.alreadyBanned).toBe(true);
      await store.unban(ip, { now: T0 + 2 });
      expect(await store.reserve(login, ip, 30_000, T0 + 3)).toMatchObject({ state: 'reserved', used: 0 });
    });

    it('forgets a reservation nobody gave back after its lifetime (a crashed gateway)', async () => {
      for (let i = 0; i < 5; i++) await store.reserve(login, '203.0.113.103', 1_000, T0);
      expect((await store.reserve(login, '203.0.113.103', 1_000, T0 + 999)).state).toBe('over');
      expect((await store.reserve(login, '203.0.113.103', 1_000, T0 + 1_000)).state).toBe('reserved');
    });

    it('counts failures of the window only, not older ones', async () => {
      for (let i = 0; i < 4; i++) await store.recordFailure(login, '203.0.113.105', T0);
      expect(await store.reserve(login, '203.0.113.105', 1_000, T0 + 1)).toMatchObject({ state: 'reserved', used: 4 });
      expect(await store.reserve(login, '203.0.113.105', 1_000, T0 + 600_001)).toMatchObject({ state: 'reserved', used: 0 });
    });

    it('never holds back protected addresses', async () => {
      for (const ip of ['127.0.0.1', '10.9.9.9', '198.51.100.4']) {
        for (let i = 0; i < 10; i++) expect(await store.reserve(login, ip, 30_000, T0)).toEqual({ state: 'reserved', token: '', used: 0 });
      }
      await expect(store.reserve(login, 'nope', 30_000)).rejects.toThrow(/Not a valid/);
    });

    it('counts and bans an IPv6 prefix as one client; never a prefix holding a protected address', async () => {
      let r: RecordResult | undefined;
      for (let i = 0; i < 5; i++) r = await store.recordFailure(login, '2001:db8:1:2::/64', T0 + i);
      expect(r).toMatchObject({ banned: true, count: 5 });
      expect(await store.isBanned('2001:db8:1:2:aaaa::7', T0 + 10)).toMatchObject({ ip: '2001:db8:1:2::/64', jail: 'django-login' });
      expect(await store.isBanned('2001:db8:1:3::7', T0 + 10)).toBeNull();
      expect(await store.reserve(login, '2001:db8:1:2::/64', 1_000, T0 + 10)).toMatchObject({ state: 'banned' });
      // ::/64 holds ::1 (loopback)
      for (let i = 0; i < 10; i++) expect((await store.recordFailure(login, '::/64', T0 + i)).banned).toBe(false);
      expect(await store.isBanned('::2', T0 + 20)).toBeNull();
    });

    it('tells subscribers about bans and unbans', async () => {
      const seen: BanChange[] = [];
      let held = false;
      const off = await store.subscribe((c) => seen.push(c), { onSubscribed: () => (held = true) });
      // subscribe() resolves at once; notices flow once it holds
      await waitFor('the subscription to hold', () => held);
      await store.ban('203.0.113.80', { duration: 60_000 });
      await store.unban('203.0.113.80');
      await waitFor('both notices', () => seen.length >= 2);
      await off();
      expect(seen).toEqual([expect.objectContaining({ type: 'ban', ip: '203.0.113.80' }), { type: 'unban', ip: '203.0.113.80' }]);
    });

    describe.each(BAN_LENGTH_CASES)('ban lengths: $name', ({ bantime, increment, random, lengths }) => {
      it('gives exactly the lengths of the table', async () => {
        const cfg = parseConfig({ ...CONTRACT_CONFIG, increment, jails: { j: { bantime, maxretry: 2, findtime: 60 } } });
        const j = resolveJails(cfg).get('j')!;
        const s = await make(cfg, random === undefined ? {} : { random: () => random });
        try {
          let t = T0;
          const got: number[] = [];
          for (let i = 0; i < lengths.length; i++) {
            await s.recordFailure(j, '203.0.113.100', t);
            const r = await s.recordFailure(j, '203.0.113.100', t + 1);
            expect(r).toMatchObject({ banned: true, bans: i + 1 });
            got.push(r.until === -1 ? -1 : r.until - (t + 1));
            t = r.until + 1;
          }
          expect(got).toEqual(lengths);
        } finally {
          await s.close();
        }
      });
    });

    describe('an address banned in jails whose rules close different ports', () => {
      // the guide's firewall closes the web ports; the sshd jail closes 22 (its preset's ports)
      const input: PortcullisConfigInput = {
        ...CONTRACT_CONFIG,
        firewall: { ports: [80, 443] },
        jails: { ...CONTRACT_CONFIG.jails, sshd: { preset: 'sshd', maxretry: 2, bantime: 600 } },
      };
      const guide = parseConfig(input);
      const sshd = resolveJails(guide).get('sshd')!;
      const web = resolveJails(guide).get('django-login')!;

      it('a web ban leaves 22 open, so sshd failures still count and ban in sshd; each jail keeps its own until', async () => {
        const s = await make(guide);
        try {
          const ip = '203.0.113.120';
          for (let i = 0; i < 5; i++) await s.recordFailure(web, ip, T0 + i);
          const webUntil = T0 + 4 + 3_600_000;
          expect(await s.isBanned(ip, T0 + 5)).toMatchObject({ jail: 'django-login', until: webUntil });
          expect(await s.recordFailure(sshd, ip, T0 + 10)).toMatchObject({ count: 1, banned: false, alreadyBanned: false });
          const r = await s.recordFailure(sshd, ip, T0 + 11);
          // the address stays banned until its latest end (what gateways block by)
          expect(r).toMatchObject({ banned: true, until: webUntil, bans: 2 });
          expect(await s.isBanned(ip, T0 + 12)).toMatchObject({ jail: 'sshd', until: webUntil, count: 2 });
          // both jails' bans cover themselves now
          expect(await s.recordFailure(sshd, ip, T0 + 13)).toMatchObject({ alreadyBanned: true });
          expect(await s.recordFailure(web, ip, T0 + 14)).toMatchObject({ alreadyBanned: true });
          const bans = (await events(s)).filter((e) => e.type === 'ban');
          expect(bans).toEqual([
            { type: 'ban', ip, jail: 'django-login', until: webUntil, reason: 'maxretry', at: T0 + 4 },
            // sshd's second ban is twice as long (the increment counts the address's bans), still before the web ban's end
            { type: 'ban', ip, jail: 'sshd', until: webUntil, jailUntil: T0 + 11 + 1_200_000, reason: 'maxretry', at: T0 + 11 },
          ]);
          // past the sshd ban's end, sshd counts again (the web ban does not close 22)
          expect(await s.recordFailure(sshd, ip, T0 + 11 + 1_200_001)).toMatchObject({ count: 1, alreadyBanned: false });
          expect(await s.unban(ip, { now: T0 + 11 + 1_200_002 })).toBe(true);
          expect(await s.isBanned(ip, T0 + 11 + 1_200_003)).toBeNull();
        } finally {
          await s.close();
        }
      });

      it("a later ban in another jail never shortens the address's ban; a new ban in the same jail replaces that jail's", async () => {
        const s = await make(guide);
        try {
          const ip = '203.0.113.121';
          await s.ban(ip, { jail: 'sshd', duration: -1, now: T0 });
          await s.ban(ip, { jail: 'django-login', duration: 60_000, now: T0 + 1 });
          expect(await s.isBanned(ip, T0 + 2)).toMatchObject({ jail: 'django-login', until: -1 });
          await s.ban(ip, { jail: 'sshd', duration: 10_000, now: T0 + 2 });
          expect(await s.isBanned(ip, T0 + 3)).toMatchObject({ jail: 'sshd', until: T0 + 1 + 60_000 });
          const [rec] = await s.banMany([ip], { jail: 'sshd', duration: 5_000, now: T0 + 3 });
          expect(rec).toMatchObject({ until: T0 + 1 + 60_000 });
          expect(
            (await events(s)).filter((e) => e.type === 'ban').map((e) => [e.jail, e.until, 'jailUntil' in e ? e.jailUntil : null]),
          ).toEqual([
            ['sshd', -1, null],
            ['django-login', -1, T0 + 1 + 60_000],
            ['sshd', T0 + 1 + 60_000, T0 + 2 + 10_000],
            ['sshd', T0 + 1 + 60_000, T0 + 3 + 5_000],
          ]);
          // the web ban's end ends the address's ban
          expect(await s.isBanned(ip, T0 + 1 + 60_000)).toBeNull();
        } finally {
          await s.close();
        }
      });

      it('a ban closing every port covers sshd: its failures are not counted again', async () => {
        const s = await make(parseConfig({ ...input, firewall: { ports: [] } }));
        try {
          const ip = '203.0.113.122';
          await s.ban(ip, { duration: 60_000, now: T0 });
          expect(await s.recordFailure(sshd, ip, T0 + 1)).toMatchObject({ alreadyBanned: true, until: T0 + 60_000 });
          // with the web ports only, the same hand ban leaves 22 open
          const s2 = await make(guide);
          try {
            await s2.ban(ip, { duration: 60_000, now: T0 });
            expect(await s2.recordFailure(sshd, ip, T0 + 1)).toMatchObject({ alreadyBanned: false, count: 1 });
          } finally {
            await s2.close();
          }
        } finally {
          await s.close();
        }
      });
    });

    it('logs the same stream fields for every way of banning', async () => {
      const s = await make(parseConfig({ ...CONTRACT_CONFIG, jails: { j: { bantime: 60, maxretry: 2, findtime: 60 } } }));
      try {
        const j = resolveJails(parseConfig({ ...CONTRACT_CONFIG, jails: { j: { bantime: 60, maxretry: 2, findtime: 60 } } })).get('j')!;
        await s.ban('203.0.113.101', { duration: 60_000, reason: 'by hand', now: T0 });
        await s.banMany(['203.0.113.102', '2001:db8::/64'], { duration: -1, jail: 'j', reason: 'list', now: T0 + 1 });
        await s.recordFailure(j, '203.0.113.103', T0 + 2);
        await s.recordFailure(j, '203.0.113.103', T0 + 3);
        await s.unban('203.0.113.101', { reason: 'oops', now: T0 + 4 });
        expect(await events(s)).toEqual([
          { type: 'ban', ip: '203.0.113.101', jail: 'manual', until: T0 + 60_000, reason: 'by hand', at: T0 },
          { type: 'ban', ip: '203.0.113.102', jail: 'j', until: -1, reason: 'list', at: T0 + 1 },
          { type: 'ban', ip: '2001:db8::/64', jail: 'j', until: -1, reason: 'list', at: T0 + 1 },
          { type: 'ban', ip: '203.0.113.103', jail: 'j', until: T0 + 3 + 60_000, reason: 'maxretry', at: T0 + 3 },
          { type: 'unban', ip: '203.0.113.101', jail: 'manual', reason: 'oops', at: T0 + 4 },
        ]);
        // what the hash keeps, the same whichever way the ban was made
        expect(await s.isBanned('203.0.113.102', T0 + 5)).toMatchObject({ jail: 'j', reason: 'list', until: -1, count: 1, at: T0 + 1 });
        expect(await s.isBanned('203.0.113.103', T0 + 5)).toMatchObject({
          jail: 'j',
          reason: '2 failures within 60s',
          until: T0 + 3 + 60_000,
          count: 1,
        });
      } finally {
        await s.close();
      }
    });

    it('refuses hand-ban lengths that would round to 0 or overflow, writing nothing', async () => {
      for (const duration of [0, 0.5, 1.5, -2, 315_360_000_001, Number.MAX_SAFE_INTEGER]) {
        await expect(store.ban('203.0.113.104', { duration })).rejects.toThrow(/not a ban length/);
        await expect(store.banMany(['203.0.113.105', '203.0.113.106'], { duration })).rejects.toThrow(/not a ban length/);
      }
      expect(await store.listBans()).toEqual([]);
      expect(await events(store)).toEqual([]);
    });
  });
}
