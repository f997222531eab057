// A chat client that runs INSIDE the real node's namespace (platform.test.ts starts it with
// `nsenter -t HOLDER -n -m -- node --import tsx test/node/client.ts '<json>'`): pod and Service
// addresses exist only in there (shared/INFRA.md). It uses the SDK as an app would: the admin API
// (through the cluster's admin Service) creates the app and mints tokens, the clients ask the
// dispatch Service where to connect and chat through the gate it names.
//
// Scenario "chat": alice sends one message to bob, bob receives it; then offline sync: bob
// disconnects, alice sends 3, bob reconnects (same device, same cursors) and syncs them in order.
// Scenario "groups-files": alice makes a group with bob and carol and sends to it; carol goes away
// and syncs what she missed; alice sends an image (uploaded through the file Service), bob
// downloads it and its thumbnail through the signed URLs, and his upload of the same bytes is a
// flash upload (proof of possession, nothing sent again).
// Prints progress on stderr and one JSON line on stdout: what was sent and received, and which
// gates dispatch named.
import { createHash, randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { type ChatMessage, groupConversation, ImClient, MemoryCursorStore, singleConversation } from '../../sdk/src/index.js';
import { adminApi, dispatchWatchingFetch } from './in-node-client.js';

export interface ClientArgs {
  /** chat, groups-files: the scenarios above; where: only ask dispatch where alice would connect. */
  scenario: 'chat' | 'groups-files' | 'where';
  dispatchUrl: string;
  /** The file Service's base URL (the SDK's filesUrl). */
  filesUrl?: string;
  adminUrl: string;
  adminToken: string;
  appId: string;
  /** A tag for the message texts (default the appId). */
  tag?: string;
  /** Appended to the user ids (alice<suffix>, bob<suffix>): a fresh conversation per run. */
  userSuffix?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ClientArgs;
const say = (m: string) => process.stderr.write(`client[${args.appId}]: ${m}\n`);

const admin = adminApi(args.adminUrl, args.adminToken);

async function until(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const gatesSeen: Record<string, string[]> = {};

async function user(name: string, cursorStore = new MemoryCursorStore()) {
  const userId = `${name}${args.userSuffix ?? ''}`;
  const { token } = await admin('POST', `/v1/apps/${args.appId}/tokens`, { userId });
  const messages: ChatMessage[] = [];
  const client = new ImClient({
    appId: args.appId,
    dispatchUrl: args.dispatchUrl,
    ...(args.filesUrl && { filesUrl: args.filesUrl }),
    token,
    deviceId: `${userId}-node-e2e`,
    cursorStore,
    timeouts: { connect: 30_000, dispatch: 30_000 },
    // Records where dispatch sends this user.
    fetch: dispatchWatchingFetch((gates) => (gatesSeen[name] ??= []).push(...gates)),
  });
  client.on('message', (m) => messages.push(m));
  const synced = client.once('synced');
  await client.connect();
  await synced;
  say(`${userId} connected (dispatch named ${(gatesSeen[name] ?? []).join(', ')})`);
  return { client, messages, cursorStore };
}

async function chat() {
  const tag = args.tag ?? args.appId;
  await admin('POST', '/v1/apps', { appId: args.appId, name: args.appId });
  const alice = await user('alice');
  let bob = await user('bob');
  const [a, b] = ['alice', 'bob'].map((n) => `${n}${args.userSuffix ?? ''}`);
  const conv = singleConversation(a!, b!);
  const fromAlice = (msgs: ChatMessage[]) => msgs.filter((m) => m.conversation === conv && m.sender === a).map((m) => m.text ?? '');

  // Single chat.
  const first = `${tag}: hello bob`;
  const ack = await alice.client.send(b!, first);
  say(`alice sent "${first}" (seq ${ack.seq})`);
  await until('bob receives the first message', () => fromAlice(bob.messages).includes(first));
  const online = fromAlice(bob.messages);
  say(`bob received ${JSON.stringify(online)}`);

  // Offline sync: bob goes away, alice sends 3, bob comes back on the same device and cursors.
  await bob.client.close();
  say('bob disconnected');
  const offline = [1, 2, 3].map((i) => `${tag}: offline ${i}`);
  const offlineSeqs: number[] = [];
  for (const text of offline) offlineSeqs.push((await alice.client.send(b!, text)).seq);
  say(`alice sent ${JSON.stringify(offline)} (seqs ${offlineSeqs.join(',')}) while bob was offline`);
  bob = await user('bob', bob.cursorStore);
  await until('bob syncs the 3 offline messages', () => fromAlice(bob.messages).length >= 3);
  const synced = bob.messages.filter((m) => m.conversation === conv && m.sender === a);
  say(`bob synced ${JSON.stringify(synced.map((m) => `${m.seq}:${m.text}`))}`);

  await alice.client.close();
  await bob.client.close();
  return {
    sent: [first, ...offline],
    receivedOnline: online,
    receivedAfterSync: synced.map((m) => m.text ?? ''),
    syncedSeqs: synced.map((m) => m.seq),
    offlineSeqs,
    gates: gatesSeen,
  };
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

async function download(client: ImClient, fileId: string, conversation: string, thumbnail = false): Promise<Uint8Array> {
  const res = await fetch(await client.fileUrl(fileId, { conversation, thumbnail }));
  if (!res.ok) throw new Error(`GET ${thumbnail ? 'thumbnail' : 'file'} ${fileId}: ${res.status} ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function groupsAndFiles() {
  const tag = args.tag ?? args.appId;
  await admin('POST', '/v1/apps', { appId: args.appId, name: args.appId });
  const [alice, bob] = [await user('alice'), await user('bob')];
  let carol = await user('carol');
  const [a, b, c] = ['alice', 'bob', 'carol'].map((n) => `${n}${args.userSuffix ?? ''}`) as [string, string, string];
  const group = await alice.client.createGroup({ name: `${tag} group`, members: [b, c] });
  const conv = groupConversation(group.groupId);
  const texts = (msgs: ChatMessage[]) => msgs.filter((m) => m.conversation === conv && m.sender === a && m.text).map((m) => m.text!);
  say(`alice created group ${group.groupId} with ${b}, ${c} (seq ${group.seq})`);

  const online = [1, 2, 3].map((i) => `${tag}: group ${i}`);
  for (const text of online) await alice.client.sendToGroup(group.groupId, text);
  await until('bob and carol receive the 3 group messages', () => texts(bob.messages).length >= 3 && texts(carol.messages).length >= 3);
  const receivedOnline = { bob: texts(bob.messages), carol: texts(carol.messages) };
  say(`received in the group: ${JSON.stringify(receivedOnline)}`);

  // Group offline sync: carol away, alice sends 2, carol back on the same device and cursors.
  await carol.client.close();
  const offline = [1, 2].map((i) => `${tag}: group offline ${i}`);
  for (const text of offline) await alice.client.sendToGroup(group.groupId, text);
  carol = await user('carol', carol.cursorStore);
  await until('carol syncs the 2 group messages she missed', () => texts(carol.messages).length >= 2);
  const carolSynced = texts(carol.messages);
  say(`carol synced ${JSON.stringify(carolSynced)}`);

  // An image through the file Service, sent to the group; bob downloads it and its thumbnail.
  const image = await sharp({ create: { width: 640, height: 400, channels: 3, background: { r: 30, g: 90, b: 200 } } })
    .composite([{ input: randomBytes(64 * 64 * 3), raw: { width: 64, height: 64, channels: 3 }, left: 8, top: 8 }])
    .png()
    .toBuffer();
  const uploaded = await alice.client.upload(new Uint8Array(image), { name: 'node.png', contentType: 'image/png' });
  say(`alice uploaded node.png: ${uploaded.size} bytes, md5 ${uploaded.md5}, thumbnail ${uploaded.thumbnail}`);
  await alice.client.sendFile({ group: group.groupId }, uploaded);
  await until('bob receives the image message', () =>
    bob.messages.some((m) => m.conversation === conv && m.file?.fileId === uploaded.fileId),
  );
  const received = bob.messages.find((m) => m.file?.fileId === uploaded.fileId)!;
  const original = await download(bob.client, uploaded.fileId, conv);
  const thumbnail = await download(bob.client, uploaded.fileId, conv, true);
  const again = await bob.client.upload(new Uint8Array(image), { name: 'again.png', contentType: 'image/png' });
  say(
    `bob downloaded ${original.length} bytes and a ${thumbnail.length}-byte thumbnail; his upload of the same bytes: deduplicated ${again.deduplicated}`,
  );

  for (const x of [alice, bob, carol]) await x.client.close();
  return {
    groupSent: [...online, ...offline],
    receivedOnline,
    carolSynced,
    file: {
      md5: md5(image),
      uploadedMd5: uploaded.md5,
      receivedContentType: received.contentType,
      receivedThumbnail: received.file?.thumbnail ?? false,
      downloadedMd5: md5(original),
      thumbnailHead: Buffer.from(thumbnail.subarray(0, 12)).toString('latin1'),
      flashUpload: again.deduplicated,
      flashUploadMd5: again.md5,
    },
    gates: gatesSeen,
  };
}

/** Asks dispatch (as alice, with a token) where to connect, without connecting. */
async function where() {
  await admin('POST', '/v1/apps', { appId: args.appId, name: args.appId });
  const { token } = await admin('POST', `/v1/apps/${args.appId}/tokens`, { userId: 'alice' });
  const url = new URL(args.dispatchUrl);
  url.searchParams.set('appId', args.appId);
  url.searchParams.set('userId', 'alice');
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const answer = (await res.json()) as { gates?: Array<{ ws: string }> };
  return { gates: { alice: (answer.gates ?? []).map((g) => g.ws) } };
}

try {
  const scenarios = { chat, 'groups-files': groupsAndFiles, where };
  const result = await scenarios[args.scenario]();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  say(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
}
