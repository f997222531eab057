import { Binary, type Collection, type Filter, MongoBulkWriteError } from 'mongodb';
import type { MessageQuery, MessageStore } from '../../ports/message-store.js';
import type { StoredMessage } from '../../ports/stored-message.js';
import { DUPLICATE_KEY, type MessageDoc } from './mongo-database.js';

function toDoc(appId: string, m: StoredMessage): MessageDoc {
  return { appId, ...m, body: new Binary(Buffer.from(m.body)) };
}

function fromDoc(d: MessageDoc): StoredMessage {
  return {
    conversation: d.conversation,
    seq: d.seq,
    msgId: d.msgId,
    sender: d.sender,
    senderDevice: d.senderDevice,
    clientMsgId: d.clientMsgId,
    ts: d.ts,
    kind: d.kind,
    contentType: d.contentType,
    body: new Uint8Array(d.body.buffer),
    recallsSeq: d.recallsSeq,
    recalled: d.recalled,
    ...(d.mentions?.length && { mentions: d.mentions }),
  };
}

const PROJECTION = { _id: 0 } as const;

export class MongoMessageStore implements MessageStore {
  constructor(private readonly messages: Collection<MessageDoc>) {}

  async insertMany(appId: string, messages: StoredMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    try {
      const r = await this.messages.insertMany(
        messages.map((m) => toDoc(appId, m)),
        { ordered: false },
      );
      return r.insertedCount;
    } catch (err) {
      // Unordered: every non-duplicate was inserted; duplicates are redeliveries, not errors.
      if (err instanceof MongoBulkWriteError) {
        const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
        if (errors.every((e) => e.code === DUPLICATE_KEY)) return err.result.insertedCount;
      }
      throw err;
    }
  }

  async get(appId: string, conversation: string, seq: number): Promise<StoredMessage | null> {
    const d = await this.messages.findOne({ appId, conversation, seq }, { projection: PROJECTION });
    return d ? fromDoc(d) : null;
  }

  async query(appId: string, conversation: string, q: MessageQuery): Promise<StoredMessage[]> {
    const filter: Filter<MessageDoc> = { appId, conversation };
    if (q.fromSeq !== undefined || q.toSeq !== undefined) {
      filter.seq = { ...(q.fromSeq !== undefined && { $gte: q.fromSeq }), ...(q.toSeq !== undefined && { $lte: q.toSeq }) };
    }
    if (q.fromTs !== undefined || q.toTs !== undefined) {
      filter.ts = { ...(q.fromTs !== undefined && { $gte: q.fromTs }), ...(q.toTs !== undefined && { $lte: q.toTs }) };
    }
    const docs = await this.messages
      .find(filter, { projection: PROJECTION })
      .sort({ seq: q.newestFirst ? -1 : 1 })
      .limit(q.limit)
      .batchSize(q.limit)
      .toArray();
    const out = docs.map(fromDoc);
    return q.newestFirst ? out.reverse() : out;
  }

  async markRecalled(appId: string, conversation: string, seq: number): Promise<void> {
    await this.messages.updateOne({ appId, conversation, seq }, { $set: { recalled: true, body: new Binary(Buffer.alloc(0)) } });
  }

  async count(appId: string, conversation: string): Promise<number> {
    return this.messages.countDocuments({ appId, conversation });
  }
}
