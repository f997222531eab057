// Webhooks on the embedded platform (every role, in-memory backends) with a real HTTP receiver in
// the test process (docs/webhooks.md): events signed and verifiable with the SDK's helper, a
// replay refused by the documented check, order per conversation, the admin API's rules, and
// before-send deny / replace / timeout in both fail modes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ImClient, ImClientError } from '../../sdk/src/index.js';
import { verifyWebhook, WEBHOOK_HEADERS, WEBHOOK_TOLERANCE_MS } from '../../sdk/src/webhooks.js';
import { ROLES, startRuntime } from '../../services/runtime.js';
import { loadConfig } from '../../services/shared/config-sources.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import * as fixture from './sdk-fixture.js';
import { type Platform, until } from './sdk-fixture.js';

let at: Platform;
let receiver: WebhookReceiver;
const clients: ImClient[] = [];

beforeAll(async () => {
  receiver = await new WebhookReceiver().start();
  const config = loadConfig(
    {},
    {
      http: { port: 0, host: '127.0.0.1' },
      gate: { tcpPort: 0, drainMs: 200 },
      log: { level: 'warn' },
      admin: { token: 'e2e-admin-token' },
      file: { dir: mkdtempSync(join(tmpdir(), 'imcloud-e2e-files-')) },
      webhooks: { retryBaseMs: 50, retryMaxMs: 400, appsPollMs: 100, presenceDebounceMs: 2_000 },
    },
  );
  const runtime = await startRuntime(config, ROLES);
  at = { runtime, base: `http://127.0.0.1:${runtime.httpPort}` };
});

afterAll(async () => {
  await at?.runtime.stop();
  await receiver?.stop();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** A fresh app whose webhook points at the receiver; set before any client logs in (logic caches apps for 5 s). */
async function appWithHook(hook: Record<string, unknown>): Promise<{ appId: string; secret: string }> {
  const appId = await fixture.newApp(at, 'hooks');
  const put = await fixture.admin(at, 'PUT', `/v1/apps/${appId}/webhook`, { url: receiver.url(appId), ...hook });
  return { appId, secret: put.secret as string };
}

async function user(appId: string, userId: string): Promise<ImClient> {
  const probe = await fixture.client(at, appId, userId);
  clients.push(probe.client);
  return probe.client;
}

async function refusal(p: Promise<unknown>): Promise<ImClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImClientError);
  return err as ImClientError;
}

interface EventJson {
  id: string;
  type: string;
  conversation: string;
  seq: number;
  message: { body: string; recallsSeq?: number };
}

describe('webhooks (embedded)', () => {
  it('after-send events are signed, verify with the SDK helper, arrive in order per conversation; a replay is refused', async () => {
    const { appId, secret } = await appWithHook({ events: ['message.sent', 'message.recalled'] });
    const alice = await user(appId, 'alice');
    await user(appId, 'bob');
    await user(appId, 'carol');
    const n = 12;
    const acks = [];
    for (let i = 0; i < n; i++) acks.push(await alice.send(i % 2 === 0 ? 'bob' : 'carol', `hello ${i}`));
    await alice.recall(alice.conversationWith('bob'), acks[0]!.seq);

    await until(`${n + 1} events`, () => receiver.of(appId).length >= n + 1);
    const received = receiver.of(appId);
    for (const r of received) expect(verifyWebhook({ secret, headers: r.headers, body: r.body })).toEqual({ ok: true });
    const events = received.map((r) => JSON.parse(r.body) as EventJson);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    for (const r of received) expect(r.headers[WEBHOOK_HEADERS.eventId]).toBe((JSON.parse(r.body) as EventJson).id);
    for (const peer of ['bob', 'carol']) {
      const seqs = events.filter((e) => e.conversation === alice.conversationWith(peer)).map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
    const sent = events.filter((e) => e.type === 'message.sent');
    expect(sent.map((e) => Buffer.from(e.message.body, 'base64').toString())).toEqual(Array.from({ length: n }, (_, i) => `hello ${i}`));
    expect(events.find((e) => e.type === 'message.recalled')?.message.recallsSeq).toBe(acks[0]!.seq);

    // The documented check: a genuine request replayed later than the tolerance is refused, a changed body too.
    const first = received[0]!;
    const sentAt = Number(first.headers[WEBHOOK_HEADERS.timestamp]);
    expect(verifyWebhook({ secret, headers: first.headers, body: first.body, now: sentAt + WEBHOOK_TOLERANCE_MS + 1 })).toEqual({
      ok: false,
      reason: 'stale-timestamp',
    });
    expect(verifyWebhook({ secret, headers: first.headers, body: first.body.replace('"seq":', '"seq":1') })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(verifyWebhook({ secret: 'another secret', headers: first.headers, body: first.body })).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('read receipts are events (message.read) with the reader and how far; a repeated receipt has the same id', async () => {
    const { appId, secret } = await appWithHook({ events: ['message.read'] });
    const alice = await user(appId, 'alice');
    const bob = await user(appId, 'bob');
    const conversation = alice.conversationWith('bob');
    await alice.send('bob', 'one');
    const second = await alice.send('bob', 'two');
    await bob.markRead(conversation, second.seq);
    await bob.markRead(conversation, second.seq);
    await until('two read events', () => receiver.of(appId, 'message.read').length >= 2);
    const events = receiver.of(appId, 'message.read').map((r) => {
      expect(verifyWebhook({ secret, headers: r.headers, body: r.body })).toEqual({ ok: true });
      return JSON.parse(r.body) as { id: string; conversation: string; seq: number; user: string };
    });
    expect(events.map((e) => ({ conversation: e.conversation, seq: e.seq, user: e.user }))).toEqual([
      { conversation, seq: second.seq, user: 'bob' },
      { conversation, seq: second.seq, user: 'bob' },
    ]);
    expect(events[0]!.id).toBe(events[1]!.id);
    // Only what the webhook asks for: no message events for this app.
    expect(receiver.of(appId, 'message.sent')).toEqual([]);
  });

  it('presence: online at the first login, a quick reconnect is no change (debounced), offline once the last connection is gone', async () => {
    const { appId, secret } = await appWithHook({ events: ['user.online', 'user.offline'] });
    const presence = () =>
      receiver.of(appId).map((r) => {
        expect(verifyWebhook({ secret, headers: r.headers, body: r.body })).toEqual({ ok: true });
        return (JSON.parse(r.body) as { type: string; user: string }).type;
      });
    const first = await fixture.client(at, appId, 'alice');
    await until('online', () => presence().length >= 1);
    expect(presence()).toEqual(['user.online']);

    // A reconnect within webhooks.presenceDebounceMs (2 s): the offline and the online cancel out.
    // Once the offline is queued (the gate's disconnect reached logic), alice comes back at once.
    const published = (n: number) => new RegExp(`imcloud_webhook_events_published_total\\{app_id="${appId}"\\} ${n}\\n`);
    const metricReaches = async (re: RegExp, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!re.test(await (await fetch(`${at.base}/metrics`)).text())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await first.client.close();
    await metricReaches(published(2), 'the offline to be queued');
    const second = await fixture.client(at, appId, 'alice');
    await metricReaches(published(3), 'the online to be queued');
    await metricReaches(
      new RegExp(`imcloud_webhook_events_total\\{app_id="${appId}",outcome="suppressed"\\} 2\\n`),
      'the reconnect suppressed',
    );
    expect(presence()).toEqual(['user.online']);

    await second.client.close();
    await until('offline', () => presence().length >= 2);
    expect(presence()).toEqual(['user.online', 'user.offline']);
  });

  it('file.uploaded: an upload and a flash upload of the same bytes are events with the file record', async () => {
    const { appId, secret } = await appWithHook({ events: ['file.uploaded'] });
    const alice = await user(appId, 'alice');
    const bytes = new Uint8Array(randomBytes(70_000));
    const first = await alice.upload(new Blob([bytes]), { name: 'a.bin', contentType: 'application/octet-stream' });
    const again = await alice.upload(new Blob([bytes]), { name: 'b.bin', contentType: 'application/octet-stream' });
    expect(again.deduplicated).toBe(true);
    await until('two file events', () => receiver.of(appId, 'file.uploaded').length >= 2);
    const events = receiver.of(appId, 'file.uploaded').map((r) => {
      expect(verifyWebhook({ secret, headers: r.headers, body: r.body })).toEqual({ ok: true });
      return JSON.parse(r.body) as {
        id: string;
        user: string;
        file: { fileId: string; name: string; size: number; deduplicated: boolean };
      };
    });
    expect(events.map((e) => ({ id: e.id, user: e.user, ...e.file }))).toEqual([
      expect.objectContaining({
        id: `file.uploaded.${first.fileId}`,
        user: 'alice',
        fileId: first.fileId,
        name: 'a.bin',
        size: 70_000,
        deduplicated: false,
      }),
      expect.objectContaining({
        id: `file.uploaded.${again.fileId}`,
        user: 'alice',
        fileId: again.fileId,
        name: 'b.bin',
        size: 70_000,
        deduplicated: true,
      }),
    ]);
  });

  it('the admin API: the secret is shown once (and on rotation), a URL the platform does not allow is refused, removal stops the events', async () => {
    const { appId, secret } = await appWithHook({ events: ['message.sent'] });
    expect(secret).toMatch(/^whsec_/);
    const got = await fixture.admin(at, 'GET', `/v1/apps/${appId}/webhook`);
    expect(got).toMatchObject({ url: receiver.url(appId), events: ['message.sent'], maxAttempts: 10 });
    expect(got.secret).toBeUndefined();
    // Nor does the app itself show it, alone or in the list.
    const app = (await fixture.admin(at, 'GET', `/v1/apps/${appId}`)) as { webhook?: Record<string, unknown> };
    expect(app.webhook).toMatchObject({ url: receiver.url(appId) });
    expect(app.webhook?.secret).toBeUndefined();
    const { apps } = (await fixture.admin(at, 'GET', '/v1/apps')) as { apps: Array<{ appId: string; webhook?: Record<string, unknown> }> };
    expect(apps.find((a) => a.appId === appId)?.webhook?.secret).toBeUndefined();
    expect(JSON.stringify(apps)).not.toContain(secret);
    const again = await fixture.admin(at, 'PUT', `/v1/apps/${appId}/webhook`, { url: receiver.url(appId), events: ['message.sent'] });
    expect(again.secret).toBeUndefined();
    const rotated = await fixture.admin(at, 'PUT', `/v1/apps/${appId}/webhook`, {
      url: receiver.url(appId),
      events: ['message.sent'],
      rotateSecret: true,
    });
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);

    for (const [body, text] of [
      [{ url: 'ftp://127.0.0.1/x' }, 'scheme'],
      [{ url: 'http://user:pw@127.0.0.1/x' }, 'credentials'],
      [{ url: 'not a url' }, 'absolute'],
      [{ url: receiver.url(appId), beforeSend: { enabled: true, timeoutMs: 60_000 } }, 'beforeSend.timeoutMs'],
      [{ url: receiver.url(appId), events: ['everything'] }, 'events'],
    ] as const) {
      const res = await fetch(`${at.base}/v1/apps/${appId}/webhook`, {
        method: 'PUT',
        headers: { authorization: 'Bearer e2e-admin-token', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('IM_ADMIN_INVALID');
      expect(error.message).toContain(text);
    }
    // Another app's secret can neither read nor change this webhook; this app's own secret can.
    const other = await fixture.admin(at, 'POST', '/v1/apps', { appId: `${appId}-other` });
    const basic = (id: string, s: string) => ({
      authorization: `Basic ${Buffer.from(`${id}:${s}`).toString('base64')}`,
      'content-type': 'application/json',
    });
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${at.base}/v1/apps/${appId}/webhook`, {
        method,
        headers: basic(other.appId as string, other.secret as string),
        body: method === 'PUT' ? JSON.stringify({ url: 'https://attacker.example/x' }) : undefined,
      });
      expect(res.status, method).toBe(403);
    }
    const self = await fetch(`${at.base}/v1/apps/${other.appId}/webhook`, {
      method: 'PUT',
      headers: basic(other.appId as string, other.secret as string),
      body: JSON.stringify({ url: receiver.url(other.appId as string) }),
    });
    expect(self.status).toBe(200);
    expect(await fixture.admin(at, 'GET', `/v1/apps/${appId}/webhook`)).toMatchObject({ url: receiver.url(appId) });
    expect(await fixture.admin(at, 'DELETE', `/v1/apps/${appId}/webhook`)).toEqual({ deleted: true });
    const gone = await fetch(`${at.base}/v1/apps/${appId}/webhook`, { headers: { authorization: 'Bearer e2e-admin-token' } });
    expect(gone.status).toBe(404);
  });

  it("before-send deny: the sender gets IM_REJECTED_BY_APP with the app's reason; nothing is delivered or stored", async () => {
    const { appId } = await appWithHook({ events: ['message.sent'], beforeSend: { enabled: true, timeoutMs: 1_000, failOpen: true } });
    receiver.behaviour.set(appId, { beforeSend: { action: 'deny', reason: 'no\u0000 spam please' } });
    const alice = await user(appId, 'alice');
    const bob = await fixture.client(at, appId, 'bob');
    clients.push(bob.client);
    const err = await refusal(alice.send('bob', 'buy now'));
    expect(err.code).toBe('IM_REJECTED_BY_APP');
    expect(err.message).toContain('no  spam please');
    const call = receiver.of(appId, 'message.before_send')[0]!;
    expect(Buffer.from((JSON.parse(call.body) as EventJson).message.body, 'base64').toString()).toBe('buy now');

    receiver.behaviour.set(appId, { beforeSend: { action: 'allow' } });
    await alice.send('bob', 'fine');
    await until('the allowed message', () => bob.messages.length >= 1);
    await until('its event', () => receiver.of(appId, 'message.sent').length >= 1);
    expect(bob.messages.map((m) => m.text)).toEqual(['fine']);
    expect(receiver.of(appId, 'message.sent')).toHaveLength(1);

    // A retry of an accepted message is answered from dedupe, not asked about again (even though
    // the app now denies everything).
    const once = await alice.send('bob', 'once', { clientMsgId: 'retry-1' });
    receiver.behaviour.set(appId, { beforeSend: { action: 'deny', reason: 'no' } });
    const asked = receiver.of(appId, 'message.before_send').length;
    expect(await alice.send('bob', 'once', { clientMsgId: 'retry-1' })).toMatchObject({ seq: once.seq, duplicate: true });
    expect(receiver.of(appId, 'message.before_send')).toHaveLength(asked);

    // The app's backend is not asked about its own messages: they pass while clients' are denied.
    await fixture.admin(at, 'POST', `/v1/apps/${appId}/messages`, { system: true, to: 'bob', body: 'from the app', clientMsgId: 'sys-1' });
    await until('the system message', () => bob.messages.some((m) => m.system && m.text === 'from the app'));
    expect(receiver.of(appId, 'message.before_send')).toHaveLength(asked);
  });

  it("before-send replace: the receiver and the after-send event see the app's body", async () => {
    const { appId } = await appWithHook({ events: ['message.sent'], beforeSend: { enabled: true, timeoutMs: 1_000, failOpen: false } });
    receiver.behaviour.set(appId, { beforeSend: { action: 'replace', body: 'h*llo' } });
    const alice = await user(appId, 'alice');
    const bob = await fixture.client(at, appId, 'bob');
    clients.push(bob.client);
    await alice.send('bob', 'hello');
    await until('the replaced message', () => bob.messages.length >= 1);
    expect(bob.messages[0]!.text).toBe('h*llo');
    await until('its event', () => receiver.of(appId, 'message.sent').length >= 1);
    const event = JSON.parse(receiver.of(appId, 'message.sent')[0]!.body) as EventJson;
    expect(Buffer.from(event.message.body, 'base64').toString()).toBe('h*llo');
  });

  it('before-send timeout: fail-open lets the message through, fail-closed refuses it with IM_APP_HOOK_UNAVAILABLE', async () => {
    const open = await appWithHook({ beforeSend: { enabled: true, timeoutMs: 100, failOpen: true } });
    const closed = await appWithHook({ beforeSend: { enabled: true, timeoutMs: 100, failOpen: false } });
    for (const { appId } of [open, closed]) receiver.behaviour.set(appId, { beforeSend: { action: 'deny' }, beforeSendDelayMs: 1_500 });

    const a1 = await user(open.appId, 'alice');
    const b1 = await fixture.client(at, open.appId, 'bob');
    clients.push(b1.client);
    // The hook would deny, 1.5 s late: the message goes through because it timed out (the metric
    // below says so), not because it was allowed.
    await a1.send('bob', 'through');
    await until('the message sent while the hook timed out', () => b1.messages.length >= 1);

    const a2 = await user(closed.appId, 'alice');
    const err = await refusal(a2.send('bob', 'held'));
    expect(err.code).toBe('IM_APP_HOOK_UNAVAILABLE');
    // An error answer (500) is the same as a timeout for the fail mode.
    receiver.behaviour.set(closed.appId, { beforeSendStatus: 500 });
    expect((await refusal(a2.send('bob', 'held again'))).code).toBe('IM_APP_HOOK_UNAVAILABLE');
    const metrics = await (await fetch(`${at.base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`imcloud_webhook_before_send_seconds_count\\{app_id="${open.appId}",outcome="timeout"\\} 1`));
    expect(metrics).toMatch(new RegExp(`imcloud_webhook_before_send_seconds_count\\{app_id="${closed.appId}",outcome="error"\\} 1`));
  });
});
