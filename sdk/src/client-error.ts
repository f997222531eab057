// The one error type the SDK rejects with and emits. Server errors keep their catalog code
// (protocol/errors.ts); errors the SDK raises itself use SDK_* codes.
import type { ErrorCode } from '../../protocol/errors.js';

export type SdkErrorCode =
  /** No answer in time (request, ack, or the whole send deadline). */
  | 'SDK_TIMEOUT'
  /** The client was closed or logged out while the operation waited. */
  | 'SDK_CLOSED'
  /** The connection dropped while a request that is bound to it waited. */
  | 'SDK_CONNECTION_LOST'
  /** Dispatch could not be reached or answered with an error. */
  | 'SDK_DISPATCH_FAILED'
  /** An HTTP request (the file service) got no answer: the network failed. */
  | 'SDK_NETWORK'
  /** The server sent something the SDK could not understand. */
  | 'SDK_PROTOCOL'
  /** A listener threw; the SDK caught it so that delivery continues. */
  | 'SDK_LISTENER';

export type ClientErrorCode = ErrorCode | SdkErrorCode;

export class ImClientError extends Error {
  constructor(
    /** A catalog code (IM_*) or an SDK code (SDK_*); a newer server may send codes this SDK does not list. */
    readonly code: ClientErrorCode | (string & {}),
    message: string,
    /** > 0: the server asked to wait this long before retrying. */
    readonly retryAfterMs = 0,
    /** The server closes the connection after this error. */
    readonly fatal = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImClientError';
  }
}

/** Server codes after which the same request may succeed if sent again later. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set(['IM_UNAVAILABLE', 'IM_RATE_LIMITED', 'IM_APP_RATE_LIMITED', 'IM_INTERNAL']);
