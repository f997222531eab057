// The web chat page in a real browser (Debian's Chromium via playwright-core) against the
// whole platform started in-process with the built page: two users chat both ways, one goes
// offline and comes back on the same device (same localStorage and IndexedDB) and sees what it
// missed exactly once and in order, and the sender sees delivered (✓) and read (✓✓) marks.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../services/runtime.js';
import { launchChromium } from './chromium.js';
import { startWebPlatform } from './web-platform.js';

let runtime: Runtime;
let browser: Browser;
let base: string;

interface DebugView {
  received: Array<{ conversation: string; seq: number; text?: string }>;
  client?: { deviceId: string };
  storedCursors(): Promise<Record<string, number>>;
}
declare global {
  interface Window {
    imcloudDebug: DebugView;
  }
}

beforeAll(async () => {
  ({ runtime, base } = await startWebPlatform());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

/** Uncaught errors in any page: each test ends by checking there were none. */
const pageErrors: string[] = [];

async function newPage(context: BrowserContext, name: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`[${name}] ${err.message}`));
  return page;
}

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

async function signIn(context: BrowserContext, userId: string): Promise<Page> {
  const page = await newPage(context, userId);
  await page.goto(base);
  await page.getByTestId('login-user').fill(userId);
  await page.getByTestId('login-submit').click();
  await page.locator('[data-testid="connection-state"][data-state="online"]').waitFor();
  await expect(page.getByTestId('me').textContent()).resolves.toBe(userId);
  return page;
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-send').click();
}

/** The texts of the open conversation, top to bottom. */
const thread = (page: Page) => page.getByTestId('message-list').getByTestId('message-text').allTextContents();
const ownMessage = (page: Page, text: string) => page.locator('[data-testid="message"][data-own="true"]', { hasText: text });
const statusOf = (page: Page, text: string) => ownMessage(page, text).getAttribute('data-status');

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('web chat page', () => {
  it('two users chat; the one who was offline gets what it missed once and in order; ✓ and ✓✓ show up', async () => {
    const contextA = await browser.newContext();
    const contextB = await browser.newContext();
    const alice = await signIn(contextA, 'alice');
    let bob = await signIn(contextB, 'bob');

    // Alice starts the conversation.
    await alice.getByTestId('new-chat-peer').fill('bob');
    await alice.getByTestId('new-chat-open').click();
    await expect(alice.getByTestId('thread-peer').textContent()).resolves.toBe('bob');
    await send(alice, 'hello bob');

    // Bob sees a conversation with one unread message, opens it, reads and answers.
    const fromAlice = bob.locator('[data-testid="conversation-item"][data-peer="alice"]');
    await fromAlice.getByTestId('unread-count').filter({ hasText: '1' }).waitFor();
    await fromAlice.click();
    await until('bob sees the message', async () => (await thread(bob)).join('|') === 'hello bob');
    await send(bob, 'hi alice');

    await until('alice sees the answer', async () => (await thread(alice)).join('|') === 'hello bob|hi alice');
    await until('alice sees ✓✓ on her message', async () => (await statusOf(alice, 'hello bob')) === 'read');
    await expect(ownMessage(alice, 'hello bob').getByTestId('message-status').textContent()).resolves.toBe('✓✓');
    // Alice has the conversation open, so Bob's answer gets read at once.
    await until('bob sees ✓✓ on his answer', async () => (await statusOf(bob, 'hi alice')) === 'read');

    // This device has persisted how far it holds the conversation (so a reload resumes there).
    const conversation = 's:alice:bob';
    await until("bob's cursor is stored", async () => (await bob.evaluate(() => window.imcloudDebug.storedCursors()))[conversation] === 2);
    const deviceId = await bob.evaluate(() => window.imcloudDebug.client!.deviceId);

    // Bob goes offline; Alice writes on.
    await bob.close();
    const missed = ['missed one', 'missed two', 'missed three'];
    for (const text of missed) await send(alice, text);
    for (const text of missed) {
      await until(`"${text}" acknowledged`, async () => (await statusOf(alice, text)) === 'sent');
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const text of missed) expect(await statusOf(alice, text)).toBe('sent'); // nobody holds it yet

    // Bob comes back: same browser profile, so the same device and the stored cursors.
    bob = await newPage(contextB, 'bob again');
    await bob.goto(base); // remembers who signed in last
    await bob.locator('[data-testid="connection-state"][data-state="online"]').waitFor();
    expect(await bob.evaluate(() => window.imcloudDebug.client!.deviceId)).toBe(deviceId);
    const again = bob.locator('[data-testid="conversation-item"][data-peer="alice"]');
    await again.getByTestId('unread-count').filter({ hasText: '3' }).waitFor();

    // The SDK delivered exactly the missed messages, once each, in order, and nothing older. It
    // delivers in seq order, so once seq 5 is there anything at or below it has been delivered.
    await until(
      'bob received the last missed message',
      async () => await bob.evaluate(() => window.imcloudDebug.received.some((m) => m.seq === 5)),
    );
    const received = await bob.evaluate(() => window.imcloudDebug.received);
    expect(received.map((m) => [m.conversation, m.seq, m.text])).toEqual([
      [conversation, 3, 'missed one'],
      [conversation, 4, 'missed two'],
      [conversation, 5, 'missed three'],
    ]);

    // Bob's device acknowledged them: ✓ for Alice, before Bob has even opened the conversation.
    for (const text of missed) {
      await until(`✓ on "${text}"`, async () => (await statusOf(alice, text)) === 'delivered');
    }
    await expect(ownMessage(alice, 'missed three').getByTestId('message-status').textContent()).resolves.toBe('✓');

    // The page shows the whole conversation (older messages come from history), each once.
    await again.click();
    const expected = ['hello bob', 'hi alice', ...missed];
    // Each once: a late duplicate would still show in the thread checked after the recall below.
    await until('bob sees the whole conversation', async () => (await thread(bob)).join('|') === expected.join('|'));
    await expect(
      bob
        .getByTestId('message-list')
        .getByTestId('message')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-seq'))),
    ).resolves.toEqual(['1', '2', '3', '4', '5']);

    // Alice learns that Bob's device got them and that he read them.
    for (const text of missed) {
      await until(`✓✓ on "${text}"`, async () => (await statusOf(alice, text)) === 'read');
    }
    await expect(again.getByTestId('unread-count').isHidden()).resolves.toBe(true);

    // Alice recalls her last message; Bob's page shows it as recalled.
    await ownMessage(alice, 'missed three').getByTestId('message-recall').click();
    await until('bob sees the recall', async () => (await thread(bob)).includes('This message was recalled'));
    expect(await thread(bob)).toEqual(['hello bob', 'hi alice', 'missed one', 'missed two', 'This message was recalled']);
    await until('alice sees her recall', async () => (await thread(alice)).includes('You recalled a message'));

    await expect(alice.getByTestId('connection-state').getAttribute('data-state')).resolves.toBe('online');
    await contextA.close();
    await contextB.close();
  });

  it('three users in a group: created from the page, members added, everyone sees the same thread and unread badges', async () => {
    const contexts = await Promise.all([browser.newContext(), browser.newContext(), browser.newContext()]);
    const [erin, frank, gina] = await Promise.all([
      signIn(contexts[0]!, 'erin'),
      signIn(contexts[1]!, 'frank'),
      signIn(contexts[2]!, 'gina'),
    ]);

    await erin.getByTestId('new-group-name').fill('Hikers');
    await erin.getByTestId('new-group-members').fill('frank');
    await erin.getByTestId('new-group-create').click();
    // The thread opens once the server has acknowledged the group.
    const text = async (page: Page, testId: string) => (await page.getByTestId(testId).first().textContent()) ?? '';
    await until('erin is in the new group', async () => (await text(erin, 'thread-peer')) === '# Hikers');
    await send(erin, 'trail at 9?');

    const groupItem = (page: Page) => page.locator('[data-testid="conversation-item"][data-group]');
    await groupItem(frank).getByTestId('unread-count').filter({ hasText: '2' }).waitFor();
    await until("frank's list names the group", async () => (await groupItem(frank).locator('.peer').textContent()) === '# Hikers');
    await groupItem(frank).click();
    await until('frank sees the message', async () => (await thread(frank)).join('|') === 'trail at 9?');
    await until(
      'frank sees who created the group',
      async () => (await text(frank, 'group-event')) === 'erin created the group "Hikers" with frank',
    );
    await send(frank, 'yes');

    // Gina joins later: she sees what came after she was added, not before.
    await erin.getByTestId('group-add-user').fill('gina');
    await erin.getByTestId('group-add-submit').click();
    await groupItem(gina).waitFor();
    await groupItem(gina).click();
    await send(gina, 'hi all');
    for (const page of [erin, frank])
      await until('everyone sees gina', async () => (await thread(page)).join('|') === 'trail at 9?|yes|hi all');
    await until('gina sees her own message', async () => (await thread(gina)).join('|') === 'hi all');
    await until(
      'gina sees that she was added',
      async () => (await gina.getByTestId('group-event').allTextContents()).join('|') === 'erin added gina',
    );
    await expect(
      erin.locator('[data-testid="message"][data-own="false"]').getByTestId('message-sender').allTextContents(),
    ).resolves.toEqual(['frank', 'gina']);
    // Frank's and Gina's threads are open, so their pages read what arrives: Erin's last message says so.
    await send(erin, 'see you there');
    await until('read by 2 of 2', async () => ((await erin.getByTestId('read-by').textContent()) ?? '').startsWith('read by 2 of 2'));
    await Promise.all(contexts.map((c) => c.close()));
  });

  it("a system message from the app's backend shows as the app's notice in a conversation named System, apart from users' messages; the user may reply there", async () => {
    const context = await browser.newContext();
    const hana = await signIn(context, 'hana');
    const post = (body: object) =>
      fetch(`${base}v1/apps/demo/messages`, {
        method: 'POST',
        headers: { authorization: 'Bearer e2e-admin-token', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post({ system: true, to: 'hana', body: 'Maintenance tonight at 2', clientMsgId: 'web-sys-1' })).status).toBe(200);
    expect((await post({ from: 'ivan', to: 'hana', body: 'not a notice', clientMsgId: 'web-user-1' })).status).toBe(200);

    const systemItem = hana.locator('[data-testid="conversation-item"][data-peer="@system"]');
    await until('the System conversation is listed', async () => (await systemItem.locator('.peer').textContent()) === 'System');
    await systemItem.click();
    const notice = hana.getByTestId('system-message');
    await until('the notice shows', async () => (await notice.getByTestId('message-text').textContent()) === 'Maintenance tonight at 2');
    await expect(notice.getAttribute('class')).resolves.toBe('system');
    await expect(hana.getByTestId('message-list').getByTestId('message').count()).resolves.toBe(0);
    // A reply to the app is hana's own message, stored like any (the app's backend hears of it
    // through its webhook: tenant-backend.test.ts).
    await send(hana, 'thanks, noted');
    await until('the reply is stored', async () => (await statusOf(hana, 'thanks, noted')) === 'sent');

    await hana.locator('[data-testid="conversation-item"][data-peer="ivan"]').click();
    await until('ivan’s message is a message', async () => (await thread(hana)).join('|') === 'not a notice');
    await expect(hana.getByTestId('system-message').count()).resolves.toBe(0);
    await context.close();
  });

  it('two tabs of one user in one browser both stay signed in and both get messages', async () => {
    const context = await browser.newContext();
    const tab1 = await signIn(context, 'dave');
    const tab2 = await newPage(context, 'dave tab 2');
    await tab2.goto(base); // signs in as the remembered user
    await tab2.locator('[data-testid="connection-state"][data-state="online"]').waitFor();
    const ids = await Promise.all([tab1, tab2].map((p) => p.evaluate(() => window.imcloudDebug.client!.deviceId)));
    expect(ids[0]).not.toBe(ids[1]); // the second tab must not displace the first

    const other = await browser.newContext();
    const erin = await signIn(other, 'erin');
    await erin.getByTestId('new-chat-peer').fill('dave');
    await erin.getByTestId('new-chat-open').click();
    await send(erin, 'to both tabs');
    for (const tab of [tab1, tab2]) {
      await tab.locator('[data-testid="conversation-item"][data-peer="erin"]').waitFor();
      await expect(tab.getByTestId('connection-state').getAttribute('data-state')).resolves.toBe('online');
    }
    await context.close();
    await other.close();
  });

  it('shows the connection state while the connection drops and comes back', async () => {
    const context = await browser.newContext();
    const carol = await signIn(context, 'carol');
    const states: string[] = [];
    await carol.exposeFunction('recordState', (s: string) => states.push(s));
    await carol.evaluate(() => {
      const el = document.querySelector('[data-testid="connection-state"]')!;
      new MutationObserver(() =>
        (window as unknown as { recordState(s: string): void }).recordState(el.getAttribute('data-state') ?? ''),
      ).observe(el, { attributes: true });
    });
    // Drop the socket as a network blip would; the page shows offline/connecting, then online.
    await carol.evaluate(() => (window.imcloudDebug.client as unknown as { dropConnection(): void }).dropConnection());
    await until(
      'carol back online',
      async () => states.includes('offline') && (await carol.getByTestId('connection-state').getAttribute('data-state')) === 'online',
    );
    expect(states).toContain('connecting');
    await context.close();
  });
});
