// Collects frames for gates and publishes one Downstream batch per gate per tick, so fan-out
// costs one bus message per gate rather than one per user (DESIGN §4).
import { imcloud } from '../../proto/gen/im.js';
import type { Bus } from '../ports/bus.js';
import type { Metrics } from '../shared/metrics.js';
import type { Logger } from '../shared/logger.js';

export interface DeliveryOptions {
  closeAfter?: boolean;
  authOk?: boolean;
  traceId?: string;
  sentAt?: number;
  appId?: string;
}

export class PushBatcher {
  private pending = new Map<string, imcloud.internal.v1.Delivery.$Properties[]>();
  private scheduled = false;

  constructor(
    private readonly bus: Bus,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly maxBatch = 512,
  ) {}

  add(gateId: string, connIds: string[], frame: Uint8Array, opts: DeliveryOptions = {}): void {
    if (connIds.length === 0) return;
    let list = this.pending.get(gateId);
    if (!list) this.pending.set(gateId, (list = []));
    list.push({ connIds, frame, closeAfter: opts.closeAfter ?? false, authOk: opts.authOk ?? false, traceId: opts.traceId ?? '', sentAt: opts.sentAt ?? 0, appId: opts.appId ?? '' });
    if (list.length >= this.maxBatch) this.flushGate(gateId);
    else this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const gateId of [...this.pending.keys()]) this.flushGate(gateId);
    });
  }

  private flushGate(gateId: string): void {
    const deliveries = this.pending.get(gateId);
    if (!deliveries || deliveries.length === 0) return;
    this.pending.delete(gateId);
    const body = imcloud.internal.v1.Downstream.encode({ deliveries }).finish();
    this.metrics.pushBatches.inc();
    // A push that cannot be published is not lost: the receiver's sync or gap pull repairs it.
    this.bus.publishPush(gateId, body).catch((err: unknown) => {
      this.log.warn({ gateId, err: String(err) }, 'push publish failed; receivers will repair by sync');
    });
  }
}
