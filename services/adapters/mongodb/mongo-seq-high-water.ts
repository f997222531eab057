import type { Collection } from 'mongodb';
import type { SeqHighWater } from '../../ports/seq-high-water.js';
import { docId, isDuplicateKey, type SeqHighWaterDoc } from './mongo-database.js';

/** The seq high-water marks (ADR 0009) in the `seq_high_water` collection: one `$inc` per block. */
export class MongoSeqHighWater implements SeqHighWater {
  constructor(private readonly marks: Collection<SeqHighWaterDoc>) {}

  async reserve(appId: string, conversation: string, size: number): Promise<number> {
    const reserve = () => this.marks.findOneAndUpdate(
      { _id: docId(appId, conversation) },
      { $inc: { hwm: size } },
      { upsert: true, returnDocument: 'after' },
    );
    // Two first reservations racing on one upsert: the loser's insert hits the unique _id
    // (E11000); by then the document exists and a second try increments it.
    const doc = await reserve().catch((err: unknown) => {
      if (isDuplicateKey(err)) return reserve();
      throw err;
    });
    return doc!.hwm;
  }
}
