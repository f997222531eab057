// A real Kubernetes control plane without containers, for the operator and
// chart tests: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// and kwok simulating one node. Deployments get ReplicaSets, Pods get
// scheduled and become Running/Ready (kwok writes their status), deletions
// complete — but no container ever runs.
//
// Kubernetes cannot be `go install`ed (its go.mod replaces k8s.io/* with
// ./staging), so the four commands are built in a wrapper module that maps
// every staging module to its published v0.X.Y twin.

import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { log, run, seconds } from './base.js';
import { ensureGoBinary, type GoRunner, goInstall, wrapperModule } from './build.js';
import { ensureDebPackages } from './install.js';
import { freePort, type ServerProcess, spawnServer } from './processes.js';
import { httpRequest, waitForReady } from './readiness.js';

export const KUBERNETES_VERSION = 'v1.37.2';
export const ETCD_VERSION = 'v3.7.3';
export const KWOK_VERSION = 'v0.8.0';

/** Staging modules (k8s.io/api, client-go, …) are published as v0.<minor>.<patch>. */
const STAGING_VERSION = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');
const [, KUBE_MAJOR, KUBE_MINOR] = /^v(\d+)\.(\d+)\./.exec(KUBERNETES_VERSION)!;

type KubeCommand = 'kube-apiserver' | 'kubectl' | 'kube-controller-manager' | 'kube-scheduler';

/** Rough cold-build times on 2 cores, for the progress messages. */
const KUBE_ESTIMATES: Record<KubeCommand, string> = {
  'kube-apiserver': '~3 min incl. downloads',
  kubectl: '~20 s',
  'kube-controller-manager': '~1 min',
  'kube-scheduler': '~15 s',
};

// ---------------------------------------------------------------------------
// Binaries

export function kubernetesWrapper(go: GoRunner): Promise<string> {
  return wrapperModule(`kubernetes-${KUBERNETES_VERSION}`, async (dir) => {
    await go(['mod', 'init', 'imcloud.local/kubernetes'], { cwd: dir });
    await go(['mod', 'edit', `-require=k8s.io/kubernetes@${KUBERNETES_VERSION}`], { cwd: dir });
    // Read kubernetes' own go.mod to learn which k8s.io modules live in ./staging.
    const info = JSON.parse(await go(['mod', 'download', '-json', `k8s.io/kubernetes@${KUBERNETES_VERSION}`], { cwd: dir }));
    const upstreamGoMod = await fs.readFile(path.join(info.Dir, 'go.mod'), 'utf8');
    const staged = [...upstreamGoMod.matchAll(/^\s*(?:replace\s+)?(k8s\.io\/\S+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]!);
    if (staged.length < 20) throw new Error(`infra: expected ~33 staging replaces in kubernetes' go.mod, found ${staged.length}`);
    await go(['mod', 'edit', ...staged.map((mod) => `-replace=${mod}=${mod}@${STAGING_VERSION}`)], { cwd: dir });
  });
}

export function kubeVersionLdflags(): string {
  const flags = ['-s', '-w'];
  // Both packages are read by different components (kubectl, /version, compatibility checks).
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`,
      `-X ${pkg}.gitMajor=${KUBE_MAJOR}`,
      `-X ${pkg}.gitMinor=${KUBE_MINOR}`,
      `-X ${pkg}.gitTreeState=clean`,
    );
  }
  return flags.join(' ');
}

function ensureKubeCommand(name: KubeCommand): Promise<string> {
  return ensureGoBinary({
    name,
    version: KUBERNETES_VERSION,
    estimate: KUBE_ESTIMATES[name],
    recipe: `wrapper module, staging replaced by ${STAGING_VERSION}; ${kubeVersionLdflags()}`,
    versionCheck:
      name === 'kubectl'
        ? { args: ['version', '--client'], expect: `Client Version: ${KUBERNETES_VERSION}` }
        : { args: ['--version'], expect: `Kubernetes ${KUBERNETES_VERSION}` },
    async build(out, go) {
      const dir = await kubernetesWrapper(go);
      await go(['build', '-mod=mod', '-trimpath', `-ldflags=${kubeVersionLdflags()}`, '-o', out, `k8s.io/kubernetes/cmd/${name}`], {
        cwd: dir,
      });
    },
  });
}

function ensureEtcd(): Promise<string> {
  return ensureGoBinary({
    name: 'etcd',
    version: ETCD_VERSION,
    estimate: '~20 s',
    recipe: 'wrapper module requiring go.etcd.io/etcd/server/v3; -trimpath -s -w',
    versionCheck: { args: ['--version'], expect: `etcd Version: ${ETCD_VERSION.slice(1)}` },
    async build(out, go) {
      const dir = await wrapperModule(`etcd-${ETCD_VERSION}`, async (d) => {
        await go(['mod', 'init', 'imcloud.local/etcd'], { cwd: d });
        await go(['mod', 'edit', `-require=go.etcd.io/etcd/server/v3@${ETCD_VERSION}`], { cwd: d });
      });
      await go(['build', '-mod=mod', '-trimpath', '-ldflags=-s -w', '-o', out, 'go.etcd.io/etcd/server/v3'], { cwd: dir });
    },
  });
}

function ensureKwok(): Promise<string> {
  return ensureGoBinary({
    name: 'kwok',
    version: KWOK_VERSION,
    estimate: '~45 s',
    recipe: 'go install sigs.k8s.io/kwok/cmd/kwok -trimpath -s -w',
    versionCheck: { args: ['--version'], expect: KWOK_VERSION.slice(1) },
    build: (out, go) => goInstall(go, `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`, out, ['-trimpath', '-ldflags=-s -w']),
  });
}

export interface KubernetesBinaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  scheduler: string;
  kubectl: string;
  kwok: string;
}

/** Builds (or finds in the cache) every binary of the control plane, one build at a time. */
export async function ensureKubernetes(): Promise<KubernetesBinaries> {
  // Called together, the builds queue on the machine-wide build lock in this order.
  const [apiserver, kubectl, controllerManager, scheduler, etcd, kwok] = await Promise.all([
    ensureKubeCommand('kube-apiserver'),
    ensureKubeCommand('kubectl'),
    ensureKubeCommand('kube-controller-manager'),
    ensureKubeCommand('kube-scheduler'),
    ensureEtcd(),
    ensureKwok(),
    ensureDebPackages(['openssl']),
  ]);
  return { etcd, apiserver, controllerManager, scheduler, kubectl, kwok };
}

// ---------------------------------------------------------------------------
// kwok stages: our own minimal set, since kwok ships none by default.

const NODE_NAME = 'imcloud-node-1';

const STAGES = `
# A node kwok manages becomes Ready, with room for many pods.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: imcloud-node-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - address: {{ NodeIP | Quote }}
        type: InternalIP
      - address: {{ NodeName | Quote }}
        type: Hostname
      allocatable:
        cpu: "32"
        memory: 128Gi
        pods: "1000"
      capacity:
        cpu: "32"
        memory: 128Gi
        pods: "1000"
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
        kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
        containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
        kernelVersion: {{ printf "kwok-%s" Version | Quote }}
        osImage: kwok
        bootID: ""
        machineID: ""
        systemUUID: ""
      phase: Running
---
# A scheduled pod that has no IP yet is "started": Running and Ready at once,
# with a running status per container (init containers completed, sidecars running).
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: imcloud-pod-running
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.podIP'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $hostIP := NodeIPWith .spec.nodeName }}
      {{ $podIP := PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodReadyToStartContainers
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ with .spec.initContainers }}
      initContainerStatuses:
      {{ range . }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq (or .restartPolicy "") "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        started: false
        state:
          terminated:
            exitCode: 0
            reason: Completed
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      {{ end }}
      hostIP: {{ $hostIP | Quote }}
      hostIPs:
      - ip: {{ $hostIP | Quote }}
      podIP: {{ $podIP | Quote }}
      podIPs:
      - ip: {{ $podIP | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
# Run-to-completion pods (Jobs, "helm test" hooks) succeed one second after they start.
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: imcloud-pod-succeeded
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Running']
    - key: '.spec.restartPolicy'
      operator: 'In'
      values: ['Never', 'OnFailure']
  delay:
    durationMilliseconds: 1000
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        reason: PodCompleted
        status: "False"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        reason: PodCompleted
        status: "False"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        started: false
        restartCount: 0
        state:
          terminated:
            exitCode: 0
            reason: Completed
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
---
# A pod being deleted goes away (there is no kubelet to confirm the deletion).
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: imcloud-pod-deleted
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    delete: true
`;

// ---------------------------------------------------------------------------
// Certificates

export interface Certificates {
  caCert: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

/** kube-apiserver's serving certificate, client CA and service-account keys, for both control planes (this one and the real node's). */
export function apiserverCertificateArgs(certs: Certificates): string[] {
  return [
    `--tls-cert-file=${certs.servingCert}`,
    `--tls-private-key-file=${certs.servingKey}`,
    `--client-ca-file=${certs.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${certs.saPub}`,
    `--service-account-signing-key-file=${certs.saKey}`,
  ];
}

export const SERVICE_CIDR = '10.96.0.0/16';
/** The first address of the service range: the in-cluster `kubernetes` Service. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

/** A new RSA key and a certificate request for `subject`: `<dir>/<name>.key`, `.csr`. */
export function newKeyAndCsrIn(dir: string, name: string, subject: string): Promise<unknown> {
  const f = (n: string) => path.join(dir, n);
  return run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject], {
    cwd: dir,
  });
}

/** Signs `<dir>/<name>.csr` with the CA in `dir` (`ca.crt`, `ca.key`) and these X.509 extensions: `<name>.crt`. */
export async function signWithCa(dir: string, name: string, extensions: string): Promise<void> {
  const f = (n: string) => path.join(dir, n);
  await fs.writeFile(f(`${name}.ext`), extensions);
  const args = ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial'];
  await run('openssl', [...args, '-out', f(`${name}.crt`), '-days', '3650', '-extfile', f(`${name}.ext`)], { cwd: dir });
}

/**
 * One throwaway CA signs everything: the API server's serving certificate (so
 * the kubeconfig and the kube-root-ca.crt ConfigMaps carry a real CA) and the
 * admin client certificate (system:masters). Plus a service-account key pair.
 */
export async function createCertificates(dir: string): Promise<Certificates> {
  await fs.mkdir(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => run('openssl', args, { cwd: dir });
  const newKeyAndCsr = (name: string, subject: string) => newKeyAndCsrIn(dir, name, subject);
  const sign = (name: string, extensions: string) => signWithCa(dir, name, extensions);

  // Our own config for the CA, so the result does not depend on the system's openssl.cnf.
  await fs.writeFile(
    f('ca.cnf'),
    '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = imcloud-test-ca\n' +
      '[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier = hash\n',
  );
  await Promise.all([
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.crt'),
      '-days',
      '3650',
      '-config',
      f('ca.cnf'),
      '-extensions',
      'v3_ca',
    ]),
    newKeyAndCsr('apiserver', '/CN=kube-apiserver'),
    newKeyAndCsr('admin', '/O=system:masters/CN=admin'),
    openssl(['genrsa', '-out', f('sa.key'), '2048']).then(() => openssl(['rsa', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')])),
  ]);
  const leaf = 'basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n';
  const serverNames = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const sans = ['IP:127.0.0.1', `IP:${KUBERNETES_SERVICE_IP}`, ...serverNames.map((n) => `DNS:${n}`)].join(',');
  // -CAcreateserial writes ca.srl: sign one after the other.
  await sign('apiserver', `${leaf}extendedKeyUsage = serverAuth\nsubjectAltName = ${sans}\n`);
  await sign('admin', `${leaf}extendedKeyUsage = clientAuth\n`);
  return {
    caCert: f('ca.crt'),
    servingCert: f('apiserver.crt'),
    servingKey: f('apiserver.key'),
    adminCert: f('admin.crt'),
    adminKey: f('admin.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
}

function kubeconfigYaml(server: string, certs: Certificates): string {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  // Credentials are embedded so that the file works from any working directory and in client libraries.
  return `apiVersion: v1
kind: Config
clusters:
- name: imcloud-test
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(certs.caCert)}
users:
- name: admin
  user:
    client-certificate-data: ${b64(certs.adminCert)}
    client-key-data: ${b64(certs.adminKey)}
contexts:
- name: imcloud-test
  context:
    cluster: imcloud-test
    user: admin
    namespace: default
current-context: imcloud-test
`;
}

// ---------------------------------------------------------------------------
// The cluster

export interface KubernetesOptions {
  /** Directory owned by this cluster (etcd data, certificates, kubeconfig, logs). */
  dir: string;
  /**
   * CRD manifests to apply (and wait for) before the controllers start. The garbage collector
   * then watches their kinds from the beginning, as in a cluster where the CRDs came first;
   * otherwise it picks them up at a later discovery resync and, until then, deletes dependents
   * of such owners slowly.
   */
  crds?: string[];
}

export interface KubernetesCluster {
  /** Path of a kubeconfig with admin (system:masters) credentials. */
  kubeconfig: string;
  /** Path of the kubectl binary matching the server version. */
  kubectl: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** Name of the simulated node. */
  nodeName: string;
  /** Runs kubectl against this cluster and returns its stdout. */
  kubectlRun(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startKubernetes(opts: KubernetesOptions): Promise<KubernetesCluster> {
  const started = Date.now();
  const [bins, certs, etcdPort, etcdPeerPort, apiPort] = await Promise.all([
    ensureKubernetes(),
    createCertificates(path.join(opts.dir, 'pki')),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const processes: ServerProcess[] = [];
  const stopAll = async () => {
    // Clients of the API first, then the API server, then its storage.
    const [etcd, apiserver, ...clients] = processes;
    await Promise.all(clients.map((p) => p.stop(5_000)));
    await apiserver?.stop(5_000);
    await etcd?.stop(5_000);
  };
  const logFile = (name: string) => path.join(opts.dir, `${name}.log`);

  try {
    // 1. etcd
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = await spawnServer({
      name: 'etcd',
      command: bins.etcd,
      args: [
        '--name=default',
        `--data-dir=${path.join(opts.dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        '--unsafe-no-fsync', // throwaway data: durability only costs time
        '--log-level=warn',
      ],
      logFile: logFile('etcd'),
    });
    processes.push(etcd);
    await waitForReady({
      server: etcd,
      what: `GET ${etcdUrl}/health`,
      probe: async () => (await httpRequest(`${etcdUrl}/health`, { timeoutMs: 2_000 })).body.includes('"health":"true"'),
      timeoutMs: 30_000,
    });

    // 2. kube-apiserver
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = await spawnServer({
      name: 'kube-apiserver',
      command: bins.apiserver,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        ...apiserverCertificateArgs(certs),
        '--authorization-mode=RBAC',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--allow-privileged=true',
        // The default reconciler refuses a loopback advertise address.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
      ],
      logFile: logFile('kube-apiserver'),
    });
    processes.push(apiserver);

    // 3. kubeconfig, and the same credentials for our own API calls.
    const kubeconfig = path.join(opts.dir, 'kubeconfig');
    await fs.writeFile(kubeconfig, kubeconfigYaml(server, certs), { mode: 0o600 });
    const tls = { cert: readFileSync(certs.adminCert), key: readFileSync(certs.adminKey), ca: readFileSync(certs.caCert) };
    const api = async (method: string, apiPath: string, body?: unknown, contentType = 'application/json') => {
      const res = await httpRequest(`${server}${apiPath}`, {
        method,
        tls,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? undefined : { 'content-type': contentType },
      });
      return { status: res.status, json: () => JSON.parse(res.body) };
    };
    await waitForReady({
      server: apiserver,
      what: `GET ${server}/readyz`,
      probe: async () => (await api('GET', '/readyz')).status === 200,
      timeoutMs: 90_000,
    });

    const kubectlRun = (args: string[]) => run(bins.kubectl, [`--kubeconfig=${kubeconfig}`, ...args], { timeoutMs: 120_000 });
    for (const crd of opts.crds ?? []) {
      await kubectlRun(['apply', '--server-side', '-f', crd]);
      // Polled: `kubectl wait` fails at once while the new CRD has no status yet.
      await waitForReady({
        server: apiserver,
        what: `CRDs in ${crd} Established`,
        probe: async () => {
          const got = JSON.parse(await kubectlRun(['get', '-f', crd, '-o', 'json']));
          const crds: Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }> =
            got.kind === 'List' ? got.items : [got];
          return crds.every((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'));
        },
        timeoutMs: 60_000,
      });
    }

    // 4. Controllers, scheduler and the simulated kubelet, all talking to the API as admin.
    const stagesFile = path.join(opts.dir, 'kwok-stages.yaml');
    await fs.writeFile(stagesFile, STAGES);
    const [controllerManager, scheduler, kwok] = await Promise.all([
      spawnServer({
        name: 'kube-controller-manager',
        command: bins.controllerManager,
        args: [
          `--kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          '--secure-port=0',
          '--leader-elect=false',
          `--service-account-private-key-file=${certs.saKey}`,
          `--root-ca-file=${certs.caCert}`,
          // nodelifecycle would taint and evict from our node whenever kwok's status looks stale
          // under load (no real kubelet heartbeats); the node's taints are managed below instead.
          '--controllers=*,-nodeipam,-nodelifecycle',
        ],
        logFile: logFile('kube-controller-manager'),
      }),
      spawnServer({
        name: 'kube-scheduler',
        command: bins.scheduler,
        args: [`--kubeconfig=${kubeconfig}`, '--bind-address=127.0.0.1', '--secure-port=0', '--leader-elect=false'],
        logFile: logFile('kube-scheduler'),
      }),
      spawnServer({
        name: 'kwok',
        command: bins.kwok,
        args: [
          `--kubeconfig=${kubeconfig}`,
          `--config=${stagesFile}`,
          '--manage-all-nodes=true',
          '--node-ip=127.0.0.1',
          '--cidr=10.244.0.0/16',
          // Renew a node Lease like a kubelet does, so the node looks alive to anyone who checks.
          '--node-lease-duration-seconds=40',
        ],
        logFile: logFile('kwok'),
      }),
    ]);
    processes.push(controllerManager, scheduler, kwok);

    // 5. The simulated node. The TaintNodesByCondition admission plugin gives it the
    //    not-ready taint; kwok makes it Ready, then we lift the taint ourselves.
    const created = await api('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: NODE_NAME,
        labels: { 'kubernetes.io/hostname': NODE_NAME, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      },
    });
    if (created.status !== 201) throw new Error(`infra: creating node ${NODE_NAME} failed: HTTP ${created.status}`);

    const companions = [controllerManager, scheduler];
    await waitForReady({
      server: kwok,
      companions,
      what: `node ${NODE_NAME} Ready (kwok stage imcloud-node-ready)`,
      probe: async () => {
        const node = await api('GET', `/api/v1/nodes/${NODE_NAME}`);
        const conditions: Array<{ type: string; status: string }> = node.json().status?.conditions ?? [];
        return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      timeoutMs: 30_000,
    });
    const node = (await api('GET', `/api/v1/nodes/${NODE_NAME}`)).json();
    const taints: Array<{ key: string }> = (node.spec?.taints ?? []).filter(
      (t: { key: string }) => t.key !== 'node.kubernetes.io/not-ready',
    );
    const patched = await api(
      'PATCH',
      `/api/v1/nodes/${NODE_NAME}`,
      { spec: { taints: taints.length ? taints : null } },
      'application/merge-patch+json',
    );
    if (patched.status !== 200) throw new Error(`infra: removing the not-ready taint failed: HTTP ${patched.status}`);

    // 6. Ready for tests when the controller manager has created the default ServiceAccount
    //    (pods are refused without it).
    await waitForReady({
      server: controllerManager,
      companions: [scheduler, kwok],
      what: 'ServiceAccount default/default created by kube-controller-manager',
      probe: async () => (await api('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
      timeoutMs: 60_000,
    });
    log(`kubernetes ${KUBERNETES_VERSION} ready in ${seconds(Date.now() - started)} at ${server}`);

    return {
      kubeconfig,
      kubectl: bins.kubectl,
      server,
      nodeName: NODE_NAME,
      kubectlRun,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
