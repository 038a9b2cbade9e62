import type { Logger } from 'pino';

/**
 * Redis trouble is logged once per outage, not once per request, and its
 * end is logged too. The site keeps serving all along (fail open).
 */
export class OutageLog {
  private down = false;
  private dropped = 0;

  constructor(private readonly log: Logger) {}

  get isDown(): boolean {
    return this.down;
  }

  failed(err: unknown): void {
    this.dropped++;
    if (this.down) return;
    this.down = true;
    this.log.error(
      { err: err instanceof Error ? { message: err.message, code: (err as { code?: string }).code } : String(err) },
      'portcullis: ban store unavailable; failing open (requests pass, failures are not counted) until it returns',
    );
  }

  recovered(): void {
    if (!this.down) return;
    this.log.info({ uncounted: this.dropped }, 'portcullis: ban store is back; counting resumes');
    this.down = false;
    this.dropped = 0;
  }
}
