// Autoscaling from real load signals: gate load reports written to a real Redis (the hash the
// gates publish), store-queue backlog in a real RabbitMQ quorum queue; and a user's HPA respected.
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bus, redisKeys } from '../../services/shared/topology.js';
import {
  apply,
  cleanupNamespace,
  dependencySecrets,
  deployments,
  events,
  eventually,
  getImc,
  imcluster,
  kubectl,
  kubectlJson,
  newNamespace,
  type OperatorProcess,
  rabbitmqUrl,
  redisUrl,
  startOperator,
  waitPhase,
  waitStatus,
} from './harness.js';

let ns: string;
let redis: Redis;
let operator: OperatorProcess;
let channel: amqp.Channel;
let connection: amqp.ChannelModel;

const behaviour = { stabilizationWindowSeconds: 3, maxStepUp: 2, maxStepDown: 1 };

beforeAll(async () => {
  ns = await newNamespace('scaling');
  await dependencySecrets(ns);
  redis = new Redis(redisUrl());
  connection = await amqp.connect(rabbitmqUrl());
  channel = await connection.createChannel();
  await channel.assertQueue(bus.storeQueue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.purgeQueue(bus.storeQueue);
  operator = await startOperator({ namespace: ns });
  await apply(
    ns,
    imcluster('s1', {
      gate: {
        pools: [
          { name: 'vip', appIds: ['acme'], replicas: 1 },
          { name: 'main', default: true, autoscale: { minReplicas: 1, maxReplicas: 6, targetConnectionsPerPod: 100, ...behaviour } },
        ],
        drainSeconds: 5,
      },
      consumer: {
        autoscale: {
          minReplicas: 1,
          maxReplicas: 4,
          targetBacklogPerReplica: 50,
          stabilizationWindowSeconds: 3,
          maxStepUp: 4,
          maxStepDown: 2,
        },
      },
      logic: { replicas: 2 },
    }),
  );
  await waitPhase(ns, 's1', 'Ready');
});

afterAll(async () => {
  await cleanupNamespace(ns);
  await redis?.del(redisKeys.gates);
  redis?.disconnect();
  await channel?.purgeQueue(bus.storeQueue).catch(() => undefined);
  await connection?.close().catch(() => undefined);
});

async function gatePods(deployment: string): Promise<string[]> {
  const pods = await kubectlJson([
    'get',
    'pods',
    '-n',
    ns,
    '-l',
    `imcloud.dev/cluster=s1,imcloud.dev/pool=${deployment.replace('s1-gate-', '')},imcloud.dev/track=stable`,
  ]);
  return pods.items
    .filter((p: any) => !p.metadata.deletionTimestamp)
    .map((p: any) => p.metadata.name)
    .sort();
}

/** Writes load reports exactly as gates do (HSET imcloud:gates <pod name> <GateInfo JSON>). */
async function report(load: Record<string, number>, pool = 'main'): Promise<void> {
  await redis.del(redisKeys.gates);
  for (const [id, connections] of Object.entries(load)) {
    await redis.hset(
      redisKeys.gates,
      id,
      JSON.stringify({
        id,
        pool,
        appIds: [],
        track: 'stable',
        wsUrl: `ws://${id}:8080/ws`,
        tcpAddr: `${id}:8090`,
        connections,
        draining: false,
        reportedAt: Date.now(),
      }),
    );
  }
}

const replicas = async (name: string) => (await deployments(ns)).get(name)?.spec.replicas as number;
const scaledEvents = async () => (await events(ns, 's1')).filter((e) => e.reason === 'Scaled').map((e) => e.message);
/**
 * The Scaled Event messages once `ok` holds for them: the operator records an Event without
 * waiting for it, so the one for a step may land after the Deployment already shows the step.
 */
const scaledEventsWhen = (what: string, ok: (messages: string[]) => boolean) =>
  eventually(
    `Scaled events: ${what}`,
    async () => {
      const messages = await scaledEvents();
      return ok(messages) ? messages : undefined;
    },
    30_000,
  );

describe('autoscaling', () => {
  it('scales a gate pool up by connections per pod, at most maxStepUp pods per decision', async () => {
    const [first] = await gatePods('s1-gate-main');
    await report({ [first!]: 450 }); // 450 connections / 100 per pod → 5 pods
    await eventually('5 gate pods', async () => (await replicas('s1-gate-main')) === 5 || undefined, 30_000);
    const messages = await scaledEventsWhen('the step to 5 gate pods', (m) => m.some((x) => x.startsWith('s1-gate-main: 3 → 5 pods')));
    expect(messages.some((m) => m.startsWith('s1-gate-main: 1 → 3 pods') && m.includes('step limited to +2'))).toBe(true);
    expect(messages.some((m) => m.startsWith('s1-gate-main: 3 → 5 pods'))).toBe(true);
    // The status follows the Deployment: its next write shows the 5 pods (the test may read the
    // one written with the 1 → 3 decision first).
    const imc = await eventually(
      'the status shows 5 desired and 5 ready gate pods',
      async () => {
        const current = await waitPhase(ns, 's1', 'Ready');
        const gate = current.status.components.find((c: any) => c.name === 's1-gate-main');
        return gate?.desiredReplicas === 5 && gate?.readyReplicas === 5 ? current : undefined;
      },
      30_000,
    );
    expect(imc.status.connections).toBe(450);
    expect(imc.status.components.find((c: any) => c.name === 's1-gate-main')).toMatchObject({
      autoscaled: 'operator',
      desiredReplicas: 5,
      readyReplicas: 5,
    });
    expect(imc.status.lastScaleTime).toBeTruthy();
    // other clusters' and pools' gates are not counted; fixed pools are never autoscaled
    expect(await replicas('s1-gate-vip')).toBe(1);
    const row = (await kubectl(['get', 'imc', 's1', '-n', ns, '--no-headers'])).trim().split(/\s+/);
    expect(row[4]).toBe('450');
  });

  it('scales down only after the stabilisation window, one pod per decision, removing the least-loaded gates first', async () => {
    const pods = await eventually('5 live gate pods', async () => {
      const p = await gatePods('s1-gate-main');
      return p.length === 5 ? p : undefined;
    });
    const busiest = pods[2]!;
    await report(Object.fromEntries(pods.map((p) => [p, p === busiest ? 60 : 0]))); // 60 connections → 1 pod
    // The steps may follow each other faster than a poll of the Deployment sees them: the Scaled
    // Events record each one. (When the first may come, after a whole stabilisation window, is
    // unit-tested with a clock in operator/scaling.test.ts; here the Event names the window.)
    await eventually('first scale-down', async () => (await replicas('s1-gate-main')) < 5 || undefined, 30_000, 100);
    const first = await scaledEventsWhen('the first step down', (m) => m.some((x) => x.startsWith('s1-gate-main: 5 → ')));
    expect(first.filter((x) => x.startsWith('s1-gate-main: 5 → '))).toEqual([
      's1-gate-main: 5 → 4 pods (load 60 needs 1 pods over the last 3s (step limited to -1))',
    ]);
    // Before shrinking, the operator set pod-deletion-cost from each gate's connections.
    const costs = Object.fromEntries(
      (await kubectlJson(['get', 'pods', '-n', ns, '-l', 'imcloud.dev/cluster=s1,imcloud.dev/pool=main'])).items.map((p: any) => [
        p.metadata.name,
        p.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'],
      ]),
    );
    expect(costs[busiest]).toBe('60');
    await eventually('down to 1 pod', async () => (await replicas('s1-gate-main')) === 1 || undefined, 30_000);
    const down = (messages: string[]) =>
      messages.filter(
        (m) =>
          / → \d pods/.test(m) &&
          m.startsWith('s1-gate-main: ') &&
          /: (\d) → (\d)/
            .exec(m)!
            .slice(1)
            .map(Number)
            .reduce((a, b) => a - b) > 0,
      );
    const steps = down(await scaledEventsWhen('the step to 1 pod', (m) => m.some((x) => x.startsWith('s1-gate-main: 2 → 1 pods'))));
    expect(
      steps
        .map((m) => /: (\d → \d)/.exec(m)![1])
        .sort()
        .reverse(),
    ).toEqual(['5 → 4', '4 → 3', '3 → 2', '2 → 1']); // one pod per decision
    // The ReplicaSet controller honoured the deletion cost: the busiest gate is the one left.
    await eventually(
      'only the busiest pod is left',
      async () => {
        const left = await gatePods('s1-gate-main');
        return left.length === 1 && left[0] === busiest ? true : undefined;
      },
      30_000,
    );
  });

  it('scales consumers by the backlog of the real imcloud.store quorum queue, and back down when it drains', async () => {
    for (let i = 0; i < 180; i++) channel.sendToQueue(bus.storeQueue, Buffer.from(`m${i}`), { persistent: true });
    await eventually('backlog visible', async () => (await channel.checkQueue(bus.storeQueue)).messageCount === 180 || undefined);
    await eventually('4 consumers for 180 messages at 50 each', async () => (await replicas('s1-consumer')) === 4 || undefined, 30_000);
    await channel.purgeQueue(bus.storeQueue);
    await eventually('back to 1 consumer', async () => (await replicas('s1-consumer')) === 1 || undefined, 30_000);
    const messages = (
      await scaledEventsWhen("the consumers' last step down", (m) => m.some((x) => /^s1-consumer: \d → 1 pods/.test(x)))
    ).filter((m) => m.startsWith('s1-consumer: '));
    // The operator may sample the queue while the 180 are still arriving, and then it gets to
    // 4 pods in two decisions; the one that reaches 4 has seen the whole backlog.
    expect(messages.filter((m) => /^s1-consumer: [1-3] → 4 pods \(load 180 needs 4 pods at 50 per pod\)$/.test(m))).toHaveLength(1);
    expect(messages.some((m) => m.startsWith('s1-consumer: 4 → 2 pods'))).toBe(true); // maxStepDown 2
    expect(
      await operator.metric('imcloud_operator_scale_decisions_total', { component: 'consumer', direction: 'up' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('leaves alone a Deployment that a HorizontalPodAutoscaler targets, and takes it back when the HPA goes', async () => {
    expect(await replicas('s1-logic')).toBe(2);
    await apply(ns, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'logic' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 's1-logic' },
        minReplicas: 2,
        maxReplicas: 10,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    });
    await eventually(
      'status says hpa',
      async () => (await getImc(ns, 's1')).status.components.find((c: any) => c.name === 's1-logic')?.autoscaled === 'hpa' || undefined,
    );
    // The operator handed spec.replicas over without resetting it…
    const owners = async () =>
      ((await kubectlJson(['get', 'deployment', 's1-logic', '-n', ns, '--show-managed-fields'])).metadata.managedFields as any[])
        .filter((m) => m.fieldsV1?.['f:spec']?.['f:replicas'])
        .map((m) => m.manager);
    await eventually('imcloud-operator released spec.replicas', async () => !(await owners()).includes('imcloud-operator') || undefined);
    expect(await replicas('s1-logic')).toBe(2);
    // …and does not fight what the HPA (here: a scale through the same subresource) decides.
    await kubectl(['scale', 'deployment', 's1-logic', '-n', ns, '--replicas=4']);
    await kubectl(['annotate', 'imc', 's1', '-n', ns, 'nudge=hpa']); // force a reconcile
    // A status that shows 4 desired pods was written by a reconcile that saw the scale; had it
    // reset spec.replicas, its apply's answer (which the status is computed from) would say 2.
    await waitStatus(ns, 's1', 's1-logic at 4 desired and ready pods', (x) => {
      const logic = x.status.components.find((c: any) => c.name === 's1-logic');
      return logic?.desiredReplicas === 4 && logic?.readyReplicas === 4;
    });
    expect(await replicas('s1-logic')).toBe(4);
    expect((await deployments(ns)).get('s1-logic').status.readyReplicas).toBe(4);

    await kubectl(['delete', 'hpa', 'logic', '-n', ns]);
    await eventually('operator takes replicas back', async () => (await replicas('s1-logic')) === 2 || undefined, 30_000);
    await eventually(
      'status no longer says hpa',
      async () => (await getImc(ns, 's1')).status.components.find((c: any) => c.name === 's1-logic')?.autoscaled === undefined || undefined,
    );
  });
});
