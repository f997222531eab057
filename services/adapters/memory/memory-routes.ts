import type { GateInfo, Route, Routes } from '../../ports/routes.js';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

export class MemoryRoutes implements Routes {
  private readonly users = new Map<string, Map<string, Expiring<Route>>>();
  private readonly gates = new Map<string, Expiring<GateInfo>>();

  constructor(private readonly now: () => number = Date.now) {}

  private live(appId: string, userId: string): Map<string, Expiring<Route>> | undefined {
    const key = `${appId}\u0000${userId}`;
    const routes = this.users.get(key);
    if (!routes) return undefined;
    const now = this.now();
    for (const [connId, r] of routes) if (r.expiresAt <= now) routes.delete(connId);
    if (routes.size === 0) {
      this.users.delete(key);
      return undefined;
    }
    return routes;
  }

  async add(appId: string, userId: string, route: Route, ttlMs: number): Promise<Route[]> {
    const key = `${appId}\u0000${userId}`;
    let routes = this.live(appId, userId);
    if (!routes) this.users.set(key, (routes = new Map()));
    routes.set(route.connId, { value: { ...route }, expiresAt: this.now() + ttlMs });
    return [...routes.values()].map((r) => ({ ...r.value }));
  }

  async refresh(appId: string, userId: string, connId: string, ttlMs: number): Promise<boolean> {
    const r = this.live(appId, userId)?.get(connId);
    if (!r) return false;
    r.expiresAt = this.now() + ttlMs;
    return true;
  }

  async remove(appId: string, userId: string, connId: string): Promise<void> {
    const routes = this.live(appId, userId);
    routes?.delete(connId);
    if (routes && routes.size === 0) this.users.delete(`${appId}\u0000${userId}`);
  }

  async list(appId: string, userId: string): Promise<Route[]> {
    return [...(this.live(appId, userId)?.values() ?? [])].map((r) => ({ ...r.value }));
  }

  async listMany(appId: string, userIds: string[]): Promise<Map<string, Route[]>> {
    const out = new Map<string, Route[]>();
    for (const userId of userIds) {
      const routes = await this.list(appId, userId);
      if (routes.length > 0) out.set(userId, routes);
    }
    return out;
  }

  async reportGate(gate: GateInfo, ttlMs: number): Promise<void> {
    const now = this.now();
    this.gates.set(gate.id, { value: { ...gate, appIds: [...gate.appIds], reportedAt: now }, expiresAt: now + ttlMs });
  }

  async removeGate(gateId: string): Promise<void> {
    this.gates.delete(gateId);
  }

  async listGates(): Promise<GateInfo[]> {
    const now = this.now();
    const out: GateInfo[] = [];
    for (const [id, g] of this.gates) {
      if (g.expiresAt <= now) this.gates.delete(id);
      else out.push({ ...g.value, appIds: [...g.value.appIds] });
    }
    return out;
  }
}
