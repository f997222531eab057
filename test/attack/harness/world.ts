// The tenants an attack run works with, on one target: an attacker app (A) and a bystander app
// (B) whose users chat through every group and whose stored canaries app A must never see.
import { expect } from 'vitest';
import { singleConversation } from '../../../protocol/conversation-id.js';
import type { imcloud } from '../../../protocol/gen/im.js';
import { mintToken } from '../../../services/shared/tokens.js';
import { canary, canaryTenant } from './canary.js';
import { AttackClient, type Transport } from './client.js';
import type { Target } from './target.js';

export interface App {
  appId: string;
  secret: string;
}

export interface OnlineOptions {
  gate?: number;
  transport?: Transport;
  deviceId?: string;
  platform?: imcloud.v1.Platform;
}

export class World {
  attacker!: App;
  bystander!: App;
  private checks = 0;

  constructor(readonly target: Target) {}

  /** Creates the two apps and a first bystander conversation (again after a volatile target restarted). */
  async init(): Promise<void> {
    this.attacker = await this.createApp();
    this.bystander = await this.createApp();
    await this.bystanderCheck('seed');
  }

  async admin(
    path: string,
    body?: unknown,
    method = body === undefined ? 'GET' : 'POST',
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${this.target.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.target.adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  }

  async createApp(multiLogin: 'all' | 'per-platform' | 'single' = 'all'): Promise<App> {
    const { status, json } = await this.admin('/v1/apps', { multiLogin });
    if (status !== 201) throw new Error(`creating an app answered ${status}: ${JSON.stringify(json)}`);
    return { appId: json.appId as string, secret: json.secret as string };
  }

  async token(app: App, userId: string, ttlSec = 3600, now = Date.now()): Promise<string> {
    return (await mintToken(app.appId, app.secret, userId, ttlSec, now)).token;
  }

  gate(i = 0) {
    const gates = this.target.gates;
    return gates[((i % gates.length) + gates.length) % gates.length]!;
  }

  /** An authenticated connection of `userId` in `app`; fails the attack when it is refused. */
  async online(app: App, userId: string, opts: OnlineOptions = {}): Promise<AttackClient> {
    const client = await AttackClient.open(opts.transport ?? 'ws', this.gate(opts.gate), app.appId);
    const ok = await client.auth(
      await this.token(app, userId),
      opts.deviceId ?? `${userId}-${client.transport}-${Math.random().toString(36).slice(2, 8)}`,
      opts.platform,
    );
    if (ok.body !== 'authOk') {
      client.close();
      throw new Error(`${userId} of ${app.appId} could not sign in: ${JSON.stringify(ok.error)}`);
    }
    return client;
  }

  /**
   * The bystanders still chat: alice of app B (first gate, WebSocket) sends a canary to bob of
   * app B (last gate, TCP) → ack → push. Then alice of app A, same user ids, syncs, reads the
   * history of and pulls the conversation id that app B uses: none of B's canaries may come back.
   * Returns the ack latency in ms.
   */
  async bystanderCheck(label: string, ackWithinMs = 10_000): Promise<number> {
    this.checks += 1;
    const b = this.bystander;
    const alice = await this.online(b, 'alice', { gate: 0, transport: 'ws' });
    const bob = await this.online(b, 'bob', { gate: -1, transport: 'tcp' });
    try {
      const clientMsgId = `check-${this.checks}-${Date.now()}`;
      const started = performance.now();
      const reply = await alice.request(
        { send: { clientMsgId, to: 'bob', contentType: 'text', body: canary(b.appId, `check ${label}`) } },
        ackWithinMs,
      );
      const ackMs = performance.now() - started;
      expect(reply.body, `bystander send after ${label}: ${JSON.stringify(reply.error)}`).toBe('sendAck');
      await bob.next(
        (f) => f.body === 'push' && f.push!.messages!.some((m) => m.clientMsgId === clientMsgId),
        10_000,
        `push of ${clientMsgId} to the bystander`,
      );
      // The same user ids in the attacker's app see nothing of app B.
      const conv = singleConversation('alice', 'bob');
      const spy = await this.online(this.attacker, 'alice', { gate: 0 });
      try {
        const seen = [
          ...((await spy.request({ sync: { cursors: [], pageSize: 500 } })).syncPage?.messages ?? []),
          ...((await spy.request({ history: { conversation: conv, limit: 200 } })).historyResult?.messages ?? []),
          ...((await spy.request({ pull: { conversation: conv, fromSeq: 1, toSeq: 200 } })).pullResult?.messages ?? []),
        ];
        const foreign = seen.filter((m) => canaryTenant(m.body) === b.appId);
        expect(foreign.length, `app ${this.attacker.appId} read ${foreign.length} of app ${b.appId}'s messages`).toBe(0);
      } finally {
        spy.close();
      }
      return ackMs;
    } finally {
      alice.close();
      bob.close();
    }
  }
}
