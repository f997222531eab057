// Files in the web chat page, in a real browser (Debian's Chromium via playwright-core) against
// the whole platform started in-process with the built page: an attached PNG shows in the peer's
// thread as its thumbnail and opens the original; a 50 MB upload interrupted by a reload resumes
// where it stopped when the file is attached again, and attaching it once more is a flash upload
// ("already uploaded").
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Runtime } from '../../services/runtime.js';
import { launchChromium } from './chromium.js';
import { startWebPlatform } from './web-platform.js';

const work = mkdtempSync(join(tmpdir(), 'imcloud-web-files-'));

let runtime: Runtime;
let browser: Browser;
let base: string;

interface UploadRecord {
  name: string;
  size: number;
  resumedFrom?: number;
  deduplicated?: boolean;
  state: string;
}

beforeAll(async () => {
  ({ runtime, base } = await startWebPlatform({ file: { dir: join(work, 'files') } }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
  rmSync(work, { recursive: true, force: true });
});

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
  await online(page);
  return page;
}

const online = (page: Page) => page.locator('[data-testid="connection-state"][data-state="online"]').waitFor();

async function openChat(page: Page, peer: string): Promise<void> {
  await page.getByTestId('new-chat-peer').fill(peer);
  await page.getByTestId('new-chat-open').click();
  await expect(page.getByTestId('thread-peer').textContent()).resolves.toBe(peer);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const uploadState = (page: Page) => page.getByTestId('upload-status').getAttribute('data-state');
const uploads = (page: Page) =>
  page.evaluate(() => (window as unknown as { imcloudDebug: { uploads: UploadRecord[] } }).imcloudDebug.uploads);

describe('files in the web chat page', () => {
  it("an attached PNG shows in the peer's thread as its thumbnail, which opens the original", async () => {
    const [contextA, contextB] = [await browser.newContext(), await browser.newContext()];
    const alice = await signIn(contextA, 'alice');
    const bob = await signIn(contextB, 'bob');
    await openChat(alice, 'bob');

    const png = join(work, 'sunset.png');
    await sharp({ create: { width: 640, height: 400, channels: 3, background: { r: 250, g: 120, b: 40 } } })
      .composite([{ input: Buffer.from('<svg width="640" height="400"><circle cx="320" cy="260" r="120" fill="#ffd34d"/></svg>') }])
      .png()
      .toFile(png);
    await alice.getByTestId('attach-input').setInputFiles(png);
    await until('alice sent the image', async () => (await uploadState(alice)) === 'sent');
    expect(await uploads(alice)).toEqual([
      { name: 'sunset.png', size: statSync(png).size, resumedFrom: 0, deduplicated: false, state: 'sent' },
    ]);

    // Bob opens the conversation: the message is an image, its thumbnail loaded.
    const fromAlice = bob.locator('[data-testid="conversation-item"][data-peer="alice"]');
    await fromAlice.waitFor();
    await expect(fromAlice.locator('.preview').textContent()).resolves.toBe('📎 sunset.png');
    await fromAlice.click();
    const img = bob.getByTestId('message-list').getByTestId('message-image');
    await img.waitFor();
    await until('the thumbnail is loaded', () => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0));
    const natural = await img.evaluate((el: HTMLImageElement) => [el.naturalWidth, el.naturalHeight, el.src]);
    expect(natural[0]).toBe(256); // the thumbnail's longest side
    expect(natural[1]).toBe(160);
    expect(natural[2]).toContain('/v1/files/content/demo/');
    expect(natural[2]).toContain('variant=thumbnail');
    await expect(img.isVisible()).resolves.toBe(true);
    const shot = join(work, 'bob-thread.png');
    await bob.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(1000);
    // Alice's own message shows the thumbnail too.
    const own = alice.locator('[data-testid="message"][data-own="true"]').getByTestId('message-image');
    await until("alice's thumbnail is loaded", () => own.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0));

    // Clicking it opens the original in a new tab.
    const [tab] = await Promise.all([contextB.waitForEvent('page'), bob.getByTestId('message-image-open').click()]);
    await until('the original is open', async () => tab.url().includes('variant=original'));
    await tab.waitForLoadState();
    await expect(tab.evaluate(() => (document.querySelector('img') as HTMLImageElement | null)?.naturalWidth)).resolves.toBe(640);

    await contextA.close();
    await contextB.close();
  });

  it('a 50 MB upload interrupted by a reload resumes where it stopped; the same file again is "already uploaded"', async () => {
    const [contextA, contextB] = [await browser.newContext(), await browser.newContext()];
    const alice = await signIn(contextA, 'carol');
    const bob = await signIn(contextB, 'dave');
    await openChat(alice, 'dave');
    // Chunks take a while, as on a real network, so that the reload comes mid-upload.
    await contextA.route('**/v1/files/uploads/*/chunks/*', async (route) => {
      await new Promise((r) => setTimeout(r, 300));
      await route.continue().catch(() => undefined); // the page may be gone
    });

    const big = join(work, 'big.bin');
    writeFileSync(big, randomBytes(50 * 1024 * 1024));
    await alice.getByTestId('attach-input').setInputFiles(big);
    // The progress bar moves; once two of ten chunks are held the page is reloaded.
    await until(
      'two chunks held',
      async () => Number(await alice.getByTestId('upload-progress').evaluate((el: HTMLProgressElement) => el.value)) >= 0.2,
    );
    await alice.reload();
    await online(alice);
    expect(await uploads(alice)).toEqual([]); // a new page

    await openChat(alice, 'dave');
    await alice.getByTestId('attach-input').setInputFiles(big);
    await until('the resumed upload is sent', async () => (await uploadState(alice)) === 'sent', 60_000);
    const [resumed] = await uploads(alice);
    expect(resumed).toMatchObject({ name: 'big.bin', size: 50 * 1024 * 1024, deduplicated: false, state: 'sent' });
    expect(resumed!.resumedFrom).toBeGreaterThanOrEqual(2 * 5 * 1024 * 1024);
    expect(resumed!.resumedFrom).toBeLessThan(50 * 1024 * 1024);

    // Dave gets the file message: a link that downloads the original.
    await bob.locator('[data-testid="conversation-item"][data-peer="carol"]').click();
    const link = bob.getByTestId('message-list').getByTestId('message-file');
    await link.waitFor();
    await expect(link.textContent()).resolves.toBe('📄 big.bin · 50.0 MB');

    // The same file once more: the server holds it, so only a proof of possession is sent.
    await alice.getByTestId('attach-input').setInputFiles(big);
    await until('the flash upload is sent', async () => (await uploads(alice)).length === 2 && (await uploadState(alice)) === 'sent');
    await expect(alice.getByTestId('upload-text').textContent()).resolves.toBe('already uploaded · sent');
    expect((await uploads(alice))[1]).toMatchObject({ deduplicated: true, state: 'sent' });
    await until('dave has both', async () => (await link.count()) === 2);

    await contextA.close();
    await contextB.close();
  });
});
