import { ImError } from '../../../protocol/errors.js';
import type { ChallengeRecord, FileCatalog, FileGrant, FileRecord, UploadAdvance, UploadRecord } from '../../ports/file-catalog.js';

const key = (...parts: string[]): string => parts.join('\u0000');

const copyFile = (f: FileRecord): FileRecord => ({ ...f });
const copyUpload = (u: UploadRecord): UploadRecord => ({ ...u, partMd5s: [...u.partMd5s], partEtags: [...u.partEtags] });
const copyChallenge = (c: ChallengeRecord): ChallengeRecord => ({ ...c, ranges: c.ranges.map((r) => ({ ...r })) });

/**
 * The file service's records in memory, for the embedded mode and unit tests. Every step is
 * synchronous between awaits, so a compare-and-set or a take is atomic. Returns copies: callers
 * cannot change what is stored.
 */
export class MemoryFileCatalog implements FileCatalog {
  /** appId\0fileId → file */
  private readonly files = new Map<string, FileRecord>();
  /** appId\0md5\0size → fileIds */
  private readonly byContent = new Map<string, Set<string>>();
  /** appId\0uploadId → upload */
  private readonly uploads = new Map<string, UploadRecord>();
  /** appId\0challengeId → challenge */
  private readonly challenges = new Map<string, ChallengeRecord>();
  /** appId\0fileId → conversations */
  private readonly grants = new Map<string, Set<string>>();
  /** appId → stored bytes */
  private readonly usages = new Map<string, number>();

  async addFile(file: FileRecord): Promise<void> {
    const k = key(file.appId, file.fileId);
    if (this.files.has(k)) throw new ImError('IM_ADMIN_CONFLICT', `file ${file.fileId} exists`);
    this.files.set(k, copyFile(file));
    const ck = key(file.appId, file.md5, String(file.size));
    let ids = this.byContent.get(ck);
    if (!ids) this.byContent.set(ck, (ids = new Set()));
    ids.add(file.fileId);
  }

  async getFile(appId: string, fileId: string): Promise<FileRecord | null> {
    const f = this.files.get(key(appId, fileId));
    return f ? copyFile(f) : null;
  }

  async findByContent(appId: string, md5: string, size: number): Promise<FileRecord | null> {
    for (const fileId of this.byContent.get(key(appId, md5, String(size))) ?? []) {
      const f = this.files.get(key(appId, fileId));
      if (f) return copyFile(f);
    }
    return null;
  }

  async createUpload(upload: UploadRecord): Promise<void> {
    const k = key(upload.appId, upload.uploadId);
    if (this.uploads.has(k)) throw new ImError('IM_ADMIN_CONFLICT', `upload ${upload.uploadId} exists`);
    this.uploads.set(k, copyUpload(upload));
  }

  async getUpload(appId: string, uploadId: string): Promise<UploadRecord | null> {
    const u = this.uploads.get(key(appId, uploadId));
    return u ? copyUpload(u) : null;
  }

  async findUpload(appId: string, userId: string, md5: string, size: number): Promise<UploadRecord | null> {
    let newest: UploadRecord | undefined;
    for (const u of this.uploads.values()) {
      if (u.appId !== appId || u.userId !== userId || u.md5 !== md5 || u.size !== size) continue;
      if (!newest || u.createdAt > newest.createdAt || (u.createdAt === newest.createdAt && u.updatedAt > newest.updatedAt)) newest = u;
    }
    return newest ? copyUpload(newest) : null;
  }

  async advanceUpload(appId: string, uploadId: string, chunksHeld: number, chunk: UploadAdvance): Promise<UploadRecord | null> {
    const u = this.uploads.get(key(appId, uploadId));
    if (!u || u.chunksHeld !== chunksHeld) return null;
    u.chunksHeld += 1;
    u.partMd5s.push(chunk.partMd5);
    u.partEtags.push(chunk.partEtag);
    u.hashState = chunk.hashState;
    u.updatedAt = chunk.updatedAt;
    return copyUpload(u);
  }

  async removeUpload(appId: string, uploadId: string): Promise<void> {
    this.uploads.delete(key(appId, uploadId));
  }

  async staleUploads(before: number, limit: number): Promise<UploadRecord[]> {
    const stale: UploadRecord[] = [];
    for (const u of this.uploads.values()) if (u.updatedAt < before) stale.push(u);
    stale.sort((a, b) => a.updatedAt - b.updatedAt);
    return stale.slice(0, Math.max(0, limit)).map(copyUpload);
  }

  async putChallenge(challenge: ChallengeRecord): Promise<void> {
    this.challenges.set(key(challenge.appId, challenge.challengeId), copyChallenge(challenge));
  }

  async takeChallenge(appId: string, challengeId: string): Promise<ChallengeRecord | null> {
    const k = key(appId, challengeId);
    const c = this.challenges.get(k);
    if (!c) return null;
    this.challenges.delete(k);
    return c;
  }

  async grant(grant: FileGrant): Promise<void> {
    const k = key(grant.appId, grant.fileId);
    let conversations = this.grants.get(k);
    if (!conversations) this.grants.set(k, (conversations = new Set()));
    conversations.add(grant.conversation);
  }

  async hasGrant(appId: string, fileId: string, conversation: string): Promise<boolean> {
    return this.grants.get(key(appId, fileId))?.has(conversation) ?? false;
  }

  async grantsOf(appId: string, fileId: string, limit: number): Promise<string[]> {
    const out: string[] = [];
    for (const c of this.grants.get(key(appId, fileId)) ?? []) {
      if (out.length >= limit) break;
      out.push(c);
    }
    return out;
  }

  async addUsage(appId: string, bytes: number): Promise<number> {
    const total = (this.usages.get(appId) ?? 0) + bytes;
    this.usages.set(appId, total);
    return total;
  }

  async usage(appId: string): Promise<number> {
    return this.usages.get(appId) ?? 0;
  }
}
