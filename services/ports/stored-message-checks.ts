// Helpers shared by the contract suites of ports that hold StoredMessages.
import { expect } from 'vitest';
import type { StoredMessage } from './stored-message.js';

export const seqs = (list: StoredMessage[]): number[] => list.map((m) => m.seq);
export const span = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Comparable form: bodies as hex (an adapter may hand back a Buffer, or MongoDB Binary turned into bytes). */
export const plain = (m: StoredMessage): Omit<StoredMessage, 'body'> & { body: string } => {
  expect(m.body).toBeInstanceOf(Uint8Array);
  return { ...m, body: Buffer.from(m.body).toString('hex') };
};
