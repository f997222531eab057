// StoredMessage ↔ the wire Message, and StoreRecord bodies on the bus.
import { SYSTEM_SENDER } from '../../protocol/conversation-id.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { StoredMessage } from '../ports/stored-message.js';
import '../../protocol/protobuf-fast-strings.js';

export function toWireMessage(m: StoredMessage): imcloud.v1.Message.$Properties {
  return {
    conversation: m.conversation,
    seq: m.seq,
    msgId: m.msgId,
    sender: m.sender,
    senderDevice: m.senderDevice,
    clientMsgId: m.clientMsgId,
    ts: m.ts,
    kind: m.kind,
    contentType: m.contentType,
    body: m.recalled ? new Uint8Array(0) : m.body,
    recallsSeq: m.recallsSeq,
    recalled: m.recalled,
    ...(m.mentions && { mentions: m.mentions }),
    // Only the admin role sends as the system sender (caller.ts), so the sender is the mark (ADR 0035).
    ...(m.sender === SYSTEM_SENDER && { system: true }),
  };
}

export function fromWireMessage(m: imcloud.v1.Message.$Properties): StoredMessage {
  return {
    conversation: m.conversation ?? '',
    seq: Number(m.seq ?? 0),
    msgId: m.msgId ?? '',
    sender: m.sender ?? '',
    senderDevice: m.senderDevice ?? '',
    clientMsgId: m.clientMsgId ?? '',
    ts: Number(m.ts ?? 0),
    kind: m.kind ?? 0,
    contentType: m.contentType ?? '',
    body: m.body ?? new Uint8Array(0),
    recallsSeq: Number(m.recallsSeq ?? 0),
    recalled: m.recalled ?? false,
    ...(m.mentions?.length && { mentions: m.mentions }),
  };
}

export function emptySlot(conversation: string, seq: number): imcloud.v1.Message.$Properties {
  return { conversation, seq, empty: true };
}

export interface StoreRecordData {
  appId: string;
  message: StoredMessage;
  members: string[];
  traceId: string;
}

export function encodeStoreRecord(r: StoreRecordData): Uint8Array {
  return imcloud.internal.v1.StoreRecord.encode({
    appId: r.appId,
    message: toWireMessage(r.message),
    members: r.members,
    traceId: r.traceId,
  }).finish();
}

/**
 * A drafted record (message seq 0) with its seq: the draft's bytes followed by the encoded
 * `seq` field. Protobuf decoders read concatenated encodings as one message (a later scalar
 * field wins), so this is the record with that seq, without encoding it again.
 */
export function withSeq(draft: Uint8Array, seq: number): Uint8Array {
  return Buffer.concat([draft, imcloud.internal.v1.StoreRecord.encode({ seq }).finish()]);
}

export function decodeStoreRecord(body: Uint8Array): StoreRecordData {
  const r = imcloud.internal.v1.StoreRecord.decode(body);
  const message = fromWireMessage(r.message ?? {});
  if (Number(r.seq) > 0) message.seq = Number(r.seq);
  return { appId: r.appId, message, members: r.members, traceId: r.traceId };
}
