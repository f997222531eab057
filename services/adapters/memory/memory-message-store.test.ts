import { messageStoreContract } from '../../ports/message-store.contract.js';
import { MemoryMessageStore } from './memory-message-store.js';

messageStoreContract('memory', async () => ({ store: new MemoryMessageStore(), cleanup: async () => {} }));
