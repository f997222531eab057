import { ImError } from '../../../protocol/errors.js';
import type { WorkerIdLease, WorkerIds } from '../../ports/worker-ids.js';

export class MemoryWorkerIds implements WorkerIds {
  private readonly leases = new Map<number, { owner: string; expiresAt: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async lease(owner: string, max: number, ttlMs: number): Promise<WorkerIdLease> {
    const now = this.now();
    for (let id = 0; id <= max; id++) {
      const held = this.leases.get(id);
      if (held && held.expiresAt > now) continue;
      const entry = { owner, expiresAt: now + ttlMs };
      this.leases.set(id, entry);
      return {
        workerId: id,
        renew: async () => {
          if (this.leases.get(id) !== entry || entry.expiresAt <= this.now()) return false;
          entry.expiresAt = this.now() + ttlMs;
          return true;
        },
        release: async () => {
          if (this.leases.get(id) === entry) this.leases.delete(id);
        },
      };
    }
    throw new ImError('IM_UNAVAILABLE', `all ${max + 1} worker ids are leased`);
  }
}
