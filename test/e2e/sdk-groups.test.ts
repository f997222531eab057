// Group chat through the SDK against the embedded platform (docs/architecture.md §2a): one order
// for every member, exactly once, on every device; membership bounded by the seqs of its events;
// nobody outside the group (in its app or another) reads or writes it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ImClient, ImClientError } from '../../sdk/src/index.js';
import { admin, client, inConversation, newApp, type Platform, type Probe, range, startPlatform, texts, until } from './sdk-fixture.js';

let platform: Platform;
const clients: ImClient[] = [];

beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await platform?.runtime.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function user(app: string, userId: string, connect = true): Promise<Probe> {
  return client(platform, app, userId, {}, connect, (c) => clients.push(c));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e as ImClientError,
  );
  return err?.code ?? 'resolved';
}

const normal = (p: Probe, conversation: string) => inConversation(p, conversation).filter((m) => m.kind === 'normal');

describe('group chat through the SDK', () => {
  it('every member, on every device, gets the same messages in the same order, once; the events say who did what', async () => {
    const app = await newApp(platform, 'groups');
    const [alice, bob, carol] = [await user(app, 'alice'), await user(app, 'bob'), await user(app, 'carol')];
    const group = await alice.client.createGroup({ name: 'Cats', members: ['bob', 'carol'] });
    expect(group).toMatchObject({ conversation: `g:${group.groupId}`, seq: 1 });
    // Three senders at once: the server's seq is the one order.
    const sends = await Promise.all(
      [alice, bob, carol].flatMap((p) => range(5).map((i) => p.client.sendToGroup(group.groupId, `${p.client.userId} ${i}`))),
    );
    const last = Math.max(...sends.map((a) => a.seq));
    expect(new Set(sends.map((a) => a.seq)).size).toBe(15);
    for (const p of [alice, bob, carol])
      await until(`${p.client.userId} has seq ${last}`, () => inConversation(p, group.conversation).some((m) => m.seq === last));
    const seen = [alice, bob, carol].map((p) => inConversation(p, group.conversation).map((m) => [m.seq, m.msgId]));
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    expect(seen[0]!.map(([seq]) => seq)).toEqual(range(16));
    const created = inConversation(bob, group.conversation)[0]!;
    expect(created).toMatchObject({ kind: 'system', seq: 1, sender: 'alice' });
    expect(created.groupEvent).toEqual({ type: 'created', actor: 'alice', users: ['bob', 'carol'], name: 'Cats' });
    expect(bob.client.conversation(group.conversation)).toMatchObject({ group: group.groupId, peer: '', maxSeq: 16 });

    const page = await carol.client.groupMembers(group.groupId);
    expect(page).toMatchObject({ name: 'Cats', owner: 'alice', memberCount: 3 });
    expect(page.members.map((m) => [m.userId, m.role, m.joinedSeq])).toEqual([
      ['alice', 'owner', 1],
      ['bob', 'member', 1],
      ['carol', 'member', 1],
    ]);
  });

  it('a member offline while the group talked gets everything on connect; a create retried with its clientMsgId creates nothing new', async () => {
    const app = await newApp(platform, 'groups');
    const alice = await user(app, 'alice');
    const first = await alice.client.createGroup({ name: 'Dogs', members: ['dave'], clientMsgId: 'create-1', groupId: 'dogs' });
    const again = await alice.client.createGroup({ name: 'Dogs', members: ['dave'], clientMsgId: 'create-1', groupId: 'dogs' });
    expect(again.seq).toBe(first.seq);
    // A new create of the same id, even by its owner, is refused: it would add members unasked.
    expect(await codeOf(alice.client.createGroup({ name: 'Dogs 2', members: ['mallory'], groupId: 'dogs' }))).toBe('IM_GROUP_EXISTS');
    expect((await alice.client.groupMembers('dogs')).members.map((m) => m.userId)).toEqual(['alice', 'dave']);
    for (const i of range(7)) await alice.client.sendToGroup('dogs', `woof ${i}`);
    const dave = await user(app, 'dave');
    expect(texts(normal(dave, 'g:dogs'))).toEqual(range(7).map((i) => `woof ${i}`));
    expect(dave.client.conversation('g:dogs')).toMatchObject({ maxSeq: 8, unread: 8 });
  });

  it('a member added later reads from the event that added them; a removed one gets that event and nothing after it', async () => {
    const app = await newApp(platform, 'groups');
    const [alice, bob, erin] = [await user(app, 'alice'), await user(app, 'bob'), await user(app, 'erin')];
    await alice.client.createGroup({ name: 'Birds', members: ['bob'], groupId: 'birds' });
    await alice.client.sendToGroup('birds', 'before erin');
    const joined = await alice.client.addMembers('birds', ['erin']);
    const welcome = await alice.client.sendToGroup('birds', 'welcome erin');
    await until('erin has the welcome', () => inConversation(erin, 'g:birds').some((m) => m.seq === welcome.seq));
    expect(inConversation(erin, 'g:birds').map((m) => m.seq)).toEqual([joined.seq, welcome.seq]);
    const history = await erin.client.history('g:birds', { fromSeq: 1 });
    expect(history.messages.map((m) => m.seq)).toEqual([joined.seq, welcome.seq]);

    const removed = await alice.client.removeMembers('birds', ['bob']);
    const after = await alice.client.sendToGroup('birds', 'bob is gone');
    await until('erin has the message after the removal', () => inConversation(erin, 'g:birds').some((m) => m.seq === after.seq));
    await until('bob has the removal', () => inConversation(bob, 'g:birds').some((m) => m.seq === removed.seq));
    expect(inConversation(bob, 'g:birds').at(-1)?.groupEvent).toEqual({ type: 'removed', actor: 'alice', users: ['bob'] });
    const bobsHistory = await bob.client.history('g:birds', { fromSeq: 1, limit: 100 });
    expect(bobsHistory.messages.at(-1)?.seq).toBe(removed.seq);
    expect(await codeOf(bob.client.sendToGroup('birds', 'still here?'))).toBe('IM_GROUP_NOT_MEMBER');
    // A new device of bob's syncs up to the removal, not past it.
    await bob.client.close();
    const bobAgain = await user(app, 'bob');
    expect(inConversation(bobAgain, 'g:birds').every((m) => m.seq <= removed.seq)).toBe(true);
    expect(bobAgain.client.conversation('g:birds')?.maxSeq).toBe(removed.seq);
    expect(inConversation(bob, 'g:birds').some((m) => m.seq === after.seq)).toBe(false);
  });

  it('nobody outside the group reads or writes it, in its app or from another', async () => {
    const app = await newApp(platform, 'groups');
    const other = await newApp(platform, 'groups');
    const alice = await user(app, 'alice');
    await alice.client.createGroup({ name: 'Secret', members: [], groupId: 'secret' });
    await alice.client.sendToGroup('secret', 'for members only');
    const mallory = await user(app, 'mallory');
    const outsider = await user(other, 'alice');
    expect(await codeOf(mallory.client.sendToGroup('secret', 'let me in'))).toBe('IM_GROUP_NOT_MEMBER');
    expect(await codeOf(mallory.client.history('g:secret'))).toBe('IM_GROUP_NOT_MEMBER');
    expect(await codeOf(mallory.client.groupMembers('secret'))).toBe('IM_GROUP_NOT_MEMBER');
    expect(await codeOf(mallory.client.addMembers('secret', ['mallory']))).toBe('IM_GROUP_NOT_MEMBER');
    expect(await codeOf(outsider.client.sendToGroup('secret', 'same user id, other app'))).toBe('IM_GROUP_NOT_FOUND');
    expect(await codeOf(outsider.client.history('g:secret'))).toBe('IM_GROUP_NOT_FOUND');
    expect(mallory.client.conversation('g:secret')).toBeUndefined();
    expect(outsider.messages).toEqual([]);
  });

  it('roles: members cannot manage the group; the owner and admins can, and may recall anyone’s message', async () => {
    const app = await newApp(platform, 'groups');
    const [alice, bob] = [await user(app, 'alice'), await user(app, 'bob')];
    await alice.client.createGroup({ name: 'Club', members: ['bob', 'carol'], groupId: 'club' });
    expect(await codeOf(bob.client.addMembers('club', ['zed']))).toBe('IM_GROUP_FORBIDDEN');
    expect(await codeOf(bob.client.removeMembers('club', ['carol']))).toBe('IM_GROUP_FORBIDDEN');
    expect(await codeOf(bob.client.dissolveGroup('club'))).toBe('IM_GROUP_FORBIDDEN');
    expect(await codeOf(bob.client.groupMembers('club', { after: 'not an id' }))).toBe('IM_BAD_REQUEST');
    expect(await codeOf(alice.client.leaveGroup('club'))).toBe('IM_GROUP_FORBIDDEN');
    const bobs = await bob.client.sendToGroup('club', 'oops');
    expect(await codeOf(bob.client.recall('g:club', bobs.seq - 1))).toBe('IM_BAD_REQUEST');
    const recall = await alice.client.recall('g:club', bobs.seq);
    await until('bob sees the recall', () => bob.recalls.some((r) => r.eventSeq === recall.seq));
    expect(bob.recalls.find((r) => r.eventSeq === recall.seq)).toMatchObject({ seq: bobs.seq, by: 'alice' });
    await bob.client.leaveGroup('club');
    expect(await codeOf(bob.client.sendToGroup('club', 'gone'))).toBe('IM_GROUP_NOT_MEMBER');
    await alice.client.dissolveGroup('club');
    expect(await codeOf(alice.client.sendToGroup('club', 'anyone?'))).toBe('IM_GROUP_DISSOLVED');
  });

  it("a tenant's backend manages groups over the admin API: its changes are events in the group's seq, and retries with an Idempotency-Key count once", async () => {
    const app = await newApp(platform, 'groups');
    const [alice, bob] = [await user(app, 'alice'), await user(app, 'bob')];
    const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      fetch(`${platform.base}/v1/apps/${app}${path}`, {
        method,
        headers: { authorization: `Bearer ${platform.runtime.adminToken}`, 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, json: (await r.json()) as Record<string, unknown> }));

    const created = await call('POST', '/groups', { groupId: 'ops', name: 'Ops', owner: 'alice', members: ['bob'] });
    expect(created).toMatchObject({ status: 201, json: { groupId: 'ops', conversation: 'g:ops', seq: 1 } });
    const add = () => call('POST', '/groups/ops/members', { userIds: ['carol'] }, { 'idempotency-key': 'add-carol-1' });
    const [first, retry] = [await add(), await add()];
    expect(first.json).toMatchObject({ seq: 2, duplicate: false });
    expect(retry.json).toMatchObject({ seq: 2, duplicate: true });
    for (const p of [alice, bob]) await until('the join arrives', () => inConversation(p, 'g:ops').some((m) => m.seq === 2));
    expect(inConversation(bob, 'g:ops').map((m) => m.groupEvent?.type)).toEqual(['created', 'joined']);
    expect(inConversation(alice, 'g:ops').find((m) => m.seq === 2)?.groupEvent).toEqual({
      type: 'joined',
      actor: 'alice',
      users: ['carol'],
    });

    expect((await call('GET', '/groups/ops')).json).toMatchObject({ name: 'Ops', owner: 'alice', memberCount: 3 });
    const members = (await call('GET', '/groups/ops/members?limit=2')).json;
    expect(members).toMatchObject({ members: [{ userId: 'alice', role: 'owner' }, { userId: 'bob' }], next: 'bob' });
    expect((await call('GET', '/users/bob/groups')).json).toEqual({
      groups: [{ groupId: 'ops', role: 'member', joinedSeq: 1, muted: false }],
    });
    expect((await call('PATCH', '/groups/ops/members/bob', { muted: true })).json).toMatchObject({ seq: 3 });
    expect(await codeOf(bob.client.sendToGroup('ops', 'muted?'))).toBe('IM_GROUP_MUTED');
    expect((await call('DELETE', '/groups/ops/members/bob')).json).toMatchObject({ seq: 4 });
    expect((await call('GET', '/users/bob/groups')).json).toEqual({ groups: [] });

    // Errors from the one catalog; an app's secret acts on its own app only.
    expect(await call('GET', '/groups/nope')).toMatchObject({ status: 404, json: { error: { code: 'IM_GROUP_NOT_FOUND' } } });
    expect(await call('POST', '/groups/ops/members', { userIds: ['bad id'] })).toMatchObject({ status: 400 });
    const other = (await admin(platform, 'POST', '/v1/apps', { name: 'other tenant' })) as { appId: string; secret: string };
    const foreign = await fetch(`${platform.base}/v1/apps/${app}/groups/ops`, {
      headers: { authorization: `Basic ${Buffer.from(`${other.appId}:${other.secret}`).toString('base64')}` },
    });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('IM_ADMIN_FORBIDDEN');
  });

  it('@mentions mark the mentioned member’s conversation until read; the sender asks who has read a message', async () => {
    const app = await newApp(platform, 'groups');
    const [alice, bob, carol] = [await user(app, 'alice'), await user(app, 'bob'), await user(app, 'carol')];
    await alice.client.createGroup({ name: 'Team', members: ['bob', 'carol'], groupId: 'team' });
    const ping = await alice.client.sendToGroup('team', { body: 'bob, look', mentions: ['bob', 'nobody-here'] });
    for (const p of [bob, carol]) await until('the mention arrives', () => inConversation(p, 'g:team').some((m) => m.seq === ping.seq));
    expect(inConversation(bob, 'g:team').at(-1)).toMatchObject({ text: 'bob, look', mentions: ['bob', 'nobody-here'], mentionsMe: true });
    expect(bob.client.conversation('g:team')).toMatchObject({ mentioned: true, mentionedSeq: ping.seq });
    expect(carol.client.conversation('g:team')).toMatchObject({ mentioned: false });
    // A device that syncs later learns of the mention from the server.
    await bob.client.close();
    const bobLater = await user(app, 'bob');
    expect(bobLater.client.conversation('g:team')).toMatchObject({ mentioned: true, mentionedSeq: ping.seq });

    expect(await alice.client.readers('g:team', ping.seq)).toEqual({
      conversation: 'g:team',
      seq: ping.seq,
      readCount: 0,
      memberCount: 2,
      readers: [],
    });
    await bobLater.client.markRead('g:team', ping.seq);
    expect(bobLater.client.conversation('g:team')).toMatchObject({ mentioned: false });
    expect(await alice.client.readers('g:team', ping.seq)).toEqual({
      conversation: 'g:team',
      seq: ping.seq,
      readCount: 1,
      memberCount: 2,
      readers: ['bob'],
    });
    expect(await codeOf(alice.client.readers(alice.client.conversationWith('bob'), 1))).toBe('IM_BAD_REQUEST');

    // Above the app's threshold the count comes without names.
    await admin(platform, 'PATCH', `/v1/apps/${app}`, { limits: { groupWriteDiffusionMax: 1 } });
    await new Promise((r) => setTimeout(r, 5_100)); // logic caches an app's settings for 5 s
    expect(await alice.client.readers('g:team', ping.seq)).toEqual({ conversation: 'g:team', seq: ping.seq, readCount: 1, memberCount: 2 });
  });

  it('a group switches between write and read diffusion as it grows and shrinks, while messages flow: nobody loses, repeats or reorders one', async () => {
    // A platform whose write-diffusion threshold is 4 members (back to write at 3).
    const small = await startPlatform({ groupWriteDiffusionMax: 4 });
    try {
      const app = await newApp(small, 'groups');
      const member = (userId: string) => client(small, app, userId, {}, true, (c) => clients.push(c));
      const [alice, bob, carol] = [await member('alice'), await member('bob'), await member('carol')];
      const modeOf = async () => (await admin(small, 'GET', `/v1/apps/${app}/groups/flux`)).diffusion;
      await alice.client.createGroup({ name: 'Flux', members: ['bob', 'carol'], groupId: 'flux' });
      const modes = [await modeOf()];
      const flow = Promise.all(
        [alice, bob].map(async (p) => {
          for (const i of range(30)) await p.client.sendToGroup('flux', `${p.client.userId} ${i}`);
        }),
      );
      const dave = await member('dave');
      const joined = await alice.client.addMembers('flux', ['dave', 'erin']);
      modes.push(await modeOf());
      await alice.client.addMembers('flux', ['frank']);
      modes.push(await modeOf());
      await alice.client.removeMembers('flux', ['erin', 'frank']);
      modes.push(await modeOf());
      const removed = await alice.client.removeMembers('flux', ['dave']);
      modes.push(await modeOf());
      await flow;
      expect(modes).toEqual(['write', 'read', 'read', 'read', 'write']);

      const last = await alice.client.sendToGroup('flux', 'the end');
      await until('carol has everything', () => inConversation(carol, 'g:flux').some((m) => m.seq === last.seq));
      // Carol was a member throughout: every seq once, in order, and every message sent.
      expect(inConversation(carol, 'g:flux').map((m) => m.seq)).toEqual(range(last.seq));
      const sent = normal(carol, 'g:flux').map((m) => m.text);
      expect(new Set(sent).size).toBe(61);
      for (const who of ['alice', 'bob']) expect(sent.filter((t) => t?.startsWith(`${who} `))).toEqual(range(30).map((i) => `${who} ${i}`));
      // Dave: from the event that added him to the one that removed him, nothing after.
      await until('dave has his removal', () => inConversation(dave, 'g:flux').some((m) => m.seq === removed.seq));
      expect(inConversation(dave, 'g:flux').map((m) => m.seq)).toEqual(range(removed.seq - joined.seq + 1, joined.seq));
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await small.runtime.stop();
    }
  });
});
