import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import parseForwarded from 'forwarded-parse';
import { type IpSet, normalizeHostAddress, type PortcullisConfig } from '@portcullis/core';
import type { Logger } from 'pino';

export type ClientHeader = PortcullisConfig['clientHeader'];

/** The socket peer: its canonical address, and whether it is a trusted proxy. */
interface Peer {
  ip: string;
  trusted: boolean;
}

const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const;

/**
 * Who is the client? The socket peer, unless that peer is a trusted proxy:
 * then the right-most entry of the header the proxies set (`clientHeader`:
 * X-Forwarded-For, RFC 7239 Forwarded `for=`, or X-Real-IP) that is not
 * itself trusted (entries left of it could be forged by the client). Entries
 * may carry ports ("203.0.113.1:40000", "[2001:db8::1]:443") and the peer a
 * zone id ("fe80::1%eth0"). Never "trust all".
 *
 * `resolve` is the one place that decides, so it can be swapped.
 */
export class ClientIpResolver {
  private warnedUntrusted = false;
  private warnedBad = false;
  private warnedMissing = false;

  constructor(
    private readonly trusted: IpSet,
    private readonly log: Logger,
    private readonly header: ClientHeader = 'x-forwarded-for',
  ) {
    for (const c of trusted.cidrs) {
      if (c.prefix === 0) {
        log.warn(
          { trustProxy: c.text },
          'portcullis: trustProxy trusts every address, so any client can pick its IP with a forwarding header; list only your proxies',
        );
      }
    }
  }

  // a keep-alive connection carries many requests: canonicalise its peer, and whether it is trusted, once
  private readonly peers = new WeakMap<Socket, Peer | null>();

  private peerOf(socket: Socket): Peer | null {
    let peer = this.peers.get(socket);
    if (peer === undefined) {
      const ip = normalizeHostAddress(socket.remoteAddress);
      peer = ip === null ? null : { ip, trusted: this.trusted.size !== 0 && this.trusted.has(ip) };
      this.peers.set(socket, peer);
    }
    return peer;
  }

  /** The canonical client address, or null when it cannot be known. */
  resolve(req: IncomingMessage): string | null {
    const from = this.peerOf(req.socket);
    if (from === null) return null;
    const peer = from.ip;
    if (!from.trusted) {
      if (!this.warnedUntrusted && req.headers[this.header] !== undefined) {
        this.warnedUntrusted = true;
        this.log.warn(
          { peer, header: this.header },
          'portcullis: a forwarding header arrives from a peer not in trustProxy, so it is ignored and clients are identified by the socket address; if a proxy sits in front, add it to trustProxy',
        );
      }
      return peer;
    }
    // the common case, one X-Forwarded-For hop: the client, trusted or not (then it is the last trusted hop)
    const raw = req.headers[this.header];
    if (this.header === 'x-forwarded-for' && typeof raw === 'string' && raw !== '' && !raw.includes(',')) {
      return normalizeHostAddress(raw) ?? this.malformed(peer);
    }
    const hops = this.hopsOf(raw);
    if (hops === null) return this.malformed(peer);
    if (hops.length === 0) {
      this.missing(req, peer);
      return peer;
    }
    let last = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = normalizeHostAddress(hops[i]);
      if (ip === null) return this.malformed(peer);
      if (!this.trusted.has(ip)) return ip;
      last = ip;
    }
    // every hop is a trusted proxy: the client is one of ours (and protected)
    return last;
  }

  /** The entries of the client header, left to right; [] when absent, null when unreadable. */
  private hopsOf(raw: string | string[] | undefined): string[] | null {
    if (raw === undefined || raw === '') return [];
    const text = Array.isArray(raw) ? raw.join(',') : raw;
    switch (this.header) {
      case 'x-forwarded-for':
        return text.split(',');
      case 'x-real-ip':
        // one address, set by the proxy (a list means the client's own header got through)
        return text.includes(',') ? null : [text];
      case 'forwarded':
        try {
          return parseForwarded(text).map((element) => element.for ?? '');
        } catch {
          return null;
        }
    }
  }

  private malformed(peer: string): null {
    if (!this.warnedBad) {
      this.warnedBad = true;
      this.log.warn(
        { peer, header: this.header },
        'portcullis: a trusted proxy sent a client header that names no client address (malformed, "unknown" or obfuscated); see unknownClient',
      );
    }
    return null;
  }

  private missing(req: IncomingMessage, peer: string): void {
    if (this.warnedMissing) return;
    this.warnedMissing = true;
    const sent = FORWARDING_HEADERS.filter((h) => h !== this.header && req.headers[h] !== undefined);
    this.log.warn(
      { peer, header: this.header, ...(sent.length > 0 ? { present: sent } : {}) },
      `portcullis: a trusted proxy sent no ${this.header} header, so its requests count as the proxy's own, which is never banned${
        sent.length > 0 ? `; it sends ${sent.join(', ')}: set clientHeader to match` : ''
      }`,
    );
  }
}
