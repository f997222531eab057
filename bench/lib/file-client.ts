// A client of the file role's HTTP API (docs/adr/0031-files.md) for bench/files.ts: a whole
// upload (prepare, chunks in order with their Content-MD5, complete), a download through a
// signed URL, and a flash upload (prepare → challenge → HMAC answers → file record).
import { createHmac } from 'node:crypto';
import type { SyntheticFile } from './file-bytes.js';

export interface FileRecordView {
  fileId: string;
  md5: string;
  size: number;
  deduplicated: boolean;
}

interface Challenge {
  kind: 'challenge';
  challengeId: string;
  nonce: string;
  ranges: Array<{ offset: number; length: number }>;
}

interface UploadStart {
  kind: 'upload';
  uploadId: string;
  chunkBytes: number;
  chunks: number;
  chunksHeld: number;
}

export class FileClient {
  constructor(
    /** The file role's base URL (http://host:port). */
    readonly base: string,
    private readonly token: string,
  ) {}

  private async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<any> {
    const raw = body instanceof Uint8Array;
    const res = await fetch(this.base + path, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined && !raw && { 'content-type': 'application/json' }),
        ...headers,
      },
      body: raw ? (body as unknown as BodyInit) : body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }

  prepare(file: Pick<SyntheticFile, 'md5' | 'size'>, name = 'bench.bin'): Promise<UploadStart | Challenge> {
    return this.call('POST', '/v1/files/prepare', { md5: file.md5, size: file.size, name, contentType: 'application/octet-stream' });
  }

  /** prepare, every chunk in order, complete; the file must be new to the app. */
  async upload(file: SyntheticFile, onChunk?: (i: number) => void): Promise<FileRecordView> {
    const up = await this.prepare(file);
    if (up.kind !== 'upload') throw new Error(`expected an upload, got a ${up.kind} (the app holds these bytes already)`);
    if (up.chunkBytes !== file.chunkBytes) throw new Error(`the role cuts ${up.chunkBytes}-byte chunks, the file ${file.chunkBytes}`);
    for (let i = up.chunksHeld; i < up.chunks; i++) {
      await this.call('PUT', `/v1/files/uploads/${up.uploadId}/chunks/${i}`, file.chunk(i), {
        'content-md5': file.chunkMd5s[i]!,
        'content-type': 'application/octet-stream',
      });
      onChunk?.(i);
    }
    return this.call('POST', `/v1/files/uploads/${up.uploadId}/complete`);
  }

  /** Asks for a signed URL and reads the bytes behind it; the number of bytes read. */
  async download(fileId: string): Promise<number> {
    const { url } = (await this.call('GET', `/v1/files/${fileId}/url`)) as { url: string };
    const res = await fetch(this.base + url);
    if (res.status !== 200 || !res.body) throw new Error(`GET ${url}: ${res.status}`);
    let bytes = 0;
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) bytes += piece.length;
    return bytes;
  }

  /** A flash upload of bytes the app holds: the challenge answered from `file`. */
  async flash(file: SyntheticFile, name = 'flash.bin'): Promise<FileRecordView> {
    const c = await this.prepare(file, name);
    if (c.kind !== 'challenge') throw new Error('expected a challenge (the app does not hold these bytes)');
    const answers = c.ranges.map((r) => createHmac('sha256', c.nonce).update(file.slice(r.offset, r.length)).digest('hex'));
    const record = (await this.call('POST', '/v1/files/proofs', { challengeId: c.challengeId, answers })) as FileRecordView;
    if (!record.deduplicated) throw new Error('a flash upload answered a record not marked deduplicated');
    return record;
  }
}
