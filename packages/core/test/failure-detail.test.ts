import { describe, expect, it } from 'vitest';
import { decodeFailureDetail, parseConfig, type ConfigError } from '@portcullis/core';
import { encodeFailureDetail } from '../src/failure-detail.js';

describe('failure details kept for alerts', () => {
  it('keeps method, path without query, status, user agent; cuts long text; drops control characters', () => {
    const json = encodeFailureDetail({
      at: 1.5,
      method: 'POST',
      path: '/auth/login/?password=hunter2#x',
      status: 401,
      userAgent: `evil\r\nBcc: x@y${'a'.repeat(500)}`,
    });
    const d = decodeFailureDetail(json)!;
    expect(d).toMatchObject({ at: 2, method: 'POST', path: '/auth/login/', status: 401 });
    expect(json).not.toContain('hunter2');
    expect(d.userAgent).toMatch(/^evil Bcc: x@ya+\.\.\.$/);
    expect(d.userAgent!.length).toBe(200);
  });

  it('reads back only the known fields of a stored entry', () => {
    expect(decodeFailureDetail('{"at":5,"path":"/x","cookie":"sessionid=1"}')).toEqual({ at: 5, path: '/x' });
    expect(decodeFailureDetail('not json')).toBeNull();
    expect(decodeFailureDetail('{"path":"/x"}')).toBeNull();
  });

  it('alerts need a channel; a bad SMTP URL names its field', () => {
    expect(() => parseConfig({ alerts: {} })).toThrow(/alerts: alerts need a channel/);
    try {
      parseConfig({ alerts: { email: { smtp: 'mail.example.com', from: 'a@b.c', to: ['ops@example.com'] } } });
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).issues[0]!.path).toBe('alerts.email.smtp');
    }
    expect(parseConfig({ alerts: { webhook: { url: 'https://hooks.example.com/x' } } }).alerts!.digest).toEqual({
      window: 60_000,
      maxSingle: 5,
      listed: 50,
    });
  });
});
