import type { Collection } from 'mongodb';
import type { SeqHighWater } from '../../ports/seq-high-water.js';
import { docId, isDuplicateKey, type SeqBlockDoc, type SeqHighWaterDoc } from './mongo-database.js';

/** More taken blocks than this in a row means something else is wrong; give up loudly. */
const MAX_WALK = 10_000;

/**
 * The seq high-water marks (ADR 0009) as one inserted document per reserved block
 * (`seq_blocks`, `_id` = conversation + first seq of the block), because an insert under a
 * unique `_id` is the one write FerretDB 1.x makes atomically: a `$inc` on one document is a
 * read, an update computed in Go and a write of the whole document there, so two overlapping
 * raises can lose one (ADR 0026, 0027). Blocks follow each other: a block starts right after
 * one that exists, so two reservers that start from the same mark try the same `_id` and one of
 * them moves on past the other's block. `seq_high_water` keeps the highest end seen as a hint
 * (`$max`; a lost hint costs a few more steps, never a seq) and the mark of releases before
 * blocks, which every block starts above.
 */
export class MongoSeqHighWater implements SeqHighWater {
  constructor(
    private readonly marks: Collection<SeqHighWaterDoc>,
    private readonly blocks: Collection<SeqBlockDoc>,
  ) {}

  async reserve(appId: string, conversation: string, size: number): Promise<number> {
    const conv = docId(appId, conversation);
    let start = ((await this.marks.findOne({ _id: conv }))?.hwm ?? 0) + 1;
    for (let step = 0; step < MAX_WALK; step++) {
      const end = start + size - 1;
      try {
        await this.blocks.insertOne({ _id: blockId(conv, start), appId, conversation, start, end });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Taken: the next free start is right after that block.
        const taken = await this.blocks.findOne({ _id: blockId(conv, start) });
        start = taken!.end + 1;
        continue;
      }
      await this.raiseHint(conv, end);
      return end;
    }
    throw new Error(`seq_blocks: more than ${MAX_WALK} blocks taken after the hint for ${conv}`);
  }

  private async raiseHint(conv: string, end: number): Promise<void> {
    await this.marks.updateOne({ _id: conv }, { $max: { hwm: end } }, { upsert: true }).catch((err: unknown) => {
      // Two first hints racing on one upsert: the other one is there; the hint is only a start.
      if (!isDuplicateKey(err)) throw err;
    });
  }
}

function blockId(conv: string, start: number): string {
  return `${conv}#${start}`;
}
