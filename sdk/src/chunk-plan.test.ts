import { describe, expect, it } from 'vitest';
import { bytesHeld, checkPlan, chunkRange, chunksToSend } from './chunk-plan.js';
import { ImClientError } from './client-error.js';

describe('chunk planning', () => {
  const plan = { size: 12, chunkBytes: 5, chunks: 3 };

  it('cuts the file into in-order chunks, the last one short', () => {
    expect([0, 1, 2].map((i) => chunkRange(plan, i))).toEqual([
      { start: 0, end: 5 },
      { start: 5, end: 10 },
      { start: 10, end: 12 },
    ]);
    expect(() => chunkRange(plan, 3)).toThrow(RangeError);
  });

  it('resumes from the chunks held and counts the bytes held', () => {
    expect(chunksToSend(plan, 0)).toEqual([0, 1, 2]);
    expect(chunksToSend(plan, 2)).toEqual([2]);
    expect(chunksToSend(plan, 3)).toEqual([]);
    expect([0, 1, 2, 3].map((n) => bytesHeld(plan, n))).toEqual([0, 5, 10, 12]);
  });

  it('accepts a plan that covers the file exactly and refuses any other', () => {
    expect(checkPlan(plan)).toBe(plan);
    expect(checkPlan({ size: 10, chunkBytes: 5, chunks: 2 }).chunks).toBe(2);
    for (const bad of [
      { size: 12, chunkBytes: 5, chunks: 2 },
      { size: 12, chunkBytes: 5, chunks: 4 },
      { size: 12, chunkBytes: 0, chunks: 3 },
    ])
      expect(() => checkPlan(bad)).toThrow(ImClientError);
  });
});
