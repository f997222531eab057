import { conversationArchiveContract } from '../../ports/conversation-archive.contract.js';
import { MemoryConversationArchive } from './memory-conversation-archive.js';

// It reads no message store: record() alone carries the seqs.
conversationArchiveContract('memory', async () => {
  const archive = new MemoryConversationArchive();
  return { archive, peer: archive, store: async () => {}, cleanup: async () => {} };
});
