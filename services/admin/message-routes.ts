// Send from the app's backend (ADR 0035): the admin API turns a request into a Send frame that
// logic takes as it takes a client's (LogicLink), so dedupe, order, store and push are logic's
// own and the answer is the ack a client gets. As a user of the app (`from`), or as the system
// sender (`system: true`); to a user (`to`) or a group (`group`); one body to many users in a batch.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { GROUP_ID, SYSTEM_SENDER, USER_ID } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import type { imcloud } from '../../protocol/gen/im.js';
import type { HttpRequest } from '../shared/http-server.js';
import type { Reply } from './group-routes.js';
import type { LogicLink } from './logic-link.js';

/** Recipients of one batch request. */
export const BATCH_MAX_RECIPIENTS = 500;
/** Sends of one batch waiting for logic at once: a batch never fills LogicLink's pending requests. */
const BATCH_CONCURRENCY = 16;

const userId = z
  .string()
  .regex(USER_ID, `user ids match ${USER_ID.source}`)
  .refine((u) => u !== SYSTEM_SENDER, `${SYSTEM_SENDER} is the system sender, not a user`);
const common = {
  from: userId.optional(),
  system: z.boolean().optional(),
  contentType: z.string().min(1).max(64).default('text'),
  body: z.string(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  clientMsgId: z.string().regex(/^[\x21-\x7e]{1,64}$/, 'clientMsgId: 1–64 printable ASCII characters'),
};
const oneSender = (b: { from?: string; system?: boolean }) => (b.from !== undefined) !== (b.system === true);
const SENDER_RULE = 'give from (a user of the app) or system: true, not both';

export const sendBody = z
  .object({ ...common, to: userId.optional(), group: z.string().regex(GROUP_ID, `group ids match ${GROUP_ID.source}`).optional() })
  .strict()
  .refine(oneSender, SENDER_RULE)
  .refine((b) => (b.to === undefined) !== (b.group === undefined), 'give to (a user) or group, not both');
export const batchBody = z
  .object({ ...common, to: z.array(userId).min(1).max(BATCH_MAX_RECIPIENTS) })
  .strict()
  .refine(oneSender, SENDER_RULE)
  .refine((b) => new Set(b.to).size === b.to.length, 'to: each user at most once');

type Route = (method: string, path: string, route: string, fn: (req: HttpRequest<unknown>) => Promise<Reply>) => void;
type Parse = <T>(schema: z.ZodType<T>, body: unknown) => T;

export function registerMessageRoutes(route: Route, parse: Parse, logic: LogicLink): void {
  route('POST', '/v1/apps/:appId/messages', 'send-message', async (req) => {
    const body = parse(sendBody, req.body);
    const send = sendOf(body, bodyBytes(body));
    return { json: await sendThrough(logic, req.params.appId!, body, send) };
  });
  route('POST', '/v1/apps/:appId/messages/batch', 'send-message-batch', async (req) => {
    const body = parse(batchBody, req.body);
    const bytes = bodyBytes(body);
    const results = await mapBounded(body.to, BATCH_CONCURRENCY, async (to) => {
      const clientMsgId = batchClientMsgId(body.clientMsgId, to);
      try {
        return { to, ...(await sendThrough(logic, req.params.appId!, body, sendOf({ ...body, clientMsgId, to }, bytes))) };
      } catch (err) {
        const e = err instanceof ImError ? err : new ImError('IM_INTERNAL', undefined, { cause: err });
        return {
          to,
          clientMsgId,
          error: { code: e.code, message: e.message, ...(e.retryAfterMs > 0 && { retryAfterMs: e.retryAfterMs }) },
        };
      }
    });
    return { json: { results } };
  });
}

/** The message body as bytes: UTF-8 text, or base64 (strictly: what decodes must encode back the same). */
export function bodyBytes(b: { body: string; encoding: 'utf8' | 'base64' }): Uint8Array {
  if (b.encoding === 'utf8') return Buffer.from(b.body, 'utf8');
  const bytes = Buffer.from(b.body, 'base64');
  if (bytes.toString('base64') !== b.body) throw new ImError('IM_ADMIN_INVALID', 'body: not canonical base64');
  return bytes;
}

/**
 * A recipient's own clientMsgId in a batch: derived from the batch's and the recipient, so that a
 * retried batch is answered from dedupe, recipient by recipient, and two batches never collide.
 */
export function batchClientMsgId(clientMsgId: string, to: string): string {
  return `b.${createHash('sha256').update(`${clientMsgId}\n${to}`).digest('base64url').slice(0, 40)}`;
}

interface Target {
  system?: boolean;
  contentType: string;
  clientMsgId: string;
  to?: string;
  group?: string;
}

function sendOf(b: Target, body: Uint8Array): imcloud.v1.ISend {
  return {
    clientMsgId: b.clientMsgId,
    to: b.to ?? '',
    groupId: b.group ?? '',
    contentType: b.contentType,
    body,
    system: b.system === true,
  };
}

/** Logic's ack of one Send, as the JSON a client's ack would be. */
async function sendThrough(logic: LogicLink, appId: string, b: { from?: string; system?: boolean }, send: imcloud.v1.ISend) {
  const answer = await logic.request(appId, b.system ? SYSTEM_SENDER : b.from!, { send });
  const ack = answer.sendAck;
  if (!ack) throw new ImError('IM_INTERNAL', 'logic answered a send without an ack');
  return {
    clientMsgId: ack.clientMsgId,
    conversation: ack.conversation,
    seq: Number(ack.seq),
    msgId: ack.msgId,
    ts: Number(ack.ts),
    duplicate: Boolean(ack.duplicate),
  };
}

/** fn over every item, at most `limit` at a time; the results in the items' order. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
