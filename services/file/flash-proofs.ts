// Flash upload with proof of possession (ADR 0031): when the app holds the bytes already, the
// client must show it holds them too, by keyed hashes of server-chosen ranges. A challenge is
// single use and short-lived; a wrong answer never says which range was wrong.
import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ImError } from '../../protocol/errors.js';
import { blobKeys } from '../ports/blob-store.js';
import type { ChallengeRecord, FileRecord } from '../ports/file-catalog.js';
import { readStream } from '../shared/bytes.js';
import { checkId, type FileContext, newId } from './file-context.js';
import { publishFileUploaded } from './file-events.js';
import type { FileRequest } from './file-request.js';
import { pickImage } from './uploads.js';
import type { FileCaller } from './user-auth.js';

export interface ChallengeView {
  kind: 'challenge';
  challengeId: string;
  nonce: string;
  ranges: Array<{ offset: number; length: number }>;
  expiresAt: number;
}

const answerBody = z.object({ challengeId: z.string().max(64), answers: z.array(z.string().max(128)).max(16) }).strict();

export class FlashProofs {
  constructor(private readonly cx: FileContext) {}

  /** A challenge about `held`'s bytes, to be answered by the caller. */
  async challenge(caller: FileCaller, req: FileRequest, held: FileRecord): Promise<ChallengeView> {
    const challenge: ChallengeRecord = {
      appId: caller.appId,
      challengeId: newId('c'),
      userId: caller.userId,
      md5: held.md5,
      size: held.size,
      name: req.name,
      contentType: req.contentType,
      nonce: randomBytes(24).toString('base64url'),
      ranges: this.pickRanges(held.size),
      expiresAt: this.cx.now() + this.cx.config.challengeTtlMs,
    };
    await this.cx.files.putChallenge(challenge);
    const { challengeId, nonce, ranges, expiresAt } = challenge;
    return { kind: 'challenge', challengeId, nonce, ranges, expiresAt };
  }

  /** Checks the answers against the stored bytes; right: a new file record of the caller's. */
  async answer(caller: FileCaller, body: unknown): Promise<FileRecord> {
    const parsed = answerBody.safeParse(body ?? {});
    if (!parsed.success) throw new ImError('IM_BAD_REQUEST', 'send {challengeId, answers: [hex HMAC-SHA256 per range]}');
    const { challengeId, answers } = parsed.data;
    checkId(challengeId, 'c', 'IM_FILE_CHALLENGE_INVALID');
    const challenge = await this.cx.files.takeChallenge(caller.appId, challengeId);
    if (!challenge || challenge.userId !== caller.userId || challenge.expiresAt <= this.cx.now())
      throw new ImError('IM_FILE_CHALLENGE_INVALID');
    if (!(await this.proves(challenge, answers))) {
      this.cx.metrics.fileProofFailures.inc({ app_id: caller.appId });
      throw new ImError('IM_FILE_PROOF_FAILED');
    }
    const held = await this.cx.files.findByContent(caller.appId, challenge.md5, challenge.size);
    if (!held) throw new ImError('IM_FILE_CHALLENGE_INVALID', 'the stored file is gone; upload it');
    const file: FileRecord = {
      appId: caller.appId,
      fileId: newId('f'),
      md5: held.md5,
      size: held.size,
      name: challenge.name,
      contentType: challenge.contentType,
      uploader: caller.userId,
      createdAt: this.cx.now(),
      ...pickImage(held),
    };
    await this.cx.files.addFile(file);
    this.cx.metrics.fileUploads.inc({ app_id: caller.appId, stage: 'deduplicated' });
    await publishFileUploaded(this.cx, file, true);
    return file;
  }

  /** Every answer must match; all are checked, in constant time each, whatever fails first. */
  private async proves(challenge: ChallengeRecord, answers: string[]): Promise<boolean> {
    if (answers.length !== challenge.ranges.length) return false;
    let right = true;
    for (const [i, range] of challenge.ranges.entries()) {
      const bytes = await readStream(await this.cx.blobs.get(challenge.appId, blobKeys.file(challenge.md5), range));
      const expected = createHmac('sha256', challenge.nonce).update(bytes).digest();
      const given = Buffer.from(/^[0-9a-f]{64}$/i.test(answers[i]!) ? answers[i]! : '', 'hex');
      right = given.length === expected.length && timingSafeEqual(given, expected) && right;
    }
    return right;
  }

  /** Random ranges over the whole file (a small file is asked for whole). */
  private pickRanges(size: number): Array<{ offset: number; length: number }> {
    const { challengeRanges, challengeRangeBytes } = this.cx.config;
    const length = Math.min(challengeRangeBytes, size);
    if (length === size) return [{ offset: 0, length }];
    return Array.from({ length: challengeRanges }, () => ({ offset: randomInt(0, size - length + 1), length }));
  }
}
