// Presence: where each user's connections are (user → {conn → gate, device, platform}), and
// which gates exist with their load (for dispatch). Entries expire unless refreshed, so a gate
// that dies without cleaning up stops receiving pushes after the TTL.

export interface Route {
  connId: string;
  gateId: string;
  deviceId: string;
  /** imcloud.v1.Platform value. */
  platform: number;
  /** ms since epoch when the connection logged in; orders logins for the multi-login policy. */
  since: number;
}

export interface GateInfo {
  id: string;
  pool: string;
  /** AppIds the gate's pool serves; empty = the default pool. */
  appIds: string[];
  track: string;
  wsUrl: string;
  tcpAddr: string;
  /** The TCP address speaks TLS (the WebSocket URL says so by its scheme). */
  tls?: boolean;
  connections: number;
  draining: boolean;
  /** ms since epoch, set by the registry on report. */
  reportedAt?: number;
}

export interface Routes {
  /** Adds (or replaces, same connId) a route; returns every live route of the user afterwards. */
  add(appId: string, userId: string, route: Route, ttlMs: number): Promise<Route[]>;
  /** Extends a route's life; false when it no longer exists. */
  refresh(appId: string, userId: string, connId: string, ttlMs: number): Promise<boolean>;
  remove(appId: string, userId: string, connId: string): Promise<void>;
  list(appId: string, userId: string): Promise<Route[]>;
  /** Routes of many users at once (fan-out); users without routes are absent. */
  listMany(appId: string, userIds: string[]): Promise<Map<string, Route[]>>;

  reportGate(gate: GateInfo, ttlMs: number): Promise<void>;
  removeGate(gateId: string): Promise<void>;
  listGates(): Promise<GateInfo[]>;
}
