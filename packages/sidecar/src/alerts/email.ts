import type { AlertsConfig } from '@portcullis/core';
import nodemailer, { type Transporter } from 'nodemailer';
import { renderText, type AlertMessage } from './message.js';
import type { AlertChannel } from './channel.js';

type EmailConfig = NonNullable<AlertsConfig['email']>;

/** Plain-text mail over SMTP (nodemailer, one pooled connection). */
export class EmailChannel implements AlertChannel {
  readonly name = 'email';
  private readonly transport: Transporter;

  constructor(private readonly config: EmailConfig) {
    const url = new URL(config.smtp);
    url.searchParams.set('pool', 'true');
    this.transport = nodemailer.createTransport(url.toString());
  }

  async send(msg: AlertMessage): Promise<void> {
    const { subject, text } = renderText(msg, this.config.subjectPrefix);
    await this.transport.sendMail({ from: this.config.from, to: this.config.to, subject, text });
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}
