// fileUrl(): a short-lived signed URL of a file or its thumbnail. The server answers a path
// (/v1/files/content/…?exp=…&sig=…); it is made absolute against the file service's base. A URL
// is reused while it has more than a minute to live, so re-rendering a thread does not ask again.
import type { FileConversations } from './file-conversations.js';
import type { FileHttp } from './file-http.js';
import type { FileUrlOptions } from './types.js';

const REUSE_MARGIN_MS = 60_000;
const CACHE_MAX = 512;

export class FileUrls {
  private readonly cache = new Map<string, { url: string; expiresAt: number }>();

  constructor(
    private readonly http: FileHttp,
    private readonly conversations: FileConversations,
    private readonly now: () => number = Date.now,
  ) {}

  async url(fileId: string, options: FileUrlOptions = {}): Promise<string> {
    const conversation = options.conversation ?? this.conversations.get(fileId);
    const key = `${fileId}\n${options.thumbnail ? 't' : 'o'}\n${conversation ?? ''}`;
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt - this.now() > REUSE_MARGIN_MS) return hit.url;
    const answer = await this.http.request<{ url: string; expiresAt: number }>('GET', `v1/files/${encodeURIComponent(fileId)}/url`, {
      query: { thumbnail: options.thumbnail ? '1' : undefined, conversation },
    });
    const url = this.http.url(answer.url).href;
    this.cache.delete(key);
    this.cache.set(key, { url, expiresAt: Number(answer.expiresAt) || 0 });
    while (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    return url;
  }
}
