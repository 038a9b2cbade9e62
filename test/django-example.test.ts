import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_PASSWORD as PASSWORD,
  DEMO_USER as USER,
  djangoMissing,
  djangoVersion,
  type ExampleDjango,
  startExampleDjango,
} from '@portcullis/testkit';

const title = djangoVersion ? `examples/django on Django ${djangoVersion}` : `examples/django (skipped: ${djangoMissing})`;

describe.runIf(Boolean(djangoVersion))(title, () => {
  let django: ExampleDjango;
  let base: string;

  beforeAll(async () => {
    django = await startExampleDjango();
    base = django.url;
  });

  afterAll(async () => {
    await django?.close();
  });

  const postJson = (path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      redirect: 'manual',
    });

  it('POST /auth/login/: bad credentials 401 (marked), good 200 (not marked)', async () => {
    const bad = await postJson('/auth/login/', { username: USER, password: 'wrong' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('x-portcullis-failure')).toBe('django-login');
    const good = await postJson('/auth/login/', { username: USER, password: PASSWORD });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ ok: true, username: USER });
    expect(good.headers.get('x-portcullis-failure')).toBeNull();
    expect((await postJson('/auth/login/', { username: USER })).status).toBe(400);
  });

  it('POST /custom/login/: always 200, only the header tells a failure', async () => {
    const bad = await postJson('/custom/login/', { username: USER, password: 'wrong' });
    expect(bad.status).toBe(200);
    expect(await bad.json()).toEqual({ ok: false });
    expect(bad.headers.get('x-portcullis-failure')).toBe('django-login');
    const unknown = await postJson('/custom/login/', { username: 'nobody', password: 'x' });
    expect(unknown.headers.get('x-portcullis-failure')).toBe('django-login');
    const good = await postJson('/custom/login/', { username: USER, password: PASSWORD });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ ok: true });
    expect(good.headers.get('x-portcullis-failure')).toBeNull();
  });

  it('the admin login: failure re-renders the form with 200, success is a 302', async () => {
    const adminLogin = async (password: string) => {
      const page = await fetch(`${base}/admin/login/`);
      const cookie = page.headers
        .getSetCookie()
        .find((c) => c.startsWith('csrftoken='))!
        .split(';')[0]!;
      const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(await page.text())![1]!;
      return fetch(`${base}/admin/login/?next=/admin/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ csrfmiddlewaretoken: token, username: USER, password, next: '/admin/' }),
        redirect: 'manual',
      });
    };
    const bad = await adminLogin('wrong');
    expect(bad.status).toBe(200);
    expect(await bad.text()).toContain('id="login-form"');
    expect(bad.headers.get('x-portcullis-failure')).toBe('django-login');
    const good = await adminLogin(PASSWORD);
    expect(good.status).toBe(302);
    expect(good.headers.get('location')).toBe('/admin/');
    expect(good.headers.get('x-portcullis-failure')).toBeNull();
  });

  it('a clean request carries no failure header', async () => {
    const r = await fetch(`${base}/admin/login/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-portcullis-failure')).toBeNull();
  });
});
