// What autoscaling reads: the gates' load reports in Redis (hash imcloud:gates, written by every
// gate) and queue depths in RabbitMQ (checkQueue → messageCount). Connections are kept per URL
// and reused across ticks; a failing connection is dropped and reopened on the next read.
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import type { GateInfo } from '../services/ports/routes.js';
import { redisKeys } from '../services/shared/topology.js';

export interface LoadSource {
  /** Every gate report in the Redis at `url` (parse failures skipped). */
  gateReports(url: string): Promise<GateInfo[]>;
  /** Messages ready in `queue` (0 when the queue does not exist yet). */
  queueDepth(url: string, queue: string): Promise<number>;
  close(): Promise<void>;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref())]);

export class LiveLoadSource implements LoadSource {
  private readonly redis = new Map<string, Redis>();
  private readonly amqp = new Map<string, Promise<amqp.ChannelModel>>();

  async gateReports(url: string): Promise<GateInfo[]> {
    let client = this.redis.get(url);
    if (!client) {
      client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true, connectTimeout: 3000 });
      client.on('error', () => undefined); // surfaced through the command's rejection
      this.redis.set(url, client);
    }
    try {
      if (client.status === 'wait') await withTimeout(client.connect(), 5000, 'redis connect');
      const all = await withTimeout(client.hgetall(redisKeys.gates), 5000, 'redis HGETALL');
      const out: GateInfo[] = [];
      for (const value of Object.values(all)) {
        try {
          out.push(JSON.parse(value) as GateInfo);
        } catch {
          // a malformed report counts as no report
        }
      }
      return out;
    } catch (err) {
      this.redis.delete(url);
      client.disconnect();
      throw err;
    }
  }

  async queueDepth(url: string, queue: string): Promise<number> {
    let conn = this.amqp.get(url);
    if (!conn) {
      conn = withTimeout(amqp.connect(url), 5000, 'amqp connect');
      this.amqp.set(url, conn);
      conn.then(
        (c) => {
          c.on('error', () => undefined);
          c.on('close', () => this.amqp.delete(url));
        },
        () => this.amqp.delete(url),
      );
    }
    const connection = await conn;
    // A channel per check: checkQueue on a missing queue closes the channel (404).
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      const ok = await withTimeout(channel.checkQueue(queue), 5000, 'amqp checkQueue');
      return ok.messageCount;
    } catch (err) {
      if (/404|NOT_FOUND/.test(String(err))) return 0;
      throw err;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    for (const r of this.redis.values()) r.disconnect();
    this.redis.clear();
    const conns = [...this.amqp.values()];
    this.amqp.clear();
    await Promise.all(conns.map((p) => p.then((c) => c.close()).catch(() => undefined)));
  }
}
