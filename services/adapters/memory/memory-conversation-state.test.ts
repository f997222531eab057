import { conversationStateContract } from '../../ports/conversation-state.contract.js';
import { MemoryConversationState } from './memory-conversation-state.js';

conversationStateContract('memory', async () => ({ conversations: new MemoryConversationState(), cleanup: async () => {} }));
