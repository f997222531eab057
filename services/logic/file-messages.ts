// File messages (ADR 0031): content type `file` or `image`, body an imcloud.v1.FileRef. The
// sender names only the file id; the file must be one the sender may read, its conversation is
// granted the right to read it, and the body is rebuilt from the file's record, so receivers
// never see what a client claimed.
import { ImError } from '../../protocol/errors.js';
import { imcloud } from '../../protocol/gen/im.js';
import type { FileAccess } from '../shared/file-access.js';
import type { Caller } from './caller.js';
import type { LogicContext } from './logic-context.js';

export const FILE_CONTENT_TYPES = new Set(['file', 'image']);
const FILE_ID = /^f[A-Za-z0-9_-]{22}$/;

export interface FileMessage {
  contentType: 'file' | 'image';
  body: Uint8Array;
}

export async function fileMessage(
  cx: LogicContext,
  access: FileAccess,
  c: Caller,
  conversation: string,
  body: Uint8Array,
): Promise<FileMessage> {
  let fileId: string;
  try {
    fileId = imcloud.v1.FileRef.decode(body).fileId;
  } catch {
    throw new ImError('IM_BAD_REQUEST', 'a file or image message carries an imcloud.v1.FileRef as its body');
  }
  if (!FILE_ID.test(fileId)) throw new ImError('IM_FILE_NOT_FOUND', 'file_id is not a file id returned by upload');
  const file = await access.readable(c.appId, c.userId, fileId);
  await cx.backends.files.grant({ appId: c.appId, fileId, conversation });
  const ref = imcloud.v1.FileRef.encode({
    fileId,
    name: file.name,
    size: file.size,
    md5: file.md5,
    contentType: file.contentType,
    width: file.width ?? 0,
    height: file.height ?? 0,
    thumbnail: file.thumbnail,
  }).finish();
  return { contentType: file.thumbnail ? 'image' : 'file', body: ref };
}
