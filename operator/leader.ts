// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
// - a candidate takes the lease when it is free, or when the holder has not renewed it for
//   leaseDuration as observed on the candidate's own clock (no clock-skew assumptions);
// - writes are optimistic (PUT with resourceVersion), so two candidates never both win;
// - the leader renews every retryPeriod; if it cannot renew within renewDeadline it stops leading
//   (the caller exits, so that no two processes ever act at once);
// - on a graceful stop the leader releases the lease (empty holder), and a standby takes over at
//   its next retry instead of waiting for the lease to expire.
import type { KubeClient, KubeObject } from './kube/client.js';
import { isConflict, isNotFound, R } from './kube/client.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOpts {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  onStartedLeading: () => void;
  /** Leadership lost (not called after release()). */
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
}

const microTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;
  private currentLeader = '';

  constructor(
    private readonly kube: KubeClient,
    private readonly opts: LeaderElectionOpts,
  ) {
    if (opts.renewDeadlineMs >= opts.leaseDurationMs) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (opts.retryPeriodMs >= opts.renewDeadlineMs) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get leader(): string {
    return this.currentLeader;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        await this.tryAcquireOrRenew();
      } catch (err) {
        this.opts.log?.warn({ err: String(err) }, 'leader election: lease update failed');
      }
      if (this.leading && Date.now() - this.lastRenew > this.opts.renewDeadlineMs) {
        this.leading = false;
        this.opts.log?.warn({ lease: this.opts.name }, 'leader election: could not renew the lease within renewDeadline; stopping');
        this.opts.onStoppedLeading();
      }
      if (!this.stopped) {
        // Jitter the standby's retries a little, as client-go does, so candidates do not align.
        const delay = this.leading ? this.opts.retryPeriodMs : this.opts.retryPeriodMs * (1 + Math.random() * 0.2);
        this.timer = setTimeout(() => void tick(), delay);
      }
    };
    void tick();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    const now = Date.now();
    const existing = await this.kube.get<Lease>(R.leases, namespace, name);
    const mine = (acquireTime: string | null | undefined, transitions: number): LeaseSpec => ({
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
      acquireTime: acquireTime ?? microTime(now),
      renewTime: microTime(now),
      leaseTransitions: transitions,
    });
    if (!existing) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'imcloud-operator' } },
        spec: mine(null, 0),
      };
      try {
        await this.kube.create<Lease>(R.leases, lease);
      } catch (err) {
        if (isConflict(err)) return; // someone else created it first
        throw err;
      }
      this.becameLeader(now);
      return;
    }
    const spec = existing.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = JSON.stringify([holder, spec.renewTime, spec.acquireTime, spec.leaseTransitions]);
    if (!this.observed || this.observed.record !== record) this.observed = { record, at: now };
    if (holder !== this.currentLeader) {
      this.currentLeader = holder;
      if (holder) this.opts.onNewLeader?.(holder);
    }
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.opts.leaseDurationMs / 1000)) * 1000;
    if (holder && holder !== identity && this.observed.at + durationMs > now) {
      if (this.leading) {
        this.leading = false;
        this.opts.onStoppedLeading();
      }
      return; // held by someone else and not expired
    }
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    const updated: Lease = {
      ...existing,
      spec: mine(holder === identity ? spec.acquireTime : null, transitions),
    };
    try {
      await this.kube.replace<Lease>(R.leases, updated);
    } catch (err) {
      if (isConflict(err)) return; // lost the race; look again next time
      throw err;
    }
    if (holder !== identity) this.opts.log?.info({ lease: name, previous: holder || null }, 'leader election: acquired the lease');
    this.becameLeader(now);
  }

  private becameLeader(now: number): void {
    this.lastRenew = now;
    this.currentLeader = this.opts.identity;
    this.observed = undefined;
    if (!this.leading) {
      this.leading = true;
      this.opts.onStartedLeading();
    }
  }

  /** Stops campaigning; a leader hands the lease back so that a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const current = await this.kube.get<Lease>(R.leases, this.opts.namespace, this.opts.name);
      if (!current || current.spec?.holderIdentity !== this.opts.identity) return;
      await this.kube.replace(R.leases, {
        ...current,
        spec: { ...current.spec, holderIdentity: null, acquireTime: null, renewTime: microTime(Date.now()), leaseDurationSeconds: 1 },
      });
      this.opts.log?.info({ lease: this.opts.name }, 'leader election: released the lease');
    } catch (err) {
      if (!isNotFound(err)) this.opts.log?.warn({ err: String(err) }, 'leader election: could not release the lease');
    }
  }
}
