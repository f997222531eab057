// Which bytes each chunk of an upload carries and how far an upload is, from what the server
// said (chunkBytes, chunks, chunksHeld). Chunks go in order: chunk i is bytes
// [i·chunkBytes, min(size, (i+1)·chunkBytes)), and the next one to send is chunksHeld.
import { ImClientError } from './client-error.js';

export interface ChunkPlan {
  size: number;
  chunkBytes: number;
  chunks: number;
}

/** Checks the server's plan covers the file exactly; SDK_PROTOCOL if not. */
export function checkPlan(plan: ChunkPlan): ChunkPlan {
  const { size, chunkBytes, chunks } = plan;
  const expected = size === 0 ? chunks : Math.ceil(size / chunkBytes);
  if (!(chunkBytes > 0) || !Number.isSafeInteger(chunks) || chunks < 0 || chunks !== expected || (chunks === 0 && size > 0))
    throw new ImClientError('SDK_PROTOCOL', `the server planned ${chunks} chunks of ${chunkBytes} bytes for ${size} bytes`);
  return plan;
}

/** The byte range [start, end) of chunk `index`. */
export function chunkRange(plan: ChunkPlan, index: number): { start: number; end: number } {
  if (!Number.isInteger(index) || index < 0 || index >= plan.chunks) throw new RangeError(`no chunk ${index} of ${plan.chunks}`);
  const start = index * plan.chunkBytes;
  return { start, end: Math.min(plan.size, start + plan.chunkBytes) };
}

/** Bytes the server holds when it holds the first `chunksHeld` chunks. */
export function bytesHeld(plan: ChunkPlan, chunksHeld: number): number {
  return Math.min(plan.size, Math.max(0, chunksHeld) * plan.chunkBytes);
}

/** The indexes still to send, in order. */
export function chunksToSend(plan: ChunkPlan, chunksHeld: number): number[] {
  const from = Math.max(0, Math.min(plan.chunks, chunksHeld));
  return Array.from({ length: plan.chunks - from }, (_, i) => from + i);
}
