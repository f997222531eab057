// Debian's Chromium for the browser tests: installed with apt-get when missing (the machines have
// no Playwright browser download), then launched headless with a throw-away profile.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function run(cmd: string, args: string[]): void {
  process.stderr.write(`chromium: ${cmd} ${args.join(' ')}\n`);
  // inherit: apt's progress shows up in the test output while it works.
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

/** Makes sure /usr/bin/chromium exists: `apt-get update` once, then `apt-get install -y chromium`. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  process.stderr.write('chromium: /usr/bin/chromium is missing; installing the Debian package\n');
  run('apt-get', ['update']);
  run('apt-get', ['install', '-y', 'chromium']);
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`apt-get installed chromium but ${CHROMIUM_PATH} does not exist`);
  process.stderr.write('chromium: installed\n');
  return CHROMIUM_PATH;
}

/**
 * Launches Chromium. playwright's launch() gives the browser a fresh temporary --user-data-dir
 * and deletes it on close, so every run starts from an empty profile; each browser context is
 * then its own incognito-like profile (own IndexedDB and localStorage).
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = ensureChromium();
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 60_000 });
}
