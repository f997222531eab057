// The consumer role: drains the durable store queue into the message store in batches.
// Writes are idempotent (unique appId+conversation+seq), so a redelivered record is harmless;
// a record is acknowledged only after its batch is written, so a crash loses nothing.
import { imcloud } from '../../protocol/gen/im.js';
import { decodeStoreRecord, type StoreRecordData } from '../logic/message-codec.js';
import type { Backends } from '../ports/backends.js';
import type { BusDelivery, Subscription } from '../ports/bus.js';
import type { StoredMessage } from '../ports/stored-message.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { ConsumerConfig } from '../shared/role-config.js';

interface Waiting {
  record: StoreRecordData;
  settle: (err?: unknown) => void;
}

export class Consumer {
  private batch: Waiting[] = [];
  private timer?: NodeJS.Timeout;
  private subscription?: Subscription;
  private writing = false;

  constructor(
    private readonly config: ConsumerConfig,
    private readonly backends: Backends,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  async start(): Promise<void> {
    // Room for the batch being written and the next one, or the bus's prefetch if that is more.
    this.subscription = await this.backends.bus.consumeStore((d) => this.receive(d), {
      prefetch: Math.max(this.config.consumer.maxBatch * 2, this.config.bus.prefetch),
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.cancel();
    await this.flush();
  }

  private receive(delivery: BusDelivery): Promise<void> {
    if (delivery.deliveryCount > 1) this.metrics.redeliveries.inc({ channel: 'store' });
    let record: StoreRecordData;
    try {
      record = decodeStoreRecord(delivery.body);
      if (!record.appId || !record.message.conversation || record.message.seq < 1)
        throw new Error('store record without appId, conversation or seq');
    } catch (err) {
      // Rejecting sends it round again until the delivery limit dead-letters it.
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.batch.push({ record, settle: (err) => (err ? reject(err) : resolve()) });
      if (this.batch.length >= this.config.consumer.maxBatch) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), this.config.consumer.lingerMs);
    });
  }

  /**
   * One write at a time: what arrives while a batch is being written waits for the next one, so
   * batches grow with the load instead of many small writes competing for the store.
   */
  private async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.batch.length > 0) await this.write(this.batch.splice(0, this.config.consumer.maxBatch));
    } finally {
      this.writing = false;
    }
  }

  private async write(batch: Waiting[]): Promise<void> {
    const started = performance.now();
    try {
      const byApp = new Map<string, StoredMessage[]>();
      for (const { record } of batch) {
        let list = byApp.get(record.appId);
        if (!list) byApp.set(record.appId, (list = []));
        list.push(record.message);
      }
      for (const [appId, messages] of byApp) {
        const inserted = await this.backends.store.insertMany(appId, messages);
        await this.backends.conversations.persist(
          appId,
          batch
            .filter((w) => w.record.appId === appId)
            .map(({ record }) => ({
              conversation: record.message.conversation,
              members: record.members,
              seq: record.message.seq,
              ts: record.message.ts,
            })),
        );
        this.metrics.stored.inc({ app_id: appId }, inserted);
        for (const m of messages) {
          if (m.kind === imcloud.v1.MessageKind.MESSAGE_KIND_RECALL)
            await this.backends.store.markRecalled(appId, m.conversation, m.recallsSeq);
        }
      }
      const now = Date.now();
      for (const { record } of batch) this.metrics.storeLag.observe((now - record.message.ts) / 1000);
      this.metrics.storeBatch.observe((performance.now() - started) / 1000);
      for (const w of batch) w.settle();
    } catch (err) {
      this.log.warn({ err: String(err), size: batch.length }, 'store batch failed; records go back to the queue');
      for (const w of batch) w.settle(err);
    }
  }
}
