// Collects every frame logic sends down to clients (acks, errors, AuthOk, pushes, notices,
// kicks) and publishes one Downstream batch per gate (TurnBatcher: per turn, and while the
// gate's previous batch awaits the bus, until it is through), so fan-out costs one bus message
// per gate rather than one per user (architecture.md §2).
import { imcloud } from '../../protocol/gen/im.js';
import type { Bus } from '../ports/bus.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { TurnBatcher } from '../shared/turn-batcher.js';

export interface DeliveryOptions {
  closeAfter?: boolean;
  authOk?: boolean;
  traceId?: string;
  sentAt?: number;
  appId?: string;
}

export class DownstreamBatcher {
  private readonly batcher: TurnBatcher<string, imcloud.internal.v1.Delivery.$Properties>;

  constructor(bus: Bus, metrics: Metrics, log: Logger, maxBatch = 512) {
    this.batcher = new TurnBatcher({
      idOf: (gateId) => gateId,
      maxItems: maxBatch,
      send: (gateId, deliveries) => {
        metrics.downstreamBatches.inc();
        // A batch that cannot be published is not lost: the receiver's sync or gap pull repairs
        // its pushes, and a client that gets no ack retries its request.
        return bus.publishDownstream(gateId, imcloud.internal.v1.Downstream.encode({ deliveries }).finish()).catch((err: unknown) => {
          log.warn({ gateId, err: String(err) }, 'downstream publish failed; receivers will repair by sync');
        });
      },
    });
  }

  add(gateId: string, connIds: string[], frame: Uint8Array, opts: DeliveryOptions = {}): void {
    if (connIds.length === 0) return;
    this.batcher.add(gateId, {
      connIds,
      frame,
      closeAfter: opts.closeAfter ?? false,
      authOk: opts.authOk ?? false,
      traceId: opts.traceId ?? '',
      sentAt: opts.sentAt ?? 0,
      appId: opts.appId ?? '',
    });
  }
}
