import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

/** Forks a bench/procs script and waits for its { type: 'listening', port }. */
export async function forkServer(script, { env = {}, execArgv = [], timeout = 15_000 } = {}) {
  const child = fork(here(`../procs/${script}`), [], {
    env: { ...process.env, ...env },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} did not start in ${timeout} ms`)), timeout);
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`${script} exited with ${code} before listening`));
    });
    child.on('message', (m) => {
      if (m?.type === 'listening') {
        clearTimeout(t);
        resolve(m.port);
      }
    });
  });
  child.removeAllListeners('exit');
  return {
    child,
    pid: child.pid,
    port,
    url: `http://127.0.0.1:${port}`,
    /** asks for something over IPC and waits for the answer of the same type */
    ask(type, extra = {}) {
      return new Promise((resolve) => {
        const on = (m) => {
          if (m?.type === type) {
            child.off('message', on);
            resolve(m);
          }
        };
        child.on('message', on);
        child.send({ type, ...extra });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.send({ type: 'stop' });
      });
    },
  };
}

export const startUpstream = () => forkServer('upstream.mjs');

/**
 * A gateway child process. mode 'bare' | 'portcullis'; config is the
 * Portcullis config (only used with portcullis).
 */
export function startGateway({ mode, upstream, config, execArgv = [], env = {}, timeout }) {
  return forkServer('gateway.mjs', {
    env: { PC_MODE: mode, PC_UPSTREAM: upstream, PC_CONFIG: JSON.stringify(config ?? {}), ...env },
    execArgv,
    ...(timeout ? { timeout } : {}),
  });
}

/** The Portcullis config the bench gateways use. */
export function benchConfig(redisUrl, { prefix = 'pcbench', maxretry = 5, extra = {} } = {}) {
  return {
    redis: redisUrl,
    prefix,
    trustProxy: ['127.0.0.1'],
    jails: { 'django-login': { preset: 'django.login', maxretry } },
    ...extra,
  };
}
