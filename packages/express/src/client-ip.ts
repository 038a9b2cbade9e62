import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { IpSet, normalizeIp } from '@portcullis/core';
import type { Logger } from 'pino';

/**
 * Who is the client? The socket peer, unless that peer is a trusted proxy:
 * then the right-most X-Forwarded-For entry that is not itself trusted
 * (entries left of it could be forged by the client). Never "trust all".
 */
export class ClientIpResolver {
  private warnedUntrustedXff = false;
  private warnedBadXff = false;

  constructor(
    private readonly trusted: IpSet,
    private readonly log: Logger,
  ) {
    for (const c of trusted.cidrs) {
      if (c.prefix === 0) {
        log.warn(
          { trustProxy: c.text },
          'portcullis: trustProxy trusts every address, so any client can pick its IP with X-Forwarded-For; list only your proxies',
        );
      }
    }
  }

  // a keep-alive connection carries many requests: canonicalise its peer once
  private readonly peers = new WeakMap<Socket, string | null>();

  private peerOf(socket: Socket): string | null {
    let peer = this.peers.get(socket);
    if (peer === undefined) {
      peer = normalizeIp(socket.remoteAddress);
      this.peers.set(socket, peer);
    }
    return peer;
  }

  /** The canonical client address, or null when it cannot be known. */
  resolve(req: IncomingMessage): string | null {
    const peer = this.peerOf(req.socket);
    if (peer === null) return null;
    if (this.trusted.size === 0 || !this.trusted.has(peer)) {
      if (!this.warnedUntrustedXff && req.headers['x-forwarded-for'] !== undefined) {
        this.warnedUntrustedXff = true;
        this.log.warn(
          { peer },
          'portcullis: X-Forwarded-For arrives from a peer not in trustProxy, so it is ignored and clients are identified by the socket address; if a proxy sits in front, add it to trustProxy',
        );
      }
      return peer;
    }
    const xff = req.headers['x-forwarded-for'];
    if (xff === undefined || xff === '') return peer;
    const text = Array.isArray(xff) ? xff.join(',') : xff;
    // the common case, one hop: no split
    const hops = text.includes(',') ? text.split(',') : [text];
    let last = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const ip = normalizeIp(hops[i]!.trim());
      if (ip === null) {
        if (!this.warnedBadXff) {
          this.warnedBadXff = true;
          this.log.warn({ peer }, 'portcullis: a trusted proxy sent a malformed X-Forwarded-For entry; such requests are not counted');
        }
        return null;
      }
      if (!this.trusted.has(ip)) return ip;
      last = ip;
    }
    // every hop is a trusted proxy: the client is one of ours (and protected)
    return last;
  }
}
