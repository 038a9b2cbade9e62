import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';

export interface SunkMail {
  headers: Record<string, string>;
  subject: string;
  to: string;
  body: string;
}

/** Debian's python3-aiosmtpd is a real SMTP server; its debugging handler prints each mail to stdout. */
export function smtpSinkAvailable(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import aiosmtpd']).status === 0;
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** A real SMTP sink on a free loopback port: `python3 -m aiosmtpd -n -l 127.0.0.1:PORT`. */
export class SmtpSink {
  readonly mails: SunkMail[] = [];
  private buffer = '';
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
    });
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<SmtpSink> {
    if (!smtpSinkAvailable()) throw new Error('python3-aiosmtpd is not installed: apt-get install python3-aiosmtpd');
    const port = await freePort();
    const child = spawn('/usr/bin/python3', ['-u', '-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const sink = new SmtpSink(port, child);
    // ready once it accepts a connection
    const { connect } = await import('node:net');
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.end();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) return sink;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('aiosmtpd did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private parse(): void {
    const start = '---------- MESSAGE FOLLOWS ----------\n';
    const end = '------------ END MESSAGE ------------\n';
    for (;;) {
      const a = this.buffer.indexOf(start);
      const b = this.buffer.indexOf(end, a);
      if (a === -1 || b === -1) return;
      const raw = this.buffer.slice(a + start.length, b);
      this.buffer = this.buffer.slice(b + end.length);
      const split = raw.indexOf('\n\n');
      const headers: Record<string, string> = {};
      let last = '';
      for (const line of raw.slice(0, split).split('\n')) {
        if (/^\s/.test(line) && last) headers[last] += ` ${line.trim()}`;
        else {
          const i = line.indexOf(':');
          last = line.slice(0, i).toLowerCase();
          headers[last] = line.slice(i + 1).trim();
        }
      }
      let body = raw.slice(split + 2);
      if (headers['content-transfer-encoding'] === 'quoted-printable') body = decodeQuotedPrintable(body);
      this.mails.push({ headers, subject: headers.subject ?? '', to: headers.to ?? '', body });
    }
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}
