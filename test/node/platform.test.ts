// The README's "Deploy on Kubernetes", end to end on a real node (issue 25): `helm install` the
// chart (the operator as real pods with leader election, the image built here and imported, never
// pulled), the dependency Secrets (Redis, RabbitMQ, FerretDB, MinIO inside the node's namespace:
// ADR 0034), `kubectl apply` the README's ImCluster (a vip pool for one AppId and the default
// pool), Ready; every Deployment's pods run the expected image and version. Then chats through
// the cluster's own Services from a client INSIDE the node's namespace (test/node/client.ts):
// admin Service → app and tokens, dispatch Service → a gate of the right pool, alice → bob, and
// offline sync (bob away, 3 sent, bob back on the same device syncs them in order).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { env, helm, kubectl, kubectlJson, ROOT, waitStatus } from '../kubernetes/harness.js';
import { type ChatResult, diagnostics, readmeImCluster, runChatClient, serviceAddress } from './node-harness.js';

const OPERATOR_NS = 'imcloud-system';
const NS = 'im';
const CLUSTER = 'chat';
const READY_MS = 900_000;

const repository = () => env('IMCLOUD_NODE_IMAGE_REPOSITORY');
const version = () => env('IMCLOUD_NODE_VERSION');

/**
 * The README's ImCluster, with what this node needs: the image built here (spec.version is the
 * package version, never pulled), and sizes for 2 cores (one pod per role and pool; small CPU
 * requests, so that surges and canaries fit on the node). The shape stays the README's: the vip
 * pool for one AppId, the autoscaled default pool, the file role, four external dependencies.
 */
function imcluster(): any {
  const imc = readmeImCluster();
  const small = { requests: { cpu: '10m', memory: '64Mi' } };
  imc.spec.version = version();
  imc.spec.image = repository();
  imc.spec.imagePullPolicy = 'Never';
  const [vip, main] = imc.spec.gate.pools;
  vip.replicas = 1;
  main.autoscale.minReplicas = 1;
  main.autoscale.maxReplicas = 3;
  for (const pool of imc.spec.gate.pools) pool.resources = small;
  imc.spec.gate.drainSeconds = 5;
  imc.spec.file = { replicas: 1, resources: { requests: { cpu: '10m', memory: '128Mi' } } };
  for (const role of ['logic', 'consumer', 'dispatch', 'admin']) imc.spec[role] = { replicas: 1, resources: small };
  return imc;
}

let vipAppId = '';

describe('the platform on a real Kubernetes node: helm install, the README ImCluster, chat through its Services', () => {
  let failed = false;
  let adminToken = '';
  let dispatchUrl = '';
  let adminUrl = '';

  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      failed = true;
      console.log(`node e2e: ${what} failed; state of the cluster:\n${await diagnostics(NS, OPERATOR_NS)}`);
      throw err;
    }
  };

  beforeAll(async () => {
    const t = Date.now();
    await guard('helm install', () =>
      helm(
        [
          'install',
          'imcloud',
          `${ROOT}/charts/imcloud`,
          '-n',
          OPERATOR_NS,
          '--create-namespace',
          '--set',
          `image.repository=${repository()}`,
          '--set',
          `image.tag=${version()}`,
          '--set',
          'image.pullPolicy=Never',
          '--wait',
          '--timeout',
          '10m',
        ],
        660_000,
      ),
    );
    console.log(`node e2e: helm install (2 operator pods Ready) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }, READY_MS);

  afterAll(async () => {
    if (failed) return; // the node goes away with the run; keep nothing half-deleted to confuse the logs
    await kubectl(['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
  });

  it('runs the operator as real pods, one of them leading', async () => {
    const pods = (await kubectlJson(['-n', OPERATOR_NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=operator'])).items;
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.spec.containers[0].image).toBe(`${repository()}:${version()}`);
      expect(p.spec.containers[0].imagePullPolicy).toBe('Never');
      expect(p.status.containerStatuses[0].ready).toBe(true);
    }
    const leases = (await kubectlJson(['-n', OPERATOR_NS, 'get', 'leases'])).items;
    const holders = leases.map((l: any) => l.spec.holderIdentity).filter(Boolean);
    console.log(`node e2e: operator pods ${pods.map((p: any) => p.metadata.name).join(', ')}; lease holder ${holders.join(', ')}`);
    expect(holders).toHaveLength(1);
    expect(pods.map((p: any) => p.metadata.name)).toContain(holders[0]);
  });

  it('brings the README ImCluster to Ready on external dependencies, every pod on the built image', async () => {
    const t = Date.now();
    await kubectl(['create', 'namespace', NS]);
    const secret = (name: string, data: Record<string, string>) =>
      kubectl(['-n', NS, 'create', 'secret', 'generic', name, ...Object.entries(data).map(([k, v]) => `--from-literal=${k}=${v}`)]);
    await secret('im-redis', { url: env('IMCLOUD_NODE_REDIS_URL') });
    await secret('im-rabbitmq', { url: env('IMCLOUD_NODE_RABBITMQ_URL') });
    await secret('im-mongodb', { url: env('IMCLOUD_NODE_MONGODB_URL') });
    await secret('im-minio', {
      endPoint: env('IMCLOUD_NODE_MINIO_END_POINT'),
      port: env('IMCLOUD_NODE_MINIO_PORT'),
      accessKey: env('IMCLOUD_NODE_MINIO_ACCESS_KEY'),
      secretKey: env('IMCLOUD_NODE_MINIO_SECRET_KEY'),
      useSSL: 'false',
    });
    const imc = imcluster();
    vipAppId = imc.spec.gate.pools[0].appIds[0];
    await kubectl(['-n', NS, 'apply', '-f', '-'], stringify(imc));
    const ready = await guard('waiting for Ready', () =>
      waitStatus(NS, CLUSTER, 'phase Ready', (x) => x.status?.phase === 'Ready', READY_MS),
    );
    console.log(
      `node e2e: ImCluster ${CLUSTER} Ready in ${((Date.now() - t) / 1000).toFixed(1)} s (gates ${JSON.stringify(ready.status.gates ?? ready.status.pools ?? '')})`,
    );

    const deployments = (await kubectlJson(['-n', NS, 'get', 'deployments'])).items;
    const pods = (await kubectlJson(['-n', NS, 'get', 'pods'])).items.filter((p: any) => !p.metadata.deletionTimestamp);
    const summary: string[] = [];
    for (const d of deployments) {
      const selector = d.spec.selector.matchLabels as Record<string, string>;
      const own = pods.filter((p: any) => Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v));
      expect(own.length, `pods of ${d.metadata.name}`).toBe(d.spec.replicas);
      for (const p of own) {
        const c = p.spec.containers[0];
        expect(c.image, `${p.metadata.name}'s image`).toBe(`${repository()}:${version()}`);
        expect(c.imagePullPolicy).toBe('Never');
        expect(p.metadata.labels['app.kubernetes.io/version'], `${p.metadata.name}'s version label`).toBe(version());
        expect(p.status.phase).toBe('Running');
        expect(p.status.containerStatuses[0].ready, `${p.metadata.name} ready`).toBe(true);
      }
      summary.push(`${d.metadata.name}=${own.length}`);
    }
    console.log(`node e2e: deployments ${summary.join(' ')}, all on ${repository()}:${version()}`);
    expect(deployments.map((d: any) => d.metadata.name)).toEqual(
      expect.arrayContaining([`${CLUSTER}-gate-vip`, `${CLUSTER}-gate-main`, `${CLUSTER}-dispatch`, `${CLUSTER}-admin`, `${CLUSTER}-file`]),
    );

    adminToken = Buffer.from((await kubectlJson(['-n', NS, 'get', 'secret', `${CLUSTER}-admin-token`])).data.token, 'base64').toString();
    dispatchUrl = `http://${await serviceAddress(NS, `${CLUSTER}-dispatch`, 8080)}/v1/dispatch`;
    adminUrl = `http://${await serviceAddress(NS, `${CLUSTER}-admin`, 9090)}`;
    console.log(`node e2e: dispatch ${dispatchUrl}, admin ${adminUrl} (inside the node only)`);
  });

  interface GatePod {
    pod: string;
    pool: string;
    track: string;
    image: string;
    version: string;
  }
  const gatePods = async (): Promise<Map<string, GatePod>> => {
    const pods = (await kubectlJson(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=gate'])).items;
    return new Map(
      pods.map((p: any) => [
        p.status.podIP,
        {
          pod: p.metadata.name,
          pool: p.metadata.labels['imcloud.dev/pool'],
          track: p.metadata.labels['imcloud.dev/track'],
          image: p.spec.containers[0].image,
          version: p.metadata.labels['app.kubernetes.io/version'],
        },
      ]),
    );
  };
  const gatesOf = async (result: Pick<ChatResult, 'gates'>) => {
    const byIp = await gatePods();
    return Object.entries(result.gates).flatMap(([user, urls]) =>
      urls.map((url) => ({ user, url, gate: byIp.get(new URL(url).hostname) })),
    );
  };

  let chats = 0;
  const chatOn = async (appId: string, expected: { pool: string; track?: string; version?: string }): Promise<ChatResult> => {
    expect(adminToken, 'the ImCluster is Ready (previous test)').not.toBe('');
    const t = Date.now();
    const run = ++chats;
    const result = await guard(`chat as ${appId}`, () =>
      runChatClient({ dispatchUrl, adminUrl, adminToken, appId, tag: `${appId} #${run}`, userSuffix: `-${run}` }),
    );
    console.log(`node e2e: ${appId}: sent ${JSON.stringify(result.sent)}`);
    console.log(
      `node e2e: ${appId}: bob received online ${JSON.stringify(result.receivedOnline)}, after sync ${JSON.stringify(result.receivedAfterSync)} (seqs ${result.syncedSeqs.join(',')})`,
    );
    expect(result.receivedOnline).toEqual([result.sent[0]]);
    // Back on the same device and cursors, bob syncs exactly what he missed, in order.
    expect(result.receivedAfterSync).toEqual(result.sent.slice(1));
    expect(result.syncedSeqs).toEqual(result.offlineSeqs);
    expect(result.offlineSeqs).toEqual([...result.offlineSeqs].sort((a, b) => a - b));

    const gates = await gatesOf(result);
    expect(new Set(gates.map((g) => g.user))).toEqual(new Set(['alice', 'bob']));
    const want = expected.version ?? version();
    for (const { user, url, gate } of gates) {
      console.log(
        `node e2e: ${appId}: dispatch sent ${user} to ${url} = ${gate?.pod} (pool ${gate?.pool}, track ${gate?.track}, ${gate?.image})`,
      );
      expect(gate?.pool, `${user}'s gate ${url}`).toBe(expected.pool);
      expect(gate?.track, `${user}'s gate ${url}`).toBe(expected.track ?? 'stable');
      expect(gate?.image).toBe(`${repository()}:${want}`);
      expect(gate?.version).toBe(want);
    }
    console.log(`node e2e: ${appId}: chat + offline sync in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    return result;
  };

  it('chats through dispatch → the vip pool for its AppId: single chat and offline sync', async () => {
    await chatOn(vipAppId, { pool: 'vip' });
  });

  it('chats through dispatch → the default pool for any other AppId: single chat and offline sync', async () => {
    await chatOn('node-e2e-default', { pool: 'main' });
  });

  it('gray release: spec.gray for the vip AppId → its new connections land on canary gates running the canary tag; others stay stable', async () => {
    expect(adminToken, 'the ImCluster is Ready').not.toBe('');
    const canary = env('IMCLOUD_NODE_CANARY_VERSION');
    const t = Date.now();
    const gray = { spec: { gray: { version: canary, appIds: [vipAppId], gateReplicas: 1, logicReplicas: 1 } } };
    await kubectl(['-n', NS, 'patch', 'imc', CLUSTER, '--type=merge', '-p', JSON.stringify(gray)]);
    await guard('waiting for the canary', () =>
      waitStatus(
        NS,
        CLUSTER,
        'canary Active, its gates ready',
        (x) => x.status?.phase === 'Ready' && x.status?.canary?.phase === 'Active' && x.status.canary.gatesReady === '1/1',
        READY_MS,
      ),
    );
    const deployments = (await kubectlJson(['-n', NS, 'get', 'deployments'])).items;
    const canaryDeployments = deployments.filter((d: any) => d.metadata.name.endsWith('-canary'));
    console.log(
      `node e2e: gray ${vipAppId} → ${canary}: ${canaryDeployments.map((d: any) => `${d.metadata.name}=${d.spec.template.spec.containers[0].image}`).join(' ')} Active in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );
    expect(canaryDeployments.map((d: any) => d.metadata.name).sort()).toEqual([`${CLUSTER}-gate-vip-canary`, `${CLUSTER}-logic-canary`]);
    for (const d of canaryDeployments) expect(d.spec.template.spec.containers[0].image).toBe(`${repository()}:${canary}`);

    // Dispatch reads the routing table from a mounted ConfigMap, which the kubelet refreshes
    // within about a minute: ask where the gray AppId goes until it is the canary.
    await guard('dispatch routing the gray AppId to the canary', async () => {
      const end = Date.now() + 180_000;
      for (;;) {
        const where = await runChatClient({ scenario: 'where', dispatchUrl, adminUrl, adminToken, appId: vipAppId });
        const gates = await gatesOf(where);
        if (gates.length && gates.every((g) => g.gate?.track === 'canary')) break;
        if (Date.now() > end) throw new Error(`dispatch still sends ${vipAppId} to ${JSON.stringify(gates)}`);
        await new Promise((r) => setTimeout(r, 3_000));
      }
      console.log(`node e2e: dispatch routes ${vipAppId} to the canary ${((Date.now() - t) / 1000).toFixed(1)} s after the patch`);
    });
    await chatOn(vipAppId, { pool: 'vip', track: 'canary', version: canary });
    await chatOn('node-e2e-other', { pool: 'main' });
  });
});
