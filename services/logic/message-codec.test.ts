import { describe, expect, it } from 'vitest';
import type { StoredMessage } from '../ports/stored-message.js';
import { decodeStoreRecord, encodeStoreRecord, withSeq } from './message-codec.js';

describe('store records drafted before their seq (withSeq)', () => {
  const message = (seq: number): StoredMessage => ({
    conversation: 's:alice:bob',
    seq,
    msgId: '7241849600123456789',
    ts: 1_700_000_000_456,
    sender: 'alice',
    senderDevice: 'd1',
    clientMsgId: 'c-1',
    kind: 1,
    contentType: 'text',
    body: new Uint8Array([1, 2, 3]),
    recallsSeq: 0,
    recalled: false,
  });
  const record = (seq: number) => ({ appId: 'app1', message: message(seq), members: ['alice', 'bob'], traceId: 't-1' });

  it.each([1, 42, 300, 2 ** 40 + 7])('a draft with seq %i appended decodes as the record encoded with that seq', (seq) => {
    const draft = encodeStoreRecord(record(0));
    expect(decodeStoreRecord(draft).message.seq).toBe(0);
    const final = withSeq(draft, seq);
    expect(decodeStoreRecord(final)).toEqual(decodeStoreRecord(encodeStoreRecord(record(seq))));
    expect(decodeStoreRecord(final).message.seq).toBe(seq);
    // Only the seq field is added: a few bytes, the draft itself unchanged.
    expect(Buffer.from(final.subarray(0, draft.length)).equals(Buffer.from(draft))).toBe(true);
    expect(final.length - draft.length).toBeLessThanOrEqual(11);
  });

  it('a record without the field keeps its message seq', () => {
    expect(decodeStoreRecord(encodeStoreRecord(record(9))).message.seq).toBe(9);
  });
});
