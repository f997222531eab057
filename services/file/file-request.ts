// What `prepare` takes, checked: the file's MD5, size, name and content type, within the app's
// limits (size, content-type allowlist, quota).
import { z } from 'zod';
import { ImError } from '../../protocol/errors.js';
import { type FileContext, fileLimits } from './file-context.js';
import type { FileCaller } from './user-auth.js';

const prepareBody = z
  .object({
    md5: z
      .string()
      .regex(/^[0-9a-fA-F]{32}$/, 'md5 must be 32 hex digits')
      .transform((s) => s.toLowerCase()),
    size: z.number().int().positive('size must be a positive integer (empty files are not stored)'),
    name: z
      .string()
      .min(1)
      .max(255)
      .refine(
        (s) => ![...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch === '\u007f' || ch === '/' || ch === '\\'),
        'name may not contain control characters or slashes',
      ),
    contentType: z
      .string()
      .max(127)
      .regex(/^[a-z0-9.+-]+\/[a-z0-9.+-]+$/i, 'contentType must be a MIME type such as image/png')
      .transform((s) => s.toLowerCase()),
  })
  .strict();

export type FileRequest = z.infer<typeof prepareBody>;

export function parseFileRequest(body: unknown): FileRequest {
  const parsed = prepareBody.safeParse(body ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ImError('IM_BAD_REQUEST', `${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Size and content type against the app's limits; `newBytes` (not yet stored in the app) against its quota. */
export async function checkFileLimits(cx: FileContext, caller: FileCaller, req: FileRequest, newBytes: boolean): Promise<void> {
  const limits = fileLimits(cx, caller.app.limits);
  if (req.size > limits.maxFileBytes)
    throw new ImError('IM_FILE_TOO_LARGE', `the file has ${req.size} bytes; this app accepts at most ${limits.maxFileBytes}`);
  if (limits.contentTypes && !limits.contentTypes.some((allowed) => typeMatches(allowed, req.contentType)))
    throw new ImError('IM_FILE_TYPE_NOT_ALLOWED', `this app accepts ${limits.contentTypes.join(', ')}; not ${req.contentType}`);
  if (newBytes && limits.quotaBytes !== undefined) {
    const used = await cx.files.usage(caller.appId);
    if (used + req.size > limits.quotaBytes)
      throw new ImError('IM_FILE_QUOTA_EXCEEDED', `the app stores ${used} of its ${limits.quotaBytes} bytes; this file has ${req.size}`);
  }
}

/** `image/*` matches every image type; otherwise the types must be equal. */
export function typeMatches(allowed: string, contentType: string): boolean {
  const a = allowed.toLowerCase();
  return a.endsWith('/*') ? contentType.startsWith(a.slice(0, -1)) : a === contentType;
}
