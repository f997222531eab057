// `make run-dist`: the platform as separate processes on real servers — Redis, RabbitMQ,
// FerretDB and MinIO (installed and cached by test/infra on first use), then consumer, logic,
// admin (with the web page), two file processes, dispatch and two gates; and Prometheus scraping
// every role (a job per role) and the servers' exporters (redis, rabbitmq, postgresql). Ctrl-C
// stops everything.
import { serverEnv, startServers } from '../test/infra/index.js';
import { type BackendEnv, freePort, roleScrapeJobs, startCluster } from '../test/support/cluster.js';
import { createLogDir } from '../test/support/log-dir.js';

const say = (msg: string) => process.stderr.write(`run-dist: ${msg}\n`);

const servers = await startServers(['redis', 'rabbitmq', 'mongodb', 'minio', 'prometheus'], { redis: { appendonly: true } });
const prometheus = servers.prometheus!;
const env = serverEnv(servers) as BackendEnv;
// Kept after Ctrl-C: an interactive session's logs are there to be read.
const logDir = createLogDir('dist');
const dispatchPort = await freePort();
const filePort = await freePort();
say(`starting roles (logs in ${logDir})`);
const cluster = await startCluster(
  env,
  logDir,
  { gate: 2, logic: 2, consumer: 2, dispatch: 1, admin: 1, file: 2 },
  {
    IMCLOUD_WEB_ENABLED: 'true',
    IMCLOUD_ADMIN_DEMO_APP_ID: 'demo',
    IMCLOUD_WEB_DISPATCH_URL: `http://127.0.0.1:${dispatchPort}/v1/dispatch`,
    IMCLOUD_WEB_FILES_URL: `http://127.0.0.1:${filePort}`,
  },
  { dispatch: dispatchPort, file: filePort },
);
const created = await fetch(`${cluster.adminUrl}/v1/apps`, {
  method: 'POST',
  headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
  body: JSON.stringify({ appId: 'demo', name: 'Demo app' }),
});
const demo = (await created.json()) as { appId: string; secret: string };
// Every role scraped too, before the banner says so.
await prometheus.setTargets(roleScrapeJobs(cluster.processes));
await prometheus.waitForScrapes(1);
const targets = await prometheus.targets();
const up = targets.filter((t) => t.health === 'up').length;
const down = targets.filter((t) => t.health !== 'up').map((t) => `${t.job} ${t.instance}: ${t.lastError || t.health}`);
process.stderr.write(
  `${[
    '',
    '  imcloud is running as separate processes on real servers',
    '',
    `  web chat       ${cluster.adminUrl}/   (open it in two tabs)`,
    `  dispatch       ${cluster.dispatchUrl}?appId=demo&userId=alice`,
    ...cluster.byRole('gate').map((g) => `  ${g.name.padEnd(14)} ws://127.0.0.1:${g.httpPort}/ws   tcp 127.0.0.1:${g.tcpPort}`),
    ...cluster
      .byRole('file')
      .map((f) => `  ${f.name.padEnd(14)} ${f.url}/v1/files   (bytes in MinIO ${env.IMCLOUD_MINIO_END_POINT}:${env.IMCLOUD_MINIO_PORT})`),
    `  demo app       appId=${demo.appId}  secret=${demo.secret}`,
    `  admin token    ${cluster.adminToken}`,
    `  prometheus     ${prometheus.url}/   (targets ${up}/${targets.length} up: ${prometheus.url}/api/v1/targets, page ${prometheus.url}/classic/targets)`,
    ...down.map((d) => `                 down: ${d}`),
    `  exporters      ${Object.entries(servers.exporters ?? {})
      .map(([job, url]) => `${job} ${url}`)
      .join('  ')}`,
    `  logs           ${logDir}`,
    `  servers        ${Object.entries(env)
      .filter(([k]) => k.endsWith('_URL') && !k.endsWith('_EXPORTER_URL') && k !== 'IMCLOUD_PROMETHEUS_URL')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    '',
    '  Ctrl-C stops everything.',
    '',
  ].join('\n')}\n`,
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  say('stopping roles and servers…');
  await cluster.stop();
  await servers.stop();
  say(`role logs kept in ${logDir}`);
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
