// The port contracts against the MongoDB adapters, on FerretDB (MongoDB wire protocol).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoAppRegistry } from '../../services/adapters/mongodb/mongo-app-registry.js';
import { MongoConversationArchive } from '../../services/adapters/mongodb/mongo-conversation-archive.js';
import { docId, type MongoDatabase } from '../../services/adapters/mongodb/mongo-database.js';
import { MongoFileCatalog } from '../../services/adapters/mongodb/mongo-file-catalog.js';
import { MongoGroupDirectory } from '../../services/adapters/mongodb/mongo-group-directory.js';
import { MongoMessageStore } from '../../services/adapters/mongodb/mongo-message-store.js';
import { MongoSeqHighWater } from '../../services/adapters/mongodb/mongo-seq-high-water.js';
import { appRegistryContract } from '../../services/ports/app-registry.contract.js';
import { conversationArchiveContract } from '../../services/ports/conversation-archive.contract.js';
import { fileCatalogContract } from '../../services/ports/file-catalog.contract.js';
import { groupDirectoryContract } from '../../services/ports/group-directory.contract.js';
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
appRegistryContract('mongodb', async () => ({
  apps: new MongoAppRegistry(mongo.apps, mongo.revokedTokens, mongo.revokedUsers),
  cleanup: none,
}));
groupDirectoryContract('mongodb', async () => ({
  groups: new MongoGroupDirectory(mongo.groups, mongo.groupMembers),
  cleanup: none,
}));
fileCatalogContract('mongodb', async () => ({
  catalog: new MongoFileCatalog(mongo),
  peer: new MongoFileCatalog(peer),
  cleanup: none,
}));
seqHighWaterContract('mongodb', async () => ({
  highWater: new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks),
  peer: new MongoSeqHighWater(peer.seqHighWater, peer.seqBlocks),
  cleanup: none,
}));
describe('MongoSeqHighWater on marks of earlier releases', () => {
  it('starts its blocks above a mark an earlier release raised with $inc, and keeps the hint up to date', async () => {
    const [app, conv] = [`app-${randomUUID()}`, `conv-${randomUUID()}`];
    await mongo.seqHighWater.insertOne({ _id: docId(app, conv), hwm: 500 });
    const highWater = new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks);
    expect(await highWater.reserve(app, conv, 100)).toBe(600);
    expect((await mongo.seqHighWater.findOne({ _id: docId(app, conv) }))?.hwm).toBe(600);
  });

  it('walks past blocks a stale hint does not know of', async () => {
    const [app, conv] = [`app-${randomUUID()}`, `conv-${randomUUID()}`];
    const highWater = new MongoSeqHighWater(mongo.seqHighWater, mongo.seqBlocks);
    expect(await highWater.reserve(app, conv, 10)).toBe(10);
    expect(await highWater.reserve(app, conv, 10)).toBe(20);
    // A hint that lost its last raise (FerretDB 1.x can lose one of two overlapping updates).
    await mongo.seqHighWater.updateOne({ _id: docId(app, conv) }, { $set: { hwm: 0 } });
    expect(await highWater.reserve(app, conv, 10)).toBe(30);
  });
});

// The archive reads a conversation's highest seq from its stored messages; the contract stores them first.
conversationArchiveContract('mongodb', async () => {
  const archiveOf = (db: MongoDatabase) => new MongoConversationArchive(db.conversations, db.userConversations, db.messages);
  const store = new MongoMessageStore(mongo.messages);
  return {
    archive: archiveOf(mongo),
    peer: archiveOf(peer),
    store: async (appId, touches) => {
      await store.insertMany(
        appId,
        touches.map(({ conversation, seq, ts }) => storedMessage(conversation, seq, ts)),
      );
    },
    cleanup: none,
  };
});

function storedMessage(conversation: string, seq: number, ts: number): StoredMessage {
  return {
    conversation,
    seq,
    ts,
    msgId: `m-${seq}`,
    sender: 'sender',
    senderDevice: 'device',
    clientMsgId: randomUUID(),
    kind: 1,
    contentType: 'text/plain',
    body: new Uint8Array([seq]),
    recallsSeq: 0,
    recalled: false,
  };
}
