// One gateway process: the example gateway app (examples/gateway/dist/app.js:
// pino-http + guard + http-proxy-middleware), built dist, quiet logger.
//   PC_MODE=portcullis  guard = portcullis(config)
//   PC_MODE=bare        guard = a pass-through (req, res, next) => next()
// Everything else is identical. The logger is pino level "silent" (pino-http
// still runs, with the same silent logger on both sides).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { portcullis } from '@portcullis/express';
import { parseConfig, RedisBanStore } from '@portcullis/core';
import { createGatewayApp } from '../../examples/gateway/dist/app.js';

const mode = process.env.PC_MODE ?? 'portcullis';
const upstream = process.env.PC_UPSTREAM;
const config = JSON.parse(process.env.PC_CONFIG ?? '{}');
const logger = pino({ level: process.env.PC_LOG_LEVEL ?? 'silent' });

// the longest the event loop was held, from start (the ban cache's load included)
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const startedAt = performance.now();

let guard;
if (mode === 'portcullis') {
  let store;
  if (process.env.PC_AUTOPIPELINE === '0' || process.env.PC_AUTOPIPELINE === '1') {
    // experiment (bench/experiments/autopipeline.mjs): the store the
    // middleware builds (core's client factory, the gateway's command
    // timeout), with ioredis auto-pipelining forced off or on
    const parsed = parseConfig(config);
    store = new RedisBanStore({
      config: parsed,
      by: `bench-gateway-${process.pid}`,
      commandTimeout: parsed.gateway.commandTimeout,
      autoPipelining: process.env.PC_AUTOPIPELINE === '1',
    });
  }
  guard = portcullis(config, { logger, by: `bench-gateway-${process.pid}`, store });
  await guard.ready();
} else {
  guard = Object.assign((_req, _res, next) => next(), { ready: async () => {}, close: async () => {} });
}
const readyMs = performance.now() - startedAt;
const app = createGatewayApp(guard, upstream, logger);
const server = app.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
server.keepAliveTimeout = 60_000;

async function stop() {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await guard.close();
  process.exit(0);
}
process.on('message', (m) => {
  if (m?.type === 'stop') void stop();
  if (m?.type === 'cpu') {
    const u = process.cpuUsage();
    process.send({ type: 'cpu', micros: u.user + u.system });
  }
  if (m?.type === 'loop') {
    process.send({ type: 'loop', readyMs, maxDelayMs: loopDelay.max / 1e6, p99DelayMs: loopDelay.percentile(99) / 1e6 });
  }
  if (m?.type === 'heap') {
    globalThis.gc?.();
    process.send({ type: 'heap', ...process.memoryUsage(), cacheSize: guard.cache?.size ?? 0 });
  }
});
process.on('disconnect', () => process.exit(0));
