import { dedupeContract } from '../../ports/dedupe.contract.js';
import { MemoryDedupe } from './memory-dedupe.js';

dedupeContract('memory', async () => ({ dedupe: new MemoryDedupe(), cleanup: async () => {} }));
