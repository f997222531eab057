// Writes the downstream batches logic sends this gate (Bus.consumeDownstream) to the client
// connections they name: acks, errors, pushes, notices, kicks, and the AuthOk that puts a
// connection online (ADR 0022).

import { toImError } from '../../protocol/errors.js';
import { withVersion } from '../../protocol/frame-codec.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { Logger } from '../shared/logger.js';
import { initializeAppSeries, type Metrics } from '../shared/metrics.js';
import { type ClientConnection, SharedFrame } from './client-connection.js';
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
    // A batch often carries several frames for one connection (acks, pushes, notices): each
    // such connection is corked while the batch is written, so they leave in one write syscall.
    // One that gets a single frame is written at once (a cork would turn its write into writev).
    const deliveries = batch.deliveries as imcloud.internal.v1.Delivery[];
    const repeated = deliveries.length > 1 ? connectionsNamedTwice(deliveries) : NONE;
    const corked: ClientConnection[] = [];
    try {
      for (const d of deliveries) this.deliver(d, now, repeated, corked);
    } finally {
      for (const conn of corked) {
        conn.corked = false;
        conn.transport.uncork();
      }
    }
  }

  private deliver(d: imcloud.internal.v1.Delivery, now: number, repeated: ReadonlySet<string>, corked: ClientConnection[]): void {
    const frame = new SharedFrame(withVersion(d.frame));
    // Resolved once per delivery, observed per connection (a group's delivery names thousands).
    const latency = d.sentAt > 0 ? this.metrics.e2eLatency.labels({ app_id: d.appId }) : undefined;
    const latencySec = (now - Number(d.sentAt)) / 1000;
    for (const connId of d.connIds) {
      const conn = this.connections.get(connId);
      if (!conn || conn.state === 'closed') continue;
      try {
        this.deliverTo(conn, d, frame, now, repeated.has(connId) ? corked : undefined);
        latency?.observe(latencySec);
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
    frame: SharedFrame,
    now: number,
    corked: ClientConnection[] | undefined,
  ): void {
    if (corked && !conn.corked) {
      conn.corked = true;
      conn.transport.cork();
      corked.push(conn);
    }
    if (d.authOk) {
      conn.state = 'online';
      conn.lastRouteRefreshAt = now;
      this.metrics.authenticated.inc({ app_id: conn.appId });
      initializeAppSeries(this.metrics, conn.appId, 'gate');
    }
    this.writer.writeShared(conn, frame);
    if (d.closeAfter) this.writer.close(conn, null);
  }
}

const NONE: ReadonlySet<string> = new Set();

/** The connections that more than one delivery of a batch names. */
function connectionsNamedTwice(deliveries: imcloud.internal.v1.Delivery[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const d of deliveries) for (const id of d.connIds) (seen.has(id) ? twice : seen).add(id);
  return twice;
}
