import type { AlertsConfig } from '@portcullis/core';
import { renderWebhook, type AlertMessage } from './message.js';
import type { AlertChannel } from './channel.js';

type WebhookConfig = NonNullable<AlertsConfig['webhook']>;

/** JSON POST to a URL; any answer but 2xx is a failure (and is retried). */
export class WebhookChannel implements AlertChannel {
  readonly name = 'webhook';
  constructor(private readonly config: WebhookConfig) {}

  async send(msg: AlertMessage): Promise<void> {
    const res = await fetch(this.config.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'portcullis-alerts', ...this.config.headers },
      body: JSON.stringify(renderWebhook(msg, this.config.format)),
      signal: AbortSignal.timeout(this.config.timeout),
      redirect: 'error',
    });
    // drain the body so the connection can be reused
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`webhook answered ${res.status} ${res.statusText}`);
  }

  async close(): Promise<void> {}
}
