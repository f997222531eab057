// The real node of real-node.ts: it comes up Ready, runs an image built here (a static Go HTTP
// server packed as an OCI tar by oci.ts) as a 2-replica Deployment, a ClusterIP Service
// balances across both pods for a client inside the node's namespace, and stop() leaves no
// process, mount, cgroup or namespace behind.

import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, nodeLeftovers, packBinaryImage, type RealNode, startNode } from './real-node.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const IMAGE = 'imcloud.local/echo:1';

const MANIFESTS = `
apiVersion: apps/v1
kind: Deployment
metadata: { name: echo }
spec:
  replicas: 2
  selector: { matchLabels: { app: echo } }
  template:
    metadata: { labels: { app: echo } }
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: echo
        image: ${IMAGE}
        imagePullPolicy: Never
        ports: [{ containerPort: 8080 }]
        readinessProbe:
          httpGet: { path: /healthz, port: 8080 }
          periodSeconds: 1
        resources:
          limits: { memory: 64Mi }
---
apiVersion: v1
kind: Service
metadata: { name: echo }
spec:
  selector: { app: echo }
  ports: [{ port: 80, targetPort: 8080 }]
`;

/** A client inside the node's namespace: N GETs on a fresh connection each, answers counted. */
const CLIENT = `
const [url, n] = process.argv.slice(1);
const counts = {};
(async () => {
  for (let i = 0; i < Number(n); i++) {
    const res = await fetch(url, { headers: { connection: 'close' } });
    const host = (await res.text()).trim();
    counts[host] = (counts[host] ?? 0) + 1;
  }
  console.log(JSON.stringify(counts));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('a real Kubernetes node (kubelet + containerd + runc in a private namespace)', () => {
  let dir: string;
  let node: RealNode | undefined;
  let bringUpMs = 0;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'imcloud-real-node-'));
    const started = Date.now();
    node = await startNode({ dir: path.join(dir, 'node') });
    bringUpMs = Date.now() - started;
  }, 1_200_000);

  afterAll(async () => {
    await node?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('comes up Ready with a real kubelet', async () => {
    const n = JSON.parse(await node!.kubectlRun(['get', 'node', node!.nodeName, '-o', 'json']));
    expect(n.status.conditions.find((c: { type: string }) => c.type === 'Ready').status).toBe('True');
    expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:/);
    expect(n.status.addresses).toContainEqual({ type: 'InternalIP', address: node!.nodeIP });
    console.log(`real node: bring-up ${(bringUpMs / 1000).toFixed(1)} s`);
  });

  it('runs an imported OCI image as a 2-replica Deployment behind a balanced ClusterIP Service', async () => {
    const binary = await buildGoProgram(path.join(here, 'images', 'echo', 'main.go'), 'imcloud-echo');
    const tar = await packBinaryImage({ binary, image: IMAGE, exposedPorts: [8080] });
    await node!.importImage(tar);
    expect(
      await node!.exec('ctr', ['--address', path.join(node!.dir, 'containerd/containerd.sock'), '-n', 'k8s.io', 'images', 'ls', '-q']),
    ).toContain(IMAGE);

    const manifest = path.join(dir, 'echo.yaml');
    await fs.writeFile(manifest, MANIFESTS);
    await node!.kubectlRun(['apply', '-f', manifest]);
    await node!.kubectlRun(['rollout', 'status', 'deployment/echo', '--timeout=120s']);
    const deployment = JSON.parse(await node!.kubectlRun(['get', 'deployment', 'echo', '-o', 'json']));
    expect(deployment.status.readyReplicas).toBe(2);

    const pods = JSON.parse(await node!.kubectlRun(['get', 'pods', '-l', 'app=echo', '-o', 'json'])).items;
    const names = pods.map((p: { metadata: { name: string } }) => p.metadata.name).sort();
    expect(names).toHaveLength(2);
    // Containers really run: their logs are reachable through the apiserver → kubelet path.
    await node!.kubectlRun(['logs', names[0]]);

    const clusterIP = JSON.parse(await node!.kubectlRun(['get', 'service', 'echo', '-o', 'json'])).spec.clusterIP;
    expect(clusterIP).toMatch(/^10\.96\./);
    // kube-proxy programs the Service shortly after the endpoints appear: retry briefly.
    let counts: Record<string, number> = {};
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        counts = JSON.parse(await node!.exec(process.execPath, ['-e', CLIENT, `http://${clusterIP}/`, '40'], { timeoutMs: 30_000 }));
        if (Object.keys(counts).length === 2) break;
      } catch {
        // not programmed yet
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(`real node: service ${clusterIP} answers ${JSON.stringify(counts)}`);
    expect(Object.keys(counts).sort()).toEqual(names);
    for (const name of names) expect(counts[name]).toBeGreaterThan(0);
  });

  it('stop() leaves no process, mount, cgroup or namespace behind', async () => {
    const started = Date.now();
    await node!.stop();
    console.log(`real node: tear-down ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(await nodeLeftovers(node!)).toEqual([]);
  });
});
