import type { AlertsConfig } from '@portcullis/core';
import type { AlertMessage } from './message.js';
import { EmailChannel } from './email.js';
import { WebhookChannel } from './webhook.js';

/** Where an alert goes. send() rejects on failure; the caller retries. */
export interface AlertChannel {
  readonly name: string;
  send(msg: AlertMessage): Promise<void>;
  close(): Promise<void>;
}

export function createChannels(config: AlertsConfig): AlertChannel[] {
  const channels: AlertChannel[] = [];
  if (config.webhook) channels.push(new WebhookChannel(config.webhook));
  if (config.email) channels.push(new EmailChannel(config.email));
  return channels;
}
