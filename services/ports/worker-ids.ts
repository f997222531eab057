// Leases the worker id of the 64-bit id generator, so that two live processes never hold
// the same one. A lease must be renewed before it expires.

export interface WorkerIdLease {
  workerId: number;
  /** Extends the lease; false if it was lost (another process may now hold the id). */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

export interface WorkerIds {
  /** Takes a free worker id in [0, max]; fails with IM_UNAVAILABLE when none is free. */
  lease(owner: string, max: number, ttlMs: number): Promise<WorkerIdLease>;
}
