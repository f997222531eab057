// What upload() reads from: a Blob (a browser File) or bytes in memory. A Blob is read slice by
// slice, so a large file is never in memory whole.
import { throwIfAborted } from './abort.js';

export type FileSource = Blob | Uint8Array;

/** Slices read while hashing: large enough to be fast, small enough for a phone. */
export const HASH_SLICE_BYTES = 4 * 1024 * 1024;

export function sourceSize(source: FileSource): number {
  return source instanceof Uint8Array ? source.byteLength : source.size;
}

/** The bytes [offset, offset + length) of the source (fewer at its end). */
export async function readRange(source: FileSource, offset: number, length: number): Promise<Uint8Array> {
  const end = Math.min(sourceSize(source), offset + length);
  if (source instanceof Uint8Array) return source.subarray(offset, end);
  return new Uint8Array(await source.slice(offset, end).arrayBuffer());
}

/** The source's bytes in order, `sliceBytes` at a time. */
export async function* slices(source: FileSource, sliceBytes = HASH_SLICE_BYTES, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const size = sourceSize(source);
  for (let offset = 0; offset < size; offset += sliceBytes) {
    throwIfAborted(signal);
    yield await readRange(source, offset, sliceBytes);
  }
}
