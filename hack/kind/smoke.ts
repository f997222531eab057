// Chat smoke test through the SDK against a deployed imcloud (hack/kind/e2e.sh port-forwards the
// services): create an app in the pool that claims it and one in the default pool, connect two
// users of each through dispatch, send both ways, check delivery and order.
import { type ChatMessage, ImClient, singleConversation } from '../../sdk/src/index.js';

const dispatch = process.env.IMCLOUD_SMOKE_DISPATCH ?? 'http://127.0.0.1:18080';
const adminUrl = process.env.IMCLOUD_SMOKE_ADMIN ?? 'http://127.0.0.1:18081';
const adminToken = process.env.IMCLOUD_SMOKE_ADMIN_TOKEN ?? '';

async function admin(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok && res.status !== 409) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function user(appId: string, userId: string) {
  const { token } = await admin('POST', `/v1/apps/${appId}/tokens`, { userId });
  const client = new ImClient({ appId, dispatchUrl: `${dispatch}/v1/dispatch`, token, deviceId: `${userId}-smoke` });
  const messages: ChatMessage[] = [];
  client.on('message', (m) => messages.push(m));
  const synced = client.once('synced');
  await client.connect();
  await synced;
  return { client, messages };
}

async function until(what: string, check: () => boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`smoke: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function chat(appId: string) {
  await admin('POST', '/v1/apps', { appId, name: appId });
  const alice = await user(appId, 'alice');
  const bob = await user(appId, 'bob');
  const conv = singleConversation('alice', 'bob');
  for (let i = 1; i <= 5; i++) await alice.client.send('bob', `hello ${i}`);
  await bob.client.send('alice', 'hi back');
  await until(`${appId}: bob receives 5 messages`, () => bob.messages.filter((m) => m.conversation === conv && !m.own).length === 5);
  await until(`${appId}: alice receives the reply`, () => alice.messages.some((m) => m.text === 'hi back'));
  const seqs = bob.messages.filter((m) => m.conversation === conv).map((m) => m.seq);
  if (seqs.join(',') !== [...seqs].sort((a, b) => a - b).join(',')) throw new Error(`smoke: out of order: ${seqs.join(',')}`);
  await alice.client.close();
  await bob.client.close();
  console.log(`smoke: ${appId}: ok (${seqs.length} messages in order)`);
}

await chat('kind-smoke'); // served by the pool "smoke"
await chat('kind-default'); // served by the default pool
process.exit(0);
