// Helpers of the `node` project's tests: commands inside the real node's namespace (clients of
// pods and Services run only there: shared/INFRA.md), the chat client, the README's ImCluster,
// and what to print when something fails. kubectl and helm (from the host, through the node's API
// proxy) come from test/kubernetes/harness.ts, which reads the same environment.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseYaml } from 'yaml';
import { env, kubectl, ROOT } from '../kubernetes/harness.js';
import type { ClientArgs } from './client.js';

/** Runs a command inside the node's network and mount namespaces; resolves with its stdout. */
export function nodeExec(command: string, args: string[], timeoutMs = 300_000): Promise<{ stdout: string; stderr: string }> {
  const childEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS; // no vitest loaders in the client
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      ['-t', env('IMCLOUD_NODE_PID'), '-n', '-m', `--wd=${ROOT}`, '--', command, ...args],
      { cwd: ROOT, env: childEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            Object.assign(new Error(`${command} ${args.join(' ').slice(0, 200)} (in the node) failed: ${err.message}\n${stderr}`), {
              stdout,
              stderr,
            }),
          );
        else resolve({ stdout, stderr });
      },
    );
  });
}

export interface ChatResult {
  sent: string[];
  receivedOnline: string[];
  receivedAfterSync: string[];
  syncedSeqs: number[];
  offlineSeqs: number[];
  /** userId → the gate WebSocket URLs dispatch named for it. */
  gates: Record<string, string[]>;
}

/** What the "groups-files" scenario of test/node/client.ts saw. */
export interface GroupsFilesResult {
  groupSent: string[];
  receivedOnline: { bob: string[]; carol: string[] };
  carolSynced: string[];
  file: {
    md5: string;
    uploadedMd5: string;
    receivedContentType: string;
    receivedThumbnail: boolean;
    downloadedMd5: string;
    thumbnailHead: string;
    flashUpload: boolean;
    flashUploadMd5: string;
  };
  gates: Record<string, string[]>;
}

/** test/node/client.ts inside the node (the repo's tsx), printing its progress. */
export async function runChatClient<T = ChatResult>(
  args: Omit<ClientArgs, 'scenario'> & Partial<Pick<ClientArgs, 'scenario'>>,
): Promise<T> {
  const { stdout, stderr } = await nodeExec(process.execPath, [
    '--import',
    'tsx',
    join(ROOT, 'test', 'node', 'client.ts'),
    JSON.stringify({ scenario: 'chat', ...args }),
  ]);
  process.stdout.write(stderr);
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
}

/** The ImCluster of the README's "Deploy on Kubernetes" section, as an object. */
export function readmeImCluster(): any {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Deploy on Kubernetes'));
  const block = /<<'YAML'\n([\s\S]*?)\nYAML/.exec(section)?.[1];
  if (!block) throw new Error('README.md: no ImCluster heredoc in "Deploy on Kubernetes"');
  return parseYaml(block);
}

/** A Service's ClusterIP and the port of the given name or number. */
export async function serviceAddress(namespace: string, name: string, port: string | number): Promise<string> {
  const svc = JSON.parse(await kubectl(['-n', namespace, 'get', 'service', name, '-o', 'json']));
  const p = (svc.spec.ports as Array<{ name?: string; port: number }>).find((x) => x.name === port || x.port === port);
  if (!p) throw new Error(`service ${namespace}/${name} has no port ${port}: ${JSON.stringify(svc.spec.ports)}`);
  return `${svc.spec.clusterIP}:${p.port}`;
}

/** Best-effort state of the cluster, for a failed wait. */
export async function diagnostics(namespace: string, operatorNamespace: string): Promise<string> {
  const parts: string[] = [];
  const tryRun = async (title: string, args: string[]) => {
    try {
      parts.push(`--- ${title}\n${await kubectl(args)}`);
    } catch (e) {
      parts.push(`--- ${title}: ${(e as Error).message}`);
    }
  };
  await tryRun('pods', ['get', 'pods', '-A', '-o', 'wide']);
  await tryRun('imc', ['-n', namespace, 'get', 'imc', '-o', 'yaml']);
  await tryRun('events', ['-n', namespace, 'get', 'events', '--sort-by=.lastTimestamp']);
  await tryRun('operator logs', [
    '-n',
    operatorNamespace,
    'logs',
    '-l',
    'app.kubernetes.io/name=imcloud',
    '--tail=60',
    '--all-containers',
    '--prefix',
  ]);
  return parts.join('\n');
}

export type { StreamResult } from './stream-client.js';

import type { StreamResult } from './stream-client.js';

export interface Stream {
  /** The latest acks per sending device. */
  acks(): Record<string, number>;
  /** Waits until every sending device has had `n` more sends acked than when called. */
  progress(n: number, what: string, timeoutMs?: number): Promise<void>;
  /** Stops sending; resolves with the client's accounting. */
  stop(): Promise<StreamResult>;
}

/**
 * test/node/stream-client.ts inside the node: a steady stream of sends by SDK clients that
 * reconnect through dispatch, until stop().
 */
export function startStream(args: {
  dispatchUrl: string;
  adminUrl: string;
  adminToken: string;
  appId: string;
  pairs?: number;
  intervalMs?: number;
  userSuffix: string;
}): Stream {
  const childEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS;
  const child = spawn(
    'nsenter',
    [
      '-t',
      env('IMCLOUD_NODE_PID'),
      '-n',
      '-m',
      `--wd=${ROOT}`,
      '--',
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'test', 'node', 'stream-client.ts'),
      JSON.stringify({ pairs: 3, intervalMs: 200, ...args }),
    ],
    { cwd: ROOT, env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let acks: Record<string, number> = {};
  let result: StreamResult | undefined;
  let stderrTail = '';
  child.stderr.on('data', (b: Buffer) => {
    process.stdout.write(b);
    stderrTail = (stderrTail + b.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    if (line.startsWith('progress ')) acks = JSON.parse(line.slice(9)).acks;
    else if (line.startsWith('result ')) result = JSON.parse(line.slice(7));
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  return {
    acks: () => acks,
    async progress(n, what, timeoutMs = 180_000) {
      const from = { ...acks };
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (exitCode !== undefined) throw new Error(`the stream client exited (${exitCode}) ${what}:\n${stderrTail}`);
        const now = acks;
        const names = Object.keys(now);
        if (names.length && names.every((d) => (now[d] ?? 0) - (from[d] ?? 0) >= n)) return;
        if (Date.now() > end)
          throw new Error(
            `timed out waiting for ${n} more acks per sender ${what}: from ${JSON.stringify(from)} to ${JSON.stringify(now)}`,
          );
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async stop() {
      child.stdin.end('stop\n');
      const code = await exited;
      if (code !== 0 || !result) throw new Error(`the stream client exited with ${code}:\n${stderrTail}`);
      return result;
    },
  };
}
