// The client wire format: one protocol-version byte, then an imcloud.v1.Frame. TCP adds a
// 4-byte big-endian length before each frame (see protocol/im.proto).

import { ImError } from './errors.js';
import { imcloud } from './gen/im.js';
import './protobuf-fast-strings.js';

export const PROTOCOL_VERSION = 1;

export type Frame = imcloud.v1.Frame;
export type FrameInit = imcloud.v1.Frame.$Properties;
export type FrameKind = NonNullable<imcloud.v1.Frame['body']>;
export const FrameMessage = imcloud.v1.Frame;

/** Encodes a Frame object without the version byte (the form carried inside bus messages). */
export function encodeFrameBody(frame: FrameInit): Uint8Array {
  return imcloud.v1.Frame.encode(frame).finish();
}

/** Prefixes an encoded Frame with the version byte. */
export function withVersion(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = PROTOCOL_VERSION;
  out.set(body, 1);
  return out;
}

/**
 * A versioned frame from an encoded frame body that has no req_id, with `reqId` set: for a frame
 * sent by the thousand (the overload refusal), encoded once, where only the reqId differs.
 */
export function withVersionAndReqId(body: Uint8Array, reqId: number): Uint8Array {
  // Frame.req_id is field 1, a varint (tag 0x08); a decoder takes the fields in any order.
  let n = reqId >>> 0;
  let varintLength = 1;
  for (let v = n; v > 0x7f; v >>>= 7) varintLength++;
  const head = n > 0 ? 1 + varintLength : 0;
  // From Buffer's pool: a small frame sent by the thousand should not cost an allocation of its own.
  const out = Buffer.allocUnsafe(1 + head + body.length);
  out[0] = PROTOCOL_VERSION;
  let at = 1;
  if (head > 0) {
    out[at++] = 0x08;
    while (n > 0x7f) {
      out[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[at++] = n;
  }
  out.set(body, at);
  return out;
}

export function encodeFrame(frame: FrameInit): Uint8Array {
  return withVersion(encodeFrameBody(frame));
}

export function decodeFrameBody(body: Uint8Array): Frame {
  let frame: Frame;
  try {
    frame = imcloud.v1.Frame.decode(body);
  } catch (err) {
    throw new ImError('IM_FRAME_MALFORMED', `malformed frame: ${(err as Error).message}`);
  }
  if (!frame.body) throw new ImError('IM_FRAME_UNKNOWN_TYPE', 'the frame carries no known body type');
  return frame;
}

/** Checks the version byte and decodes. Throws ImError with a stable code. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length === 0) throw new ImError('IM_FRAME_MALFORMED', 'empty frame');
  if (bytes[0] !== PROTOCOL_VERSION) {
    throw new ImError(
      'IM_PROTOCOL_VERSION',
      `protocol version ${bytes[0]} is not supported; this server speaks version ${PROTOCOL_VERSION}`,
    );
  }
  return decodeFrameBody(bytes.subarray(1));
}

export function errorFrame(err: ImError, reqId = 0): FrameInit {
  return { reqId, error: { code: err.code, message: err.message, retryAfterMs: err.retryAfterMs, fatal: err.fatal } };
}

/** Splits a TCP byte stream into frames (each still carrying its version byte). */
export class LengthPrefixedReader {
  private buffer: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxFrameBytes: number) {}

  /** Feeds bytes; returns the complete frames. Throws IM_FRAME_TOO_LARGE on an oversize length. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.buffer.length === 0) this.buffer = chunk;
    else {
      const merged = new Uint8Array(this.buffer.length + chunk.length);
      merged.set(this.buffer);
      merged.set(chunk, this.buffer.length);
      this.buffer = merged;
    }
    const frames: Uint8Array[] = [];
    let offset = 0;
    while (this.buffer.length - offset >= 4) {
      const view = new DataView(this.buffer.buffer, this.buffer.byteOffset + offset, 4);
      const len = view.getUint32(0, false);
      if (len > this.maxFrameBytes) {
        throw new ImError('IM_FRAME_TOO_LARGE', `frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`);
      }
      if (this.buffer.length - offset - 4 < len) break;
      frames.push(this.buffer.slice(offset + 4, offset + 4 + len));
      offset += 4 + len;
    }
    this.buffer = offset === this.buffer.length ? new Uint8Array(0) : this.buffer.slice(offset);
    return frames;
  }
}

export function lengthPrefixed(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length + 4);
  new DataView(out.buffer).setUint32(0, frame.length, false);
  out.set(frame, 4);
  return out;
}
