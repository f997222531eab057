// Two operator processes on one Lease: only the leader reconciles; kill -9 it and the other takes
// over once the lease has gone unrenewed for its duration, not before; SIGTERM hands the Lease
// over at once (the standby finds it released, not expired). What the operators wrote in the
// Lease and in their logs says which happened; how long the test took to notice does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply,
  cleanupNamespace,
  dependencySecrets,
  deployments,
  eventually,
  imcluster,
  kubectlJson,
  newNamespace,
  type OperatorProcess,
  patchImc,
  startOperator,
  waitPhase,
} from './harness.js';

const LEASE_MS = 6000; // harness: leaseDuration 6 s, renewDeadline 4 s, retryPeriod 1 s
const RETRY_MS = 1000;

let ns: string;
beforeAll(async () => {
  ns = await newNamespace('leader');
  await dependencySecrets(ns);
});
afterAll(async () => {
  await cleanupNamespace(ns);
});

const isLeader = async (op: OperatorProcess) => (await op.metric('imcloud_operator_leader')) === 1;
const reconciles = async (op: OperatorProcess) => (await op.metric('imcloud_operator_reconciles_total')) ?? 0;
const lease = async () => kubectlJson(['get', 'lease', 'imcloud-operator', '-n', ns]);
/** A Lease MicroTime (RFC 3339 with microseconds) in ms. */
const microTime = (t: string) => Date.parse(t.replace(/(\.\d{3})\d*Z$/, '$1Z'));
/** Waits until `op` has looked at the Lease and found another operator holding it. */
const standingBy = (op: OperatorProcess) =>
  eventually(`${op.id} to stand by`, () => op.logged('another operator leads; standing by').length > 0 || undefined);
/** The holder `op` found when it acquired the Lease (null: released), once it has. */
const acquiredFrom = async (op: OperatorProcess) =>
  (await eventually(`${op.id} to log its acquisition`, () => op.logged('leader election: acquired the lease')[0]))!.previous;

describe('leader election', () => {
  let a: OperatorProcess;
  let b: OperatorProcess;

  it('two operators: exactly one holds the Lease and only it reconciles', async () => {
    a = await startOperator({ namespace: ns, id: 'operator-a' });
    await eventually('a leads', () => isLeader(a) || undefined);
    b = await startOperator({ namespace: ns, id: 'operator-b' });
    await standingBy(b);
    expect(await isLeader(b)).toBe(false);
    expect((await lease()).spec.holderIdentity).toBe('operator-a');
    // A standby is ready (it waits for the Lease), so a two-replica Deployment is fully available.
    expect((await fetch(`http://127.0.0.1:${b.port}/readyz`)).status).toBe(200);

    await apply(ns, imcluster('le'));
    await waitPhase(ns, 'le', 'Ready');
    // A reconcile is counted when it returns, after it wrote the status.
    await eventually('a counts its reconciles', async () => (await reconciles(a)) > 0 || undefined);
    expect(await reconciles(b)).toBe(0);
  });

  it('kill -9 the leader: the standby takes over within the lease duration and reconciles', async () => {
    const before = await lease();
    await a.kill();
    const killedAt = Date.now();
    await eventually('b leads', () => isLeader(b) || undefined, LEASE_MS * 5, 100);
    console.log(`leader failover after kill -9 seen after ${Date.now() - killedAt} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    const after = await lease();
    expect(after.spec.holderIdentity).toBe('operator-b');
    expect(after.spec.leaseTransitions).toBe((before.spec.leaseTransitions ?? 0) + 1);
    // b took a lease that a still held and that had expired (not a released one)…
    expect(await acquiredFrom(b)).toBe('operator-a');
    // …and not early: a renewed it at or after `before`'s renewTime, and b waited a lease
    // duration from when it saw the last renewal (it may have seen it up to a retry period after
    // that renewal began, so allow that much on either side).
    expect(microTime(after.spec.acquireTime) - microTime(before.spec.renewTime)).toBeGreaterThanOrEqual(LEASE_MS - 2 * RETRY_MS);

    await patchImc(ns, 'le', { spec: { dispatch: { replicas: 3 } } });
    await eventually(
      'b reconciles the change',
      async () => (await deployments(ns)).get('le-dispatch').spec.replicas === 3 || undefined,
      30_000,
    );
    await eventually('b counts its reconciles', async () => (await reconciles(b)) > 0 || undefined);
  });

  it('SIGTERM: the leader finishes, releases the Lease, exits 0, and a standby takes over at once', async () => {
    const c = await startOperator({ namespace: ns, id: 'operator-c' });
    await standingBy(c);
    expect(await isLeader(c)).toBe(false);
    expect(await b.stop()).toBe(0);
    expect(b.logged('leader election: released the lease')).toHaveLength(1);
    await eventually('c leads', () => isLeader(c) || undefined, LEASE_MS * 5, 100);
    // No waiting for expiry: c found the Lease released (no holder), not b's lease run out.
    expect(await acquiredFrom(c)).toBeNull();
    await patchImc(ns, 'le', { spec: { dispatch: { replicas: 2 } } });
    await eventually('c reconciles', async () => (await deployments(ns)).get('le-dispatch').spec.replicas === 2 || undefined, 30_000);
  });
});
