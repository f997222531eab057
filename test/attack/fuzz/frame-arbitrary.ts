// Arbitrary imcloud.v1 frames, derived from protocol/im.proto by reflection: every message type,
// field and oneof member of the protocol, so that a field added to the proto is fuzzed without
// touching this file. Values stay inside what the wire format round-trips exactly (64-bit fields
// as safe integers: the codec decodes them as plain numbers; strings are valid Unicode).
import { fileURLToPath } from 'node:url';
import { fc } from '@fast-check/vitest';
import protobuf from 'protobufjs';
import type { FrameInit } from '../../../protocol/frame-codec.js';

const root = protobuf.loadSync(fileURLToPath(new URL('../../../protocol/im.proto', import.meta.url)));
export const FrameType = root.lookupType('imcloud.v1.Frame');

const scalar: Record<string, () => fc.Arbitrary<unknown>> = {
  string: () => fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 40 })),
  bytes: () => fc.uint8Array({ maxLength: 64 }),
  bool: () => fc.boolean(),
  uint32: () => fc.nat({ max: 2 ** 32 - 1 }),
  fixed32: () => fc.nat({ max: 2 ** 32 - 1 }),
  int32: () => fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  sint32: () => fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  sfixed32: () => fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  uint64: () => fc.maxSafeNat(),
  fixed64: () => fc.maxSafeNat(),
  int64: () => fc.maxSafeInteger(),
  sint64: () => fc.maxSafeInteger(),
  sfixed64: () => fc.maxSafeInteger(),
  double: () => fc.double({ noNaN: true }),
  float: () => fc.float({ noNaN: true }),
};

function fieldValue(field: protobuf.Field, depth: number): fc.Arbitrary<unknown> {
  field.resolve();
  let one: fc.Arbitrary<unknown>;
  if (field.resolvedType instanceof protobuf.Enum) one = fc.constantFrom(...Object.values(field.resolvedType.values));
  else if (field.resolvedType instanceof protobuf.Type) one = messageOf(field.resolvedType, depth + 1);
  else
    one = (
      scalar[field.type] ??
      (() => {
        throw new Error(`no arbitrary for proto type ${field.type}`);
      })
    )();
  return field.repeated ? fc.array(one, { maxLength: depth > 1 ? 2 : 4 }) : one;
}

/** A plain object for `type`: every field optional; a oneof gets at most one member. */
export function messageOf(type: protobuf.Type, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  if (depth > 3) return fc.constant({});
  const inOneof = new Set(type.oneofsArray.flatMap((o) => o.fieldsArray.map((f) => f.name)));
  const plain: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of type.fieldsArray) if (!inOneof.has(field.name)) plain[field.name] = fieldValue(field, depth);
  const oneofs = type.oneofsArray.map((o) =>
    fc.option(fc.oneof(...o.fieldsArray.map((f) => fieldValue(f, depth).map((v) => ({ [f.name]: v })))), { nil: {} }),
  );
  return fc
    .tuple(fc.record(plain, { requiredKeys: [] }), ...oneofs)
    .map(([base, ...picked]) => Object.assign({}, base, ...picked) as Record<string, unknown>);
}

/** The names of the Frame body members (auth, authOk, ping, …). */
export const BODY_KINDS = FrameType.oneofs.body!.fieldsArray.map((f) => f.name);

/** A Frame with exactly one body (optionally one of `kinds`), and any reqId. */
export function frameArbitrary(kinds: readonly string[] = BODY_KINDS): fc.Arbitrary<FrameInit> {
  const members = FrameType.oneofs.body!.fieldsArray.filter((f) => kinds.includes(f.name));
  return fc
    .tuple(fc.nat({ max: 2 ** 32 - 1 }), fc.oneof(...members.map((f) => fieldValue(f, 0).map((v) => ({ [f.name]: v })))))
    .map(([reqId, body]) => ({ reqId, ...body }) as FrameInit);
}
