// `make kind-e2e` needs Docker, which these machines do not have. What can be checked here is:
// the kind config parses, the ImCluster it deploys is accepted by the real apiserver, the script
// passes `bash -n` (and shellcheck when installed), the smoke test type-checks, and the
// Dockerfile is multi-stage, non-root, and copies only what exists.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { desiredObjects } from '../../operator/objects/reconcilers.js';
import { BENCH_NODE_VERSION } from '../infra/node.js';
import { kubectl, newNamespace, ROOT } from './harness.js';

const exec = promisify(execFile);
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

async function hasCommand(cmd: string): Promise<boolean> {
  return exec('sh', ['-c', `command -v ${cmd}`]).then(
    () => true,
    () => false,
  );
}

describe('kind e2e (static checks; the real run needs Docker)', () => {
  it('the kind config parses as a kind Cluster with a control plane and workers', () => {
    const config = parseYaml(read('hack/kind/kind-config.yaml'));
    expect(config).toMatchObject({ kind: 'Cluster', apiVersion: 'kind.x-k8s.io/v1alpha4' });
    expect(config.nodes.map((n: { role: string }) => n.role)).toEqual(['control-plane', 'worker', 'worker']);
  });

  it('the ImCluster it deploys is accepted by the apiserver (server-side dry-run), and e2e.sh forwards ports its Services have', async () => {
    const ns = await newNamespace('kind-static');
    try {
      const out = await kubectl(['apply', '--dry-run=server', '-n', ns, '-f', join(ROOT, 'hack/kind/imcluster.yaml')]);
      expect(out).toContain('imcluster.imcloud.dev/chat created (server dry run)');
      // The Services the operator makes for it (from the object as the apiserver defaults it).
      const imc = JSON.parse(
        await kubectl(['create', '--dry-run=server', '-n', ns, '-o', 'json', '-f', join(ROOT, 'hack/kind/imcluster.yaml')]),
      );
      imc.metadata.uid = 'uid';
      const services = new Map(
        desiredObjects({ cluster: imc, dependenciesHash: 'h', canary: undefined, serviceMonitors: false, replicasFor: () => 1 })
          .filter((d) => d.object.kind === 'Service')
          .map((d) => [d.object.metadata.name, (d.object as any).spec.ports.map((p: any) => p.port as number)]),
      );
      const forwards = [...read('hack/kind/e2e.sh').matchAll(/^port_forward svc\/(\S+) \d+:(\d+)$/gm)].map(
        (m) => [m[1]!, Number(m[2])] as const,
      );
      expect(forwards.map(([svc]) => svc).sort()).toEqual(['chat-admin', 'chat-dispatch', 'chat-gate-main', 'chat-gate-smoke']);
      for (const [svc, port] of forwards) expect(services.get(svc), `svc/${svc}`).toContain(port);
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });

  it('e2e.sh passes bash -n and shellcheck (when installed), and is executable', async () => {
    const script = join(ROOT, 'hack/kind/e2e.sh');
    await exec('bash', ['-n', script]);
    if (await hasCommand('shellcheck')) await exec('shellcheck', [script]);
    else console.warn('shellcheck not installed: skipped');
    const { stdout } = await exec('sh', ['-c', `test -x "${script}" && echo executable`]);
    expect(stdout.trim()).toBe('executable');
    const text = read('hack/kind/e2e.sh');
    for (const step of [
      'kind create cluster',
      'docker build',
      'kind load docker-image',
      'helm install',
      'helm test',
      'kubectl wait',
      'hack/kind/smoke.ts',
      'kind delete cluster',
    ]) {
      expect(text).toContain(step);
    }
  });

  it('the SDK smoke test type-checks', async () => {
    await exec(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--lib',
        'es2023,dom',
        '--skipLibCheck',
        '--types',
        'node',
        '--resolveJsonModule',
        join(ROOT, 'hack/kind/smoke.ts'),
      ],
      { cwd: ROOT },
    );
  }, 120_000);

  it('the Dockerfile is multi-stage, runs as a numeric non-root user, and copies only what exists', () => {
    const text = read('Dockerfile');
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const froms = lines.filter((l) => /^FROM\s/i.test(l));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(text).not.toMatch(/:latest\b/);
    // The base is a Node.js LTS line (even major) that package.json's engines admit (ADR 0016).
    const major = Number(/^ARG NODE_IMAGE=node:(\d+)[.-]/m.exec(text)?.[1]);
    expect(major % 2, `node:${major} is not an LTS line`).toBe(0);
    const engines = JSON.parse(read('package.json')).engines.node as string;
    expect(major).toBeGreaterThanOrEqual(Number(/>=(\d+)/.exec(engines)?.[1]));
    expect(major, 'Node 20 is past its end of life').toBeGreaterThan(20);
    // The benchmarks measure what ships: their Node release is of the image's line.
    expect(BENCH_NODE_VERSION.split('.')[0], 'test/infra/node.ts BENCH_NODE_VERSION').toBe(String(major));
    const finalStage = text.slice(text.lastIndexOf('\nFROM '));
    const user = /^USER\s+(\S+)/m.exec(finalStage)?.[1];
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(finalStage).toMatch(/ENTRYPOINT \["node",.*"\/app\/bin\/imcloud\.js"\]/);
    expect(text).toMatch(/npm ci/);
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/npm prune --omit=dev/);
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/).filter((s) => !s.startsWith('--') && s !== '.'))
        expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['.git', 'node_modules', 'dist']) expect(ignored).toContain(entry);
    // The build needs these, so they must not be ignored.
    for (const needed of ['services', 'protocol', 'scripts', 'bin', 'operator', 'web', 'sdk']) expect(ignored).not.toContain(needed);
  });
});
