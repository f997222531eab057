// Vitest globalSetup of the `node` project: the whole platform on a real Kubernetes node
// (test/infra/real-node.ts; issue 25). In parallel: the imcloud image built without Docker
// (scripts/build-image.ts, two tags of one build: the package version and a canary version), the
// real node started, helm built; then the image imported into the node's containerd, and Redis,
// RabbitMQ, FerretDB (on PostgreSQL) and MinIO started INSIDE the node's network namespace on the
// node's address, where the pods reach them and the host cannot (ADR 0034: they are the
// ImCluster's external dependencies, through Secrets). The test files get everything through
// process.env (inherited by the workers): see the IMCLOUD_NODE_* names below.
//
// Tear-down (also after a failed set-up): the servers, then the node (no process, mount, cgroup
// or namespace left), then the run directory.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildImcloudImage, DEFAULT_REPOSITORY } from '../../scripts/build-image.js';
import { log, seconds } from '../infra/base.js';
import { ensureHelm } from '../infra/index.js';
import { type NodeServers, startServersInNode } from '../infra/node-servers.js';
import { type RealNode, startNode } from '../infra/real-node.js';

/** The canary version of the same build: the next patch, e.g. 0.1.0 → 0.1.1-canary. */
export function canaryVersion(version: string): string {
  const [major, minor, patch] = version.split(/[.-]/).map(Number);
  return `${major}.${minor}.${patch + 1}-canary`;
}

export default async function setup(): Promise<() => Promise<void>> {
  const started = Date.now();
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'imcloud-node-e2e-'));
  const keep = process.env.IMCLOUD_KEEP_RUN === '1';
  let node: RealNode | undefined;
  let servers: NodeServers | undefined;
  const teardown = async () => {
    const t = Date.now();
    await servers?.stop().catch((e: Error) => log(`node e2e: stopping the servers: ${e.message}`));
    await node?.stop();
    if (!keep) await fs.rm(runDir, { recursive: true, force: true });
    log(`node e2e: torn down in ${seconds(Date.now() - t)}${keep ? ` (kept ${runDir})` : ''}`);
  };
  try {
    const pkg = JSON.parse(await fs.readFile(path.join(process.cwd(), 'package.json'), 'utf8')) as { version: string };
    const canary = canaryVersion(pkg.version);
    const timed = async <T>(what: string, p: Promise<T>): Promise<T> => {
      const t = Date.now();
      const value = await p;
      log(`node e2e: ${what} in ${seconds(Date.now() - t)}`);
      return value;
    };
    const [image, n, helm] = await Promise.all([
      timed(
        `image ${DEFAULT_REPOSITORY}:${pkg.version} + :${canary}`,
        buildImcloudImage({ outDir: path.join(runDir, 'image'), tags: [canary], log: (m) => log(`image: ${m}`) }),
      ),
      timed(
        'real node up',
        startNode({ dir: path.join(runDir, 'node') }).then((x) => (node = x)),
      ),
      ensureHelm(),
    ]);
    await timed('image imported', n.importImage(image.file));
    servers = await timed('servers in the node namespace', startServersInNode(n, ['redis', 'rabbitmq', 'mongodb', 'minio']));
    Object.assign(process.env, {
      KUBECONFIG: n.kubeconfig,
      IMCLOUD_KUBECONFIG: n.kubeconfig,
      IMCLOUD_KUBECTL: n.kubectl,
      IMCLOUD_HELM: helm,
      IMCLOUD_NODE_PID: String(n.holderPid),
      IMCLOUD_NODE_IP: n.nodeIP,
      IMCLOUD_NODE_DIR: n.dir,
      IMCLOUD_NODE_CGROUP: n.cgroupName,
      IMCLOUD_NODE_IMAGE_REPOSITORY: DEFAULT_REPOSITORY,
      IMCLOUD_NODE_IMAGE_DIGEST: image.digest,
      IMCLOUD_NODE_VERSION: pkg.version,
      IMCLOUD_NODE_CANARY_VERSION: canary,
      // The dependencies' addresses, for pods (through Secrets) and clients inside the namespace.
      ...Object.fromEntries(Object.entries(servers.env).map(([k, v]) => [k.replace(/^IMCLOUD_/, 'IMCLOUD_NODE_'), v])),
    });
    log(`node e2e: ready in ${seconds(Date.now() - started)}`);
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }
  return teardown;
}
