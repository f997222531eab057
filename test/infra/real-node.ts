// A real Kubernetes node without Docker: the control plane of kubernetes.ts (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler) plus kubelet, kube-proxy,
// containerd and runc, running real containers (shared/INFRA.md, "A real Kubernetes node").
//
// Everything runs inside ONE private network + mount namespace: a holder process
// (`unshare -n -m --propagation private --fork sleep infinity`) that every other process joins
// with `nsenter -t HOLDER -n -m`. Pod and Service addresses exist only in there: from the
// machine's own namespace the same addresses would leave the machine through its default
// route, so every client of a pod or Service runs inside (node.exec()), never outside.
//
// The API server reaches the host through one small proxy: a TCP socket is opened on the
// host's 127.0.0.1 (free port) by this process, then handed as fd 3 to a Node process that
// runs in the namespace and forwards each accepted connection to the API server on the
// namespace's loopback. The kubeconfig therefore works from the host (kubectl, helm, client
// libraries) while the API server, like everything else, lives in the namespace.
//
// Teardown (stop(), and a watchdog shell if this process dies without stop()) kills every
// process in the node's namespaces and in its cgroup (containerd's shims daemonise out of our
// process groups; containers live in the cgroup), which ends the namespace with its mounts,
// bridge, veths and iptables rules, then removes the node's cgroup directories.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, writeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packOciImage } from '../../scripts/oci-image.js';
import { cacheDir, isAlive, log, run, seconds, withLock } from './base.js';
import { ensureGoBinary } from './build.js';
import { ensureDebPackages } from './install.js';
import {
  apiserverCertificateArgs,
  type Certificates,
  createCertificates,
  ensureKubernetes,
  KUBERNETES_SERVICE_IP,
  KUBERNETES_VERSION,
  kubernetesWrapper,
  kubeVersionLdflags,
  newKeyAndCsrIn,
  SERVICE_CIDR,
  signWithCa,
} from './kubernetes.js';
import { type ServerProcess, spawnServer } from './processes.js';
import { httpRequest, lastLines, waitForReady } from './readiness.js';

const STAGING_VERSION = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');

/** The node's address, on a veth inside the namespace (kubelet refuses a loopback node IP). */
export const NODE_IP = '10.99.0.1';
/** Pod addresses (bridge CNI, host-local IPAM); kube-proxy's clusterCIDR is the /16 around it. */
export const POD_SUBNET = '10.244.0.0/24';
const CLUSTER_CIDR = '10.244.0.0/16';
/** Fixed ports: the namespace has its own, all free. */
const API_PORT = 6443;
const ETCD_PORT = 2379;
const ETCD_PEER_PORT = 2380;

const CONTAINERD_PACKAGES = ['containerd', 'runc', 'containernetworking-plugins', 'iptables', 'iproute2', 'util-linux'];

// ---------------------------------------------------------------------------
// Binaries and images

function ensureNodeCommand(name: 'kubelet' | 'kube-proxy', estimate: string): Promise<string> {
  return ensureGoBinary({
    name,
    version: KUBERNETES_VERSION,
    estimate,
    // The same wrapper module and flags as kubernetes.ts's commands (CGO_ENABLED=0 from goEnv).
    recipe: `wrapper module, staging replaced by ${STAGING_VERSION}; ${kubeVersionLdflags()}`,
    versionCheck: { args: ['--version'], expect: `Kubernetes ${KUBERNETES_VERSION}` },
    async build(out, go) {
      const dir = await kubernetesWrapper(go);
      await go(['build', '-mod=mod', '-trimpath', `-ldflags=${kubeVersionLdflags()}`, '-o', out, `k8s.io/kubernetes/cmd/${name}`], {
        cwd: dir,
      });
    },
  });
}

/**
 * Builds a single-file, standard-library-only Go program (e.g. test/infra/images/echo/main.go)
 * into a static binary in the cache, keyed by a hash of its source.
 */
export async function buildGoProgram(mainFile: string, name: string): Promise<string> {
  const source = await fs.readFile(mainFile);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  return ensureGoBinary({
    name,
    version: `src-${hash}`,
    estimate: '~5 s',
    recipe: `go build -trimpath -ldflags=-s -w ${path.basename(mainFile)} (CGO_ENABLED=0)`,
    build: async (out, go) => {
      await go(['build', '-trimpath', '-ldflags=-s -w', '-o', out, path.basename(mainFile)], { cwd: path.dirname(mainFile) });
    },
  });
}

/**
 * Packs a static binary as a one-layer OCI image tar in the cache (`/NAME` as entrypoint), once
 * per binary content: cacheDir()/images/<name>-<hash>.tar.
 */
export async function packBinaryImage(opts: {
  binary: string;
  /** Full image reference, e.g. 'imcloud.local/echo:1'. */
  image: string;
  entrypoint?: string[];
  env?: string[];
  exposedPorts?: number[];
}): Promise<string> {
  const binHash = createHash('sha256')
    .update(await fs.readFile(opts.binary))
    .update(JSON.stringify({ ...opts, binary: '' }))
    .digest('hex')
    .slice(0, 16);
  const out = path.join(cacheDir(), 'images', `${opts.image.replace(/[^\w.-]+/g, '_')}-${binHash}.tar`);
  if (existsSync(out)) return out;
  const exe = path.basename(opts.binary).replace(/-src-[0-9a-f]+$/, '');
  await withLock(`image-${binHash}`, `packing ${opts.image}`, async () => {
    if (existsSync(out)) return;
    await packOciImage({
      out,
      names: [opts.image],
      layers: [[{ path: exe, file: opts.binary, mode: 0o755 }]],
      config: {
        Entrypoint: opts.entrypoint ?? [`/${exe}`],
        Env: opts.env ?? ['PATH=/'],
        ExposedPorts: Object.fromEntries((opts.exposedPorts ?? []).map((p) => [`${p}/tcp`, {}])),
      },
    });
  });
  return out;
}

const PAUSE_IMAGE = 'imcloud.local/pause:1';

async function ensurePauseImage(): Promise<string> {
  const binary = await buildGoProgram(
    path.join(path.dirname(fileURLToPath(import.meta.url)), 'images', 'pause', 'main.go'),
    'imcloud-pause',
  );
  return packBinaryImage({ binary, image: PAUSE_IMAGE });
}

export interface RealNodeBinaries {
  etcd: string;
  apiserver: string;
  controllerManager: string;
  scheduler: string;
  kubectl: string;
  kubelet: string;
  kubeProxy: string;
  /** OCI tar of the sandbox (pause) image. */
  pauseImage: string;
}

/** Builds or installs everything the node needs (control plane, kubelet, kube-proxy, containerd…). */
export async function ensureRealNode(): Promise<RealNodeBinaries> {
  const [kube, kubelet, kubeProxy, , pauseImage] = await Promise.all([
    ensureKubernetes(),
    ensureNodeCommand('kubelet', '~12 min cold on 2 cores, ~1 min with a warm Go cache'),
    ensureNodeCommand('kube-proxy', '~25 s after kubelet'),
    ensureDebPackages(CONTAINERD_PACKAGES, '~30 s'),
    ensurePauseImage(),
  ]);
  return {
    etcd: kube.etcd,
    apiserver: kube.apiserver,
    controllerManager: kube.controllerManager,
    scheduler: kube.scheduler,
    kubectl: kube.kubectl,
    kubelet,
    kubeProxy,
    pauseImage,
  };
}

// ---------------------------------------------------------------------------
// Teardown: one shell script, run by stop() and by the watchdog

/**
 * $1: (watchdog only) pid to outlive; $2 $3: the node's net and mnt namespace ids
 * ("net:[4026…]"); $4: the node's cgroup name. Thaws what a test froze (a frozen task of the v1
 * freezer dies only once thawed), kills every process in either namespace or in the cgroup until
 * none is left, then removes the cgroup directories bottom-up.
 */
const CLEANUP_SCRIPT = `
netns=$2; mntns=$3; cg=$4
[ -n "$netns" ] && [ -n "$mntns" ] && [ -n "$cg" ] || exit 2
for f in $(find /sys/fs/cgroup/freezer/"$cg" -name freezer.state 2>/dev/null); do echo THAWED > "$f" 2>/dev/null; done
members() {
  for p in /proc/[0-9]*; do
    n=$(readlink "$p/ns/net" 2>/dev/null) || continue
    m=$(readlink "$p/ns/mnt" 2>/dev/null)
    if [ "$n" = "$netns" ] || [ "$m" = "$mntns" ]; then echo "\${p#/proc/}"; fi
  done
  for f in $(find /sys/fs/cgroup/*/"$cg" -name cgroup.procs 2>/dev/null); do cat "$f" 2>/dev/null; done
}
i=0
while [ $i -lt 100 ]; do
  pids=$(members | sort -u)
  [ -z "$pids" ] && break
  kill -KILL $pids 2>/dev/null
  sleep 0.1
  i=$((i+1))
done
for d in /sys/fs/cgroup/*/"$cg"; do
  [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
done
left=$(members | sort -u)
[ -z "$left" ] || { echo "still running: $left"; exit 1; }
for d in /sys/fs/cgroup/*/"$cg"; do [ -d "$d" ] && { echo "cgroup left: $d"; exit 1; }; done
exit 0
`;

const CGROUP_PREFIX = 'imcloud-node-';

function cgroupHierarchies(): string[] {
  const roots: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post?.startsWith('cgroup ')) continue; // v1 hierarchies only (this machine: cgroup v1)
    const mountPoint = pre.split(' ')[4];
    if (mountPoint?.startsWith('/sys/fs/cgroup/')) roots.push(mountPoint);
  }
  return roots;
}

/** Cgroup directories of nodes whose owner process is gone (a run killed before its watchdog acted). */
async function sweepStaleCgroups(): Promise<void> {
  for (const root of cgroupHierarchies()) {
    let names: string[] = [];
    try {
      names = (await fs.readdir(root)).filter((n) => n.startsWith(CGROUP_PREFIX));
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = Number(name.slice(CGROUP_PREFIX.length).split('-')[0]);
      if (!isAlive(owner))
        await run('find', [path.join(root, name), '-depth', '-type', 'd', '-exec', 'rmdir', '{}', '+']).catch(() => undefined);
    }
  }
}

// ---------------------------------------------------------------------------
// Certificates and configuration files

async function signClientCert(pki: string, name: string, subject: string, extensions: string): Promise<{ cert: string; key: string }> {
  await newKeyAndCsrIn(pki, name, subject);
  await signWithCa(pki, name, extensions);
  return { cert: path.join(pki, `${name}.crt`), key: path.join(pki, `${name}.key`) };
}

interface NodeCertificates extends Certificates {
  kubeletCert: string;
  kubeletKey: string;
  proxyCert: string;
  proxyKey: string;
}

async function createNodeCertificates(pki: string, nodeName: string): Promise<NodeCertificates> {
  const certs = await createCertificates(pki);
  const leaf = 'basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n';
  // The serving certificate again, with the node's address (what pods reach through the
  // `kubernetes` Service's endpoint) besides 127.0.0.1 and the Service IP.
  const names = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const sans = ['IP:127.0.0.1', `IP:${NODE_IP}`, `IP:${KUBERNETES_SERVICE_IP}`, ...names.map((n) => `DNS:${n}`)].join(',');
  const serving = await signClientCert(
    pki,
    'apiserver-node',
    '/CN=kube-apiserver',
    `${leaf}extendedKeyUsage = serverAuth\nsubjectAltName = ${sans}\n`,
  );
  const kubelet = await signClientCert(
    pki,
    'kubelet',
    `/O=system:nodes/CN=system:node:${nodeName}`,
    `${leaf}extendedKeyUsage = clientAuth\n`,
  );
  const proxy = await signClientCert(pki, 'kube-proxy', '/CN=system:kube-proxy', `${leaf}extendedKeyUsage = clientAuth\n`);
  return {
    ...certs,
    servingCert: serving.cert,
    servingKey: serving.key,
    kubeletCert: kubelet.cert,
    kubeletKey: kubelet.key,
    proxyCert: proxy.cert,
    proxyKey: proxy.key,
  };
}

function kubeconfigYaml(server: string, caCert: string, user: string, cert: string, key: string): string {
  const b64 = (file: string) => readFileSync(file).toString('base64');
  return `apiVersion: v1
kind: Config
clusters:
- name: imcloud-node
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(caCert)}
users:
- name: ${user}
  user:
    client-certificate-data: ${b64(cert)}
    client-key-data: ${b64(key)}
contexts:
- name: imcloud-node
  context:
    cluster: imcloud-node
    user: ${user}
    namespace: default
current-context: imcloud-node
`;
}

function containerdConfig(d: (n: string) => string): string {
  return `version = 2
root = "${d('containerd/root')}"
state = "${d('containerd/state')}"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${d('containerd/containerd.sock')}"

[plugins."io.containerd.internal.v1.opt"]
  path = "${d('containerd/opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE nothing can lower oom_score_adj: every sandbox would fail.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${d('cni/net.d')}"
`;
}

function cniConfig(d: (n: string) => string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'imcloud',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: d('cni/ipam') },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(d: (n: string) => string, cgroupName: string, caCert: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /${cgroupName}
containerRuntimeEndpoint: unix://${d('containerd/containerd.sock')}
podLogsDir: ${d('pod-logs')}
maxOpenFiles: 20000
failSwapOn: false
address: ${NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${caCert}
authorization:
  mode: Webhook
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# Generous: a test node on a shared machine must not evict its pods.
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
shutdownGracePeriod: 0s
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
serializeImagePulls: false
`;
}

function kubeProxyConfig(kubeconfig: string, nodeName: string): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: ${kubeconfig}
hostnameOverride: ${nodeName}
clusterCIDR: ${CLUSTER_CIDR}
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

// ---------------------------------------------------------------------------
// The API proxy: host 127.0.0.1:PORT → the API server on the namespace's loopback

const PROXY_SCRIPT = `
const net = require('node:net');
const port = Number(process.env.IMCLOUD_PROXY_TARGET_PORT);
const server = net.createServer((client) => {
  const upstream = net.connect(port, '127.0.0.1');
  client.pipe(upstream);
  upstream.pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
server.listen({ fd: 3 }, () => console.log('api proxy: forwarding fd 3 to 127.0.0.1:' + port));
process.on('SIGTERM', () => process.exit(0));
`;

/** Environment for Node processes run in the namespace: no loaders of tsx or vitest. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

// ---------------------------------------------------------------------------
// The node

export interface RealNodeOptions {
  /** Directory owned by this node (certificates, configs, data, logs). */
  dir: string;
  /** Default 'imcloud-node'. */
  nodeName?: string;
  /** CRD manifests applied before the controller manager starts (as KubernetesOptions.crds). */
  crds?: string[];
}

export interface RealNode {
  /** Admin (system:masters) kubeconfig whose server is the host-side proxy: usable from the host. */
  kubeconfig: string;
  /** kubectl matching the server version. */
  kubectl: string;
  /** https://127.0.0.1:PORT on the host. */
  server: string;
  nodeName: string;
  /** The node's InternalIP, inside the namespace only. */
  nodeIP: string;
  /** Pid of the namespace holder: `nsenter -t PID -n -m` enters the node's namespace. */
  holderPid: number;
  /** The node's cgroup (cgroupRoot /NAME in every v1 hierarchy). */
  cgroupName: string;
  /** The namespaces' ids as /proc/PID/ns/{net,mnt} show them ("net:[4026…]"). */
  namespaces: { net: string; mnt: string };
  /** The node's directory (logs: *.log, pod-logs/). */
  dir: string;
  /** Runs kubectl (from the host, through the proxy) and returns its stdout. */
  kubectlRun(args: string[]): Promise<string>;
  /**
   * Runs a command inside the node's network and mount namespaces (clients of pods and
   * Services) to completion and returns its stdout. NODE_OPTIONS is not passed on.
   */
  exec(command: string, args: string[], opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv }): Promise<string>;
  /** Imports an OCI image tar into containerd's k8s.io namespace (use with imagePullPolicy: Never). */
  importImage(ociTarPath: string): Promise<void>;
  /** Stops everything and leaves no process, mount, cgroup or namespace behind. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startNode(opts: RealNodeOptions): Promise<RealNode> {
  const started = Date.now();
  const nodeName = opts.nodeName ?? 'imcloud-node';
  const dir = path.resolve(opts.dir);
  const d = (n: string) => path.join(dir, n);
  const logFile = (name: string) => d(`${name}.log`);
  await sweepStaleCgroups();
  const [bins, certs] = await Promise.all([
    ensureRealNode(),
    fs.mkdir(d('pki'), { recursive: true }).then(() => createNodeCertificates(d('pki'), nodeName)),
    ...['mounts/run', 'mounts/var-lib', 'mounts/var-log', 'containerd', 'cni/net.d', 'cni/ipam', 'kubelet', 'pod-logs', 'etcd'].map((n) =>
      fs.mkdir(d(n), { recursive: true }),
    ),
  ]);

  const processes: ServerProcess[] = [];
  let holder: ServerProcess | undefined;
  let watchdogPid: number | undefined;
  let ids: { netns: string; mntns: string } | undefined;
  const cgroupName = `${CGROUP_PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let proxy: { pid: number; exited: Promise<void> } | undefined;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const t = Date.now();
      // Gracefully where it is cheap (a few seconds at most), then the cleanup script, which
      // kills what is left: shims, containers, the proxy, the holder.
      await Promise.all(processes.map((p) => p.stop(3_000)));
      if (proxy && isAlive(proxy.pid)) process.kill(proxy.pid, 'SIGKILL');
      if (ids) {
        await run('sh', ['-c', CLEANUP_SCRIPT, 'imcloud-node-cleanup', '0', ids.netns, ids.mntns, cgroupName], { timeoutMs: 60_000 });
      } else {
        await run('sh', [
          '-c',
          `for d in /sys/fs/cgroup/*/"$1"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} +; done; true`,
          'x',
          cgroupName,
        ]);
      }
      await holder?.stop(2_000);
      if (watchdogPid && isAlive(watchdogPid)) process.kill(watchdogPid, 'SIGKILL');
      log(`node ${nodeName} stopped in ${seconds(Date.now() - t)}`);
    })());

  const inNs = (command: string, args: string[]) => ['-t', String(holder!.pid), '-n', '-m', '--', command, ...args];
  const spawnInNs = async (name: string, command: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const p = await spawnServer({ name, command: 'nsenter', args: inNs(command, args), logFile: logFile(name), env });
    processes.push(p);
    return p;
  };
  const exec: RealNode['exec'] = (command, args, execOpts = {}) =>
    run('nsenter', inNs(command, args), { timeoutMs: execOpts.timeoutMs ?? 120_000, env: execOpts.env ?? plainEnv() });

  try {
    // 1. The namespace, its cgroup, and the watchdog that removes both if we die.
    for (const root of cgroupHierarchies()) {
      const cg = path.join(root, cgroupName);
      await fs.mkdir(cg, { recursive: true });
      if (root.endsWith('/cpuset')) {
        for (const file of ['cpuset.cpus', 'cpuset.mems'])
          await fs.writeFile(path.join(cg, file), await fs.readFile(path.join(root, file)));
      }
    }
    holder = await spawnServer({
      name: 'node-namespace',
      command: 'unshare',
      args: ['-n', '-m', '--propagation', 'private', '--fork', 'sleep', 'infinity'],
      logFile: logFile('node-namespace'),
    });
    const ownNet = readlinkSync('/proc/self/ns/net');
    await waitForReady({
      server: holder,
      what: 'unshare: a new network namespace',
      probe: async () => {
        const netns = readlinkSync(`/proc/${holder!.pid}/ns/net`);
        if (netns === ownNet) return false;
        ids = { netns, mntns: readlinkSync(`/proc/${holder!.pid}/ns/mnt`) };
        return true;
      },
      timeoutMs: 10_000,
    });
    const watchdog = spawn(
      'sh',
      [
        '-c',
        `while kill -0 "$1" 2>/dev/null; do sleep 1; done\n${CLEANUP_SCRIPT}`,
        'imcloud-node-watchdog',
        String(process.pid),
        ids!.netns,
        ids!.mntns,
        cgroupName,
      ],
      { detached: true, stdio: 'ignore' },
    );
    watchdog.unref();
    watchdogPid = watchdog.pid;

    // 2. Inside: private /run, /var/lib, /var/log; loopback; the node address on a veth pair
    //    whose both ends are inside (nothing behind it), with the default route through it.
    await exec('sh', [
      '-ec',
      [
        `mount --bind ${d('mounts/run')} /run`,
        `mount --bind ${d('mounts/var-lib')} /var/lib`,
        `mount --bind ${d('mounts/var-log')} /var/log`,
        'ip link set lo up',
        'ip link add node0 type veth peer name node0-peer',
        `ip addr add ${NODE_IP}/24 dev node0`,
        'ip link set node0 up',
        'ip link set node0-peer up',
        'ip route add default dev node0',
        'sysctl -qw net.ipv4.ip_forward=1',
      ].join('\n'),
    ]);

    // 3. Configuration files.
    const inside = `https://127.0.0.1:${API_PORT}`;
    const files = {
      admin: d('kubeconfig.inside'),
      kubelet: d('kubelet.kubeconfig'),
      proxy: d('kube-proxy.kubeconfig'),
    };
    await Promise.all([
      fs.writeFile(files.admin, kubeconfigYaml(inside, certs.caCert, 'admin', certs.adminCert, certs.adminKey), { mode: 0o600 }),
      fs.writeFile(files.kubelet, kubeconfigYaml(inside, certs.caCert, `system:node:${nodeName}`, certs.kubeletCert, certs.kubeletKey), {
        mode: 0o600,
      }),
      fs.writeFile(files.proxy, kubeconfigYaml(inside, certs.caCert, 'system:kube-proxy', certs.proxyCert, certs.proxyKey), {
        mode: 0o600,
      }),
      fs.writeFile(d('containerd/config.toml'), containerdConfig(d)),
      fs.writeFile(d('cni/net.d/10-imcloud.conflist'), cniConfig(d)),
      fs.writeFile(d('kubelet-config.yaml'), kubeletConfig(d, cgroupName, certs.caCert)),
      fs.writeFile(d('kube-proxy-config.yaml'), kubeProxyConfig(files.proxy, nodeName)),
    ]);

    // 4. etcd, kube-apiserver, and containerd meanwhile.
    const etcdUrl = `http://127.0.0.1:${ETCD_PORT}`;
    const peerUrl = `http://127.0.0.1:${ETCD_PEER_PORT}`;
    const etcd = await spawnInNs('etcd', bins.etcd, [
      '--name=default',
      `--data-dir=${d('etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    const containerd = await spawnInNs('containerd', '/usr/bin/containerd', ['--config', d('containerd/config.toml')]);
    const apiserver = await spawnInNs('kube-apiserver', bins.apiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=0.0.0.0',
      `--advertise-address=${NODE_IP}`,
      `--secure-port=${API_PORT}`,
      ...apiserverCertificateArgs(certs),
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      '--allow-privileged=true',
      // Else `kubectl logs/exec` resolve the node name through DNS and time out.
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-client-certificate=${certs.adminCert}`,
      `--kubelet-client-key=${certs.adminKey}`,
      '--profiling=false',
    ]);

    // 5. The host-side proxy to the API server.
    const listener = net.createServer();
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(0, '127.0.0.1', resolve);
    });
    const hostPort = (listener.address() as net.AddressInfo).port;
    const listenFd = (listener as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof listenFd !== 'number' || listenFd < 0) throw new Error('infra: cannot get the file descriptor of the API proxy socket');
    const proxyLog = openSync(logFile('api-proxy'), 'a');
    writeSync(proxyLog, `--- ${new Date().toISOString()} 127.0.0.1:${hostPort} (host) → 127.0.0.1:${API_PORT} (node namespace)\n`);
    const proxyChild = spawn('nsenter', inNs(process.execPath, ['-e', PROXY_SCRIPT]), {
      stdio: ['ignore', proxyLog, proxyLog, listenFd],
      detached: true,
      env: { ...plainEnv(), IMCLOUD_PROXY_TARGET_PORT: String(API_PORT) },
    });
    closeSync(proxyLog);
    proxyChild.unref();
    proxy = { pid: proxyChild.pid!, exited: new Promise((resolve) => proxyChild.once('exit', () => resolve())) };
    listener.close(); // the child holds its own copy

    const server = `https://127.0.0.1:${hostPort}`;
    const kubeconfig = d('kubeconfig');
    await fs.writeFile(kubeconfig, kubeconfigYaml(server, certs.caCert, 'admin', certs.adminCert, certs.adminKey), { mode: 0o600 });
    const tls = { cert: readFileSync(certs.adminCert), key: readFileSync(certs.adminKey), ca: readFileSync(certs.caCert) };
    const api = async (method: string, apiPath: string) => {
      const res = await httpRequest(`${server}${apiPath}`, { method, tls });
      return { status: res.status, json: () => JSON.parse(res.body) };
    };
    await waitForReady({
      server: apiserver,
      companions: [etcd],
      what: `GET ${server}/readyz (through the API proxy)`,
      probe: async () => (await api('GET', '/readyz')).status === 200,
      timeoutMs: 90_000,
    });
    const kubectlRun = (args: string[]) => run(bins.kubectl, [`--kubeconfig=${kubeconfig}`, ...args], { timeoutMs: 120_000 });
    for (const crd of opts.crds ?? []) {
      await kubectlRun(['apply', '--server-side', '-f', crd]);
      await kubectlRun(['wait', '--for=condition=Established', '--timeout=60s', '-f', crd]);
    }

    // 6. Controllers and scheduler (as admin, like kubernetes.ts), containerd's pause image,
    //    then kubelet and kube-proxy with their own identities.
    await spawnInNs('kube-controller-manager', bins.controllerManager, [
      `--kubeconfig=${files.admin}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--leader-elect=false',
      `--service-account-private-key-file=${certs.saKey}`,
      `--root-ca-file=${certs.caCert}`,
      '--use-service-account-credentials=true',
      // Pod CIDRs come from the CNI config (host-local), not from the controller manager.
      '--controllers=*,-nodeipam',
    ]);
    await spawnInNs('kube-scheduler', bins.scheduler, [
      `--kubeconfig=${files.admin}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--leader-elect=false',
    ]);
    const ctr = ['--address', d('containerd/containerd.sock'), '-n', 'k8s.io'];
    await waitForReady({
      server: containerd,
      what: 'ctr version',
      probe: async () => (await exec('ctr', [...ctr, 'version'], { timeoutMs: 5_000 })).includes('Server:'),
      timeoutMs: 30_000,
    });
    const importImage = async (ociTarPath: string) => {
      await exec('ctr', [...ctr, 'images', 'import', '--all-platforms', ociTarPath], { timeoutMs: 300_000 });
    };
    await importImage(bins.pauseImage);

    const kubelet = await spawnInNs('kubelet', bins.kubelet, [
      `--config=${d('kubelet-config.yaml')}`,
      `--kubeconfig=${files.kubelet}`,
      `--root-dir=${d('kubelet')}`,
      `--node-ip=${NODE_IP}`,
      `--hostname-override=${nodeName}`,
    ]);
    const kubeProxy = await spawnInNs('kube-proxy', bins.kubeProxy, [`--config=${d('kube-proxy-config.yaml')}`]);

    // 7. Ready: the node reports Ready without the not-ready taint, and the default
    //    ServiceAccount exists (pods are refused without it).
    await waitForReady({
      server: kubelet,
      companions: [containerd, kubeProxy, apiserver],
      what: `node ${nodeName} Ready, untainted, ServiceAccount default/default`,
      probe: async () => {
        const node = await api('GET', `/api/v1/nodes/${nodeName}`);
        if (node.status !== 200) return false;
        const n = node.json();
        const ready = (n.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
        const tainted = (n.spec?.taints ?? []).some((t: { key: string }) => t.key.startsWith('node.kubernetes.io/'));
        return ready && !tainted && (await api('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200;
      },
      timeoutMs: 120_000,
      hint: `Read ${logFile('kubelet')}, ${logFile('containerd')} and ${logFile('kube-proxy')}.`,
    });
    log(`node ${nodeName} (Kubernetes ${KUBERNETES_VERSION}, real kubelet) ready in ${seconds(Date.now() - started)} at ${server}`);

    return {
      kubeconfig,
      kubectl: bins.kubectl,
      server,
      nodeName,
      nodeIP: NODE_IP,
      holderPid: holder.pid,
      cgroupName,
      namespaces: { net: ids!.netns, mnt: ids!.mntns },
      dir,
      kubectlRun,
      exec,
      importImage,
      stop,
    };
  } catch (err) {
    // Keep the logs' content in the error: the caller may remove the directory.
    if (proxy && !isAlive(proxy.pid)) log(`api proxy log:\n${await lastLines(logFile('api-proxy'), 10)}`);
    await stop().catch((e: Error) => log(`node teardown after a failed start: ${e.message}`));
    throw err;
  }
}

/** What is left of a stopped node (for tests): its holder, processes in its namespaces or naming its directory, mounts, cgroups. */
export async function nodeLeftovers(node: Pick<RealNode, 'holderPid' | 'cgroupName' | 'dir' | 'namespaces'>): Promise<string[]> {
  const found: string[] = [];
  if (isAlive(node.holderPid)) found.push(`holder ${node.holderPid} alive`);
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const netns = readlinkSync(`/proc/${entry}/ns/net`);
      const mntns = readlinkSync(`/proc/${entry}/ns/mnt`);
      if (netns === node.namespaces.net || mntns === node.namespaces.mnt) found.push(`process ${entry} in the node's namespaces`);
    } catch {
      // gone, or a zombie
    }
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(node.dir) || cmdline.includes(node.cgroupName)) found.push(`process ${entry}: ${cmdline.slice(0, 200)}`);
    } catch {
      // gone
    }
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(node.dir)) found.push(`mount: ${line}`);
  }
  for (const root of cgroupHierarchies()) if (existsSync(path.join(root, node.cgroupName))) found.push(`cgroup ${root}/${node.cgroupName}`);
  return found;
}
