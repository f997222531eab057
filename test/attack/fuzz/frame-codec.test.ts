// Property-based fuzzing of the frame decoder and the TCP framing (protocol/frame-codec.ts):
// arbitrary and mutated bytes never throw anything but an ImError with a catalog code; every
// valid frame round-trips; any chunking of a valid stream gives the same frames; oversize
// lengths are refused as soon as their prefix is in.

import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ImError, isErrorCode } from '../../../protocol/errors.js';
import { decodeFrame, decodeFrameBody, encodeFrame, LengthPrefixedReader, lengthPrefixed } from '../../../protocol/frame-codec.js';
import { budget, testTimeout } from './budget.js';
import { frameArbitrary } from './frame-arbitrary.js';

const DECODE_CODES = ['IM_PROTOCOL_VERSION', 'IM_FRAME_MALFORMED', 'IM_FRAME_UNKNOWN_TYPE'];
const MAX = 64 * 1024;

/** 'ok' or the code of the ImError thrown; anything else thrown fails the property. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!(err instanceof ImError))
      throw new Error(`threw a ${(err as Error)?.constructor?.name ?? typeof err}, not an ImError: ${String(err)}`);
    expect(isErrorCode(err.code)).toBe(true);
    return err.code;
  }
}

/** Bytes of a valid frame, then mutated: flipped bits, cut, spliced, extended. */
const mutated = fc
  .tuple(
    frameArbitrary(),
    fc.array(fc.tuple(fc.constantFrom('flip', 'cut', 'insert', 'delete', 'dup'), fc.nat(), fc.nat({ max: 255 })), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([frame, edits]) => {
    let bytes = Array.from(encodeFrame(frame));
    for (const [op, at, value] of edits) {
      const i = bytes.length ? at % bytes.length : 0;
      if (op === 'flip' && bytes.length) bytes[i] = bytes[i]! ^ (1 << (value % 8));
      else if (op === 'cut') bytes = bytes.slice(0, i);
      else if (op === 'insert') bytes.splice(i, 0, value);
      else if (op === 'delete') bytes.splice(i, 1);
      else if (op === 'dup') bytes = bytes.concat(bytes.slice(i, i + 8));
    }
    return new Uint8Array(bytes);
  });

const chunked = (stream: Uint8Array, cuts: number[]): Uint8Array[] => {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.slice(last, p));
    last = p;
  }
  return out;
};

const same = (a: Uint8Array[], b: Uint8Array[]) =>
  expect(a.map((x) => Buffer.from(x).toString('hex'))).toEqual(b.map((x) => Buffer.from(x).toString('hex')));

describe('frame decoder', () => {
  test.prop([fc.uint8Array({ maxLength: 600 })], budget(8_000, 10))(
    'arbitrary bytes: a frame with a body, or an ImError with a catalog code',
    (bytes) => {
      const code = outcome(() => {
        const f = decodeFrame(bytes);
        expect(f.body).toBeTruthy();
      });
      if (code !== 'ok') expect(DECODE_CODES).toContain(code);
    },
    testTimeout(10),
  );

  test.prop([fc.uint8Array({ maxLength: 600 }).map((b) => Uint8Array.of(1, ...b))], budget(8_000, 10))(
    'arbitrary bytes behind the right version byte (protobuf decoding itself)',
    (bytes) => {
      const code = outcome(() => decodeFrame(bytes));
      if (code !== 'ok') expect(['IM_FRAME_MALFORMED', 'IM_FRAME_UNKNOWN_TYPE']).toContain(code);
      const body = outcome(() => decodeFrameBody(bytes.subarray(1)));
      expect(body).toBe(code);
    },
    testTimeout(10),
  );

  test.prop([mutated], budget(8_000, 10))(
    'mutated valid frames: a frame with a body, or an ImError with a catalog code',
    (bytes) => {
      const code = outcome(() => decodeFrame(bytes));
      if (code !== 'ok') expect(DECODE_CODES).toContain(code);
    },
    testTimeout(10),
  );

  test.prop([frameArbitrary()], budget(2_000, 10))(
    'every valid frame round-trips: decode(encode(f)) encodes to the same bytes, with the same body and reqId',
    (frame) => {
      const bytes = encodeFrame(frame);
      const decoded = decodeFrame(bytes);
      expect(decoded.body).toBe(Object.keys(frame).find((k) => k !== 'reqId'));
      expect(decoded.reqId).toBe(frame.reqId ?? 0);
      expect(Buffer.from(encodeFrame(decoded)).equals(Buffer.from(bytes))).toBe(true);
    },
    testTimeout(10),
  );
});

describe('TCP framing (LengthPrefixedReader)', () => {
  test.prop([fc.array(frameArbitrary(), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 })], budget(1_500, 10))(
    'any chunking of a stream of valid frames yields the same frames',
    (frames, cuts) => {
      const encoded = frames.map((f) => encodeFrame(f));
      const stream = Buffer.concat(encoded.map((f) => lengthPrefixed(f)));
      const reader = new LengthPrefixedReader(MAX);
      const got = chunked(new Uint8Array(stream), cuts).flatMap((c) => reader.push(c));
      same(got, encoded);
      for (const f of got) expect(decodeFrame(f).body).toBeTruthy();
    },
    testTimeout(10),
  );

  test.prop([fc.uint8Array({ maxLength: 2_000 }), fc.array(fc.nat(), { maxLength: 12 }), fc.nat({ max: 4_096 })], budget(5_000, 10))(
    'arbitrary bytes: chunked or whole, the same frames and the same refusal (only IM_FRAME_TOO_LARGE)',
    (bytes, cuts, max) => {
      const run = (chunks: Uint8Array[]) => {
        const reader = new LengthPrefixedReader(max);
        const frames: Uint8Array[] = [];
        for (const c of chunks) {
          let code = 'ok';
          code = outcome(() => frames.push(...reader.push(c)));
          if (code !== 'ok') return { frames, code };
        }
        return { frames, code: 'ok' };
      };
      const whole = run([bytes]);
      const parts = run(chunked(bytes, cuts));
      expect(['ok', 'IM_FRAME_TOO_LARGE']).toContain(whole.code);
      expect(parts.code).toBe(whole.code);
      same(parts.frames, whole.frames);
      for (const f of whole.frames) expect(f.length).toBeLessThanOrEqual(max);
    },
    testTimeout(10),
  );

  test.prop([fc.integer({ min: MAX + 1, max: 2 ** 32 - 1 }), fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 3 })], budget(2_000, 10))(
    'a length over the limit is refused as soon as its 4 bytes are in, whatever follows',
    (len, tail, split) => {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(len);
      const reader = new LengthPrefixedReader(MAX);
      expect(reader.push(prefix.subarray(0, split))).toEqual([]);
      expect(outcome(() => reader.push(Buffer.concat([prefix.subarray(split), tail])))).toBe('IM_FRAME_TOO_LARGE');
    },
    testTimeout(10),
  );
});
