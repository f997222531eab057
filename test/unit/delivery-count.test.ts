import { describe, expect, it } from 'vitest';
import { countDeliveries, type MessageKey } from '../support/delivery-count.js';

const m = (conversation: string, seq: number): MessageKey => ({ conversation, seq, clientMsgId: `${conversation}-${seq}` });
const row = (k: MessageKey) => ({ ...k, sender: 'alice' });

describe('countDeliveries (the chaos and real-node streams)', () => {
  const sent = [m('c1', 1), m('c1', 2), m('c2', 1)];

  it('finds nothing wrong when every send is stored once and seen once, in order, by every device that must hold it', () => {
    const devices = [{ deviceId: 'bob', received: sent }];
    expect(countDeliveries({ sent, targets: () => devices, devices, rows: sent.map(row) })).toEqual({
      lost: 0,
      duplicated: 0,
      reordered: 0,
      details: [],
    });
  });

  it('counts a send not stored, and one missing on a device, as lost, saying why', () => {
    const devices = [{ deviceId: 'bob', received: [sent[0]!, sent[2]!] }];
    const r = countDeliveries({ sent, targets: () => devices, devices, rows: [sent[0]!, sent[1]!].map(row), whyMissing: () => ' (why)' });
    expect(r.lost).toBe(2);
    expect(r.details).toEqual(['not delivered to bob: c1#2 (why)', 'not stored: c2#1 (c2-1)']);
  });

  it('counts a row stored twice (by seq or by clientMsgId) and a message seen twice as duplicated, and a lower seq after a higher one as reordered', () => {
    const devices = [{ deviceId: 'bob', received: [sent[1]!, sent[0]!, sent[2]!, sent[2]!] }];
    const rows = [...sent.map(row), row(sent[0]!), { ...row(sent[2]!), seq: 9 }];
    const r = countDeliveries({ sent, targets: () => devices, devices, rows });
    expect(r.lost).toBe(0);
    // c1#1 twice by seq and by clientMsgId; c2-1 twice by clientMsgId; c2#1 seen twice.
    expect(r.duplicated).toBe(4);
    // c1#1 after c1#2, and c2#1 after c2#1.
    expect(r.reordered).toBe(2);
  });
});
