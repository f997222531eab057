// The SDK's connection management against the embedded platform: heartbeats keep an idle
// connection open, a silent connection is detected and replaced, a draining gate's ServerHint
// moves clients to another gate without losing messages, and an expired token is refreshed
// through getToken.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { singleConversation } from '../../protocol/conversation-id.js';
import { type ChatMessage, ImClient, type ImClientOptions, type SkippedEvent, type StateEvent } from '../../sdk/src/index.js';
import { Gate } from '../../services/gate/gate.js';
import { ROLES, type Runtime, startRuntime } from '../../services/runtime.js';
import type { ConfigInput } from '../../services/shared/config.js';
import { loadConfig } from '../../services/shared/config-sources.js';
import { HttpServer } from '../../services/shared/http-server.js';
import { roleConfig } from '../../services/shared/role-config.js';
import { mintToken } from '../../services/shared/tokens.js';

const HEARTBEAT_MS = 300;
const IDLE_TIMEOUT_MS = 1000;

const settings: ConfigInput = {
  http: { port: 0, host: '127.0.0.1' },
  gate: { tcpPort: 0, drainMs: 600 },
  heartbeat: { intervalMs: HEARTBEAT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS },
  log: { level: 'warn' },
  admin: { token: 'e2e-admin-token' },
  dispatch: { reconnectBaseMs: 100, reconnectMaxMs: 1000 },
  // Small, so that a device that loses its place in a conversation visibly skips messages.
  logic: { newDeviceSyncDepth: 3 },
};

let runtime: Runtime;
let base: string;
let secret: string;
/** A second gate on the same backends, so that a draining gate's clients have somewhere to go. */
let second: { gate: Gate; http: HttpServer; stopped: boolean };
const APP = 'reconnect-e2e';
const clients: ImClient[] = [];

beforeAll(async () => {
  runtime = await startRuntime(loadConfig({}, settings), ROLES);
  base = `http://127.0.0.1:${runtime.httpPort}`;
  secret = (await runtime.admin!.createApp(APP, APP, 'all')).secret;
  const config = loadConfig({}, { ...settings, node: { id: 'second-gate' } });
  const http = new HttpServer(runtime.log, runtime.metrics, 'gate');
  const port = await http.listen(0, '127.0.0.1');
  const gate = new Gate(roleConfig(config, 'gate'), runtime.backends, http, runtime.log, runtime.metrics);
  await gate.start({ host: '127.0.0.1', httpPort: port });
  await http.serve();
  second = { gate, http, stopped: false };
});

afterAll(async () => {
  if (second && !second.stopped) await second.gate.stop();
  await second?.http.close();
  await runtime?.stop();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function client(userId: string, opts: Partial<ImClientOptions> = {}) {
  const { token } = await mintToken(APP, secret, userId, 3600);
  const c = new ImClient({ appId: APP, dispatchUrl: `${base}/v1/dispatch`, token, deviceId: `${userId}-dev`, ...opts });
  clients.push(c);
  const probe = {
    client: c,
    states: [] as StateEvent[],
    messages: [] as ChatMessage[],
    errors: [] as string[],
    skipped: [] as SkippedEvent[],
  };
  c.on('state', (s) => probe.states.push(s));
  c.on('skipped', (e) => probe.skipped.push(e));
  c.on('message', (m) => probe.messages.push(m));
  c.on('error', (e) => probe.errors.push(e.code));
  const synced = c.once('synced');
  await c.connect();
  await synced;
  return probe;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('SDK connection management', () => {
  it('keeps an idle connection open with heartbeats at the interval AuthOk gives', async () => {
    let pings = 0;
    const started = performance.now();
    const alice = await client('alice', { hooks: { written: (f) => void (f.ping && pings++) } });
    // Ten pings span three idle timeouts. At the SDK's own default (30 s) they would not come in
    // time; a busy machine only makes them come later, so the wait is for the count, not a time.
    await until('ten pings', () => pings >= 10, 20_000);
    const elapsed = performance.now() - started;
    expect(alice.client.state).toBe('online');
    expect(alice.states.filter((s) => s.state === 'offline')).toHaveLength(0);
    // Not more often than the server's interval either (late timers only make fewer).
    expect(pings).toBeLessThanOrEqual(Math.floor(elapsed / HEARTBEAT_MS) + 1);
  });

  it('replaces a connection whose pongs stop arriving', async () => {
    let deaf = false;
    const alice = await client('alice', {
      timeouts: { pong: 400 },
      hooks: { incoming: () => (deaf ? false : undefined) },
    });
    const firstGate = alice.client.gateId;
    expect(firstGate).toBeTruthy();
    deaf = true; // as if the path to the server silently died
    await until('alice notices', () => alice.states.some((s) => s.state === 'offline'), 5000);
    expect(alice.states.find((s) => s.state === 'offline')!.reason).toBe('heartbeat timeout');
    deaf = false;
    await until('alice back online', () => alice.client.state === 'online', 5000);
  });

  it('keeps its place in a conversation that began after its last sync when it reconnects', async () => {
    let deaf = false;
    const frank = await client('frank', { timeouts: { pong: 400 }, hooks: { incoming: () => (deaf ? false : undefined) } });
    const grace = await client('grace');
    const conv = singleConversation('frank', 'grace');
    // The conversation begins after frank's sync: he first hears of it in a push.
    for (let i = 1; i <= 3; i++) await grace.client.send('frank', `g${i}`);
    await until('frank has the first three', () => frank.messages.length === 3);
    // His connection goes silently deaf; what is sent meanwhile never reaches him.
    deaf = true;
    for (let i = 4; i <= 10; i++) await grace.client.send('frank', `g${i}`);
    await until('frank notices', () => frank.states.some((s) => s.state === 'offline'), 5000);
    deaf = false;
    // Back online, his sync carries his cursor (3), so he gets 4..10, not just the newest few.
    await until('frank has all ten', () => frank.messages.length >= 10, 10_000);
    // One more, pushed after anything his resync could still deliver.
    await grace.client.send('frank', 'g11');
    await until('frank has g11', () => frank.messages.some((m) => m.text === 'g11'), 10_000);
    expect(frank.messages.map((m) => [m.conversation, m.text])).toEqual(Array.from({ length: 11 }, (_, i) => [conv, `g${i + 1}`]));
    expect(frank.skipped).toEqual([]);
    // A device new to the conversation starts at its newest 3 (newDeviceSyncDepth) and is told so.
    const tablet = await client('frank', { deviceId: 'frank-tablet' });
    await until('the tablet has the newest three', () => tablet.messages.length === 3);
    expect(tablet.messages.map((m) => m.text)).toEqual(['g9', 'g10', 'g11']);
    expect(tablet.skipped).toEqual([{ conversation: conv, fromSeq: 1, toSeq: 8, reason: 'history' }]);
  });

  it('moves to another gate when its gate drains (ServerHint), without losing messages', async () => {
    const bob = await client('bob');
    const alice = await client('alice');
    const conv = singleConversation('alice', 'bob');
    const bobGate = bob.client.gateId!;
    const draining = bobGate === runtime.gate!.id ? runtime.gate! : second.gate;
    expect([runtime.gate!.id, second.gate.id]).toContain(bobGate);

    const sending = (async () => {
      for (let i = 1; i <= 30; i++) {
        await alice.client.send('bob', `d${i}`);
        await sleep(20);
      }
    })();
    // Drain while the messages are flowing.
    await until('the first message to reach bob', () => bob.messages.some((m) => m.conversation === conv));
    const stopping = draining.stop();
    if (draining === second.gate) second.stopped = true;
    await until('bob moved to the other gate', () => bob.client.state === 'online' && bob.client.gateId !== bobGate, 10_000);
    // It left on the hint, before the gate closed what was left (IM_DRAINING).
    expect(bob.states.some((s) => s.state === 'offline' && s.reason?.startsWith('server hint'))).toBe(true);
    expect(bob.errors).not.toContain('IM_DRAINING');
    await sending;
    await stopping;
    // One more after the drain: it reaches bob after anything still on its way.
    await alice.client.send('bob', 'd31');
    await until('bob has every message', () => bob.messages.some((m) => m.conversation === conv && m.text === 'd31'), 10_000);
    expect(bob.messages.filter((m) => m.conversation === conv).map((m) => m.text)).toEqual(
      Array.from({ length: 31 }, (_, i) => `d${i + 1}`),
    );
  });

  it('connects straight to a gate URL without dispatch', async () => {
    // The drain test above stopped one of the two gates; use the other.
    const live = second.stopped ? runtime.gate! : second.gate;
    const dave = await client('dave', { dispatchUrl: undefined, gateUrl: live.publicWsUrl });
    expect(dave.client.gateId).toBe(live.id);
    const erin = await client('erin');
    await erin.client.send('dave', 'direct');
    await until('dave gets it', () => dave.messages.length === 1);
    expect(dave.messages[0]).toMatchObject({ sender: 'erin', text: 'direct', seq: 1 });
  });

  it('stops with IM_ROUTE_NOT_FOUND instead of retrying when dispatchUrl has no dispatch endpoint', async () => {
    const { token } = await mintToken(APP, secret, 'frank', 3600);
    // The web page's address instead of dispatch's: a mistake a newcomer makes.
    const c = new ImClient({ appId: APP, dispatchUrl: `${base}/v1/no-dispatch-here`, token, deviceId: 'frank-dev' });
    clients.push(c);
    const states: StateEvent[] = [];
    c.on('state', (s) => states.push(s));
    const err = await c.connect().then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err?.code).toBe('IM_ROUTE_NOT_FOUND');
    expect(err?.message).toMatch(/dispatch answered 404: .*is dispatchUrl right\?/);
    expect(states.at(-1)).toMatchObject({ state: 'offline', willReconnect: false, reason: 'IM_ROUTE_NOT_FOUND' });
  });

  it('asks getToken again after IM_TOKEN_EXPIRED and goes online with the fresh token', async () => {
    const expired = (await mintToken(APP, secret, 'carol', 1, Date.now() - 60_000)).token;
    const fresh = (await mintToken(APP, secret, 'carol', 3600)).token;
    const handedOut: string[] = [];
    const carol = await client('carol', {
      token: undefined,
      getToken: () => {
        const t = handedOut.length === 0 ? expired : fresh;
        handedOut.push(t);
        return t;
      },
    });
    expect(carol.client.state).toBe('online');
    expect(handedOut).toEqual([expired, fresh]);
    expect(carol.errors).toContain('IM_TOKEN_EXPIRED');
  });

  it('is kicked when its token expires, signs in again through getToken, and keeps receiving', async () => {
    const tokens: string[] = [];
    // The first token lives 2 s: the session must end then, not live on with it.
    const dave = await client('dave', {
      token: undefined,
      getToken: async () => {
        const { token } = await mintToken(APP, secret, 'dave', tokens.length === 0 ? 2 : 3600);
        tokens.push(token);
        return token;
      },
    });
    const erin = await client('erin');
    await until('dave to sign in a second time', () => tokens.length === 2 && dave.client.state === 'online', 8_000);
    const offline = dave.states.find((st) => st.state !== 'online' && st.reason === 'token expired');
    expect(offline, JSON.stringify(dave.states)).toBeDefined();
    await erin.client.send('dave', 'after renewal');
    await until('dave to get the message', () => dave.messages.some((m) => m.text === 'after renewal'));
  });

  it('without getToken, stops with IM_TOKEN_EXPIRED when the session outlives its token', async () => {
    const { token } = await mintToken(APP, secret, 'frank', 2);
    const frank = await client('frank', { token });
    await until('the session to end', () => frank.client.state === 'offline', 8_000);
    expect(frank.states.at(-1)).toMatchObject({ state: 'offline', willReconnect: false, reason: 'IM_TOKEN_EXPIRED' });
  });
});
