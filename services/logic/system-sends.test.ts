import { describe, expect, it } from 'vitest';
import { SYSTEM_SENDER } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import { imcloud } from '../../protocol/gen/im.js';
import { type Caller, isAuthenticated } from './caller.js';
import { toWireMessage } from './message-codec.js';
import { isSystemSend } from './system-sends.js';

const caller = (userId: string, admin: boolean): Caller => ({
  appId: 'app1',
  userId,
  deviceId: 'd1',
  platform: 1,
  connId: 'c1',
  gateId: 'g1',
  traceId: 't1',
  receivedAt: 0,
  admin,
});
const send = (fields: Partial<imcloud.v1.ISend>) => imcloud.v1.Send.create({ clientMsgId: 'c', to: 'bob', ...fields });
const codeOf = (fn: () => unknown) => {
  try {
    return fn();
  } catch (err) {
    return err instanceof ImError ? err.code : err;
  }
};

describe('who sends as the system sender', () => {
  it('only the admin role, as the system sender, marking the send system', () => {
    expect(isSystemSend(caller(SYSTEM_SENDER, true), send({ system: true }))).toBe(true);
    expect(isSystemSend(caller('alice', true), send({}))).toBe(false);
    expect(isSystemSend(caller('alice', false), send({}))).toBe(false);
  });

  it.each([
    ['a client marking a send system', caller('alice', false), send({ system: true })],
    ['the admin role marking a user’s send system', caller('alice', true), send({ system: true })],
    ['the system sender without the mark', caller(SYSTEM_SENDER, true), send({})],
  ])('refuses %s (IM_SYSTEM_SENDER_RESERVED)', (_, c, req) => {
    expect(codeOf(() => isSystemSend(c, req))).toBe('IM_SYSTEM_SENDER_RESERVED');
  });

  it('no gate frame acts as the system sender, whatever token it carried', () => {
    expect(isAuthenticated(caller(SYSTEM_SENDER, false))).toBe(false);
    expect(isAuthenticated(caller(SYSTEM_SENDER, true))).toBe(true);
    expect(isAuthenticated(caller('alice', false))).toBe(true);
  });

  it('the wire marks a message system exactly when the system sender sent it', () => {
    const stored = { conversation: 's:@system:bob', seq: 1, msgId: '1', ts: 1, senderDevice: 'admin', clientMsgId: 'c' };
    const rest = { kind: 0, contentType: 'text', body: new Uint8Array([104]), recallsSeq: 0, recalled: false };
    expect(toWireMessage({ ...stored, ...rest, sender: SYSTEM_SENDER }).system).toBe(true);
    expect(toWireMessage({ ...stored, ...rest, sender: 'alice' }).system).toBeUndefined();
  });
});
