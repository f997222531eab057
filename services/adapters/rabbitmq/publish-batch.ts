// Upstream frames and store records for the same routing key travel as one AMQP message when
// they are published in the same turn of the event loop, or while the previous batch for that
// key awaits its confirm (TurnBatcher): under load a gate reads many frames per turn and logic
// accepts many sends, and every AMQP message costs the broker and both ends a publish, a confirm,
// a delivery and an ack. A lone frame goes as it is; a batch carries BATCH_HEADER (its count) and
// a body of length-prefixed frames (4-byte big-endian length, then the bytes). The consumer hands
// each frame to the handler on its own and acks the AMQP message once all of them are handled;
// if one fails, it publishes the frames again one by one, so that a poison frame is retried and
// dead-lettered alone (rabbitmq-consumer.ts).

import { TurnBatcher } from '../../shared/turn-batcher.js';

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

interface Publish {
  body: Uint8Array;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Publishes per key (destination) through a TurnBatcher: one AMQP message per batch, a lone frame
 * as it is. Each caller's promise settles with the broker's confirm of its batch.
 */
export class PublishBatcher<K> {
  private readonly batcher: TurnBatcher<K, Publish>;

  constructor(keyOf: (key: K) => string, send: (key: K, body: Uint8Array, count: number) => Promise<void>, maxInFlight = 1) {
    this.batcher = new TurnBatcher<K, Publish>({
      idOf: keyOf,
      maxItems: MAX_BATCH,
      maxBytes: MAX_BATCH_BYTES,
      sizeOf: (p) => 4 + p.body.length,
      maxInFlight,
      send: (key, batch) => {
        const body = batch.length === 1 ? batch[0]!.body : packBatch(batch.map((p) => p.body));
        return send(key, body, batch.length).then(
          () => {
            for (const p of batch) p.resolve();
          },
          (err: unknown) => {
            for (const p of batch) p.reject(err);
          },
        );
      },
    });
  }

  publish(key: K, body: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.batcher.add(key, { body, resolve, reject }));
  }
}
