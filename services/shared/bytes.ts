// Bytes as Node APIs want them.

/** The same bytes as a Buffer, without copying them (a Buffer is a Uint8Array view). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
