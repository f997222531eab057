// The behaviour the attack suite expects where the hardening issue changed it: every code, bound
// and configuration key those attacks assume, in one place, so that the server and the tests are
// aligned here and nowhere else. Attacks still open (attack.open set) fail on main until their
// fix lands; the others must keep holding.
import type { ErrorCode } from '../../protocol/errors.js';

/** Settings every target process starts with (env; see docs/configuration.md). */
export const TARGET_ENV: Record<string, string> = {
  // Unauthenticated and half-open connections go within this (default 10 s): the churn attacks wait for it.
  IMCLOUD_GATE_AUTH_TIMEOUT_MS: '2000',
  // Low enough that one tenant's flood meets its app limit (default 50,000/s).
  IMCLOUD_LOGIC_APP_RATE_LIMIT_PER_SEC: '400',
  // http.headersTimeoutMs and http.requestTimeoutMs (defaults 10 s and 30 s): how long a client may
  // take to send its request headers, and its whole request; the slowloris attack waits for them.
  IMCLOUD_HTTP_HEADERS_TIMEOUT_MS: '2000',
  IMCLOUD_HTTP_REQUEST_TIMEOUT_MS: '4000',
  // file.challengeTtlMs (default 60 s): the proof attacks wait for a challenge to expire.
  IMCLOUD_FILE_CHALLENGE_TTL_MS: '3000',
};

export const INTENDED = {
  /** Issue 3: any frame but Ping that arrives before AuthOk (pipelined behind Auth). */
  frameBeforeAuthOk: 'IM_AUTH_REQUIRED' satisfies ErrorCode,
  /** Issue 8: a token for an app that does not exist — the same code as a bad signature, so AppIds cannot be enumerated. */
  unknownApp: 'IM_TOKEN_INVALID' satisfies ErrorCode,
  /** Issue 4: a token claiming an AppId that is not a valid AppId at all (e.g. 40 KB long). */
  malformedAppIdClaim: 'IM_TOKEN_INVALID' satisfies ErrorCode,
  /** Issue 8: a token whose subject is not a valid user id (`*`, `a:b`, `../../x`, empty, 20 KB). */
  badSubject: 'IM_TOKEN_INVALID' satisfies ErrorCode,
  /**
   * Issue 8: a session whose token expires is ended by the server: a Kick with this reason
   * (looked up by name in protocol/im.proto's KickReason) or an Error with `tokenExpiredCode`, then
   * the connection closes.
   */
  tokenExpiredKickReason: 'KICK_REASON_TOKEN_EXPIRED',
  tokenExpiredCode: 'IM_TOKEN_EXPIRED' satisfies ErrorCode,
  /** …within this long after the token's expiry (the token lives 2 s in that attack). */
  tokenExpiryKickWithinMs: 4_000,
  /** Issue 6: a history reader that does not read is closed with this, or gets replies of at most `historyReplyMaxBytes`. */
  slowConsumer: 'IM_SLOW_CONSUMER' satisfies ErrorCode,
  historyReplyMaxBytes: 2 * 1024 * 1024,
  /** Issue 6: the target's RSS may grow at most this much while 20 ~40-byte history requests ask for huge pages. */
  historyFloodMaxRssGrowth: 150 * 1024 * 1024,
  /** Issue 4: the gate's RSS may grow at most this much for 5,000 Auth frames that each claim a new 40 KB AppId. */
  appIdFloodMaxRssGrowth: 30 * 1024 * 1024,
  // The bounds below are how long an attack waits for what must happen, not speeds: a busy
  // machine stretches every one of them, and latency under attack is for the benchmarks
  // (bench/fairness.ts, bench/overload.ts). Each is far below what it took before the fix.
  /**
   * Issue 7: an unauthenticated admin request is answered (401) before its body has been
   * received. The body never arrives in full, so any answer within this wait proves it.
   */
  unauthenticatedBodyAnsweredWithinMs: 10_000,
  /** Issue 7: a bystander's GET /healthz during a 1 MB nested JSON body is answered (waits this long for it). */
  bystanderHttpWithinMs: 5_000,
  /**
   * Issue 8 (slowloris): a client that never finishes its request headers / body is cut off
   * within this: the timeouts in TARGET_ENV plus slack for a busy machine, and far below Node's
   * defaults that kept them open before the fix (60 s for headers, 300 s for a request).
   */
  slowRequestCutOffWithinMs: 15_000,
  /** File role (ADR 0031): file.challengeTtlMs as TARGET_ENV sets it. */
  fileChallengeTtlMs: 3_000,
  /** file.maxConcurrentChunks (its default): chunk bodies one file process reads at once; beyond, IM_UNAVAILABLE with a retry-after. */
  fileMaxConcurrentChunks: 16,
  /** file.maxConcurrentChunksPerApp (its default): of those, one app's at most. */
  fileMaxConcurrentChunksPerApp: 8,
  /** file.chunkBytes (its default, 5 MiB). */
  fileChunkBytes: 5 * 1024 * 1024,
  /** A 50 MB chunk PUT without a valid token: the file process's RSS may grow at most this much (well under the body: it is never read). */
  unauthenticatedChunkMaxRssGrowth: 24 * 1024 * 1024,
  /** A decompression bomb, a truncated JPEG and random bytes labelled image/png: the file process's RSS may grow at most this much. */
  badImagesMaxRssGrowth: 100 * 1024 * 1024,
} as const;
