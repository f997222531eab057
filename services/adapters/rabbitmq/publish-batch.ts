// Upstream frames and store records published in the same turn of the event loop for the same
// routing key travel as one AMQP message: under load a gate reads many frames per turn and logic
// accepts many sends, and every AMQP message costs the broker and both ends a publish, a confirm,
// a delivery and an ack. A lone frame goes as it is; a batch carries BATCH_HEADER (its count) and
// a body of length-prefixed frames (4-byte big-endian length, then the bytes). The consumer hands
// each frame to the handler on its own and acks the AMQP message once all of them are handled;
// if one fails, it publishes the frames again one by one, so that a poison frame is retried and
// dead-lettered alone (rabbitmq-consumer.ts).

export const BATCH_HEADER = 'x-imcloud-batch';
/** Frames per AMQP message at most: a failed batch is split into this many messages. */
export const MAX_BATCH = 256;
/** Bytes per batch at most (a larger single frame still goes, alone): no giant messages. */
export const MAX_BATCH_BYTES = 256 * 1024;

export function packBatch(bodies: Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(bodies.reduce((n, b) => n + 4 + b.length, 0));
  let at = 0;
  for (const b of bodies) {
    out.writeUInt32BE(b.length, at);
    out.set(b, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** The frames of a batch; throws if the body does not hold exactly `count` well-formed frames. */
export function unpackBatch(body: Buffer, count: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 4 > body.length) throw new Error('truncated batch: a length prefix is cut off');
    const len = body.readUInt32BE(at);
    if (at + 4 + len > body.length) throw new Error(`truncated batch: frame ${out.length + 1} wants ${len} bytes`);
    out.push(body.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (out.length !== count) throw new Error(`batch says ${count} frames but holds ${out.length}`);
  return out;
}

interface Pending {
  bodies: Uint8Array[];
  bytes: number;
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
}

/** Collects publishes per key until the end of the current turn, then sends each key's batch. */
export class PublishBatcher<K> {
  private readonly pending = new Map<string, { key: K; batch: Pending }>();
  private scheduled = false;

  constructor(
    private readonly keyOf: (key: K) => string,
    private readonly send: (key: K, body: Uint8Array, count: number) => Promise<void>,
  ) {}

  publish(key: K, body: Uint8Array): Promise<void> {
    const id = this.keyOf(key);
    let entry = this.pending.get(id);
    if (entry && (entry.batch.bodies.length >= MAX_BATCH || entry.batch.bytes + 4 + body.length > MAX_BATCH_BYTES)) {
      this.flushOne(id, entry);
      entry = undefined;
    }
    if (!entry) {
      entry = { key, batch: { bodies: [], bytes: 0, waiters: [] } };
      this.pending.set(id, entry);
    }
    entry.batch.bodies.push(body);
    entry.batch.bytes += 4 + body.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    const batch = entry.batch;
    return new Promise((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  private flush(): void {
    this.scheduled = false;
    for (const [id, entry] of [...this.pending]) this.flushOne(id, entry);
  }

  private flushOne(id: string, { key, batch }: { key: K; batch: Pending }): void {
    this.pending.delete(id);
    const { bodies, waiters } = batch;
    const body = bodies.length === 1 ? bodies[0]! : packBatch(bodies);
    this.send(key, body, bodies.length).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
