// StoredMessage ↔ the wire Message, and StoreRecord bodies on the bus.
import { imcloud } from '../../proto/gen/im.js';
import type { StoredMessage } from '../ports/stored-message.js';
import '../shared/protobuf-fast-strings.js';

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

export function decodeStoreRecord(body: Uint8Array): StoreRecordData {
  const r = imcloud.internal.v1.StoreRecord.decode(body);
  return { appId: r.appId, message: fromWireMessage(r.message ?? {}), members: r.members, traceId: r.traceId };
}
