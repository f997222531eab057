// Asking dispatch where to connect: GET <dispatchUrl>?appId=…&userId=… answers with the
// WebSocket URLs of gates and with hints (heartbeat interval, reconnect backoff limits).
import { USER_ID } from '../../protocol/conversation-id.js';
import { ImClientError } from './client-error.js';

export interface DispatchAnswer {
  gates: Array<{ ws: string; tcp?: string }>;
  heartbeatIntervalMs?: number;
  reconnect?: { baseMs?: number; maxMs?: number };
}

interface DispatchRefusal {
  error?: { code?: string; message?: string; retryAfterMs?: number };
}

export type DispatchFetch = (url: URL, init: { signal: AbortSignal }) => Promise<Response>;

export interface DispatchRequest {
  dispatchUrl: string;
  appId: string;
  /** The signed-in user when known; otherwise the token's subject is sent (dispatch places users by id). */
  userId?: string;
  token: string;
  timeoutMs: number;
  /** Default: globalThis.fetch. */
  fetch?: DispatchFetch;
}

/** Asks dispatch for gates. Throws ImClientError: dispatch's own code when it refused, else SDK_DISPATCH_FAILED. */
export async function askDispatch(req: DispatchRequest): Promise<DispatchAnswer> {
  const url = new URL(req.dispatchUrl, typeof location !== 'undefined' ? location.href : undefined);
  url.searchParams.set('appId', req.appId);
  const user = req.userId ?? tokenSubject(req.token);
  if (user) url.searchParams.set('userId', user);
  let res: Response;
  try {
    res = await (req.fetch ?? fetch)(url, { signal: AbortSignal.timeout(req.timeoutMs) });
  } catch (err) {
    throw new ImClientError(
      'SDK_DISPATCH_FAILED',
      `dispatch ${url.origin} unreachable: ${(err as Error)?.message ?? String(err)}`,
      0,
      false,
      { cause: err },
    );
  }
  const answer = (await res.json().catch(() => null)) as DispatchAnswer | DispatchRefusal | null;
  if (!res.ok || !answer || !('gates' in answer)) {
    const e = answer && 'error' in answer ? answer.error : undefined;
    const hint = res.status === 404 ? `; is dispatchUrl right? (${req.dispatchUrl} should be the dispatch role's /v1/dispatch)` : '';
    throw new ImClientError(
      e?.code ?? 'SDK_DISPATCH_FAILED',
      `dispatch answered ${res.status}: ${e?.message ?? 'no gates'}${hint}`,
      e?.retryAfterMs ?? 0,
    );
  }
  return answer;
}

/** The WebSocket URLs of an answer's gates; IM_NO_GATE when there are none. */
export function gateUrls(answer: DispatchAnswer): string[] {
  const urls = answer.gates.map((g) => g.ws).filter(Boolean);
  if (urls.length === 0) throw new ImClientError('IM_NO_GATE', 'dispatch returned no WebSocket gate');
  return urls;
}

/** The `sub` claim of a JWT, unverified (only to tell dispatch who connects). */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === 'string' && USER_ID.test(sub) ? sub : undefined;
  } catch {
    return undefined;
  }
}
