// The dispatch (LBS) role: tells a client which gates to connect to. Only gates that serve the
// AppId are ever returned (the AppId's own pool, or the default pool when no pool claims it),
// least-loaded first, with the heartbeat interval and reconnect backoff hints.

import { APP_ID, USER_ID } from '../../protocol/conversation-id.js';
import { ImError } from '../../protocol/errors.js';
import type { Backends } from '../ports/backends.js';
import type { GateInfo } from '../ports/routes.js';
import type { HttpServer } from '../shared/http-server.js';
import type { Metrics } from '../shared/metrics.js';
import type { DispatchConfig } from '../shared/role-config.js';
import { type RoutingTableSource, routingSource, trackFor } from '../shared/routing-table.js';

export interface DispatchAnswer {
  appId: string;
  gates: Array<{ id: string; ws: string; tcp: string; tls: boolean; pool: string; track: string; connections: number }>;
  heartbeatIntervalMs: number;
  reconnect: { baseMs: number; maxMs: number; jitter: 'full' };
}

/** The gates that may serve `appId`, least-loaded first. */
export function gatesFor(gates: GateInfo[], appId: string, now: number, staleMs: number, track = 'stable'): GateInfo[] {
  const live = gates.filter((g) => !g.draining && (g.reportedAt ?? now) > now - staleMs);
  const claimed = live.some((g) => g.appIds.includes(appId));
  const pool = live.filter((g) => (claimed ? g.appIds.includes(appId) : g.appIds.length === 0));
  const onTrack = pool.filter((g) => g.track === track);
  const chosen = onTrack.length > 0 ? onTrack : pool.filter((g) => g.track === 'stable');
  return chosen.sort((a, b) => a.connections - b.connections || a.id.localeCompare(b.id));
}

export class Dispatch {
  constructor(
    private readonly config: DispatchConfig,
    private readonly backends: Backends,
    private readonly metrics: Metrics,
    /** The operator's routing table (IMCLOUD_ROUTING_FILE): picks the gray track of an AppId. */
    private readonly routing: RoutingTableSource | undefined = routingSource(config.routing),
  ) {}

  register(http: HttpServer): void {
    http.route('GET', '/v1/dispatch', async (req) => {
      const appId = req.query.get('appId') ?? '';
      const userId = req.query.get('userId') ?? '';
      try {
        const answer = await this.answer(appId, userId);
        this.metrics.dispatchRequests.inc({ result: 'ok' });
        return { json: answer, headers: { 'access-control-allow-origin': '*' } };
      } catch (err) {
        this.metrics.dispatchRequests.inc({ result: err instanceof ImError ? err.code : 'IM_INTERNAL' });
        throw err;
      }
    });
  }

  async answer(appId: string, userId: string): Promise<DispatchAnswer> {
    if (!APP_ID.test(appId)) throw new ImError('IM_BAD_REQUEST', `appId must match ${APP_ID.source}`);
    if (userId && !USER_ID.test(userId)) throw new ImError('IM_BAD_REQUEST', `userId must match ${USER_ID.source}`);
    const track = trackFor(this.routing?.current(), appId);
    const gates = gatesFor(await this.backends.routes.listGates(), appId, Date.now(), this.config.dispatch.gateStaleMs, track);
    if (gates.length === 0)
      throw new ImError('IM_NO_GATE', `no ready gate serves app ${appId}; retry with backoff`, { retryAfterMs: 2_000 });
    return {
      appId,
      gates: gates.slice(0, 3).map((g) => ({
        id: g.id,
        ws: g.wsUrl,
        tcp: g.tcpAddr,
        tls: g.tls ?? false,
        pool: g.pool,
        track: g.track,
        connections: g.connections,
      })),
      heartbeatIntervalMs: this.config.heartbeat.intervalMs,
      reconnect: { baseMs: this.config.dispatch.reconnectBaseMs, maxMs: this.config.dispatch.reconnectMaxMs, jitter: 'full' },
    };
  }
}
