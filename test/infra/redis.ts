// Redis from Debian's redis-server package, one private instance per run.

import * as path from 'node:path';
import { ensureDebPackages } from './install.js';
import { freePort, type ServerProcess, spawnServer } from './processes.js';
import { tcpProbe, waitForReady } from './readiness.js';

export interface RedisOptions {
  /** Directory owned by this server (data + log). */
  dir: string;
  /**
   * Persist every write to an append-only file so that restart() keeps the data,
   * for tests of behaviour across a Redis restart. Off by default: faster.
   */
  appendonly?: boolean;
  /**
   * Address to listen on and to name in the URL (default 127.0.0.1), e.g. the real node's address
   * when the server runs inside the node's network namespace (startServersInNode), where pods reach it.
   */
  host?: string;
}

export interface RedisServer {
  url: string;
  port: number;
  /** Stops Redis and starts it again on the same port and data directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function ensureRedis(): Promise<string> {
  await ensureDebPackages(['redis-server']);
  return '/usr/bin/redis-server';
}

export async function startRedis(opts: RedisOptions): Promise<RedisServer> {
  const bin = await ensureRedis();
  const port = await freePort();
  const host = opts.host ?? '127.0.0.1';
  const logFile = path.join(opts.dir, 'redis.log');
  const args = [
    '--port',
    String(port),
    '--bind',
    host,
    // Protected mode refuses every client but loopback ones when there is no password: off only
    // for another address (the real node's, in its private namespace).
    '--protected-mode',
    host === '127.0.0.1' ? 'yes' : 'no',
    '--dir',
    opts.dir,
    // No RDB snapshots: tests never want a background fork writing dumps.
    '--save',
    '',
    '--appendonly',
    opts.appendonly ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    // Foreground, so that this library owns the process and can always kill it.
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];

  let proc: ServerProcess;
  const start = async () => {
    proc = await spawnServer({ name: 'redis', command: bin, args, logFile });
    await waitForReady({
      server: proc,
      what: `PING on ${host}:${port}`,
      // +PONG only once Redis has loaded its data (it answers -LOADING before).
      probe: () => tcpProbe(port, 'PING\r\n', (b) => (b.includes('\r\n') ? b.toString().startsWith('+PONG') : undefined), 2_000, host),
      timeoutMs: 30_000,
      hint: 'Check that `redis-server --version` works (Debian package redis-server).',
    });
  };
  await start();

  return {
    url: `redis://${host}:${port}`,
    port,
    async restart() {
      // SIGTERM makes Redis flush the append-only file before it exits.
      await proc.stop(15_000);
      await start();
    },
    stop: () => proc.stop(),
  };
}
