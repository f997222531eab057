// Where bench/group-fanout.ts runs its group: the embedded mode (`imcloud all` in one process)
// or the distributed layout of `make run-dist` (Redis, RabbitMQ and FerretDB from test/infra; 2
// gates, 2 logic, 2 consumers, dispatch and admin as processes; test/support/cluster.ts).
import { serverEnv, startServers } from '../../test/infra/index.js';
import { type BackendEnv, startCluster } from '../../test/support/cluster.js';
import { createLogDir, finishLogDir } from '../../test/support/log-dir.js';
import { createApp, metricSum, rssOf, scrapeMetrics, startPlatform } from './common.js';

export interface GroupTarget {
  /** The gates' WebSocket URLs; member process w connects to wsUrls[w % length]. */
  wsUrls: string[];
  adminUrl: string;
  adminToken: string;
  /** The imcloud processes (CPU and memory are theirs; the servers' are not counted). */
  pids: number[];
  /** The gates' processes (memory per connection). */
  gatePids: number[];
  /** Messages the consumers have written to the store. */
  stored(): Promise<number>;
  createApp(): Promise<{ appId: string; secret: string }>;
  stop(): Promise<void>;
}

export async function embeddedTarget(env: Record<string, string>, nodeArgs: string[]): Promise<GroupTarget> {
  const p = await startPlatform({ env, nodeArgs });
  return {
    wsUrls: [p.wsUrl],
    adminUrl: p.httpUrl,
    adminToken: p.adminToken,
    pids: [p.pid],
    gatePids: [p.pid],
    stored: async () => metricSum(await p.metrics(), 'imcloud_consumer_stored_total'),
    createApp: () => p.createApp(),
    stop: () => p.stop(),
  };
}

export async function distributedTarget(env: Record<string, string>, nodeArgs: string[]): Promise<GroupTarget> {
  const servers = await startServers(['redis', 'rabbitmq', 'mongodb']);
  const logDir = createLogDir('bench-group');
  try {
    const cluster = await startCluster(serverEnv(servers) as unknown as BackendEnv, logDir, {}, env, {}, nodeArgs);
    const gates = cluster.byRole('gate');
    return {
      wsUrls: gates.map((g) => `ws://127.0.0.1:${g.httpPort}/ws`),
      adminUrl: cluster.adminUrl,
      adminToken: cluster.adminToken,
      pids: cluster.processes.map((p) => p.pid!).filter(Boolean),
      gatePids: gates.map((g) => g.pid!).filter(Boolean),
      async stored() {
        let total = 0;
        for (const c of cluster.byRole('consumer')) total += metricSum(await scrapeMetrics(c.url), 'imcloud_consumer_stored_total');
        return total;
      },
      createApp: () => createApp(cluster.adminUrl, cluster.adminToken),
      async stop() {
        await cluster.stop();
        await servers.stop();
        finishLogDir(logDir, false);
      },
    };
  } catch (err) {
    await servers.stop();
    throw err;
  }
}

export const rssOfAll = (pids: number[]): number => pids.reduce((n, pid) => n + rssOf(pid), 0);
