// Helpers for the operator and chart tests: kubectl/helm against the test control plane, operator
// processes (`imcloud operator`, run from source with tsx), namespaces, and polling.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { KubeClient } from '../../operator/kube/client.js';
import { freePort } from '../infra/processes.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export function env(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(`${name} is not set: run these tests through the vitest project "kubernetes" (its globalSetup starts the servers)`);
  return v;
}

export const kubeconfig = () => env('KUBECONFIG');
export const redisUrl = () => env('IMCLOUD_TEST_REDIS_URL');
export const rabbitmqUrl = () => env('IMCLOUD_TEST_RABBITMQ_URL');

export class CommandError extends Error {
  constructor(
    message: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly code: number | string | undefined,
  ) {
    super(message);
  }
}

async function run(bin: string, args: string[], input?: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, env: { ...process.env, KUBECONFIG: kubeconfig() } },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new CommandError(
              `${bin.split('/').pop()} ${args.join(' ')} failed: ${stderr || err.message}`,
              stdout,
              stderr,
              (err as { code?: number }).code,
            ),
          );
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

export const kubectl = (args: string[], input?: string) => run(env('IMCLOUD_KUBECTL'), [`--kubeconfig=${kubeconfig()}`, ...args], input);
export const helm = (args: string[], timeoutMs?: number) =>
  run(env('IMCLOUD_HELM'), [`--kubeconfig=${kubeconfig()}`, ...args], undefined, timeoutMs);

export async function kubectlJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

/** kubectl apply --server-side of objects (YAML or JS objects). */
export async function apply(namespace: string, ...objects: unknown[]): Promise<string> {
  const text = objects.map((o) => (typeof o === 'string' ? o : stringify(o))).join('\n---\n');
  return kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=test', '-n', namespace, '-f', '-'], text);
}

export function yamlDocs(text: string): any[] {
  return text
    .split(/^---\s*$/m)
    .map((d) => parseYaml(d))
    .filter((d) => d && typeof d === 'object');
}

let nsCounter = 0;
export async function newNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${process.pid % 10000}-${++nsCounter}`.slice(0, 63);
  await kubectl(['create', 'namespace', name]);
  return name;
}

export async function kube(): Promise<KubeClient> {
  return KubeClient.load(kubeconfig());
}

export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for: ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { freePort };

export interface OperatorProcess {
  id: string;
  port: number;
  child: ChildProcess;
  logs: string[];
  /** The JSON log lines whose msg is `msg`, parsed. */
  logged(msg: string): Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL (kill -9). */
  kill(): Promise<void>;
}

const running = new Set<OperatorProcess>();

/** Starts `imcloud operator` (from source) watching `namespace`. */
export async function startOperator(o: {
  namespace: string;
  id?: string;
  env?: Record<string, string>;
  leaseNamespace?: string;
  kubeconfigPath?: string;
}): Promise<OperatorProcess> {
  const port = await freePort();
  const id = o.id ?? `op-${port}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services', 'cli.ts'), 'operator'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KUBECONFIG: o.kubeconfigPath ?? kubeconfig(),
      IMCLOUD_HTTP_PORT: String(port),
      IMCLOUD_HTTP_HOST: '127.0.0.1',
      IMCLOUD_NODE_ID: id,
      IMCLOUD_LOG_LEVEL: 'debug',
      IMCLOUD_OPERATOR_NAMESPACE: o.namespace,
      IMCLOUD_OPERATOR_LEASE_NAMESPACE: o.leaseNamespace ?? o.namespace,
      IMCLOUD_OPERATOR_LEASE_DURATION_MS: '6000',
      IMCLOUD_OPERATOR_RENEW_DEADLINE_MS: '4000',
      IMCLOUD_OPERATOR_RETRY_PERIOD_MS: '1000',
      IMCLOUD_OPERATOR_SCALE_INTERVAL_MS: '500',
      IMCLOUD_OPERATOR_BACKOFF_BASE_MS: '200',
      IMCLOUD_OPERATOR_BACKOFF_MAX_MS: '5000',
      IMCLOUD_OPERATOR_GATE_REPORT_MAX_AGE_MS: '3600000',
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(line);
    if (logs.length > 5000) logs.splice(0, logs.length - 5000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  // 'close', not 'exit': the output the process wrote last is in `logs` by then.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const proc: OperatorProcess = {
    id,
    port,
    child,
    logs,
    exited,
    logged(msg) {
      return logs.flatMap((line) => {
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          return o.msg === msg ? [o] : [];
        } catch {
          return [];
        }
      });
    },
    async metric(name, labels = {}) {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      const text = await res.text();
      let sum: number | undefined;
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(labels).every(([k, v]) => ls[k] === v)) sum = (sum ?? 0) + Number(m[3]);
      }
      return sum;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const code = await exited;
      running.delete(proc);
      return code;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      running.delete(proc);
    },
  };
  running.add(proc);
  await eventually(
    `operator ${id} to serve /healthz on ${port}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`operator exited with ${child.exitCode}:\n${logs.slice(-20).join('\n')}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    },
    60_000,
    200,
  );
  return proc;
}

/** Kills every operator a test file started (afterAll). */
export async function stopAllOperators(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

/** Connection Secrets for external Redis and RabbitMQ (the test servers). */
export async function dependencySecrets(namespace: string): Promise<void> {
  await apply(
    namespace,
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'redis-conn' }, stringData: { url: redisUrl() } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'amqp-conn' }, stringData: { url: rabbitmqUrl() } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'mongo-conn' },
      stringData: { url: 'mongodb://mongo.example:27017', database: 'imcloud' },
    },
  );
}

/** A small valid ImCluster wired to the test servers. */
export function imcluster(name: string, spec: Record<string, unknown> = {}): any {
  return {
    apiVersion: 'imcloud.dev/v1alpha1',
    kind: 'ImCluster',
    metadata: { name },
    spec: {
      version: '1.0.0',
      gate: {
        pools: [
          { name: 'vip', appIds: ['acme', 'globex'], replicas: 2 },
          { name: 'main', default: true, replicas: 1 },
        ],
        drainSeconds: 5,
      },
      logic: { replicas: 2 },
      consumer: { replicas: 1 },
      dispatch: { replicas: 1 },
      dependencies: {
        redis: { secretRef: { name: 'redis-conn' } },
        rabbitmq: { secretRef: { name: 'amqp-conn' } },
        mongodb: { secretRef: { name: 'mongo-conn' } },
      },
      ...spec,
    },
  };
}

export async function getImc(namespace: string, name: string): Promise<any> {
  return kubectlJson(['get', 'imc', name, '-n', namespace]);
}

export function condition(imc: any, type: string): any {
  return (imc.status?.conditions ?? []).find((c: any) => c.type === type);
}

/**
 * The ImCluster once the operator has written the status of its current generation and `ok`
 * holds for that status. Assert on what this returns, not on a second read: the operator may
 * already have written the next status.
 */
export async function waitStatus(
  namespace: string,
  name: string,
  what: string,
  ok: (imc: any) => boolean,
  timeoutMs = 60_000,
): Promise<any> {
  return eventually(
    `imc ${namespace}/${name}: ${what}`,
    async () => {
      const imc = await getImc(namespace, name);
      return imc.status?.observedGeneration === imc.metadata.generation && ok(imc) ? imc : undefined;
    },
    timeoutMs,
  );
}

/** Waits until the ImCluster's status reflects its current generation with phase `phase`. */
export async function waitPhase(namespace: string, name: string, phase: string, timeoutMs = 60_000): Promise<any> {
  return waitStatus(namespace, name, `phase ${phase}`, (imc) => imc.status?.phase === phase, timeoutMs);
}

/**
 * The names of the workloads the status counts. A status is computed from the operator's cache,
 * which may not yet hold a Deployment that the same reconcile created, or may still hold one it
 * deleted: a test that asserts on counts waits for the status that lists the right workloads.
 */
export function componentNames(imc: any): string[] {
  return (imc.status?.components ?? []).map((c: any) => c.name as string).sort();
}

export async function deployments(namespace: string): Promise<Map<string, any>> {
  const list = await kubectlJson<{ items: any[] }>(['get', 'deployments', '-n', namespace, '--show-managed-fields']);
  return new Map(list.items.map((d) => [d.metadata.name, d]));
}

export async function patchImc(namespace: string, name: string, patch: unknown): Promise<void> {
  await kubectl(['patch', 'imc', name, '-n', namespace, '--type', 'merge', '-p', JSON.stringify(patch)]);
}

export async function events(namespace: string, name: string): Promise<Array<{ reason: string; message: string; type: string }>> {
  const list = await kubectlJson<{ items: any[] }>([
    'get',
    'events',
    '-n',
    namespace,
    '--field-selector',
    `involvedObject.kind=ImCluster,involvedObject.name=${name}`,
  ]);
  return list.items.map((e) => ({ reason: e.reason, message: e.message, type: e.type }));
}

type KubeEvent = { reason: string; message: string; type: string };

/**
 * The ImCluster's Events once `ok` holds for them. The operator records Events without waiting
 * for them (best effort), so one may land after the status or the object change it goes with.
 */
export async function waitEvents(
  namespace: string,
  name: string,
  what: string,
  ok: (events: KubeEvent[]) => boolean,
  timeoutMs = 30_000,
): Promise<KubeEvent[]> {
  return eventually(
    `events of imc ${namespace}/${name}: ${what}`,
    async () => {
      const list = await events(namespace, name);
      return ok(list) ? list : undefined;
    },
    timeoutMs,
  );
}

/** Waits until the ImCluster has an Event with each of `reasons`. */
export async function waitEventReasons(namespace: string, name: string, ...reasons: string[]): Promise<KubeEvent[]> {
  return waitEvents(namespace, name, reasons.join(', '), (list) => reasons.every((r) => list.some((e) => e.reason === r)));
}

/**
 * afterAll: delete the namespace's ImClusters while the operator still runs (their finalizer
 * needs it), then stop the operators and delete the namespace.
 */
export async function cleanupNamespace(namespace: string): Promise<void> {
  await kubectl(['delete', 'imc', '--all', '-n', namespace, '--wait=true', '--timeout=60s']).catch(() => undefined);
  await stopAllOperators();
  // Anything left with a finalizer (operator gone) must not block the namespace's deletion.
  const left = await kubectlJson<{ items: any[] }>(['get', 'imc', '-n', namespace]).catch(() => ({ items: [] }));
  for (const imc of left.items) {
    await kubectl(['patch', 'imc', imc.metadata.name, '-n', namespace, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']).catch(
      () => undefined,
    );
  }
  await kubectl(['delete', 'namespace', namespace, '--wait=false']).catch(() => undefined);
}
