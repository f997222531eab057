// One client long connection, over WebSocket or TCP: the same frames either way.
import { TokenBucket } from '../shared/token-bucket.js';

/**
 * One frame on its way to many connections: framed for each transport kind at most once, then
 * the same bytes are written to every connection of that kind (a server's WebSocket frames are
 * not masked, so one framing serves them all).
 */
export class SharedFrame {
  private readonly framed: Partial<Record<Transport['kind'], Buffer>> = {};

  constructor(
    /** The frame, version byte included. */
    readonly frame: Uint8Array,
  ) {}

  for(kind: Transport['kind'], frameIt: (frame: Uint8Array) => Buffer): Buffer {
    let bytes = this.framed[kind];
    if (!bytes) this.framed[kind] = bytes = frameIt(this.frame);
    return bytes;
  }
}

export interface Transport {
  readonly kind: 'ws' | 'tcp';
  /** Writes one frame (version byte included). */
  send(frame: Uint8Array): void;
  /** Writes a frame that many connections get (framed once per transport kind). */
  sendShared(frame: SharedFrame): void;
  /** Bytes accepted by send() but not yet handed to the kernel. */
  bufferedAmount(): number;
  close(reason: string): void;
  /** Holds writes in memory until uncork(), so the frames of one downstream batch leave in one syscall. */
  cork(): void;
  uncork(): void;
  /** Reads nothing from the peer for `ms` (TCP holds its frames back); a pause in progress is not extended. */
  pauseReading(ms: number): void;
}

export type ConnectionState = 'new' | 'authenticating' | 'online' | 'closed';

export class ClientConnection {
  state: ConnectionState = 'new';
  appId = '';
  userId = '';
  deviceId = '';
  platform = 0;
  lastSeenAt: number;
  readonly openedAt: number;
  /** Consecutive frames refused by the rate limit. */
  strikes = 0;
  lastRouteRefreshAt = 0;
  /** The downstream batch being written corked this connection (see DownstreamWriter.write). */
  corked = false;
  /** When the token it authenticated with expires (ms since epoch); the session ends then. */
  expiresAt = 0;
  /** The login went to logic, which may have registered a route for it. */
  loginForwarded = false;
  /** The app's frame rate across every gate (its limits, or gate.appFramesPerSec). */
  appFramesPerSec = 0;
  /** Frames refused for the app's rate since one last got through (the read pause doubles with each). */
  appRateStrikes = 0;
  readonly bucket: TokenBucket;

  constructor(
    readonly id: string,
    readonly transport: Transport,
    ratePerSec: number,
    burst: number,
    now: number,
    /** The client's address (per-address connection limits). */
    readonly ip: string,
  ) {
    this.lastSeenAt = now;
    this.openedAt = now;
    this.bucket = new TokenBucket(ratePerSec, burst);
  }
}
