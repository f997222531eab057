// Two operator processes on one Lease: only the leader reconciles; kill -9 it and the other takes
// over within the lease duration (plus at most the retry periods of the two sides); SIGTERM hands
// the Lease over at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apply, cleanupNamespace, dependencySecrets, deployments, eventually, imcluster, kubectlJson, newNamespace, patchImc, startOperator,
  waitPhase, type OperatorProcess,
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

describe('leader election', () => {
  let a: OperatorProcess;
  let b: OperatorProcess;

  it('two operators: exactly one holds the Lease and only it reconciles', async () => {
    a = await startOperator({ namespace: ns, id: 'operator-a' });
    await eventually('a leads', () => isLeader(a) || undefined);
    b = await startOperator({ namespace: ns, id: 'operator-b' });
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS));
    expect(await isLeader(b)).toBe(false);
    expect((await lease()).spec.holderIdentity).toBe('operator-a');
    // A standby is ready (it waits for the Lease), so a two-replica Deployment is fully available.
    expect((await fetch(`http://127.0.0.1:${b.port}/readyz`)).status).toBe(200);

    await apply(ns, imcluster('le'));
    await waitPhase(ns, 'le', 'Ready');
    expect(await reconciles(a)).toBeGreaterThan(0);
    expect(await reconciles(b)).toBe(0);
    expect(b.logs.some((l) => l.includes('another operator leads; standing by'))).toBe(true);
  });

  it('kill -9 the leader: the standby takes over within the lease duration and reconciles', async () => {
    const before = await lease();
    await a.kill();
    const killedAt = Date.now();
    await eventually('b leads', () => isLeader(b) || undefined, LEASE_MS * 3, 100);
    const takeover = Date.now() - killedAt;
    // b can act only once the Lease (renewed at most RETRY_MS before the kill, and observed by b
    // at most RETRY_MS after that renewal) has gone LEASE_MS unrenewed, at b's next retry.
    expect(takeover).toBeLessThanOrEqual(LEASE_MS + 2 * RETRY_MS + 500);
    expect(takeover).toBeGreaterThanOrEqual(LEASE_MS - 2 * RETRY_MS);
    const after = await lease();
    expect(after.spec.holderIdentity).toBe('operator-b');
    expect(after.spec.leaseTransitions).toBe((before.spec.leaseTransitions ?? 0) + 1);
    console.log(`leader failover after kill -9: ${takeover} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);

    await patchImc(ns, 'le', { spec: { dispatch: { replicas: 3 } } });
    await eventually('b reconciles the change', async () => (await deployments(ns)).get('le-dispatch').spec.replicas === 3 || undefined, 30_000);
    expect(await reconciles(b)).toBeGreaterThan(0);
  });

  it('SIGTERM: the leader finishes, releases the Lease, exits 0, and a standby takes over at once', async () => {
    const c = await startOperator({ namespace: ns, id: 'operator-c' });
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS));
    expect(await isLeader(c)).toBe(false);
    const t0 = Date.now();
    expect(await b.stop()).toBe(0);
    expect(b.logs.some((l) => l.includes('leader election: released the lease'))).toBe(true);
    await eventually('c leads', () => isLeader(c) || undefined, LEASE_MS * 2, 100);
    expect(Date.now() - t0).toBeLessThan(LEASE_MS); // no waiting for expiry
    await patchImc(ns, 'le', { spec: { dispatch: { replicas: 2 } } });
    await eventually('c reconciles', async () => (await deployments(ns)).get('le-dispatch').spec.replicas === 2 || undefined, 30_000);
  });
});
