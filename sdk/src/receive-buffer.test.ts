import { describe, expect, it } from 'vitest';
import { ReceiveBuffer } from './receive-buffer.js';

const m = (seq: number, empty = false) => ({ seq, empty, text: `m${seq}` });
const seqs = (items: Array<{ seq: number }>) => items.map((i) => i.seq);

describe('ReceiveBuffer', () => {
  it('hands on in-order messages at once', () => {
    const b = new ReceiveBuffer<ReturnType<typeof m>>();
    expect(seqs(b.add([m(1), m(2)]))).toEqual([1, 2]);
    expect(seqs(b.add([m(3)]))).toEqual([3]);
    expect(b.cursor).toBe(3);
    expect(b.gap()).toBeNull();
  });

  it('holds messages behind a gap, names the gap, and releases them in seq order once it is filled', () => {
    const b = new ReceiveBuffer<ReturnType<typeof m>>(2);
    expect(b.add([m(6), m(4)])).toEqual([]);
    expect(b.waiting).toBe(2);
    expect(b.gap()).toEqual({ from: 3, to: 3 });
    expect(seqs(b.add([m(3)]))).toEqual([3, 4]);
    expect(b.gap()).toEqual({ from: 5, to: 5 });
    expect(seqs(b.add([m(5)]))).toEqual([5, 6]);
    expect(b.cursor).toBe(6);
    expect(b.waiting).toBe(0);
  });

  it('drops duplicates: at or below the cursor, already waiting, or twice in one batch', () => {
    const b = new ReceiveBuffer<ReturnType<typeof m>>();
    expect(seqs(b.add([m(1), m(1), m(2)]))).toEqual([1, 2]);
    expect(b.add([m(2), m(1)])).toEqual([]);
    const first = m(5);
    b.add([first]);
    b.add([{ ...m(5), text: 'redelivered' }]);
    expect(b.add([m(3), m(4)]).map((x) => x.text)).toEqual(['m3', 'm4', 'm5']);
  });

  it('sorts a shuffled batch', () => {
    const b = new ReceiveBuffer<ReturnType<typeof m>>();
    const batch = [5, 3, 1, 4, 2].map((s) => m(s));
    expect(seqs(b.add(batch))).toEqual([1, 2, 3, 4, 5]);
  });

  it('advances over empty slots without handing them on, and names each one as it passes', () => {
    const passed: number[] = [];
    const b = new ReceiveBuffer<ReturnType<typeof m>>(0, (slot) => passed.push(slot.seq));
    b.add([m(3)]);
    expect(b.gap()).toEqual({ from: 1, to: 2 });
    expect(seqs(b.add([m(1), m(2, true)]))).toEqual([1, 3]);
    expect(b.cursor).toBe(3);
    // An empty slot at the end still moves the cursor.
    expect(b.add([m(4, true)])).toEqual([]);
    expect(b.cursor).toBe(4);
    // One that waits behind a gap is named only when the cursor reaches it, and only once.
    b.add([m(6, true)]);
    b.add([m(6, true)]);
    expect(passed).toEqual([2, 4]);
    b.add([m(5)]);
    expect(passed).toEqual([2, 4, 6]);
  });

  it('skipTo starts a conversation mid-way and drops what lies below', () => {
    const b = new ReceiveBuffer<ReturnType<typeof m>>();
    b.add([m(2), m(9), m(11)]);
    expect(seqs(b.skipTo(8))).toEqual([9]);
    expect(b.cursor).toBe(9);
    expect(b.gap()).toEqual({ from: 10, to: 10 });
    expect(b.skipTo(5)).toEqual([]); // never backwards
    expect(b.cursor).toBe(9);
  });

  it('reports a gap up to a known max seq when nothing waits', () => {
    const b = new ReceiveBuffer<ReturnType<typeof m>>(4);
    expect(b.gap(4)).toBeNull();
    expect(b.gap(7)).toEqual({ from: 5, to: 7 });
    expect(b.highestSeen).toBe(4);
    b.add([m(10)]);
    expect(b.highestSeen).toBe(10);
    expect(b.gap(20)).toEqual({ from: 5, to: 9 });
  });

  it('ignores nonsense seqs', () => {
    const b = new ReceiveBuffer<{ seq: number }>();
    expect(b.add([{ seq: 0 }, { seq: -1 }, { seq: 1.5 }, { seq: Number.NaN }])).toEqual([]);
    expect(b.cursor).toBe(0);
    expect(b.waiting).toBe(0);
  });
});
