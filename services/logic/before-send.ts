// The before-send webhook (ADR 0037): when the app enables it, a new message is shown to the
// app's endpoint before it is accepted; the app allows it, denies it (the sender gets
// IM_REJECTED_BY_APP with the app's reason) or replaces its body. A timeout, an error or too many
// calls in flight for the app follow the app's fail mode: open lets the message through, closed
// refuses it with IM_APP_HOOK_UNAVAILABLE. Each call's time is observed per app and outcome.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ImError } from '../../protocol/errors.js';
import type { WebhookConfig } from '../ports/app-registry.js';
import type { StoredMessage } from '../ports/stored-message.js';
import { postWebhook } from '../shared/webhook-post.js';
import type { Caller } from './caller.js';
import { FILE_CONTENT_TYPES } from './file-messages.js';
import type { LogicContext } from './logic-context.js';

/** What a send asks to store (send-acceptor.ts's MessageContent). */
type MessageContent = Pick<StoredMessage, 'conversation' | 'kind' | 'contentType' | 'body' | 'recallsSeq' | 'mentions'>;
/** Longest reason of a denial passed on to the sender. */
const MAX_REASON = 200;
const CONTENT_TYPE = /^[\x21-\x7e]{1,64}$/;
const answerSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('allow') }),
  z.object({ action: z.literal('deny'), reason: z.string().max(10_000).optional() }),
  z
    .object({
      action: z.literal('replace'),
      body: z.string().optional(),
      bodyBase64: z.string().optional(),
      contentType: z.string().regex(CONTENT_TYPE).optional(),
    })
    .refine((a) => (a.body === undefined) !== (a.bodyBase64 === undefined), 'give body or bodyBase64'),
]);
type Outcome = 'allow' | 'deny' | 'replace' | 'timeout' | 'error' | 'busy';
/** What a call came to: the content to accept, or the refusal to answer the sender with. */
type Verdict = { outcome: Outcome; content: MessageContent; refusal?: ImError };

export class BeforeSend {
  /** before-send calls in flight per app (entries go at 0). */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly cx: LogicContext) {}

  /** Whether the caller's app asks before its messages are accepted. */
  async enabled(c: Caller): Promise<boolean> {
    return (await this.cx.apps.get(c.appId))?.webhook?.beforeSend.enabled === true;
  }

  /** The content to accept: as given, or as the app replaced it; throws when the app (or its fail mode) refuses it. */
  async check(c: Caller, content: MessageContent): Promise<MessageContent> {
    const hook = (await this.cx.apps.get(c.appId))?.webhook;
    if (!hook?.beforeSend.enabled) return content;
    const started = performance.now();
    const verdict = await this.call(c, hook, content);
    this.cx.metrics.beforeSend.observe({ app_id: c.appId, outcome: verdict.outcome }, (performance.now() - started) / 1000);
    if (verdict.refusal) throw verdict.refusal;
    return verdict.content;
  }

  private async call(c: Caller, hook: WebhookConfig, content: MessageContent): Promise<Verdict> {
    const limit = this.cx.config.webhooks.beforeSendMaxConcurrentPerApp;
    const busy = (this.inFlight.get(c.appId) ?? 0) >= limit;
    if (busy) return this.failed(hook, 'busy', content);
    this.inFlight.set(c.appId, (this.inFlight.get(c.appId) ?? 0) + 1);
    try {
      const maxAnswer = 4 * this.cx.config.logic.maxBodyBytes + 4096;
      const result = await postWebhook(hook, this.request(c, content), {
        eventId: `before-send.${randomUUID()}`,
        eventType: 'message.before_send',
        timeoutMs: hook.beforeSend.timeoutMs,
        readBodyBytes: maxAnswer,
      });
      if (!result.ok) return this.failed(hook, result.error === 'timeout' ? 'timeout' : 'error', content);
      return this.apply(hook, result.body ?? '', content);
    } finally {
      const n = (this.inFlight.get(c.appId) ?? 1) - 1;
      if (n > 0) this.inFlight.set(c.appId, n);
      else this.inFlight.delete(c.appId);
    }
  }

  private request(c: Caller, content: MessageContent): string {
    return JSON.stringify({
      type: 'message.before_send',
      appId: c.appId,
      createdAt: this.cx.now(),
      conversation: content.conversation,
      message: {
        sender: c.userId,
        senderDevice: c.deviceId,
        contentType: content.contentType,
        body: Buffer.from(content.body).toString('base64'),
        ...(content.mentions && content.mentions.length > 0 && { mentions: content.mentions }),
      },
    });
  }

  /** The app's answer; one that is not valid counts as an error (the fail mode decides). */
  private apply(hook: WebhookConfig, text: string, content: MessageContent): Verdict {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.failed(hook, 'error', content);
    }
    const answer = answerSchema.safeParse(parsed);
    if (!answer.success) return this.failed(hook, 'error', content);
    const a = answer.data;
    if (a.action === 'allow') return { outcome: 'allow', content };
    if (a.action === 'deny') return { outcome: 'deny', content, refusal: new ImError('IM_REJECTED_BY_APP', reasonText(a.reason)) };
    const body = a.body !== undefined ? Buffer.from(a.body, 'utf8') : Buffer.from(a.bodyBase64!, 'base64');
    const contentType = a.contentType ?? content.contentType;
    // A file message's body is the platform's reference to the file: the app may not rewrite it.
    const fileInvolved = FILE_CONTENT_TYPES.has(content.contentType) || FILE_CONTENT_TYPES.has(contentType);
    if (fileInvolved || body.length > this.cx.config.logic.maxBodyBytes) return this.failed(hook, 'error', content);
    return { outcome: 'replace', content: { ...content, body: new Uint8Array(body), contentType } };
  }

  private failed(hook: WebhookConfig, outcome: Outcome, content: MessageContent): Verdict {
    if (hook.beforeSend.failOpen) return { outcome, content };
    const why = outcome === 'busy' ? 'too many calls in flight' : outcome === 'timeout' ? 'it did not answer in time' : 'it failed';
    const refusal = new ImError('IM_APP_HOOK_UNAVAILABLE', `the app's before-send webhook is unavailable (${why}); retry later`, {
      retryAfterMs: 1_000,
    });
    return { outcome, content, refusal };
  }
}

/** The app's reason, printable and bounded; the catalog's message when it gave none. */
function reasonText(reason: string | undefined): string | undefined {
  const clean = reason
    ?.replace(/[\p{Cc}\p{Cf}]/gu, ' ')
    .trim()
    .slice(0, MAX_REASON);
  return clean ? `rejected by the app: ${clean}` : undefined;
}
