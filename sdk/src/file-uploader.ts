// upload(): a file to the file service (docs/adr/0031-files.md). The whole file's MD5 first
// (slice by slice), then prepare: when the app holds those bytes already the server asks for
// a proof of possession (HMAC answers over byte ranges it picks) and the upload is instant;
// otherwise chunks go one at a time, in order, from the chunks the server holds, each with
// its Content-MD5, then complete.
//
// Resumable: a chunk that got no answer (a dropped connection, a timeout) or a retryable
// refusal is sent again after a backoff; IM_FILE_CHUNK_ORDER re-reads the upload and goes on
// from the chunks it holds; and since prepare of the same user, MD5 and size hands back the
// unfinished upload, a new upload() after a reload or an abort goes on where the last stopped.
// An abort stops it without deleting the upload.
import { isAbort, sleep, throwIfAborted } from './abort.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { bytesHeld, type ChunkPlan, checkPlan, chunkRange } from './chunk-plan.js';
import { ImClientError } from './client-error.js';
import { contentMd5, md5Hex } from './file-hash.js';
import type { FileHttp } from './file-http.js';
import { retryable } from './file-http.js';
import { type ChallengeRange, proofAnswers } from './file-proof.js';
import { fileFromAnswer } from './file-ref.js';
import { type FileSource, sourceSize } from './file-source.js';
import type { UploadedFile, UploadOptions } from './types.js';

export interface UploaderOptions {
  /** Per chunk PUT. */
  chunkTimeoutMs: number;
  /** Waits between attempts of one request. */
  backoff?: BackoffOptions;
  /** Attempts of one request (a chunk, prepare, complete) before upload() gives up with the last error. */
  maxAttempts?: number;
}

type PrepareAnswer =
  | { kind: 'challenge'; challengeId: string; nonce: string; ranges: ChallengeRange[]; expiresAt: number }
  | { kind: 'upload'; uploadId: string; chunkBytes: number; chunks: number; chunksHeld: number };

interface UploadState {
  uploadId: string;
  chunkBytes: number;
  chunks: number;
  chunksHeld: number;
}

/** Times prepare is started over (a used-up challenge, an upload that was cleaned up meanwhile). */
const MAX_ROUNDS = 3;

export class FileUploader {
  private readonly backoff: BackoffOptions;
  private readonly maxAttempts: number;

  constructor(
    private readonly http: FileHttp,
    private readonly opts: UploaderOptions,
  ) {
    this.backoff = opts.backoff ?? { baseMs: 500, maxMs: 10_000 };
    this.maxAttempts = opts.maxAttempts ?? 10;
  }

  async upload(source: FileSource, options: UploadOptions): Promise<UploadedFile> {
    const { signal } = options;
    if (!(source instanceof Uint8Array) && !(typeof Blob !== 'undefined' && source instanceof Blob))
      throw new TypeError('upload: give a Blob (a File) or a Uint8Array');
    if (!options.name) throw new ImClientError('IM_BAD_REQUEST', 'upload: give the file a name');
    throwIfAborted(signal);
    const size = sourceSize(source);
    const md5 = await md5Hex(source, { signal });
    const contentType = options.contentType || 'application/octet-stream';
    const progress = (sent: number) => options.onProgress?.(sent, size);
    for (let round = 1; ; round++) {
      const answer = await this.retrying(signal, () =>
        this.http.request<PrepareAnswer>('POST', 'v1/files/prepare', { json: { md5, size, name: options.name, contentType }, signal }),
      );
      try {
        if (answer.kind === 'challenge') {
          const answers = await proofAnswers(source, answer.nonce, answer.ranges);
          const file = await this.retrying(signal, () =>
            this.http.request<Record<string, unknown>>('POST', 'v1/files/proofs', {
              json: { challengeId: answer.challengeId, answers },
              signal,
            }),
          );
          progress(size);
          return { ...fileFromAnswer(file), deduplicated: true };
        }
        if (answer.kind !== 'upload')
          throw new ImClientError('SDK_PROTOCOL', `prepare answered kind "${String((answer as { kind?: unknown }).kind)}"`);
        return await this.sendChunks(source, size, answer, options);
      } catch (err) {
        // Taken by a lost answer's first attempt, or expired; an upload cleaned up meanwhile: start over.
        const again = err instanceof ImClientError && (err.code === 'IM_FILE_CHALLENGE_INVALID' || err.code === 'IM_UPLOAD_NOT_FOUND');
        if (!again || round >= MAX_ROUNDS) throw err;
      }
    }
  }

  private async sendChunks(source: FileSource, size: number, state: UploadState, options: UploadOptions): Promise<UploadedFile> {
    const { signal } = options;
    const plan: ChunkPlan = checkPlan({ size, chunkBytes: state.chunkBytes, chunks: state.chunks });
    const uploadPath = `v1/files/uploads/${encodeURIComponent(state.uploadId)}`;
    const report = (chunksHeld: number) => options.onProgress?.(bytesHeld(plan, chunksHeld), size);
    let held = state.chunksHeld;
    /** Where the server is: after a lost answer, an order refusal, another tab's upload of the same file. */
    const reread = async () => {
      const status = await this.retrying(signal, () => this.http.request<UploadState>('GET', uploadPath, { signal }));
      held = Math.max(0, Math.min(Number(status.chunksHeld) || 0, plan.chunks));
      report(held);
    };
    report(held);
    const backoff = new Backoff(this.backoff);
    let failures = 0;
    for (;;) {
      while (held < plan.chunks) {
        throwIfAborted(signal);
        const { start, end } = chunkRange(plan, held);
        try {
          const bytes = await readChunk(source, start, end);
          const answer = await this.http.request<{ chunksHeld: number }>('PUT', `${uploadPath}/chunks/${held}`, {
            bytes,
            headers: { 'content-md5': await contentMd5(bytes) },
            signal,
            timeoutMs: this.opts.chunkTimeoutMs,
          });
          const next = Number(answer.chunksHeld);
          if (!Number.isInteger(next) || next <= held) throw new ImClientError('SDK_PROTOCOL', `chunk ${held} accepted, but ${next} held`);
          held = Math.min(next, plan.chunks);
          failures = 0;
          backoff.reset();
          report(held);
        } catch (err) {
          if (isAbort(err, signal)) throw err;
          const order = isCode(err, 'IM_FILE_CHUNK_ORDER');
          // A chunk that arrived cut short or altered is sent again, like one that did not arrive.
          const again = order || retryable(err) || isCode(err, 'IM_FILE_CHUNK_CORRUPT');
          if (!again || ++failures >= this.maxAttempts) throw err;
          if (!order) await sleep(backoff.nextAtLeast((err as ImClientError).retryAfterMs), signal);
          await reread();
        }
      }
      try {
        const file = await this.retrying(signal, () =>
          this.http.request<Record<string, unknown>>('POST', `${uploadPath}/complete`, { signal, timeoutMs: this.opts.chunkTimeoutMs }),
        );
        return { ...fileFromAnswer(file), deduplicated: false };
      } catch (err) {
        // The server holds fewer chunks than this client thought: go on from where it is.
        if (!isCode(err, 'IM_FILE_CHUNK_ORDER') || ++failures >= this.maxAttempts) throw err;
        await reread();
      }
    }
  }

  /** Runs `attempt` until it succeeds, fails for good, or fails maxAttempts times; backoff in between. */
  private async retrying<T>(signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    const backoff = new Backoff(this.backoff);
    for (let n = 1; ; n++) {
      throwIfAborted(signal);
      try {
        return await attempt();
      } catch (err) {
        if (isAbort(err, signal) || !retryable(err) || n >= this.maxAttempts) throw err;
        await sleep(backoff.nextAtLeast((err as ImClientError).retryAfterMs), signal);
      }
    }
  }
}

/** A chunk's bytes in a buffer of their own: the request body is exactly the chunk, however a runtime treats views. */
async function readChunk(source: FileSource, start: number, end: number): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source.slice(start, end);
  return new Uint8Array(await source.slice(start, end).arrayBuffer());
}

function isCode(err: unknown, code: string): boolean {
  return err instanceof ImClientError && err.code === code;
}
