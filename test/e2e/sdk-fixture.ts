// An embedded platform (every role, in-memory backends) for SDK tests, with the steps each test
// needs: a fresh app, tokens through the admin API, connected clients that record what they get.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChatMessage, ImClient, type ImClientOptions, type RecallEvent, type StateEvent } from '../../sdk/src/index.js';
import { ROLES, type Runtime, startRuntime } from '../../services/runtime.js';
import { loadConfig } from '../../services/shared/config-sources.js';

export interface Platform {
  runtime: Runtime;
  base: string;
}

export interface Probe {
  client: ImClient;
  messages: ChatMessage[];
  recalls: RecallEvent[];
  states: StateEvent[];
}

export async function startPlatform(logic: Record<string, number> = {}): Promise<Platform> {
  const config = loadConfig(
    {},
    {
      http: { port: 0, host: '127.0.0.1' },
      gate: { tcpPort: 0, drainMs: 200 },
      log: { level: 'warn' },
      admin: { token: 'e2e-admin-token' },
      logic,
      dispatch: { reconnectBaseMs: 100, reconnectMaxMs: 1000 },
      // Each platform keeps its files apart (the folder outlives the process, as under `make run`).
      file: { dir: mkdtempSync(join(tmpdir(), 'imcloud-e2e-files-')) },
    },
  );
  const rt = await startRuntime(config, ROLES);
  return { runtime: rt, base: `http://127.0.0.1:${rt.httpPort}` };
}

export async function admin(at: Platform, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${at.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${at.runtime.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

let appCounter = 0;

/** A fresh app, so that tests never see each other's conversations. */
export async function newApp(at: Platform, prefix: string, multiLogin?: 'all' | 'per-platform' | 'single'): Promise<string> {
  const appId = `${prefix}-${++appCounter}`;
  await admin(at, 'POST', '/v1/apps', { appId, name: appId });
  // The policy goes through the admin API, as a tenant would set it.
  if (multiLogin) await admin(at, 'PATCH', `/v1/apps/${appId}`, { multiLogin });
  return appId;
}

export async function token(at: Platform, appId: string, userId: string): Promise<string> {
  return (await admin(at, 'POST', `/v1/apps/${appId}/tokens`, { userId })).token as string;
}

/** A client of `userId` that records its messages, recalls and states; connected and synced unless `connect` is false. */
export async function client(
  at: Platform,
  appId: string,
  userId: string,
  opts: Partial<ImClientOptions> = {},
  connect = true,
  onCreated?: (c: ImClient) => void,
): Promise<Probe> {
  const tok = await token(at, appId, userId);
  const c = new ImClient({
    appId,
    dispatchUrl: `${at.base}/v1/dispatch`,
    getToken: () => tok,
    deviceId: `${userId}-device`,
    timeouts: { ack: 2000, request: 5000 },
    ...opts,
  });
  onCreated?.(c);
  const probe: Probe = { client: c, messages: [], recalls: [], states: [] };
  c.on('message', (m) => probe.messages.push(m));
  c.on('recall', (r) => probe.recalls.push(r));
  c.on('state', (s) => probe.states.push(s));
  if (connect) {
    const synced = c.once('synced');
    await c.connect();
    await synced;
  }
  return probe;
}

export async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const inConversation = (p: Probe, conversation: string): ChatMessage[] => p.messages.filter((m) => m.conversation === conversation);
export const texts = (ms: ChatMessage[]): (string | undefined)[] => ms.map((m) => m.text);
export const range = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => i + from);
