import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pageFile } from './web-page.js';

const root = mkdtempSync(join(tmpdir(), 'imcloud-web-'));
writeFileSync(join(root, 'index.html'), '<p>hi</p>');
writeFileSync(join(root, 'main.js'), '');
mkdirSync(join(root, 'assets'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('pageFile', () => {
  it("serves the page's files, index.html for the root", () => {
    expect(pageFile(root, '')).toBe(join(root, 'index.html'));
    expect(pageFile(root, 'main.js')).toBe(join(root, 'main.js'));
  });

  it('never a folder (the root itself included), a missing file, or anything outside the folder', () => {
    for (const rest of ['/', '//', 'assets', 'assets/', '../', '..%2F', '../../etc/passwd', '/etc/passwd', 'a/../../x', 'nope.js']) {
      expect(pageFile(root, rest), rest).toBeNull();
    }
  });
});
