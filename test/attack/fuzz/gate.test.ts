// Property-based fuzzing of the gate's connection state machine, black-box through a socket
// against an in-process platform (test/support/platform.ts): arbitrary sequences of frames —
// valid and invalid, tokens good and bad, pipelined behind Auth or waiting for answers, raw
// bytes and wrong versions — on WebSocket and TCP. Whatever the sequence:
//   - every Error frame carries a catalog code, and nothing but errors follows a fatal one;
//   - no answer to a request (ack, sync page, history…) reaches a client before its AuthOk;
//   - the gate forwards no frame to logic without an authenticated identity (observed on the
//     bus: the real bus, with a recorder in front of publishUpstream);
//   - a first request that is not Auth is refused with IM_AUTH_REQUIRED and the connection closed;
//   - the platform keeps answering /healthz.

import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { encodeFrame, type FrameInit } from '../../../protocol/frame-codec.js';
import { imcloud } from '../../../protocol/gen/im.js';
import { mintToken } from '../../../services/shared/tokens.js';
import { startTestPlatform, type TestPlatform } from '../../support/platform.js';
import { takeTracked } from '../harness/canary.js';
import { AttackClient, type Transport } from '../harness/client.js';
import { budget, testTimeout } from './budget.js';
import { frameArbitrary } from './frame-arbitrary.js';

const Kind = imcloud.internal.v1.Upstream.Kind;
const ANSWERS = new Set(['sendAck', 'syncPage', 'historyResult', 'pullResult', 'readAck', 'logoutOk']);
const FORWARDED = ['send', 'pushAck', 'sync', 'pull', 'history', 'read', 'recall', 'logout'];

type TokenKind = 'valid' | 'otherApp' | 'forged' | 'expired' | 'garbage' | 'badSubject';
type Step =
  | { t: 'auth'; token: TokenKind; deviceId: string; garbage: string }
  | { t: 'frame'; frame: FrameInit }
  | { t: 'bytes'; bytes: Uint8Array }
  | { t: 'version'; version: number; frame: FrameInit }
  | { t: 'ping' }
  | { t: 'wait' };

let platform: TestPlatform;
let appA: { appId: string; secret: string };
let appB: { appId: string; secret: string };
const envelopes: Array<{ kind: number; appId: string; userId: string }> = [];

beforeAll(async () => {
  // The state machine is the subject here, not the app's frame rate: a connection over it is not
  // read from for up to 5 s (the flood attacks cover that), which would stall these runs.
  platform = await startTestPlatform({ gate: { appFramesPerSec: 1_000_000 } });
  appA = await platform.createApp();
  appB = await platform.createApp();
  // Records what the gate forwards; the real bus still carries it.
  const bus = platform.runtime.backends.bus as { publishUpstream(track: string, appId: string, body: Uint8Array): Promise<void> };
  const publish = bus.publishUpstream.bind(bus);
  bus.publishUpstream = (track, appId, body) => {
    const up = imcloud.internal.v1.Upstream.decode(body);
    envelopes.push({ kind: up.kind, appId: up.appId, userId: up.userId });
    return publish(track, appId, body);
  };
}, 60_000);

/** What the runs reached, printed at the end (a fuzzer that never gets past Auth tests little). */
const seen = { runs: 0, signedIn: 0, answered: 0, forwarded: 0, codes: new Map<string, number>() };

afterAll(async () => {
  console.log(
    `gate fuzz: ${seen.runs} runs, ${seen.signedIn} signed in, ${seen.forwarded} frames forwarded to logic, ${seen.answered} requests answered; errors ${JSON.stringify(Object.fromEntries([...seen.codes].sort()))}`,
  );
  for (const c of takeTracked()) c.close();
  await platform?.stop();
});

const conversation = fc.oneof(
  fc.constantFrom('s:alice:bob', 's:alice:carol', 's:bob:carol', 's:alice:alice', 'nonsense', '', 's::alice'),
  fc.string({ maxLength: 20 }),
);
const user = fc.oneof(fc.constantFrom('bob', 'alice', 'carol', 'a:b', '', '../x'), fc.string({ maxLength: 10 }));
const msgId = fc.oneof(fc.constantFrom('m1', 'm2', 'm3'), fc.string({ maxLength: 70 }));
const seq = fc.oneof(fc.nat({ max: 5 }), fc.maxSafeNat());
const body = fc.uint8Array({ maxLength: 40 });

/** Client requests with plausible values (so that logic's paths are reached), and anything at all. */
const clientFrame: fc.Arbitrary<FrameInit> = fc.oneof(
  fc.record({ send: fc.record({ clientMsgId: msgId, to: user, contentType: fc.constantFrom('text', '', 'x'.repeat(70)), body }) }),
  fc.record({
    sync: fc.record({ cursors: fc.array(fc.record({ conversation, seq }), { maxLength: 3 }), pageSize: fc.nat({ max: 2 ** 32 - 1 }) }),
  }),
  fc.record({
    history: fc.record({ conversation, fromSeq: seq, toSeq: seq, limit: fc.nat({ max: 2 ** 32 - 1 }), newestFirst: fc.boolean() }),
  }),
  fc.record({ pull: fc.record({ conversation, fromSeq: seq, toSeq: seq }) }),
  fc.record({ read: fc.record({ conversation, seq }) }),
  fc.record({ recall: fc.record({ clientMsgId: msgId, conversation, seq }) }),
  fc.record({ pushAck: fc.record({ cursors: fc.array(fc.record({ conversation, seq }), { maxLength: 3 }) }) }),
  fc.constant({ logout: {} }),
  frameArbitrary(),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('auth' as const),
      token: fc.constantFrom<TokenKind>('valid', 'valid', 'otherApp', 'forged', 'expired', 'garbage', 'badSubject'),
      deviceId: fc.oneof(fc.constantFrom('d1', 'd2'), fc.string({ maxLength: 130 })),
      garbage: fc.string({ maxLength: 60 }),
    }),
  },
  { weight: 12, arbitrary: fc.record({ t: fc.constant('frame' as const), frame: clientFrame }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 80 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('version' as const), version: fc.nat({ max: 255 }).filter((v) => v !== 1), frame: clientFrame }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'ping' as const }) },
  { weight: 4, arbitrary: fc.constant({ t: 'wait' as const }) },
);

/** Most sequences start signed in (so that what follows reaches logic); the rest start anywhere. */
const sequence: fc.Arbitrary<Step[]> = fc
  .tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.constant<Step[]>([{ t: 'auth', token: 'valid', deviceId: 'd1', garbage: '' }, { t: 'wait' }]) },
      { weight: 1, arbitrary: fc.constant<Step[]>([]) },
    ),
    fc.array(step, { minLength: 1, maxLength: 14 }),
  )
  .map(([start, rest]) => [...start, ...rest]);

async function token(kind: TokenKind, garbage: string): Promise<string> {
  switch (kind) {
    case 'valid':
      return platform.token(appA.appId, 'alice');
    case 'otherApp':
      return platform.token(appB.appId, 'alice');
    case 'forged':
      return (await mintToken(appA.appId, 'not-the-secret', 'alice', 600)).token;
    case 'expired':
      return (await mintToken(appA.appId, appA.secret, 'alice', 1, Date.now() - 600_000)).token;
    case 'badSubject':
      return (await mintToken(appA.appId, appA.secret, 'a:b', 600)).token;
    case 'garbage':
      return garbage;
  }
}

/** 'matched', 'closed' or 'timeout', leaving no rejection behind. */
function until(c: AttackClient, match: Parameters<AttackClient['next']>[0], ms: number): Promise<'matched' | 'closed' | 'timeout'> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: 'matched' | 'closed' | 'timeout') => {
      if (!done) resolve(r);
      done = true;
    };
    c.next(match, ms).then(
      () => finish('matched'),
      () => finish('timeout'),
    );
    c.closed(ms).then(
      () => finish('closed'),
      () => finish('timeout'),
    );
  });
}

let sentinel = 0x7f00_0000;

/** Waits until everything sent so far has been answered: the Auth's outcome, then a Ping's Pong (or the close). */
async function settle(c: AttackClient, auth: { reqId: number; answered: boolean } | undefined): Promise<void> {
  if (c.isClosed) return;
  if (auth && !auth.answered) {
    const r = await until(c, (f) => f.body === 'authOk' || (f.body === 'error' && f.reqId === auth.reqId), 5_000);
    expect(r, `the answer to Auth (received: ${c.summary()})`).not.toBe('timeout');
    auth.answered = true;
  }
  if (c.isClosed) return;
  const reqId = ++sentinel;
  c.send({ reqId, ping: {} });
  const r = await until(c, (f) => f.reqId === reqId && f.body === 'pong', 5_000);
  expect(r, `the answer to a Ping (received: ${c.summary()})`).not.toBe('timeout');
  // Signed in: a request through logic too, so that what logic was still answering arrives first.
  if (!c.isClosed && c.all.some((f) => f.body === 'authOk')) {
    const syncId = ++sentinel;
    c.send({ reqId: syncId, sync: { cursors: [], pageSize: 1 } });
    const s = await until(c, (f) => f.reqId === syncId, 5_000);
    expect(s, `the answer to a Sync (received: ${c.summary()})`).not.toBe('timeout');
  }
}

async function play(transport: Transport, steps: Step[]): Promise<AttackClient> {
  const c = await AttackClient.open(transport, { wsUrl: platform.wsUrl, tcpPort: platform.tcpPort }, appA.appId);
  let auth: { reqId: number; answered: boolean } | undefined;
  let batch: Uint8Array[] = [];
  const flush = () => {
    if (batch.length && !c.isClosed) c.sendMany(batch);
    batch = [];
  };
  for (const s of steps) {
    if (s.t === 'wait') {
      flush();
      await settle(c, auth);
      continue;
    }
    if (s.t === 'auth') {
      const reqId = c.reqId();
      batch.push(
        encodeFrame({
          reqId,
          auth: { token: await token(s.token, s.garbage), deviceId: s.deviceId, platform: imcloud.v1.Platform.PLATFORM_WEB },
        }),
      );
      auth = { reqId, answered: false };
      continue;
    }
    if (s.t === 'frame') batch.push(c.frame(s.frame));
    else if (s.t === 'bytes') batch.push(s.bytes);
    else if (s.t === 'ping') batch.push(c.frame({ ping: { clientTime: 1 } }));
    else {
      const bytes = c.frame(s.frame);
      bytes[0] = s.version;
      batch.push(bytes);
    }
  }
  flush();
  await settle(c, auth);
  return c;
}

function check(c: AttackClient, steps: Step[]): void {
  const frames = c.all;
  // Catalog codes; nothing but errors after a fatal one.
  const fatalAt = frames.findIndex((f) => f.body === 'error' && f.error!.fatal);
  for (const f of frames) if (f.body === 'error') expect(f.error!.code, 'error code').toMatch(/^IM_[A-Z_]+$/);
  if (fatalAt >= 0)
    expect(
      frames
        .slice(fatalAt + 1)
        .filter((f) => f.body !== 'error')
        .map((f) => f.body),
      `frames after the fatal ${frames[fatalAt]!.error!.code}`,
    ).toEqual([]);
  // No answer before AuthOk.
  const authOkAt = frames.findIndex((f) => f.body === 'authOk');
  const before = (authOkAt < 0 ? frames : frames.slice(0, authOkAt)).filter((f) => ANSWERS.has(String(f.body)));
  expect(
    before.map((f) => f.body),
    `answers before AuthOk (received: ${c.summary()})`,
  ).toEqual([]);
  // A first request that is not Auth: IM_AUTH_REQUIRED.
  const first = steps.find((s) => s.t !== 'wait' && s.t !== 'ping');
  if (first?.t === 'frame' && FORWARDED.includes(Object.keys(first.frame).find((k) => k !== 'reqId')!)) {
    const firstError = frames.find((f) => f.body === 'error');
    expect(firstError?.error?.code, `answer to a first ${Object.keys(first.frame).join('/')} (received: ${c.summary()})`).toBe(
      'IM_AUTH_REQUIRED',
    );
  }
}

describe('gate connection state machine', () => {
  test.prop([fc.constantFrom<Transport>('ws', 'tcp'), sequence], budget(1_500, 20))(
    'arbitrary frame sequences: catalog codes, nothing answered or forwarded before AuthOk, the platform stays up',
    async (transport, steps) => {
      envelopes.length = 0;
      const c = await play(transport, steps);
      seen.runs += 1;
      if (c.all.some((f) => f.body === 'authOk')) seen.signedIn += 1;
      seen.answered += c.all.filter((f) => ANSWERS.has(String(f.body))).length;
      seen.forwarded += envelopes.filter((e) => e.kind === Kind.KIND_FRAME).length;
      for (const f of c.all) if (f.body === 'error') seen.codes.set(f.error!.code ?? '', (seen.codes.get(f.error!.code ?? '') ?? 0) + 1);
      try {
        check(c, steps);
        const anonymous = envelopes.filter((e) => e.kind === Kind.KIND_FRAME && (e.appId === '' || e.userId === ''));
        expect(
          anonymous.length,
          `frames forwarded to logic without an authenticated identity (steps: ${steps.map((s) => s.t).join(' ')})`,
        ).toBe(0);
      } finally {
        for (const t of takeTracked()) t.close();
      }
      const health = await fetch(`${platform.httpUrl}/healthz`);
      expect(health.status).toBe(200);
    },
    testTimeout(20),
  );
});
