import { describe, expect, it } from 'vitest';
import { imcloud } from '../../protocol/gen/im.js';
import type { Outgoing, SendAck } from './conversation-sender.js';
import { chatMessageFromWire, errorFromWire, kickFromWire, ownMessageFromAck } from './wire-mapping.js';

const ack: SendAck = { clientMsgId: 'c1', conversation: 's:alice:bob', seq: 7, msgId: '99', ts: 1234, duplicate: false };

describe('chatMessageFromWire', () => {
  it('hands out a plain Uint8Array body, decodes text, and marks own messages', () => {
    const wire = {
      conversation: 's:alice:bob',
      seq: 3,
      msgId: '42',
      sender: 'alice',
      senderDevice: 'd1',
      clientMsgId: 'c',
      ts: 5,
      kind: 0,
      contentType: 'text',
      body: Buffer.from('héllo'),
    };
    const m = chatMessageFromWire(wire, 'alice');
    expect(Buffer.isBuffer(m.body)).toBe(false);
    expect([...m.body]).toEqual([...Buffer.from('héllo')]);
    expect(m).toMatchObject({
      conversation: 's:alice:bob',
      seq: 3,
      msgId: '42',
      sender: 'alice',
      kind: 'normal',
      text: 'héllo',
      own: true,
      recalled: false,
    });
    expect(chatMessageFromWire(wire, 'bob').own).toBe(false);
  });

  it('gives no text for a recalled message or a non-text body, and names the kinds', () => {
    expect(chatMessageFromWire({ seq: 1, contentType: 'text', recalled: true, body: new Uint8Array(0) }, 'a').text).toBeUndefined();
    expect(chatMessageFromWire({ seq: 1, contentType: 'image/png', body: new Uint8Array([1]) }, 'a').text).toBeUndefined();
    expect(chatMessageFromWire({ seq: 2, kind: 1, recallsSeq: 1 }, 'a')).toMatchObject({
      kind: 'recall',
      recallsSeq: 1,
      body: new Uint8Array(0),
    });
    expect(chatMessageFromWire({ seq: 3, kind: 2 }, 'a').kind).toBe('system');
    expect(chatMessageFromWire({ seq: 4, kind: 9 as imcloud.v1.MessageKind }, 'a').kind).toBe('normal');
  });

  it("marks the system sender's messages system, and only those", () => {
    expect(chatMessageFromWire({ seq: 1, sender: '@system', system: true }, 'a')).toMatchObject({ system: true, kind: 'normal' });
    expect(chatMessageFromWire({ seq: 2, sender: 'b' }, 'a').system).toBeUndefined();
  });
});

describe('ownMessageFromAck', () => {
  it('builds the sent message from the request and its ack', () => {
    const out: Outgoing = {
      clientMsgId: 'c1',
      conversation: ack.conversation,
      body: { send: { clientMsgId: 'c1', to: 'bob', contentType: 'text', body: new TextEncoder().encode('hi') } },
    };
    expect(ownMessageFromAck(out, ack, 'alice', 'alice-laptop')).toMatchObject({
      conversation: 's:alice:bob',
      seq: 7,
      msgId: '99',
      ts: 1234,
      sender: 'alice',
      senderDevice: 'alice-laptop',
      kind: 'normal',
      text: 'hi',
      own: true,
      recallsSeq: 0,
    });
  });

  it('builds a recall event from a recall request', () => {
    const out: Outgoing = {
      clientMsgId: 'c1',
      conversation: ack.conversation,
      body: { recall: { clientMsgId: 'c1', conversation: ack.conversation, seq: 5 } },
    };
    const m = ownMessageFromAck(out, ack, 'alice', 'd');
    expect(m).toMatchObject({ kind: 'recall', contentType: 'recall', recallsSeq: 5, own: true });
    expect(m.text).toBeUndefined();
  });
});

describe('kickFromWire and errorFromWire', () => {
  it('names the kick reason and the platform that kicked, unspecified when unknown', () => {
    const k = imcloud.v1.Kick.create({
      reason: imcloud.v1.KickReason.KICK_REASON_LOGIN_ELSEWHERE,
      message: 'm',
      byDevice: 'd2',
      byPlatform: imcloud.v1.Platform.PLATFORM_IOS,
    });
    expect(kickFromWire(k)).toEqual({ reason: 'login-elsewhere', message: 'm', byDevice: 'd2', byPlatform: 'ios' });
    expect(kickFromWire(imcloud.v1.Kick.create({ reason: 77 as imcloud.v1.KickReason }))).toMatchObject({
      reason: 'unspecified',
      byPlatform: 'unspecified',
    });
  });

  it('keeps the code, message, retry hint and fatality of an Error frame', () => {
    const err = errorFromWire(imcloud.v1.Error.create({ code: 'IM_RATE_LIMITED', message: 'slow down', retryAfterMs: 800, fatal: true }));
    expect(err).toMatchObject({ name: 'ImClientError', code: 'IM_RATE_LIMITED', message: 'slow down', retryAfterMs: 800, fatal: true });
  });
});
