import { describe, expect, it } from 'vitest';
import { ConversationList } from './conversation-list.js';

const peerOf = (c: string) => c.split(':').find((u, i) => i > 0 && u !== 'me') ?? 'me';

describe('ConversationList', () => {
  it('counts unread from peer messages and clears it with own messages and reads', () => {
    const list = new ConversationList(peerOf);
    const conv = 's:bob:me';
    list.onMessage({ conversation: conv, seq: 1, ts: 10, own: false });
    list.onMessage({ conversation: conv, seq: 2, ts: 11, own: false });
    expect(list.get(conv)).toMatchObject({ peer: 'bob', maxSeq: 2, unread: 2 });
    list.onMessage({ conversation: conv, seq: 3, ts: 12, own: true });
    expect(list.get(conv)).toMatchObject({ readSeq: 3, unread: 0 });
    list.onMessage({ conversation: conv, seq: 4, ts: 13, own: false });
    expect(list.get(conv)!.unread).toBe(1);
    list.onOwnRead(conv, 4);
    expect(list.get(conv)!.unread).toBe(0);
  });

  it('never lets unread go negative or the read cursor pass the max seq', () => {
    const list = new ConversationList(peerOf);
    list.applySummary({
      conversation: 's:bob:me',
      peer: 'bob',
      maxSeq: 5,
      readSeq: 9,
      peerReadSeq: 0,
      peerDeliveredSeq: 0,
      lastTs: 1,
      mentionedSeq: 0,
    });
    expect(list.get('s:bob:me')).toMatchObject({ readSeq: 5, unread: 0 });
  });

  it('only moves cursors forward and treats a peer read as delivery', () => {
    const list = new ConversationList(peerOf);
    const conv = 's:bob:me';
    list.applySummary({
      conversation: conv,
      peer: 'bob',
      maxSeq: 8,
      readSeq: 6,
      peerReadSeq: 4,
      peerDeliveredSeq: 0,
      lastTs: 100,
      mentionedSeq: 0,
    });
    list.applySummary({
      conversation: conv,
      peer: 'bob',
      maxSeq: 7,
      readSeq: 2,
      peerReadSeq: 1,
      peerDeliveredSeq: 6,
      lastTs: 50,
      mentionedSeq: 0,
    });
    expect(list.get(conv)).toMatchObject({
      maxSeq: 8,
      readSeq: 6,
      unread: 2,
      peerReadSeq: 4,
      peerDeliveredSeq: 6,
      lastTs: 100,
      mentionedSeq: 0,
    });
    list.onPeerDelivered(conv, 7);
    list.onPeerRead(conv, 5);
    expect(list.get(conv)).toMatchObject({ peerDeliveredSeq: 7, peerReadSeq: 5 });
  });

  it('takes a message from the peer as the peer having read up to it', () => {
    const list = new ConversationList(peerOf);
    const conv = 's:bob:me';
    list.onMessage({ conversation: conv, seq: 3, ts: 10, own: true });
    list.onMessage({ conversation: conv, seq: 4, ts: 11, own: false });
    expect(list.get(conv)).toMatchObject({ peerReadSeq: 4, peerDeliveredSeq: 4, readSeq: 3, unread: 1 });
  });

  it('lists the most recently active conversation first', () => {
    const list = new ConversationList(peerOf);
    list.onMessage({ conversation: 's:bob:me', seq: 1, ts: 10, own: false });
    list.onMessage({ conversation: 's:carol:me', seq: 1, ts: 20, own: false });
    expect(list.list().map((c) => c.peer)).toEqual(['carol', 'bob']);
    list.onMessage({ conversation: 's:bob:me', seq: 2, ts: 30, own: false });
    expect(list.list().map((c) => c.peer)).toEqual(['bob', 'carol']);
  });

  it('a group conversation is mentioned while a message that @mentions this user is unread', () => {
    const list = new ConversationList(peerOf);
    const conv = 'g:club';
    list.onMessage({ conversation: conv, seq: 3, ts: 10, own: false, mentionsMe: true });
    list.onMessage({ conversation: conv, seq: 4, ts: 11, own: false });
    expect(list.get(conv)).toMatchObject({ group: 'club', mentionedSeq: 3, mentioned: true, unread: 4 });
    list.onOwnRead(conv, 3);
    expect(list.get(conv)).toMatchObject({ mentioned: false, unread: 1 });
    list.applySummary({
      conversation: conv,
      peer: '',
      maxSeq: 9,
      readSeq: 3,
      peerReadSeq: 0,
      peerDeliveredSeq: 0,
      lastTs: 20,
      mentionedSeq: 8,
    });
    expect(list.get(conv)).toMatchObject({ mentionedSeq: 8, mentioned: true });
  });
});
