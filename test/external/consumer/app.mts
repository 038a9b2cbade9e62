// A user's TypeScript gateway, type-checked against the packed tarballs'
// declarations (tsc --noEmit, strict, NodeNext).
import express, { type RequestHandler } from 'express';
import { MemoryBanStore, parseConfig, type PortcullisConfig } from '@portcullis/core';
import { portcullis, type PortcullisMiddleware } from '@portcullis/express';

const config: PortcullisConfig = parseConfig({ jails: { 'django-login': { preset: 'django.login' } } });
const guard: PortcullisMiddleware = portcullis(config, { store: new MemoryBanStore({ config }) });
const app = express();
const mounted: RequestHandler = guard;
app.use(mounted);
export const ready: Promise<void> = guard.ready();
export default app;
