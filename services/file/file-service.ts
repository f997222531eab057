// The file role (docs/adr/0031-files.md): the HTTP API for uploads (prepare, chunks, complete),
// flash uploads with proof of possession, file records and signed downloads, and the cleanup of
// abandoned uploads. Ready once its blob store answers.
import { conversationMembers, groupOf } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import type { AppRegistry } from '../ports/app-registry.js';
import { type BlobStore, blobKeys } from '../ports/blob-store.js';
import type { Bus } from '../ports/bus.js';
import type { FileCatalog, FileRecord } from '../ports/file-catalog.js';
import type { GroupDirectory } from '../ports/group-directory.js';
import { FileAccess } from '../shared/file-access.js';
import type { HttpRequest, HttpServer } from '../shared/http-server.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { FileConfig } from '../shared/role-config.js';
import { Downloads } from './downloads.js';
import { checkId, type FileContext, fileApps } from './file-context.js';
import { checkFileLimits, parseFileRequest } from './file-request.js';
import { FlashProofs } from './flash-proofs.js';
import { Thumbnails } from './thumbnails.js';
import { UploadCleanup } from './upload-cleanup.js';
import { Uploads } from './uploads.js';
import { type FileCaller, fileCaller } from './user-auth.js';

export interface FilePorts {
  files: FileCatalog;
  blobs: BlobStore;
  bus: Pick<Bus, 'publishEvent'>;
  apps: AppRegistry;
  groups: GroupDirectory;
}

const PROBE_MS = 5_000;

export class FileService {
  readonly cx: FileContext;
  private readonly uploads: Uploads;
  private readonly proofs: FlashProofs;
  private readonly downloads: Downloads;
  readonly cleanup: UploadCleanup;
  private storeUp = false;
  private probe: NodeJS.Timeout | undefined;

  constructor(config: FileConfig, ports: FilePorts, metrics: Metrics, log: Logger, now: () => number = Date.now) {
    this.cx = {
      config: config.file,
      files: ports.files,
      blobs: ports.blobs,
      bus: ports.bus,
      registry: ports.apps,
      apps: fileApps(ports.apps),
      access: new FileAccess(ports.files, ports.groups),
      metrics,
      log,
      now,
    };
    this.uploads = new Uploads(this.cx, new Thumbnails(this.cx));
    this.proofs = new FlashProofs(this.cx);
    this.downloads = new Downloads(this.cx);
    this.cleanup = new UploadCleanup(this.cx, this.uploads);
  }

  /** True while the blob store answers (readiness). */
  get ready(): boolean {
    return this.storeUp;
  }

  /** Ensures the bucket (retrying until the store answers), then keeps checking it. */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.cx.blobs.ensureBucket();
        break;
      } catch (err) {
        this.cx.log.warn({ err: String(err) }, 'file: the blob store does not answer yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
    this.storeUp = true;
    this.probe = setInterval(() => void this.checkStore(), PROBE_MS);
    this.probe.unref();
    this.cleanup.start();
  }

  async stop(): Promise<void> {
    clearInterval(this.probe);
    await this.cleanup.stop();
  }

  private async checkStore(): Promise<void> {
    try {
      await this.cx.blobs.ensureBucket();
      this.storeUp = true;
    } catch (err) {
      if (this.storeUp) this.cx.log.warn({ err: String(err) }, 'file: the blob store stopped answering; not ready');
      this.storeUp = false;
    }
  }

  register(http: HttpServer): void {
    const authorize = (req: Parameters<typeof fileCaller>[1]) => fileCaller(this.cx, req);
    const route = <T>(method: string, path: string, handler: (req: HttpRequest<FileCaller>) => Promise<T>, raw = false) =>
      http.route<FileCaller>(method, path, async (req) => ({ json: await this.counted(req.auth, handler(req)) }), {
        authorize,
        cors: true,
        ...(raw && { rawBody: true }),
      });
    route('POST', '/v1/files/prepare', (req) => this.prepare(req.auth, req.body));
    route('POST', '/v1/files/proofs', async (req) => fileView(await this.proofs.answer(req.auth, req.body), true));
    route('GET', '/v1/files/uploads/:uploadId', (req) => this.uploads.get(req.auth, req.params.uploadId!));
    route(
      'PUT',
      '/v1/files/uploads/:uploadId/chunks/:index',
      (req) => this.uploads.chunk(req.auth, req.params.uploadId!, Number(req.params.index), req.raw),
      true,
    );
    route('POST', '/v1/files/uploads/:uploadId/complete', async (req) =>
      fileView(await this.uploads.complete(req.auth, req.params.uploadId!), false),
    );
    route('DELETE', '/v1/files/uploads/:uploadId', async (req) => {
      await this.uploads.abort(req.auth, req.params.uploadId!);
      return {};
    });
    route('GET', '/v1/files/:fileId', async (req) => {
      checkId(req.params.fileId!, 'f', 'IM_FILE_NOT_FOUND');
      return fileView(await this.cx.access.readable(req.auth.appId, req.auth.userId, req.params.fileId!, conversationOf(req)), false);
    });
    route('GET', '/v1/files/:fileId/url', (req) =>
      this.downloads.url(
        req.auth,
        req.params.fileId!,
        req.query.get('thumbnail') === '1' || req.query.get('thumbnail') === 'true',
        conversationOf(req),
      ),
    );
    http.route('GET', '/v1/files/content/:appId/:fileId', (req) => this.downloads.content(req), { cors: true });
  }

  /** A flash upload's challenge when the app holds these bytes, else an upload (new or resumed). */
  private async prepare(caller: FileCaller, body: unknown) {
    const req = parseFileRequest(body);
    const held = await this.cx.files.findByContent(caller.appId, req.md5, req.size);
    await checkFileLimits(this.cx, caller, req, held === null);
    if (held && (await this.cx.blobs.stat(caller.appId, blobKeys.file(held.md5)))) return this.proofs.challenge(caller, req, held);
    return this.uploads.begin(caller, req);
  }

  /** Counts every refusal by app and code, then lets it go to the HTTP layer's error answer. */
  private async counted<T>(caller: FileCaller, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (err) {
      const reason = err instanceof ImError ? err.code : 'IM_INTERNAL';
      this.cx.metrics.fileFailures.inc({ app_id: caller.appId, reason });
      throw err;
    }
  }
}

/** The conversation the caller saw the file in, if it names one; it must be a conversation id. */
function conversationOf(req: HttpRequest<FileCaller>): string | undefined {
  const c = req.query.get('conversation');
  if (!c) return undefined;
  if (conversationMembers(c) === null && groupOf(c) === null)
    throw new ImError('IM_BAD_REQUEST', 'conversation must be a conversation id (s:<user>:<user> or g:<group>)');
  return c;
}

export function fileView(file: FileRecord, deduplicated: boolean) {
  const { fileId, md5, size, name, contentType, width, height, thumbnail, uploader, createdAt } = file;
  return { fileId, md5, size, name, contentType, width, height, thumbnail, uploader, createdAt, deduplicated };
}
