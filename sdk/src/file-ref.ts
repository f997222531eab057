// The body of a file message (contentType "file" or "image"): an imcloud.v1.FileRef. A sender
// names the file id only; the server fills in the rest from the file's record.
import { imcloud } from '../../protocol/gen/im.js';
import type { FileInfo } from './types.js';

export const FILE_CONTENT_TYPES: ReadonlySet<string> = new Set(['file', 'image']);

/** What a sender puts in the body: the file id only. */
export function fileRefBody(fileId: string): Uint8Array {
  return imcloud.v1.FileRef.encode({ fileId }).finish();
}

/** The whole FileRef of a known file (how the own message shows before the server's copy arrives). */
export function fullFileRefBody(f: FileInfo): Uint8Array {
  return imcloud.v1.FileRef.encode({
    fileId: f.fileId,
    name: f.name,
    size: f.size,
    md5: f.md5,
    contentType: f.contentType,
    width: f.width ?? 0,
    height: f.height ?? 0,
    thumbnail: f.thumbnail,
  }).finish();
}

/** The file a message body names; undefined when it cannot be read or names no file. */
export function fileFromBody(body: Uint8Array): FileInfo | undefined {
  try {
    const r = imcloud.v1.FileRef.decode(body);
    if (!r.fileId) return undefined;
    const file: FileInfo = {
      fileId: r.fileId,
      name: r.name,
      size: Number(r.size),
      md5: r.md5,
      contentType: r.contentType,
      thumbnail: r.thumbnail,
    };
    if (r.width) file.width = r.width;
    if (r.height) file.height = r.height;
    return file;
  } catch {
    return undefined;
  }
}

/** A file's record as the file service answers it (prepare/proof/complete), as the SDK's type. */
export function fileFromAnswer(a: Record<string, unknown>): FileInfo & { deduplicated: boolean } {
  const file = {
    fileId: String(a.fileId ?? ''),
    md5: String(a.md5 ?? ''),
    size: Number(a.size ?? 0),
    name: String(a.name ?? ''),
    contentType: String(a.contentType ?? ''),
    thumbnail: a.thumbnail === true,
    deduplicated: a.deduplicated === true,
  };
  return {
    ...file,
    ...(typeof a.width === 'number' && a.width > 0 && { width: a.width }),
    ...(typeof a.height === 'number' && a.height > 0 && { height: a.height }),
  };
}
