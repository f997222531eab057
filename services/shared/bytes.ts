// Bytes as Node APIs want them.

/** The same bytes as a Buffer, without copying them (a Buffer is a Uint8Array view). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Every byte of a stream, in one Buffer (for small, bounded reads only). */
export async function readStream(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(asBuffer(part));
  return Buffer.concat(parts);
}
