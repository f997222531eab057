// The cleanup job (ADR 0031): uploads not touched for file.uploadTtlMs are removed (their
// multipart uploads aborted); multipart uploads older than twice the TTL are aborted too, which
// catches those whose record was never written (an upload lives at most that long: Uploads
// refuses older ones). Every file replica runs it; both steps
// are idempotent, so replicas racing on one upload do no harm.
import type { FileContext } from './file-context.js';
import type { Uploads } from './uploads.js';

const BATCH = 100;

export class UploadCleanup {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly cx: FileContext,
    private readonly uploads: Uploads,
  ) {}

  start(): void {
    this.timer = setInterval(
      () =>
        void this.runOnce().catch((err: unknown) =>
          this.cx.log.warn({ err: String(err) }, 'upload cleanup failed; retrying at the next interval'),
        ),
      this.cx.config.cleanupIntervalMs,
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass; returns how many uploads it removed. */
  runOnce(): Promise<number> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<number> {
    const { files, blobs, config, metrics, now } = this.cx;
    const idleBefore = now() - config.uploadTtlMs;
    const startedBefore = now() - 2 * config.uploadTtlMs;
    let removed = 0;
    for (;;) {
      const stale = await files.staleUploads(idleBefore, BATCH);
      for (const upload of stale) await this.uploads.drop(upload);
      removed += stale.length;
      if (stale.length < BATCH) break;
    }
    for (const orphan of await blobs.staleMultiparts(new Date(startedBefore))) {
      await blobs.abortMultipart(orphan.appId, orphan.key, orphan.uploadRef);
    }
    metrics.fileCleanups.inc(removed);
    if (removed > 0) this.cx.log.info({ removed }, 'removed abandoned uploads');
    return removed;
  }
}
