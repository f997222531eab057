// Writes the downstream batches logic sends this gate (Bus.consumeDownstream) to the client
// connections they name: acks, errors, pushes, notices, kicks, and the AuthOk that puts a
// connection online (ADR 0022).

import { toImError } from '../../protocol/errors.js';
import { withVersion } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { ClientConnection } from './client-connection.js';
import type { ClientWriter } from './client-writer.js';

export class DownstreamWriter {
  constructor(
    private readonly connections: ReadonlyMap<string, ClientConnection>,
    private readonly writer: ClientWriter,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** One downstream batch: every delivery in it, to every connection it names that is still open here. */
  async write(body: Uint8Array): Promise<void> {
    let batch: imcloud.internal.v1.Downstream;
    try {
      batch = imcloud.internal.v1.Downstream.decode(body);
    } catch (err) {
      this.log.error({ err: String(err) }, 'dropping undecodable downstream batch');
      return;
    }
    const now = Date.now();
    // A batch often carries several frames for one connection (acks, pushes, notices): cork
    // each connection while the batch is written so they leave in one write syscall.
    const corked: ClientConnection[] = [];
    try {
      for (const d of batch.deliveries as imcloud.internal.v1.Delivery[]) this.deliver(d, now, corked);
    } finally {
      for (const conn of corked) {
        conn.corked = false;
        conn.transport.uncork();
      }
    }
  }

  private deliver(d: imcloud.internal.v1.Delivery, now: number, corked: ClientConnection[]): void {
    const frame = withVersion(d.frame);
    for (const connId of d.connIds) {
      const conn = this.connections.get(connId);
      if (!conn || conn.state === 'closed') continue;
      try {
        this.deliverTo(conn, d, frame, now, corked);
      } catch (err) {
        // One connection's failure must not cost the others in the batch their frames.
        this.log.error({ conn: conn.id, err: (err as Error)?.stack ?? String(err) }, 'delivery failed; closing the connection');
        this.writer.refuse(conn, toImError(err), 0);
      }
    }
  }

  private deliverTo(
    conn: ClientConnection,
    d: imcloud.internal.v1.Delivery,
    frame: Uint8Array,
    now: number,
    corked: ClientConnection[],
  ): void {
    if (!conn.corked) {
      conn.corked = true;
      conn.transport.cork();
      corked.push(conn);
    }
    if (d.authOk) {
      conn.state = 'online';
      conn.lastRouteRefreshAt = now;
      this.metrics.authenticated.inc({ app_id: conn.appId });
    }
    this.writer.write(conn, frame);
    if (d.sentAt > 0) this.metrics.e2eLatency.observe({ app_id: d.appId }, (now - Number(d.sentAt)) / 1000);
    if (d.closeAfter) this.writer.close(conn, null);
  }
}
