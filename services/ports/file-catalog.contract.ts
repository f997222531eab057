// The FileCatalog contract (services/ports/file-catalog.ts), written once and run against every
// adapter: the in-memory one in the `unit` project, MongoDB on FerretDB in the integration suites.
// Every test uses fresh AppIds and ids, so one server can serve them all. staleUploads is the one
// call across apps: its tests use timestamps no other test writes.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import type { ChallengeRecord, FileCatalog, FileRecord, UploadAdvance, UploadRecord } from './file-catalog.js';

export interface FileCatalogFixture {
  catalog: FileCatalog;
  /** A second instance over the same storage (another process), when the adapter has one. */
  peer?: FileCatalog;
  cleanup(): Promise<void>;
}

export function fileCatalogContract(name: string, make: () => Promise<FileCatalogFixture>): void {
  describe(`FileCatalog contract: ${name}`, () => {
    let fx: FileCatalogFixture;
    let catalog: FileCatalog;
    let peer: FileCatalog;
    const id = (kind: string): string => `${kind}-${randomUUID()}`;
    const md5 = (): string => randomUUID().replaceAll('-', '');

    const newFile = (appId: string, overrides: Partial<FileRecord> = {}): FileRecord => ({
      appId,
      fileId: id('f'),
      md5: md5(),
      size: 123_456,
      name: 'cat.png',
      contentType: 'image/png',
      uploader: 'alice',
      createdAt: 1_700_000_000_123,
      thumbnail: false,
      ...overrides,
    });
    const newUpload = (appId: string, overrides: Partial<UploadRecord> = {}): UploadRecord => ({
      appId,
      uploadId: id('up'),
      userId: 'alice',
      md5: md5(),
      size: 12 * 1024 * 1024,
      name: 'movie.mp4',
      contentType: 'video/mp4',
      chunkBytes: 5 * 1024 * 1024,
      blobUploadRef: id('blob'),
      chunksHeld: 0,
      partMd5s: [],
      partEtags: [],
      hashState: 'AAAA',
      createdAt: 1_700_000_000_000,
      updatedAt: 1_700_000_000_000,
      ...overrides,
    });
    const advance = (n: number, overrides: Partial<UploadAdvance> = {}): UploadAdvance => ({
      partMd5: `md5-of-part-${n}`,
      partEtag: `"etag-${n}"`,
      hashState: `state-after-${n}`,
      updatedAt: 1_700_000_001_000 + n,
      ...overrides,
    });
    const newChallenge = (appId: string, overrides: Partial<ChallengeRecord> = {}): ChallengeRecord => ({
      appId,
      challengeId: id('ch'),
      userId: 'bob',
      md5: md5(),
      size: 99_999,
      name: 'report.pdf',
      contentType: 'application/pdf',
      nonce: randomUUID(),
      ranges: [
        { offset: 0, length: 4096 },
        { offset: 50_000, length: 4096 },
        { offset: 95_903, length: 4096 },
        { offset: 12, length: 1 },
      ],
      expiresAt: 1_700_000_060_000,
      ...overrides,
    });
    const conflictOf = async (p: Promise<unknown>): Promise<string | undefined> =>
      p.then(
        () => undefined,
        (err: unknown) => (err instanceof ImError ? err.code : `not an ImError: ${String(err)}`),
      );

    beforeEach(async () => {
      fx = await make();
      catalog = fx.catalog;
      peer = fx.peer ?? fx.catalog;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    describe('files', () => {
      it('addFile then getFile returns the record exactly; width and height stay absent when absent', async () => {
        const app = id('app');
        const plain = newFile(app);
        const image = newFile(app, { width: 1920, height: 1080, thumbnail: true, size: 5 * 1024 * 1024 * 1024 });
        await catalog.addFile(plain);
        await catalog.addFile(image);
        const got = await peer.getFile(app, plain.fileId);
        expect(got).toEqual(plain);
        expect(got && Object.keys(got).sort()).toEqual(Object.keys(plain).sort());
        expect(got).not.toHaveProperty('width');
        expect(got).not.toHaveProperty('height');
        expect(await peer.getFile(app, image.fileId)).toEqual(image);
        expect(await catalog.getFile(app, id('f'))).toBeNull();
      });

      it('a file belongs to one app: another app neither gets it nor finds its content', async () => {
        const [a, b] = [id('app'), id('app')];
        const f = newFile(a);
        await catalog.addFile(f);
        expect(await catalog.getFile(b, f.fileId)).toBeNull();
        expect(await catalog.findByContent(b, f.md5, f.size)).toBeNull();
        // The same fileId in another app is another record.
        const theirs = newFile(b, { fileId: f.fileId, name: 'theirs.txt' });
        await catalog.addFile(theirs);
        expect(await catalog.getFile(b, f.fileId)).toEqual(theirs);
        expect(await catalog.getFile(a, f.fileId)).toEqual(f);
      });

      it('findByContent finds a record with that md5 and size, and nothing for another size or md5', async () => {
        const app = id('app');
        const first = newFile(app, { uploader: 'alice' });
        const second = newFile(app, { md5: first.md5, size: first.size, uploader: 'bob', name: 'again.png' });
        await catalog.addFile(first);
        await catalog.addFile(second);
        const found = await catalog.findByContent(app, first.md5, first.size);
        expect([first, second]).toContainEqual(found);
        expect(await catalog.findByContent(app, first.md5, first.size + 1)).toBeNull();
        expect(await catalog.findByContent(app, md5(), first.size)).toBeNull();
      });
    });

    describe('uploads', () => {
      it('createUpload then getUpload returns the record exactly; another app does not see it', async () => {
        const [a, b] = [id('app'), id('app')];
        const u = newUpload(a);
        await catalog.createUpload(u);
        expect(await peer.getUpload(a, u.uploadId)).toEqual(u);
        expect(await catalog.getUpload(b, u.uploadId)).toBeNull();
        expect(await catalog.getUpload(a, id('up'))).toBeNull();
      });

      it('a second createUpload of the upload id fails with IM_ADMIN_CONFLICT and changes nothing', async () => {
        const app = id('app');
        const u = newUpload(app);
        await catalog.createUpload(u);
        expect(await conflictOf(peer.createUpload({ ...u, userId: 'mallory', name: 'evil.exe' }))).toBe('IM_ADMIN_CONFLICT');
        expect(await catalog.getUpload(app, u.uploadId)).toEqual(u);
        // The same upload id in another app is its own.
        const other = id('app');
        await catalog.createUpload({ ...u, appId: other });
        expect(await catalog.getUpload(other, u.uploadId)).toEqual({ ...u, appId: other });
      });

      it('two concurrent createUpload of one id: exactly one succeeds', async () => {
        const app = id('app');
        const u = newUpload(app);
        const outcomes = await Promise.all([conflictOf(catalog.createUpload(u)), conflictOf(peer.createUpload({ ...u, userId: 'bob' }))]);
        expect(outcomes.filter((o) => o === undefined)).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'IM_ADMIN_CONFLICT')).toHaveLength(1);
      });

      it('advanceUpload appends chunks in order and returns the updated record, which getUpload reads back', async () => {
        const app = id('app');
        const u = newUpload(app);
        await catalog.createUpload(u);
        const one = await catalog.advanceUpload(app, u.uploadId, 0, advance(0));
        const expectedOne: UploadRecord = {
          ...u,
          chunksHeld: 1,
          partMd5s: ['md5-of-part-0'],
          partEtags: ['"etag-0"'],
          hashState: 'state-after-0',
          updatedAt: advance(0).updatedAt,
        };
        expect(one).toEqual(expectedOne);
        const two = await peer.advanceUpload(app, u.uploadId, 1, advance(1));
        const expectedTwo: UploadRecord = {
          ...expectedOne,
          chunksHeld: 2,
          partMd5s: ['md5-of-part-0', 'md5-of-part-1'],
          partEtags: ['"etag-0"', '"etag-1"'],
          hashState: 'state-after-1',
          updatedAt: advance(1).updatedAt,
        };
        expect(two).toEqual(expectedTwo);
        expect(await catalog.getUpload(app, u.uploadId)).toEqual(expectedTwo);
      });

      it('advanceUpload from a count the upload no longer (or not yet) holds is refused and changes nothing', async () => {
        const app = id('app');
        const u = newUpload(app);
        await catalog.createUpload(u);
        await catalog.advanceUpload(app, u.uploadId, 0, advance(0));
        expect(await catalog.advanceUpload(app, u.uploadId, 0, advance(0, { partMd5: 'other' }))).toBeNull();
        expect(await catalog.advanceUpload(app, u.uploadId, 2, advance(2))).toBeNull();
        const now = await catalog.getUpload(app, u.uploadId);
        expect(now?.chunksHeld).toBe(1);
        expect(now?.partMd5s).toEqual(['md5-of-part-0']);
        expect(now?.hashState).toBe('state-after-0');
      });

      it('advanceUpload of an upload that is gone or of another app returns null', async () => {
        const [a, b] = [id('app'), id('app')];
        const u = newUpload(a);
        await catalog.createUpload(u);
        expect(await catalog.advanceUpload(b, u.uploadId, 0, advance(0))).toBeNull();
        expect(await catalog.getUpload(a, u.uploadId)).toEqual(u);
        expect(await catalog.advanceUpload(a, id('up'), 0, advance(0))).toBeNull();
        await catalog.removeUpload(a, u.uploadId);
        expect(await catalog.advanceUpload(a, u.uploadId, 0, advance(0))).toBeNull();
        expect(await catalog.getUpload(a, u.uploadId)).toBeNull();
      });

      it('two concurrent advances from the same count: exactly one wins, and the record holds its chunk', async () => {
        const app = id('app');
        const u = newUpload(app);
        await catalog.createUpload(u);
        for (let round = 0; round < 5; round++) {
          const results = await Promise.all([
            catalog.advanceUpload(app, u.uploadId, round, advance(round, { partMd5: `a-${round}`, partEtag: `"a-${round}"` })),
            peer.advanceUpload(app, u.uploadId, round, advance(round, { partMd5: `b-${round}`, partEtag: `"b-${round}"` })),
          ]);
          const winners = results.filter((r) => r !== null);
          expect(winners).toHaveLength(1);
          const winner = winners[0]!;
          expect(winner.chunksHeld).toBe(round + 1);
          const stored = await catalog.getUpload(app, u.uploadId);
          expect(stored).toEqual(winner);
          expect(stored?.partMd5s).toHaveLength(round + 1);
          expect(stored?.partEtags[round]).toBe(winner.partMd5s[round]?.startsWith('a-') ? `"a-${round}"` : `"b-${round}"`);
        }
      });

      it('removeUpload removes only that upload and is idempotent', async () => {
        const app = id('app');
        const [u, v] = [newUpload(app), newUpload(app)];
        await catalog.createUpload(u);
        await catalog.createUpload(v);
        await catalog.advanceUpload(app, u.uploadId, 0, advance(0));
        await catalog.removeUpload(id('app'), u.uploadId);
        expect(await catalog.getUpload(app, u.uploadId)).not.toBeNull();
        await catalog.removeUpload(app, u.uploadId);
        await peer.removeUpload(app, u.uploadId);
        expect(await catalog.getUpload(app, u.uploadId)).toBeNull();
        expect(await catalog.findUpload(app, u.userId, u.md5, u.size)).toBeNull();
        expect(await catalog.getUpload(app, v.uploadId)).toEqual(v);
        // The id may be used again, from nothing.
        await catalog.createUpload(u);
        expect(await catalog.getUpload(app, u.uploadId)).toEqual(u);
      });

      it("findUpload finds the user's own upload of those bytes only, the newest if several", async () => {
        const [app, other] = [id('app'), id('app')];
        const older = newUpload(app, { createdAt: 1_700_000_000_000, updatedAt: 1_700_000_009_000 });
        const newer = newUpload(app, { md5: older.md5, size: older.size, createdAt: 1_700_000_005_000, updatedAt: 1_700_000_005_000 });
        const bobs = newUpload(app, { md5: older.md5, size: older.size, userId: 'bob', createdAt: 1_700_000_009_000 });
        await catalog.createUpload(older);
        await catalog.createUpload(newer);
        await catalog.createUpload(bobs);
        await catalog.advanceUpload(app, newer.uploadId, 0, advance(0));
        expect(await peer.findUpload(app, 'alice', older.md5, older.size)).toEqual(await catalog.getUpload(app, newer.uploadId));
        expect(await catalog.findUpload(app, 'bob', older.md5, older.size)).toEqual(bobs);
        expect(await catalog.findUpload(app, 'carol', older.md5, older.size)).toBeNull();
        expect(await catalog.findUpload(app, 'alice', older.md5, older.size + 1)).toBeNull();
        expect(await catalog.findUpload(app, 'alice', md5(), older.size)).toBeNull();
        expect(await catalog.findUpload(other, 'alice', older.md5, older.size)).toBeNull();
      });

      it('staleUploads lists uploads of any app last touched before the time, oldest touch counting, at most limit', async () => {
        // Times far in the past that no other test writes: this call is not scoped to an app.
        const base = 1_000_000 + Math.floor(Math.random() * 1_000_000) * 1_000;
        const [a, b] = [id('app'), id('app')];
        const stale1 = newUpload(a, { createdAt: base, updatedAt: base + 10 });
        const stale2 = newUpload(b, { createdAt: base, updatedAt: base + 20 });
        const stale3 = newUpload(a, { createdAt: base, updatedAt: base + 30 });
        const touched = newUpload(b, { createdAt: base, updatedAt: base + 5 });
        const fresh = newUpload(a, { createdAt: base, updatedAt: base + 100 });
        for (const u of [stale1, stale2, stale3, touched, fresh]) await catalog.createUpload(u);
        // A chunk is a touch: `touched` was created early but written to late.
        await catalog.advanceUpload(b, touched.uploadId, 0, advance(0, { updatedAt: base + 200 }));
        const ours = new Set([stale1, stale2, stale3, touched, fresh].map((u) => u.uploadId));
        const before = base + 50;
        const all = (await peer.staleUploads(before, 1_000)).filter((u) => ours.has(u.uploadId));
        expect(all.map((u) => u.uploadId).sort()).toEqual([stale1, stale2, stale3].map((u) => u.uploadId).sort());
        expect(all.find((u) => u.uploadId === stale2.uploadId)).toEqual(stale2);
        const limited = await catalog.staleUploads(before, 2);
        expect(limited.length).toBeLessThanOrEqual(2);
        for (const u of limited) expect(u.updatedAt).toBeLessThan(before);
        expect(await catalog.staleUploads(before, 0)).toEqual([]);
        // The cleanup job removes them; then they are no longer stale.
        for (const u of all) await catalog.removeUpload(u.appId, u.uploadId);
        expect((await catalog.staleUploads(before, 1_000)).filter((u) => ours.has(u.uploadId))).toEqual([]);
      });

      it('staleUploads with a limit returns that many when more are stale', async () => {
        const base = 1_000 + Math.floor(Math.random() * 900_000);
        const app = id('app');
        const uploads = [0, 1, 2, 3].map((i) => newUpload(app, { createdAt: base, updatedAt: base + i }));
        for (const u of uploads) await catalog.createUpload(u);
        const two = await catalog.staleUploads(base + 10, 2);
        expect(two).toHaveLength(2);
        for (const u of two) expect(u.updatedAt).toBeLessThan(base + 10);
        for (const u of uploads) await catalog.removeUpload(app, u.uploadId);
      });
    });

    describe('challenges', () => {
      it('putChallenge then takeChallenge returns it exactly, once', async () => {
        const app = id('app');
        const c = newChallenge(app);
        await catalog.putChallenge(c);
        expect(await peer.takeChallenge(app, c.challengeId)).toEqual(c);
        expect(await catalog.takeChallenge(app, c.challengeId)).toBeNull();
        expect(await catalog.takeChallenge(app, id('ch'))).toBeNull();
      });

      it("another app cannot take an app's challenge, nor use it up", async () => {
        const [a, b] = [id('app'), id('app')];
        const c = newChallenge(a);
        await catalog.putChallenge(c);
        expect(await catalog.takeChallenge(b, c.challengeId)).toBeNull();
        expect(await catalog.takeChallenge(a, c.challengeId)).toEqual(c);
      });

      it('an expired challenge is still returned: expiry is the caller’s check', async () => {
        const app = id('app');
        const c = newChallenge(app, { expiresAt: 1 });
        await catalog.putChallenge(c);
        expect(await catalog.takeChallenge(app, c.challengeId)).toEqual(c);
      });

      it('two concurrent takes of one challenge: exactly one gets it', async () => {
        const app = id('app');
        for (let round = 0; round < 5; round++) {
          const c = newChallenge(app);
          await catalog.putChallenge(c);
          const taken = await Promise.all([
            catalog.takeChallenge(app, c.challengeId),
            peer.takeChallenge(app, c.challengeId),
            catalog.takeChallenge(app, c.challengeId),
          ]);
          expect(taken.filter((t) => t !== null)).toEqual([c]);
        }
      });
    });

    describe('grants', () => {
      it('grant is idempotent; hasGrant answers for that file and conversation only', async () => {
        const app = id('app');
        const [f, g] = [id('f'), id('f')];
        await catalog.grant({ appId: app, fileId: f, conversation: 'c1' });
        await catalog.grant({ appId: app, fileId: f, conversation: 'c1' });
        await Promise.all([
          catalog.grant({ appId: app, fileId: f, conversation: 'c2' }),
          peer.grant({ appId: app, fileId: f, conversation: 'c2' }),
        ]);
        expect(await peer.hasGrant(app, f, 'c1')).toBe(true);
        expect(await catalog.hasGrant(app, f, 'c2')).toBe(true);
        expect(await catalog.hasGrant(app, f, 'c3')).toBe(false);
        expect(await catalog.hasGrant(app, g, 'c1')).toBe(false);
        expect((await catalog.grantsOf(app, f, 10)).sort()).toEqual(['c1', 'c2']);
        expect(await catalog.grantsOf(app, g, 10)).toEqual([]);
      });

      it("grants are an app's: another app neither has nor lists them", async () => {
        const [a, b] = [id('app'), id('app')];
        const f = id('f');
        await catalog.grant({ appId: a, fileId: f, conversation: 'c1' });
        expect(await catalog.hasGrant(b, f, 'c1')).toBe(false);
        expect(await catalog.grantsOf(b, f, 10)).toEqual([]);
        await catalog.grant({ appId: b, fileId: f, conversation: 'c9' });
        expect(await catalog.grantsOf(a, f, 10)).toEqual(['c1']);
        expect(await catalog.grantsOf(b, f, 10)).toEqual(['c9']);
      });

      it('grantsOf returns at most limit distinct conversations', async () => {
        const app = id('app');
        const f = id('f');
        const conversations = ['c1', 'c2', 'c3', 'c4', 'c5'];
        for (const c of conversations) await catalog.grant({ appId: app, fileId: f, conversation: c });
        const three = await catalog.grantsOf(app, f, 3);
        expect(three).toHaveLength(3);
        expect(new Set(three).size).toBe(3);
        for (const c of three) expect(conversations).toContain(c);
        expect((await catalog.grantsOf(app, f, 100)).sort()).toEqual(conversations);
      });
    });

    describe('usage', () => {
      it('addUsage returns the new total, negative numbers remove bytes; usage reads it; apps are apart', async () => {
        const [a, b] = [id('app'), id('app')];
        expect(await catalog.usage(a)).toBe(0);
        expect(await catalog.addUsage(a, 1_000)).toBe(1_000);
        expect(await peer.addUsage(a, 5 * 1024 * 1024 * 1024)).toBe(5 * 1024 * 1024 * 1024 + 1_000);
        expect(await catalog.addUsage(a, -(5 * 1024 * 1024 * 1024))).toBe(1_000);
        expect(await catalog.addUsage(b, 7)).toBe(7);
        expect(await peer.usage(a)).toBe(1_000);
        expect(await catalog.usage(b)).toBe(7);
        expect(await catalog.addUsage(a, -1_000)).toBe(0);
        expect(await catalog.usage(a)).toBe(0);
      });

      it('concurrent increments from two instances all count', async () => {
        const app = id('app');
        await catalog.addUsage(app, 1);
        const adds = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? catalog : peer).addUsage(app, i % 5 === 4 ? -3 : 10));
        const totals = await Promise.all(adds);
        // 16 adds of 10 and 4 of -3, after the first 1.
        const expected = 1 + 16 * 10 - 4 * 3;
        expect(await catalog.usage(app)).toBe(expected);
        expect(await peer.usage(app)).toBe(expected);
        // Each answer is the total right after that add (no run of these adds sums to 0, so all
        // differ), and the last add's answer is the final total.
        expect(new Set(totals).size).toBe(totals.length);
        expect(totals).toContain(expected);
      });
    });
  });
}
