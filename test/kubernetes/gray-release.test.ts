// Gray release by AppId on a real control plane: add a canary, promote it; add one, roll it back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canaryBucket, parseRoutingTable, trackFor } from '../../services/shared/routing-table.js';
import {
  apply,
  cleanupNamespace,
  componentNames,
  condition,
  dependencySecrets,
  deployments,
  eventually,
  getImc,
  imcluster,
  kubectl,
  kubectlJson,
  newNamespace,
  patchImc,
  startOperator,
  waitEventReasons,
  waitEvents,
  waitPhase,
  waitStatus,
} from './harness.js';

let ns: string;

beforeAll(async () => {
  ns = await newNamespace('gray');
  await dependencySecrets(ns);
  await startOperator({ namespace: ns });
});

afterAll(async () => {
  await cleanupNamespace(ns);
});

const routing = async (name: string) =>
  parseRoutingTable((await kubectlJson(['get', 'configmap', `${name}-routing`, '-n', ns])).data['routing.json']);
const env = (d: any) => Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const image = (d: any) => d.spec.template.spec.containers[0].image;

describe('gray release', () => {
  it('gray add → canary gates for the pools serving the chosen AppIds, canary logic, routing table, status of both tracks', async () => {
    await apply(ns, imcluster('g1'));
    await waitPhase(ns, 'g1', 'Ready');
    const stableBefore = await deployments(ns);

    await patchImc(ns, 'g1', { spec: { gray: { version: '1.1.0', appIds: ['acme'], gateReplicas: 1, logicReplicas: 1 } } });
    // Ready may first be written from a cache that does not hold the new canary Deployments yet:
    // wait for the status that counts them.
    const imc = await waitStatus(
      ns,
      'g1',
      'Ready, counting the canary Deployments',
      (x) => x.status.phase === 'Ready' && ['g1-gate-vip-canary', 'g1-logic-canary'].every((n) => componentNames(x).includes(n)),
    );
    const deps = await deployments(ns);
    // acme lives in pool vip: only vip gets canary gates
    expect([...deps.keys()].filter((n) => n.endsWith('-canary')).sort()).toEqual(['g1-gate-vip-canary', 'g1-logic-canary']);
    const canaryGate = deps.get('g1-gate-vip-canary');
    expect(image(canaryGate)).toBe('ghcr.io/imcloud/imcloud:1.1.0');
    expect(env(canaryGate)).toMatchObject({ IMCLOUD_GATE_POOL: 'vip', IMCLOUD_GATE_APP_IDS: 'acme,globex', IMCLOUD_GATE_TRACK: 'canary' });
    expect(env(deps.get('g1-logic-canary')).IMCLOUD_GATE_TRACK).toBe('canary');
    expect(image(deps.get('g1-logic-canary'))).toBe('ghcr.io/imcloud/imcloud:1.1.0');
    // the stable track is untouched
    for (const [name, d] of stableBefore) {
      expect(deps.get(name).metadata.generation, name).toBe(d.metadata.generation);
      expect(image(deps.get(name))).toBe('ghcr.io/imcloud/imcloud:1.0.0');
    }
    const table = await routing('g1');
    expect(table.canary).toEqual({ version: '1.1.0', appIds: ['acme'], percentage: 0 });
    expect(trackFor(table, 'acme')).toBe('canary');
    expect(trackFor(table, 'globex')).toBe('stable');
    expect(imc.status.version).toBe('1.0.0');
    expect(imc.status.canary).toEqual({ version: '1.1.0', phase: 'Active', appIds: ['acme'], percentage: 0, gatesReady: '1/1' });
    expect(imc.status.gatesReady).toBe('4/4');
    expect(imc.status.components.find((c: any) => c.name === 'g1-gate-vip-canary')).toMatchObject({
      track: 'canary',
      version: '1.1.0',
      pool: 'vip',
    });
    const row = (await kubectl(['get', 'imc', 'g1', '-n', ns, '--no-headers'])).trim().split(/\s+/);
    expect(row.slice(0, 5)).toEqual(['g1', 'Ready', '1.0.0', '1.1.0', '4/4']);
  });

  it('promote: the stable track rolls to the canary version, the canary keeps its AppIds until that is done, then goes', async () => {
    // Hold the stable rollout: new pods get a nodeSelector no node matches, so they stay Pending
    // (maxUnavailable 0 keeps the old ones). The canary Deployments are not re-applied while
    // promoting, so they stay Ready.
    await patchImc(ns, 'g1', { spec: { version: '1.1.0', gray: null, nodeSelector: { 'imcloud.dev/test-hold': 'yes' } } });
    const promoting = await eventually('Promoting', async () => {
      const x = await getImc(ns, 'g1');
      return x.status?.canary?.phase === 'Promoting' && x.status.observedGeneration === x.metadata.generation ? x : undefined;
    });
    expect(promoting.status.phase).toBe('Progressing');
    expect(condition(promoting, 'Progressing')).toMatchObject({ status: 'True', reason: 'Promoting' });
    expect(promoting.status.version).toBe('1.0.0'); // the stable track has not rolled out yet
    // Held: the Deployment controller has seen the stable gates' new template and started its
    // first new pod, which stays Pending.
    let held = await eventually('the stable rollout held at its first new pod', async () => {
      const d = await deployments(ns);
      const vip = d.get('g1-gate-vip');
      return image(vip) === 'ghcr.io/imcloud/imcloud:1.1.0' &&
        (vip.status?.observedGeneration ?? 0) >= vip.metadata.generation &&
        (vip.status?.updatedReplicas ?? 0) >= 1
        ? d
        : undefined;
    });
    expect([...held.keys()].filter((n) => n.endsWith('-canary')).sort()).toEqual(['g1-gate-vip-canary', 'g1-logic-canary']);
    expect(held.get('g1-gate-vip-canary').status.readyReplicas).toBe(1);
    expect(image(held.get('g1-gate-vip'))).toBe('ghcr.io/imcloud/imcloud:1.1.0');
    expect(held.get('g1-gate-vip').status.updatedReplicas).toBeLessThan(2);
    // …and acme is still routed to the canary meanwhile.
    expect((await routing('g1')).canary).toEqual({ version: '1.1.0', appIds: ['acme'], percentage: 0 });
    expect(trackFor(await routing('g1'), 'acme')).toBe('canary');

    // Let the rollout finish.
    await patchImc(ns, 'g1', { spec: { nodeSelector: null } });
    // The status that ends the promotion may still count the canary Deployments it deletes (the
    // cache has not seen them go): wait for the one that no longer lists them.
    const imc = await waitStatus(
      ns,
      'g1',
      'promotion complete, the canary Deployments no longer counted',
      (x) =>
        x.status.phase === 'Ready' &&
        !x.status.canary &&
        x.status.version === '1.1.0' &&
        !componentNames(x).some((n) => n.endsWith('-canary')),
    );
    const deps = await eventually('canary deployments removed', async () => {
      const d = await deployments(ns);
      return [...d.keys()].some((n) => n.endsWith('-canary')) ? undefined : d;
    });
    held = deps;
    for (const [name, d] of held) {
      expect(image(d), name).toBe('ghcr.io/imcloud/imcloud:1.1.0');
      expect(env(d).IMCLOUD_GATE_TRACK ?? 'stable', name).toBe('stable');
    }
    expect((await routing('g1')).canary).toBeUndefined();
    expect((await routing('g1')).stable.version).toBe('1.1.0');
    expect(imc.status.gatesReady).toBe('3/3');
    await waitEventReasons(ns, 'g1', 'CanaryActive', 'PromotionStarted', 'Promoted');
  });

  it('gray add → rollback: the canary AppIds return to the stable version at once and the canary goes', async () => {
    await apply(ns, imcluster('g2'));
    await waitPhase(ns, 'g2', 'Ready');
    // A percentage canary: the default pool always gets canary gates; vip only if acme or globex hash under 30.
    await patchImc(ns, 'g2', { spec: { gray: { version: '2.0.0-rc.1', percentage: 30 } } });
    await waitPhase(ns, 'g2', 'Ready');
    let deps = await deployments(ns);
    const expected = [
      'g2-gate-main-canary',
      'g2-logic-canary',
      ...(['acme', 'globex'].some((a) => canaryBucket(a) < 30) ? ['g2-gate-vip-canary'] : []),
    ].sort();
    expect([...deps.keys()].filter((n) => n.startsWith('g2-') && n.endsWith('-canary')).sort()).toEqual(expected);
    expect((await routing('g2')).canary).toEqual({ version: '2.0.0-rc.1', appIds: [], percentage: 30 });
    const stableGenerations = new Map(
      [...deps].filter(([n]) => n.startsWith('g2-') && !n.endsWith('-canary')).map(([n, d]) => [n, d.metadata.generation]),
    );

    await patchImc(ns, 'g2', { spec: { gray: null } });
    await eventually('canary gone after rollback', async () => {
      const d = await deployments(ns);
      return [...d.keys()].some((n) => n.startsWith('g2-') && n.endsWith('-canary')) ? undefined : true;
    });
    const imc = await waitPhase(ns, 'g2', 'Ready');
    expect(imc.status.canary).toBeUndefined();
    expect(imc.status.version).toBe('1.0.0');
    expect((await routing('g2')).canary).toBeUndefined();
    deps = await deployments(ns);
    // rollback does not touch the stable track
    for (const [name, gen] of stableGenerations) expect(deps.get(name).metadata.generation, name).toBe(gen);
    await waitEvents(ns, 'g2', 'RolledBack for 2.0.0-rc.1', (list) =>
      list.some((e) => e.reason === 'RolledBack' && e.message.includes('2.0.0-rc.1')),
    );
  });
});
