// What a group message writes in each diffusion mode (ADR 0030): the store record names every
// member in write diffusion (their indexes are touched, and the consumer persists each), the
// sender only in read diffusion.
import { describe, expect, it } from 'vitest';
import { logicFixture } from './logic-fixture.js';
import { decodeStoreRecord } from './message-codec.js';

async function recordedMembers(writeDiffusionMax: number): Promise<string[][]> {
  const fx = await logicFixture({ logic: { groupWriteDiffusionMax: writeDiffusionMax } });
  const records: string[][] = [];
  const publishStore = fx.backends.bus.publishStore.bind(fx.backends.bus);
  fx.backends.bus.publishStore = async (body) => {
    records.push(decodeStoreRecord(body).members);
    return publishStore(body);
  };
  await fx.request({ reqId: 1, groupCreate: { clientMsgId: 'c1', groupId: 'g1', name: 'G', members: ['bob', 'carol'] } });
  await fx.request({ reqId: 2, send: { clientMsgId: 'm1', groupId: 'g1', body: new Uint8Array([1]) } });
  const replies = await fx.settled(2);
  expect(replies.map((r) => r.body)).toEqual(['sendAck', 'sendAck']);
  expect((await fx.backends.groups.get('app1', 'g1'))?.diffusion).toBe(writeDiffusionMax >= 3 ? 'write' : 'read');
  await fx.logic.stop();
  return records;
}

describe('group diffusion', () => {
  it('write diffusion: a message names (and touches) every member', async () => {
    const [created, message] = await recordedMembers(500);
    expect(created!.sort()).toEqual(['alice', 'bob', 'carol']);
    expect(message!.sort()).toEqual(['alice', 'bob', 'carol']);
  });

  it('read diffusion: a message names only its sender; members got the group in their index when they joined', async () => {
    const [created, message] = await recordedMembers(2);
    expect(created!.sort()).toEqual(['alice', 'bob', 'carol']);
    expect(message).toEqual(['alice']);
  });
});
