// A faster string decoder for protobufjs on Node (imported for its side effect by the codecs).
//
// The generated decoders read every string with Reader#stringVerify (protobufjs 8), which
// BufferReader does not override: short strings are then built by concatenating
// String.fromCharCode chunks of 8 characters, a rope of small strings per field. Ids, user ids
// and conversation ids are short ASCII strings, decoded several times per message on the hot
// path (gate, logic, consumer), so that was a large share of the allocations (bench/: ~10% of
// the bytes allocated per message). Here: ASCII → one latin1Slice (a flat one-byte string);
// anything else → the same strict TextDecoder protobufjs uses, so invalid UTF-8 still throws.
// Browsers (the SDK bundles the codec) never use BufferReader, so this changes nothing there.
import $protobuf from 'protobufjs/minimal.js';

interface ReaderLike {
  buf: Uint8Array & { latin1Slice?: (start: number, end: number) => string };
  pos: number;
  len: number;
  size(): number;
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function stringVerifyFast(this: ReaderLike): string {
  const len = this.size();
  const start = this.pos;
  const end = start + len;
  if (end > this.len) throw new RangeError(`index out of range: ${start} + ${len} > ${this.len}`);
  this.pos = end;
  const buf = this.buf;
  for (let i = start; i < end; i++) {
    if (buf[i]! & 0x80) return strict.decode(buf.subarray(start, end));
  }
  return buf.latin1Slice ? buf.latin1Slice(start, end) : String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
}

const BufferReader = ($protobuf as unknown as { BufferReader?: { prototype: Record<string, unknown> } }).BufferReader;
if (BufferReader && typeof BufferReader.prototype.stringVerify !== 'undefined') {
  BufferReader.prototype.stringVerify = stringVerifyFast;
}
