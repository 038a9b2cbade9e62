import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { Runner } from '@portcullis/sidecar';
import { netnsArgv, netnsRunner } from './netns-runner.js';

/**
 * Network namespaces for firewall tests: a "server" namespace (where the
 * firewall under test lives) and a "client" namespace joined by a veth pair,
 * on documentation addresses only:
 *
 *   server 192.0.2.1/24, 2001:db8:5c::1/64   client 192.0.2.2, 192.0.2.3, 2001:db8:5c::2, 2001:db8:5c::3
 *
 * The server namespace gets private copies of /etc/ufw and /lib/ufw, bind
 * mounted (in a private mount namespace) for every command run in it, so the
 * machine's own firewall and ufw files are never touched.
 */

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0;
}

export function netnsWorks(): boolean {
  if (!isRoot || !hasCommand('ip') || !hasCommand('unshare')) return false;
  const name = `pc-probe-${randomBytes(3).toString('hex')}`;
  const ok = spawnSync('ip', ['netns', 'add', name]).status === 0;
  if (ok) spawnSync('ip', ['netns', 'del', name]);
  return ok;
}

/** why firewall tests cannot run here, or null */
export function firewallSkipReason(...binaries: string[]): string | null {
  if (!isRoot) return 'needs root (network namespaces, ufw, nft): CI runs these as root';
  for (const b of ['ip', 'unshare', ...binaries])
    if (!hasCommand(b)) return `needs ${b} (apt-get install ${b === 'nft' ? 'nftables' : b === 'ip' ? 'iproute2' : b})`;
  if (!netnsWorks()) return 'cannot create network namespaces here (ip netns add failed)';
  return null;
}

function sh(args: string[], input?: string): { stdout: string; stderr: string; status: number } {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: 'utf8' });
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status ?? -1 };
}

function must(args: string[], input?: string): string {
  const r = sh(args, input);
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export const SERVER_V4 = '192.0.2.1';
export const SERVER_V6 = '2001:db8:5c::1';
export const CLIENT_V4 = '192.0.2.2';
export const OTHER_V4 = '192.0.2.3';
export const CLIENT_V6 = '2001:db8:5c::2';
export const OTHER_V6 = '2001:db8:5c::3';
/** a "container" behind the server namespace (TestNet.addContainer) */
export const BRIDGE_V4 = '203.0.113.1';
export const CONTAINER_V4 = '203.0.113.2';

/**
 * A plain-Node HTTP client for the client namespace: runs one scenario
 * (`apiLogin`, `adminLogin`, `customLogin`, or a GET) from a chosen source
 * address and prints the answers as JSON. Run it with `net.inClient`.
 */
export const NETNS_CLIENT_SCRIPT = fileURLToPath(new URL('../scripts/netns-client.mjs', import.meta.url));

export class TestNet {
  readonly id = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  readonly server = `pc-s-${this.id}`;
  readonly client = `pc-c-${this.id}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'pc-netns-'));
  readonly etcUfw = join(this.dir, 'etc', 'ufw');
  readonly libUfw = join(this.dir, 'lib', 'ufw');
  /** the client's end of the veth pair */
  readonly clientIf = `vc${this.id}`.slice(0, 15);
  private readonly children = new Set<ChildProcess>();
  /** the "container" namespace, once addContainer() ran */
  container: string | null = null;
  /** the server's end of the container link (Docker's bridge) */
  readonly bridgeIf = `vb${this.id}`.slice(0, 15);

  static create(): TestNet {
    const net = new TestNet();
    try {
      net.setup();
    } catch (err) {
      net.destroy();
      throw err;
    }
    return net;
  }

  private setup(): void {
    mkdirSync(join(this.dir, 'etc'), { recursive: true });
    mkdirSync(join(this.dir, 'lib'), { recursive: true });
    cpSync('/etc/ufw', this.etcUfw, { recursive: true });
    cpSync('/lib/ufw', this.libUfw, { recursive: true });
    // a fresh ufw: no rules of the machine copied in
    for (const f of ['user.rules', 'user6.rules']) {
      const path = join(this.etcUfw, f);
      spawnSync('sh', ['-c', 'sed -i "/^### tuple ###/,/^$/d" "$1"', 'sh', path]);
    }
    must(['sh', '-c', 'sed -i "s/^ENABLED=.*/ENABLED=no/" "$1"', 'sh', join(this.etcUfw, 'ufw.conf')]);
    must(['ip', 'netns', 'add', this.server]);
    must(['ip', 'netns', 'add', this.client]);
    const vs = `vs${this.id}`.slice(0, 15);
    const vc = this.clientIf;
    must(['ip', '-n', this.server, 'link', 'add', vs, 'type', 'veth', 'peer', 'name', vc, 'netns', this.client]);
    must(['ip', '-n', this.server, 'link', 'set', 'lo', 'up']);
    must(['ip', '-n', this.client, 'link', 'set', 'lo', 'up']);
    must(['ip', '-n', this.server, 'addr', 'add', `${SERVER_V4}/24`, 'dev', vs]);
    must(['ip', '-n', this.server, 'addr', 'add', `${SERVER_V6}/64`, 'dev', vs, 'nodad']);
    for (const a of [CLIENT_V4, OTHER_V4]) must(['ip', '-n', this.client, 'addr', 'add', `${a}/24`, 'dev', vc]);
    for (const a of [CLIENT_V6, OTHER_V6]) must(['ip', '-n', this.client, 'addr', 'add', `${a}/64`, 'dev', vc, 'nodad']);
    must(['ip', '-n', this.server, 'link', 'set', vs, 'up']);
    must(['ip', '-n', this.client, 'link', 'set', vc, 'up']);
  }

  /** one more source address for the client (same /24 or /64 as the others) */
  addClientAddress(addr: string): void {
    const v6 = addr.includes(':');
    must(['ip', '-n', this.client, 'addr', 'add', `${addr}/${v6 ? 64 : 24}`, 'dev', this.clientIf, ...(v6 ? ['nodad'] : [])]);
  }

  /**
   * A third namespace behind the server, the way a Docker container sits
   * behind its host: server (203.0.113.1) ↔ container (203.0.113.2, default
   * route via the server), forwarding on in the server. The DNAT and FORWARD
   * rules that publish a port are the test's to write.
   */
  addContainer(): string {
    const ns = `pc-k-${this.id}`;
    must(['ip', 'netns', 'add', ns]);
    this.container = ns;
    const peer = `vk${this.id}`.slice(0, 15);
    must(['ip', '-n', this.server, 'link', 'add', this.bridgeIf, 'type', 'veth', 'peer', 'name', peer, 'netns', ns]);
    must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    must(['ip', '-n', this.server, 'addr', 'add', `${BRIDGE_V4}/24`, 'dev', this.bridgeIf]);
    must(['ip', '-n', ns, 'addr', 'add', `${CONTAINER_V4}/24`, 'dev', peer]);
    must(['ip', '-n', this.server, 'link', 'set', this.bridgeIf, 'up']);
    must(['ip', '-n', ns, 'link', 'set', peer, 'up']);
    must(['ip', '-n', ns, 'route', 'add', 'default', 'via', BRIDGE_V4]);
    must(['ip', 'netns', 'exec', this.server, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    return ns;
  }

  /** a TCP echo server in the container namespace */
  startContainerServer(port: number): ChildProcess {
    if (!this.container) throw new Error('addContainer() first');
    const code = `require('net').createServer((s)=>{s.on('error',()=>{});s.pipe(s);}).listen(${port},'0.0.0.0')`;
    const child = spawn('ip', ['netns', 'exec', this.container, process.execPath, '-e', code], { stdio: ['ignore', 'ignore', 'inherit'] });
    this.children.add(child);
    return child;
  }

  /** argv that runs `cmd` in the server namespace with the private ufw files */
  serverArgv(cmd: string[]): string[] {
    return netnsArgv(this.server, this, cmd);
  }

  /** a sidecar `Runner` acting on the server namespace (private ufw files) */
  runner(): Runner {
    return netnsRunner(this.server, this);
  }

  /** runs a command in the server namespace (private ufw files); throws on failure */
  inServer(cmd: string[], input?: string): string {
    return must(this.serverArgv(cmd), input);
  }

  inClient(cmd: string[]): { stdout: string; stderr: string; status: number } {
    return sh(['ip', 'netns', 'exec', this.client, ...cmd]);
  }

  /** ufw enabled in the server namespace, default deny, port allowed */
  enableUfw(port: number): void {
    this.inServer(['ufw', '--force', 'enable']);
    this.inServer(['ufw', 'allow', `${port}/tcp`]);
  }

  /** a TCP echo server in the server namespace on [::]:port (IPv4 and IPv6) */
  startServer(port: number): ChildProcess {
    const code = `require('net').createServer((s)=>{s.on('error',()=>{});s.pipe(s);}).listen(${port},'::',()=>console.log('listening'))`;
    const child = spawn('ip', ['netns', 'exec', this.server, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.add(child);
    return child;
  }

  /** can `from` open a TCP connection to the server (1.5 s)? */
  canConnect(from: string, port: number): boolean {
    const to = from.includes(':') ? SERVER_V6 : SERVER_V4;
    const code =
      `const s=require('net').connect({host:${JSON.stringify(to)},port:${port},localAddress:${JSON.stringify(from)}});` +
      `s.setTimeout(1500,()=>process.exit(3));s.on('connect',()=>{s.write('x')});s.on('data',()=>process.exit(0));s.on('error',()=>process.exit(2));`;
    return this.inClient([process.execPath, '-e', code]).status === 0;
  }

  /**
   * A long-lived connection from `from`: resolves `connected`, and `closed`
   * when the server side ends it (`isClosed()` says whether it did yet).
   * Sends a byte every 200 ms.
   */
  holdConnection(
    from: string,
    port: number,
  ): { connected: Promise<void>; closed: Promise<void>; isClosed: () => boolean; child: ChildProcess } {
    const to = from.includes(':') ? SERVER_V6 : SERVER_V4;
    const code =
      `const s=require('net').connect({host:${JSON.stringify(to)},port:${port},localAddress:${JSON.stringify(from)}});` +
      `s.on('connect',()=>{console.log('connected');setInterval(()=>s.write('x'),200)});` +
      `s.on('close',()=>{console.log('closed');process.exit(0)});s.on('error',()=>{});`;
    const child = spawn('ip', ['netns', 'exec', this.client, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.children.add(child);
    let out = '';
    const seen = (word: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (out.includes(word)) resolve();
        };
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          check();
        });
        child.on('exit', () => resolve());
      });
    const closed = seen('closed');
    let ended = false;
    void closed.then(() => (ended = true));
    return { connected: seen('connected'), closed, isClosed: () => ended, child };
  }

  track(child: ChildProcess): void {
    this.children.add(child);
  }

  destroy(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    this.children.clear();
    // processes left in the namespaces (a killed sidecar's ufw call) end with them
    for (const ns of [this.server, this.client, ...(this.container ? [this.container] : [])]) {
      const pids = sh(['ip', 'netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) spawnSync('kill', ['-9', pid]);
      sh(['ip', 'netns', 'del', ns]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
