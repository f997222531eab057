// file.uploaded (ADR 0037): a file added to the app, by an upload or a proof of possession, is a
// webhook event for apps that ask for it. Queued after the file's record is written; a failure
// to queue it is logged and counted and does not fail the upload, whose retry could not complete
// it again (the multipart upload is gone once completed).
import type { FileRecord } from '../ports/file-catalog.js';
import { encodeEvent, fileEventOf } from '../shared/webhook-event.js';
import type { FileContext } from './file-context.js';

export async function publishFileUploaded(cx: FileContext, file: FileRecord, deduplicated: boolean): Promise<void> {
  try {
    const app = await cx.apps.get(file.appId);
    if (!app?.webhook?.events.includes('file.uploaded')) return;
    await cx.bus.publishEvent(file.appId, encodeEvent(fileEventOf(file.appId, file, deduplicated)));
    cx.metrics.webhookEventsPublished.inc({ app_id: file.appId });
  } catch (err) {
    cx.log.warn({ appId: file.appId, fileId: file.fileId, err: String(err) }, 'webhook: a file.uploaded event could not be queued');
  }
}
