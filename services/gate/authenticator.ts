// A connection's Auth frame, checked at the gate (architecture.md §4, ADR 0022): the token is
// verified with its app's secret before anything about the app is revealed (an unknown AppId
// and a bad signature both answer IM_TOKEN_INVALID), then the gate's pool, revocation and the
// device id. Logic then registers the route and answers AuthOk.

import { ImError } from '../../protocol/errors.js';
import type { imcloud } from '../../protocol/gen/im.js';
import type { App, AppRegistry } from '../ports/app-registry.js';
import { AppDirectory } from '../shared/app-directory.js';
import type { GateConfig } from '../shared/role-config.js';
import { claimedByOtherPool, type RoutingTableSource } from '../shared/routing-table.js';
import { claimedAppId, verifyToken } from '../shared/tokens.js';

const APP_CACHE_MS = 5_000;
const APP_CACHE_ENTRIES = 10_000;
const DEVICE_ID = /^[\x21-\x7e]{1,128}$/;

/** Who a verified token says the client is, and what the connection may do. */
export interface ClientIdentity {
  appId: string;
  userId: string;
  deviceId: string;
  platform: number;
  /** When the token expires (ms since epoch): the session ends then. */
  expiresAt: number;
  /** The app's frame rate across every gate (its limits, or gate.appFramesPerSec). */
  appFramesPerSec: number;
}

/** What the gate keeps of an app: the secret that signs its tokens, and its limits. */
type AppSecret = Pick<App, 'appId' | 'secret' | 'limits'>;

export class Authenticator {
  private readonly apps: AppDirectory<AppSecret>;

  constructor(
    private readonly registry: AppRegistry,
    private readonly config: Pick<GateConfig['gate'], 'pool' | 'appIds' | 'appFramesPerSec'>,
    /** The operator's routing table: a default-pool gate refuses AppIds another pool claims. */
    private readonly routing: RoutingTableSource | undefined,
  ) {
    this.apps = new AppDirectory<AppSecret>(
      registry,
      { maxEntries: APP_CACHE_ENTRIES, ttlMs: APP_CACHE_MS },
      ({ appId, secret, limits }) => ({ appId, secret, limits }),
    );
  }

  /** Apps whose secret the gate holds now. */
  get cachedApps(): number {
    return this.apps.size;
  }

  /** The client the Auth frame proves; throws an ImError when it proves nothing. */
  async verify(auth: imcloud.v1.Auth): Promise<ClientIdentity> {
    const appId = claimedAppId(auth.token);
    const app = await this.apps.get(appId);
    if (!app) throw new ImError('IM_TOKEN_INVALID');
    const claims = await verifyToken(auth.token, appId, app.secret);
    this.checkServed(appId);
    if (await this.registry.isRevoked(appId, claims.userId, claims.jti, claims.issuedAt)) throw new ImError('IM_TOKEN_REVOKED');
    if (!DEVICE_ID.test(auth.deviceId)) throw new ImError('IM_BAD_REQUEST', 'device_id must be 1–128 printable ASCII characters');
    return {
      appId,
      userId: claims.userId,
      deviceId: auth.deviceId,
      platform: auth.platform,
      expiresAt: claims.expiresAt,
      appFramesPerSec: app.limits?.framesPerSec ?? this.config.appFramesPerSec,
    };
  }

  /** Pools are checked only for a valid token, so that they reveal nothing about an app. */
  private checkServed(appId: string): void {
    const { appIds: served, pool } = this.config;
    if (served.length > 0 && !served.includes(appId))
      throw new ImError('IM_APP_NOT_SERVED', `this gate (pool ${pool}) does not serve app ${appId}; ask dispatch for a gate`);
    if (served.length === 0 && claimedByOtherPool(this.routing?.current(), appId, pool))
      throw new ImError('IM_APP_NOT_SERVED', `app ${appId} is served by its own gate pool, not by pool ${pool}; ask dispatch for a gate`);
  }
}
