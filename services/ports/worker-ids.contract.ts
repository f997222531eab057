// The WorkerIds contract (services/ports/worker-ids.ts), written once and run against every
// adapter: the in-memory one in the `unit` project, Redis in the integration suites.
//
// Isolation: the port has no namespace, and these tests exhaust the id space, so `make()` must
// return an instance whose ids nobody else leases during the test (a real adapter: a per-test
// key prefix). Leases are 1 s, renewed every half lease (a sleep a busy machine may stretch by
// up to 500 ms before the lease lapses), and the tests wait 1.5 s for them to lapse.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImError } from '../../protocol/errors.js';
import type { WorkerIdLease, WorkerIds } from './worker-ids.js';

export interface WorkerIdsFixture {
  workerIds: WorkerIds;
  /**
   * Lets `ms` of the adapter's time pass. Default: a real sleep. An adapter with an injectable
   * clock may advance it instead; that clock must start at Date.now() and move only here.
   */
  elapse?(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const TTL = 1000;
const PAST_TTL = 1500;
const LONG = 60_000;

export function workerIdsContract(name: string, make: () => Promise<WorkerIdsFixture>): void {
  describe(`WorkerIds contract: ${name}`, () => {
    let fx: WorkerIdsFixture;
    const elapse = (ms: number): Promise<void> => (fx.elapse ? fx.elapse(ms) : sleep(ms));
    let ids: WorkerIds;
    let held: WorkerIdLease[];

    const owner = (): string => `node-${randomUUID()}`;
    async function lease(max: number, ttlMs = LONG): Promise<WorkerIdLease> {
      const l = await ids.lease(owner(), max, ttlMs);
      held.push(l);
      return l;
    }
    async function expectUnavailable(p: Promise<unknown>): Promise<void> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ImError);
      expect((err as ImError).code).toBe('IM_UNAVAILABLE');
    }

    beforeEach(async () => {
      fx = await make();
      ids = fx.workerIds;
      held = [];
    });
    afterEach(async () => {
      for (const l of held) await l.release().catch(() => undefined);
      await fx.cleanup();
    });

    it('live leases never share an id; when every id is taken, lease fails with IM_UNAVAILABLE', async () => {
      const max = 7;
      const leases = await Promise.all(Array.from({ length: max + 1 }, () => lease(max)));
      const got = leases.map((l) => l.workerId).sort((a, b) => a - b);
      expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      await expectUnavailable(lease(max));
      for (const l of leases) expect(await l.renew()).toBe(true);
    });

    it('renew keeps the id while it is held, past the first TTL', async () => {
      const a = await lease(0, TTL);
      expect(a.workerId).toBe(0);
      for (let i = 0; i < 3; i++) {
        await elapse(TTL / 2);
        expect(await a.renew()).toBe(true);
      }
      // 1.5 s after the lease, well past its first TTL: still held.
      await expectUnavailable(lease(0));
    });

    it('after the lease lapses another owner takes the id, and the first renew returns false', async () => {
      const a = await lease(0, TTL);
      await elapse(PAST_TTL);
      const b = await lease(0, LONG);
      expect(b.workerId).toBe(a.workerId);
      expect(await a.renew()).toBe(false);
      expect(await b.renew()).toBe(true);
      // The loser's release must not free the winner's id.
      await a.release();
      await expectUnavailable(lease(0));
      expect(await b.renew()).toBe(true);
    });

    it('release frees the id for another owner', async () => {
      const a = await lease(1);
      const b = await lease(1);
      expect(new Set([a.workerId, b.workerId])).toEqual(new Set([0, 1]));
      await expectUnavailable(lease(1));

      await a.release();
      const c = await lease(1);
      expect(c.workerId).toBe(a.workerId);
      expect(await a.renew()).toBe(false);
      expect(await c.renew()).toBe(true);
      expect(await b.renew()).toBe(true);
    });
  });
}
