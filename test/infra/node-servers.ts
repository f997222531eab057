// Servers inside a real node's network namespace (real-node.ts), listening on the node's address:
// the pods of the node reach them (their traffic to 10.99.0.1 stays in the namespace), while the
// host cannot, and nothing on the host listens for them. Used by the `node` vitest project, whose
// ImCluster gets them as external dependencies through Secrets (ADR 0034).
//
// How: one child process, `nsenter -t HOLDER -n -- node --import tsx node-servers.ts NAMES…`,
// runs startServers(NAMES, { host: NODE_IP }) in the namespace, so the servers, their readiness
// probes and their watchdogs are all in there; it prints one line with the servers' environment
// (serverEnv) and stays until SIGTERM, when it stops them. Only the network namespace is joined:
// the node's mount namespace hides the host's /var/lib (dpkg's database, which the Debian-package
// checks read), and the servers need nothing of it. The node's own tear-down kills every process
// in its network namespace, so nothing survives the node even if this child is killed.
//
//   const servers = await startServersInNode(node, ['redis', 'rabbitmq', 'mongodb', 'minio']);
//   servers.env.IMCLOUD_REDIS_URL;   // redis://10.99.0.1:PORT, for pods (and node.exec clients)
//   await servers.stop();

import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log, seconds } from './base.js';
import { ensureBuilt, type ServerName, type StartOptions, serverEnv, startServers } from './index.js';
import { NODE_IP } from './real-node.js';

const READY_PREFIX = 'IMCLOUD_NODE_SERVERS ';
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface NodeServers {
  /** serverEnv() of the servers: IMCLOUD_REDIS_URL etc., naming the node's address. */
  env: Record<string, string>;
  /** Pid of the child process (inside the node's network namespace) that owns the servers. */
  pid: number;
  /** Stops the servers (SIGTERM to the child, then SIGKILL after 60 s). Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the named servers inside the node's network namespace on its address (builds and
 * installs them first, from the host, which has the network and the package database).
 */
export async function startServersInNode(
  node: { holderPid: number; nodeIP?: string },
  names: readonly ServerName[],
  opts: Omit<StartOptions, 'host'> = {},
): Promise<NodeServers> {
  const started = Date.now();
  await ensureBuilt(names);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    IMCLOUD_NODE_SERVERS_OPTIONS: JSON.stringify({ ...opts, host: node.nodeIP ?? NODE_IP }),
  };
  delete env.NODE_OPTIONS; // no vitest or tsx loaders: this child imports tsx itself
  const child = spawn(
    'nsenter',
    ['-t', String(node.holderPid), '-n', '--', process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...names],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr.on('data', (b: Buffer) => process.stderr.write(b));
  const serversEnv = await new Promise<Record<string, string>>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.startsWith(READY_PREFIX));
      if (line) resolve(JSON.parse(line.slice(READY_PREFIX.length)));
    });
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`infra: the servers in the node's namespace exited (${code}) before they were ready`)));
  });
  log(`${names.join(', ')} inside the node's network namespace on ${node.nodeIP ?? NODE_IP} in ${seconds(Date.now() - started)}`);
  let stopping: Promise<void> | undefined;
  return {
    env: serversEnv,
    pid: child.pid!,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

// ---------------------------------------------------------------------------
// The child (inside the namespace)

async function child(names: ServerName[]): Promise<void> {
  const opts = JSON.parse(process.env.IMCLOUD_NODE_SERVERS_OPTIONS ?? '{}') as StartOptions;
  const servers = await startServers(names, opts);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void servers.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdout.write(`${READY_PREFIX}${JSON.stringify(serverEnv(servers))}\n`);
  setInterval(() => undefined, 1 << 30); // stay until a signal
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  child(process.argv.slice(2) as ServerName[]).catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
