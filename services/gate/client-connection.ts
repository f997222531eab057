// One client long connection, over WebSocket or TCP: the same frames either way.
import { TokenBucket } from '../shared/token-bucket.js';

export interface Transport {
  readonly kind: 'ws' | 'tcp';
  /** Writes one frame (version byte included). */
  send(frame: Uint8Array): void;
  /** Bytes accepted by send() but not yet handed to the kernel. */
  bufferedAmount(): number;
  close(reason: string): void;
  /** Holds writes in memory until uncork(), so the frames of one push batch leave in one syscall. */
  cork(): void;
  uncork(): void;
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
  /** The push batch being written corked this connection (see Gate.deliver). */
  corked = false;
  readonly bucket: TokenBucket;

  constructor(
    readonly id: string,
    readonly transport: Transport,
    ratePerSec: number,
    burst: number,
    now: number,
  ) {
    this.lastSeenAt = now;
    this.openedAt = now;
    this.bucket = new TokenBucket(ratePerSec, burst);
  }
}
