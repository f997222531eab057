// The one error catalog. Every error a client, tenant or operator can see has a stable code
// here; docs/errors.md is checked against this table by a test. Codes never change meaning.

export interface ErrorSpec {
  /** HTTP status when the error is returned by an HTTP API. */
  status: number;
  /** On a long connection: the server closes the connection after the Error frame. */
  fatal: boolean;
  /** What happened and what to do next; the default message. */
  message: string;
}

export const errorCatalog = {
  // Framing and protocol
  IM_PROTOCOL_VERSION: {
    status: 400,
    fatal: true,
    message: 'Unsupported protocol version: this server speaks version 1. Upgrade the client SDK.',
  },
  IM_FRAME_MALFORMED: { status: 400, fatal: true, message: 'The frame could not be decoded as an imcloud.v1.Frame.' },
  IM_FRAME_TOO_LARGE: { status: 413, fatal: true, message: 'The frame is larger than the gate accepts (gate.maxFrameBytes).' },
  IM_FRAME_UNKNOWN_TYPE: { status: 400, fatal: false, message: 'The frame type is unknown or not allowed from a client.' },
  IM_AUTH_REQUIRED: { status: 401, fatal: true, message: 'The first frame on a connection must be Auth.' },
  IM_AUTH_TIMEOUT: { status: 401, fatal: true, message: 'No Auth frame arrived in time after connecting.' },
  IM_ALREADY_AUTHENTICATED: { status: 400, fatal: false, message: 'This connection is already authenticated.' },
  IM_HEARTBEAT_TIMEOUT: {
    status: 408,
    fatal: true,
    message: 'No frame arrived within the idle timeout; send Ping at the heartbeat interval.',
  },
  // Tokens and tenancy
  IM_TOKEN_INVALID: { status: 401, fatal: true, message: 'The token is malformed, signed with another key, or not for this AppId.' },
  IM_TOKEN_EXPIRED: { status: 401, fatal: true, message: 'The token has expired; mint a new one from your backend.' },
  IM_TOKEN_REVOKED: { status: 401, fatal: true, message: 'The token was revoked; mint a new one from your backend.' },
  IM_APP_NOT_FOUND: { status: 404, fatal: true, message: 'No app with this AppId exists.' },
  IM_APP_NOT_SERVED: { status: 421, fatal: true, message: 'This gate does not serve this AppId; ask dispatch for the right gate.' },
  IM_FORBIDDEN: { status: 403, fatal: false, message: 'This user may not access that conversation or resource.' },
  // Flow control
  IM_RATE_LIMITED: { status: 429, fatal: false, message: 'Too many frames; slow down and retry after retry_after_ms.' },
  IM_FLOODING: { status: 429, fatal: true, message: 'The connection kept exceeding its rate limit and was closed.' },
  IM_SLOW_CONSUMER: { status: 503, fatal: true, message: 'The client read too slowly and its send buffer filled up; reconnect and sync.' },
  IM_APP_RATE_LIMITED: { status: 429, fatal: false, message: 'The app exceeded its rate limit; retry after retry_after_ms.' },
  IM_TOO_MANY_CONNECTIONS: {
    status: 429,
    fatal: true,
    message: "Too many open connections for this user or address; close some, or raise the app's limits.",
  },
  // Requests
  IM_BAD_REQUEST: { status: 400, fatal: false, message: 'A field of the request is missing or invalid.' },
  IM_BODY_TOO_LARGE: { status: 413, fatal: false, message: 'The message body is larger than the app allows (logic.maxBodyBytes).' },
  IM_SYSTEM_SENDER_RESERVED: {
    status: 403,
    fatal: false,
    message:
      "Only the app's backend, through the admin API, sends as the system sender; nobody else may mark a message system or make it a group member.",
  },
  IM_NOT_FOUND: { status: 404, fatal: false, message: 'No such message or conversation.' },
  IM_RECALL_WINDOW_EXPIRED: { status: 409, fatal: false, message: 'The message is older than the recall window.' },
  IM_RECALL_NOT_SENDER: { status: 403, fatal: false, message: 'Only the sender may recall a message.' },
  // Webhooks (docs/webhooks.md)
  IM_REJECTED_BY_APP: {
    status: 403,
    fatal: false,
    message: "The app's before-send webhook refused this message; the error's text carries the app's reason.",
  },
  IM_APP_HOOK_UNAVAILABLE: {
    status: 503,
    fatal: false,
    message:
      "The app's before-send webhook failed or did not answer in time, and the app refuses messages then (fail-closed); retry later.",
  },
  // Groups
  IM_GROUP_NOT_FOUND: { status: 404, fatal: false, message: 'No such group in this app.' },
  IM_GROUP_NOT_MEMBER: { status: 403, fatal: false, message: 'The user is not a member of this group (or not at that seq).' },
  IM_GROUP_FORBIDDEN: { status: 403, fatal: false, message: "The user's role in this group does not allow this change." },
  IM_GROUP_FULL: { status: 409, fatal: false, message: "The group would exceed the app's member limit (logic.groupMaxMembers)." },
  IM_GROUP_MUTED: { status: 403, fatal: false, message: 'The sender is muted in this group, or the group is muted for members.' },
  IM_GROUP_DISSOLVED: { status: 410, fatal: false, message: 'The group was dissolved; its history stays readable to its members.' },
  IM_GROUP_EXISTS: { status: 409, fatal: false, message: 'A group with this id exists already; pick another id.' },
  // Files (docs/adr/0031-files.md)
  IM_FILE_NOT_FOUND: { status: 404, fatal: false, message: 'No such file in this app.' },
  IM_FILE_TOO_LARGE: {
    status: 413,
    fatal: false,
    message: 'The file is larger than the app allows (limits.maxFileBytes, file.maxFileBytes).',
  },
  IM_FILE_TYPE_NOT_ALLOWED: {
    status: 415,
    fatal: false,
    message: 'The app does not accept files of this content type (limits.fileContentTypes).',
  },
  IM_FILE_QUOTA_EXCEEDED: {
    status: 413,
    fatal: false,
    message: "The app's stored files would exceed its quota (limits.fileQuotaBytes); delete files or raise it.",
  },
  IM_FILE_PROOF_FAILED: {
    status: 403,
    fatal: false,
    message: 'The proof of possession does not match the stored file; upload the file instead.',
  },
  IM_FILE_CHALLENGE_INVALID: {
    status: 410,
    fatal: false,
    message: 'The challenge is unknown, already answered or expired; call prepare again.',
  },
  IM_FILE_CHUNK_CORRUPT: {
    status: 400,
    fatal: false,
    message: "The chunk's bytes do not match its Content-MD5 or expected length; send it again.",
  },
  IM_FILE_CHUNK_ORDER: {
    status: 409,
    fatal: false,
    message: 'Chunks are taken in order; send the chunk the upload expects next (GET the upload).',
  },
  IM_FILE_MD5_MISMATCH: {
    status: 422,
    fatal: false,
    message: 'The uploaded bytes do not hash to the declared MD5 or size; nothing was stored. Upload again.',
  },
  IM_UPLOAD_NOT_FOUND: {
    status: 404,
    fatal: false,
    message: 'No such upload for this user (finished, abandoned and removed, or never started); call prepare.',
  },
  IM_FILE_URL_INVALID: {
    status: 403,
    fatal: false,
    message: 'The file URL is malformed, expired or not signed by this app; ask fileUrl() for a new one.',
  },
  IM_RANGE_NOT_SATISFIABLE: { status: 416, fatal: false, message: 'The Range header asks for bytes outside the file.' },
  IM_FILE_NO_THUMBNAIL: { status: 404, fatal: false, message: 'This file has no thumbnail (not an image sharp could read).' },
  IM_UNAVAILABLE: { status: 503, fatal: false, message: 'A backend is unavailable; retry with backoff.' },
  IM_INTERNAL: { status: 500, fatal: false, message: 'Internal error; retry, and report it with the trace id if it persists.' },
  IM_DRAINING: { status: 503, fatal: true, message: 'The gate is shutting down; reconnect through dispatch.' },
  IM_NO_GATE: { status: 503, fatal: false, message: 'No ready gate serves this AppId; retry with backoff.' },
  // Admin and HTTP APIs
  IM_ADMIN_UNAUTHORIZED: { status: 401, fatal: false, message: 'Send Authorization: Bearer <platform admin token> or the app secret.' },
  IM_ADMIN_FORBIDDEN: { status: 403, fatal: false, message: 'These credentials may not act on that app.' },
  IM_ADMIN_INVALID: { status: 400, fatal: false, message: 'The request body is invalid.' },
  IM_ADMIN_CONFLICT: { status: 409, fatal: false, message: 'That resource already exists.' },
  IM_ROUTE_NOT_FOUND: { status: 404, fatal: false, message: 'No such HTTP endpoint.' },
  IM_REQUEST_TOO_LARGE: {
    status: 413,
    fatal: false,
    message: 'The HTTP request body is larger than this endpoint accepts (http.bodyLimitBytes).',
  },
  // Start-up
  IM_CONFIG_INVALID: { status: 500, fatal: true, message: 'The configuration is invalid.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalog;

export class ImError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterMs: number;
  constructor(code: ErrorCode, message?: string, opts: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message ?? errorCatalog[code].message, { cause: opts.cause });
    this.name = 'ImError';
    this.code = code;
    this.retryAfterMs = opts.retryAfterMs ?? 0;
  }
  get spec(): ErrorSpec {
    return errorCatalog[this.code];
  }
  get fatal(): boolean {
    return errorCatalog[this.code].fatal;
  }
  get status(): number {
    return errorCatalog[this.code].status;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalog, code);
}

/** Any thrown value as an ImError: unknown errors become IM_INTERNAL (the cause is kept). */
export function toImError(err: unknown): ImError {
  if (err instanceof ImError) return err;
  return new ImError('IM_INTERNAL', undefined, { cause: err });
}
