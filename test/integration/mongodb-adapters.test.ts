// The port contracts against the MongoDB adapters, on FerretDB (MongoDB wire protocol).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { MongoAppRegistry } from '../../services/adapters/mongodb/mongo-app-registry.js';
import { MongoConversationArchive } from '../../services/adapters/mongodb/mongo-conversation-archive.js';
import type { MongoDatabase } from '../../services/adapters/mongodb/mongo-database.js';
import { MongoMessageStore } from '../../services/adapters/mongodb/mongo-message-store.js';
import { MongoSeqHighWater } from '../../services/adapters/mongodb/mongo-seq-high-water.js';
import { appRegistryContract } from '../../services/ports/app-registry.contract.js';
import { conversationArchiveContract } from '../../services/ports/conversation-archive.contract.js';
import { messageStoreContract } from '../../services/ports/message-store.contract.js';
import { seqHighWaterContract } from '../../services/ports/seq-high-water.contract.js';
import type { StoredMessage } from '../../services/ports/stored-message.js';
import { connectMongo } from './real-clients.js';

let mongo: MongoDatabase;
/** A second client of the same database: another process. */
let peer: MongoDatabase;

beforeAll(async () => {
  mongo = await connectMongo();
  peer = await connectMongo(mongo.db.databaseName);
});
afterAll(async () => {
  await peer?.close();
  await mongo?.db.dropDatabase();
  await mongo?.close();
});

const none = async () => {};

messageStoreContract('mongodb', async () => ({ store: new MongoMessageStore(mongo.messages), cleanup: none }));
appRegistryContract('mongodb', async () => ({ apps: new MongoAppRegistry(mongo.apps, mongo.revokedTokens, mongo.revokedUsers), cleanup: none }));
seqHighWaterContract('mongodb', async () => ({
  highWater: new MongoSeqHighWater(mongo.seqHighWater),
  peer: new MongoSeqHighWater(peer.seqHighWater),
  cleanup: none,
}));
// The archive reads a conversation's highest seq from its stored messages; the contract stores them first.
conversationArchiveContract('mongodb', async () => {
  const archiveOf = (db: MongoDatabase) => new MongoConversationArchive(db.conversations, db.userConversations, db.messages);
  const store = new MongoMessageStore(mongo.messages);
  return {
    archive: archiveOf(mongo),
    peer: archiveOf(peer),
    store: async (appId, touches) => {
      await store.insertMany(appId, touches.map(({ conversation, seq, ts }) => storedMessage(conversation, seq, ts)));
    },
    cleanup: none,
  };
});

function storedMessage(conversation: string, seq: number, ts: number): StoredMessage {
  return {
    conversation, seq, ts, msgId: `m-${seq}`, sender: 'sender', senderDevice: 'device', clientMsgId: randomUUID(),
    kind: 1, contentType: 'text/plain', body: new Uint8Array([seq]), recallsSeq: 0, recalled: false,
  };
}
