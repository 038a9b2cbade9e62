import { createServer, type Server } from 'node:http';

/** A local webhook receiver: records every JSON body; `failNext` answers 500 that many times first. */
export class HttpReceiver {
  readonly bodies: unknown[] = [];
  failNext = 0;
  /** requests answered with an error */
  failed = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  static async start(): Promise<HttpReceiver> {
    let self: HttpReceiver | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (self!.failNext > 0) {
          self!.failNext--;
          self!.failed++;
          res.writeHead(500).end('down');
          return;
        }
        self!.bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new HttpReceiver(server, (server.address() as { port: number }).port);
    return self;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
