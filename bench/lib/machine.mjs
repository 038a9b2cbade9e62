import { cpus, totalmem, release, loadavg } from 'node:os';
import { redisServerVersion } from './redis.mjs';

export function machineInfo() {
  const c = cpus();
  return {
    cpu: c[0]?.model?.trim() ?? 'unknown',
    cores: c.length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    os: `${process.platform} ${release()}`,
    node: process.version,
    redis: redisServerVersion() ?? 'not installed',
    loadavg: loadavg().map((x) => +x.toFixed(2)),
  };
}
