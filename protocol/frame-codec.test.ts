import { describe, expect, it } from 'vitest';
import type { ImError } from './errors.js';
import {
  decodeFrame,
  encodeFrame,
  encodeFrameBody,
  LengthPrefixedReader,
  lengthPrefixed,
  PROTOCOL_VERSION,
  withVersionAndReqId,
} from './frame-codec.js';

describe('frame codec', () => {
  it('round-trips a frame with the version byte first', () => {
    const bytes = encodeFrame({ reqId: 9, send: { clientMsgId: 'c1', to: 'bob', body: new Uint8Array([1, 2]) } });
    expect(bytes[0]).toBe(PROTOCOL_VERSION);
    const frame = decodeFrame(bytes);
    expect(frame.body).toBe('send');
    expect(frame.reqId).toBe(9);
    expect(frame.send!.to).toBe('bob');
  });

  it('decodes 64-bit fields as plain numbers', () => {
    const frame = decodeFrame(encodeFrame({ sendAck: { seq: 2 ** 40, ts: 1_700_000_000_000 } }));
    expect(frame.sendAck!.seq).toBe(2 ** 40);
    expect(typeof frame.sendAck!.ts).toBe('number');
  });

  it('refuses other versions, garbage, empty and body-less frames with stable codes', () => {
    const code = (bytes: Uint8Array) => {
      try {
        decodeFrame(bytes);
        return 'ok';
      } catch (err) {
        return (err as ImError).code;
      }
    };
    const v0 = encodeFrame({ ping: {} });
    v0[0] = 0;
    expect(code(v0)).toBe('IM_PROTOCOL_VERSION');
    expect(code(new Uint8Array())).toBe('IM_FRAME_MALFORMED');
    expect(code(new Uint8Array([1, 0xff, 0xff, 0xff]))).toBe('IM_FRAME_MALFORMED');
    expect(code(new Uint8Array([1]))).toBe('IM_FRAME_UNKNOWN_TYPE');
  });

  it('splits a TCP stream into frames across arbitrary chunk boundaries', () => {
    const frames = [encodeFrame({ ping: { clientTime: 1 } }), encodeFrame({ ping: { clientTime: 2 } }), encodeFrame({ logout: {} })];
    const stream = Buffer.concat(frames.map((f) => Buffer.from(lengthPrefixed(f))));
    for (const chunkSize of [1, 2, 3, 7, stream.length]) {
      const reader = new LengthPrefixedReader(1024);
      const out: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += chunkSize) out.push(...reader.push(new Uint8Array(stream.subarray(i, i + chunkSize))));
      expect(out.map((f) => Buffer.from(f).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')));
    }
  });

  it('refuses a TCP length prefix over the limit before buffering it', () => {
    const reader = new LengthPrefixedReader(100);
    expect(() => reader.push(new Uint8Array([0, 0, 1, 0]))).toThrow(expect.objectContaining({ code: 'IM_FRAME_TOO_LARGE' }));
  });
});

describe('withVersionAndReqId: a frame encoded once, sent with many reqIds', () => {
  it('decodes as the same frame with each reqId (one-byte and multi-byte varints, and none)', () => {
    const body = encodeFrameBody({ error: { code: 'IM_UNAVAILABLE', message: 'overloaded', retryAfterMs: 1_000, fatal: false } });
    for (const reqId of [0, 1, 127, 128, 300, 2 ** 31 + 5]) {
      const frame = decodeFrame(withVersionAndReqId(body, reqId));
      expect(frame.reqId).toBe(reqId);
      expect(frame.body).toBe('error');
      expect(frame.error).toMatchObject({ code: 'IM_UNAVAILABLE', message: 'overloaded', retryAfterMs: 1_000 });
      expect([...withVersionAndReqId(body, reqId)]).toEqual([
        ...encodeFrame({ reqId, error: { code: 'IM_UNAVAILABLE', message: 'overloaded', retryAfterMs: 1_000, fatal: false } }),
      ]);
    }
  });
});
