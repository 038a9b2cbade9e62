// @portcullis/testkit: what the tests and the bench share, usable from plain
// Node once built (`npm run build`). The vitest fixtures (hooks) are in
// ../fixtures, imported by tests as '@portcullis/testkit/fixtures'.
export { freePort } from './free-port.js';
export { waitFor, type Held } from './wait-for.js';
export { RedisServer, redisAnswers, redisServerAvailable, redisServerVersion } from './redis-server.js';
export { RedisClusterSet, RedisSentinelSet, nodeClient } from './redis-topologies.js';
export {
  TestNet,
  NETNS_CLIENT_SCRIPT,
  firewallSkipReason,
  hasCommand,
  isRoot,
  netnsWorks,
  SERVER_V4,
  SERVER_V6,
  CLIENT_V4,
  CLIENT_V6,
  OTHER_V4,
  OTHER_V6,
  BRIDGE_V4,
  CONTAINER_V4,
} from './netns.js';
export { netnsArgv, netnsRunner, type NetnsUfwDirs } from './netns-runner.js';
export {
  startExampleDjango,
  djangoVersion,
  djangoMissing,
  DJANGO_PYTHON,
  DEMO_USER,
  DEMO_PASSWORD,
  type ExampleDjango,
} from './example-django.js';
export { SmtpSink, smtpSinkAvailable, type SunkMail } from './smtp-sink.js';
export { HttpReceiver } from './http-receiver.js';
export { journalWrite } from './journal.js';
export { TestSshd } from './sshd.js';
export { startDocker, ensureBaseImages, dockerSkipReason, BASE, type Docker } from './docker.js';
