import { describe, expect, it } from 'vitest';
import { SYSTEM_SENDER } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import { parse } from './admin.js';
import { BATCH_MAX_RECIPIENTS, batchBody, batchClientMsgId, bodyBytes, sendBody } from './message-routes.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof ImError ? err.code : String(err);
  }
};

describe('the send request', () => {
  const ok = { from: 'alice', to: 'bob', body: 'hi', clientMsgId: 'c-1' };

  it('takes a user or the system, to a user or a group, with text as the default content type', () => {
    expect(parse(sendBody, ok)).toEqual({ ...ok, contentType: 'text', encoding: 'utf8' });
    expect(parse(sendBody, { system: true, group: 'team', body: '', clientMsgId: 'c-2' })).toMatchObject({ system: true, group: 'team' });
  });

  it.each([
    ['no sender', { to: 'bob', body: 'x', clientMsgId: 'c' }],
    ['both senders', { ...ok, system: true }],
    ['no recipient', { from: 'alice', body: 'x', clientMsgId: 'c' }],
    ['both recipients', { ...ok, group: 'g' }],
    ['the system sender as a user', { ...ok, from: SYSTEM_SENDER }],
    ['to the system sender', { ...ok, to: SYSTEM_SENDER }],
    ['a bad user id', { ...ok, to: 'bob:eve' }],
    ['a long clientMsgId', { ...ok, clientMsgId: 'c'.repeat(65) }],
    ['a long content type', { ...ok, contentType: 't'.repeat(65) }],
    ['an unknown field', { ...ok, priority: 1 }],
    ['a body that is not a string', { ...ok, body: [1, 2] }],
  ])('refuses %s (IM_ADMIN_INVALID)', (_, body) => {
    expect(codeOf(() => parse(sendBody, body))).toBe('IM_ADMIN_INVALID');
  });
});

describe('the batch request', () => {
  const ok = { system: true, to: ['a', 'b'], body: 'x', clientMsgId: 'b-1' };

  it(`takes 1 to ${BATCH_MAX_RECIPIENTS} distinct users`, () => {
    const most = Array.from({ length: BATCH_MAX_RECIPIENTS }, (_, i) => `u${i}`);
    expect(parse(batchBody, { ...ok, to: most }).to).toHaveLength(BATCH_MAX_RECIPIENTS);
    for (const to of [[], [...most, 'one-more'], ['a', 'a']])
      expect(codeOf(() => parse(batchBody, { ...ok, to }))).toBe('IM_ADMIN_INVALID');
  });

  it("gives each recipient its own clientMsgId, the same on every retry, that fits a client's", () => {
    const ids = ['a', 'b', 'c'].map((u) => batchClientMsgId('b-1', u));
    expect(new Set(ids).size).toBe(3);
    expect(batchClientMsgId('b-1', 'a')).toBe(ids[0]);
    expect(batchClientMsgId('b-2', 'a')).not.toBe(ids[0]);
    for (const id of ids) expect(id).toMatch(/^[\x21-\x7e]{1,64}$/);
  });
});

describe('the body', () => {
  it('is UTF-8 text, or canonical base64', () => {
    expect(new TextDecoder().decode(bodyBytes({ body: 'héllo', encoding: 'utf8' }))).toBe('héllo');
    expect([...bodyBytes({ body: 'AAEC/w==', encoding: 'base64' })]).toEqual([0, 1, 2, 255]);
    for (const body of ['***', 'AAEC/w', 'AAEC_w=='])
      expect(codeOf(() => bodyBytes({ body, encoding: 'base64' }))).toBe('IM_ADMIN_INVALID');
  });
});
