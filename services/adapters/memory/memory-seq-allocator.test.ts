import { seqAllocatorContract } from '../../ports/seq-allocator.contract.js';
import { MemorySeqAllocator } from './memory-seq-allocator.js';

seqAllocatorContract('memory', async () => ({ seq: new MemorySeqAllocator(), cleanup: async () => {} }));
