import { seqHighWaterContract } from '../../ports/seq-high-water.contract.js';
import { MemorySeqHighWater } from './memory-seq-high-water.js';

seqHighWaterContract('memory', async () => {
  const highWater = new MemorySeqHighWater();
  return { highWater, peer: highWater, cleanup: async () => {} };
});
