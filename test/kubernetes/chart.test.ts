// The Helm chart (charts/imcloud, Helm 4): lint, render with defaults and with every documented
// value, server-side dry-run of every rendered manifest on the real apiserver, then a real
// install: the operator Deployment becomes Ready (kwok), `helm test` passes, the operator runs
// with exactly the chart's RBAC and reconciles an ImCluster, and uninstall leaves nothing behind.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { testCa } from '../support/certificates.js';
import {
  apply,
  CommandError,
  cleanupNamespace,
  dependencySecrets,
  eventually,
  helm,
  imcluster,
  kubeconfig,
  kubectl,
  kubectlJson,
  newNamespace,
  ROOT,
  startOperator,
  waitPhase,
  yamlDocs,
} from './harness.js';

const CHART = join(ROOT, 'charts', 'imcloud');
const VALUES_ALL = join(ROOT, 'test', 'kubernetes', 'fixtures', 'values-all.yaml');
const PROM_API = ['--api-versions', 'monitoring.coreos.com/v1'];

let releaseNs: string;
let watchedNs: string;

/** Minimal structural CRDs so that ServiceMonitor/PrometheusRule objects can be dry-run and created. */
const promCrd = (plural: string, kind: string) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.monitoring.coreos.com` },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { plural, kind, singular: kind.toLowerCase(), listKind: `${kind}List` },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
});

beforeAll(async () => {
  releaseNs = await newNamespace('chart');
  watchedNs = await newNamespace('chart-watched');
  for (const ns of ['imcloud-watched', 'imcloud-dashboards']) await kubectl(['create', 'namespace', ns]).catch(() => undefined);
  await kubectl(
    ['apply', '--server-side', '-f', '-'],
    [
      stringify(promCrd('servicemonitors', 'ServiceMonitor')),
      stringify(promCrd('prometheusrules', 'PrometheusRule')),
      stringify({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'imcloud-high' }, value: 100000 }),
    ].join('---\n'),
  );
  await kubectl([
    'wait',
    '--for=condition=Established',
    'crd/servicemonitors.monitoring.coreos.com',
    'crd/prometheusrules.monitoring.coreos.com',
  ]);
});

afterAll(async () => {
  await helm(['uninstall', 'imc', '-n', releaseNs, '--wait']).catch(() => undefined);
  await cleanupNamespace(watchedNs);
  await kubectl(['delete', 'namespace', releaseNs, 'imcloud-watched', 'imcloud-dashboards', '--wait=false']).catch(() => undefined);
  await kubectl(['delete', 'crd', 'servicemonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']).catch(() => undefined);
});

async function template(args: string[]): Promise<any[]> {
  return yamlDocs(await helm(['template', 'imc', CHART, '-n', releaseNs, '--include-crds', ...args]));
}

/** Server-side dry-run of each rendered object on its own, so that a failure names the object. */
async function dryRun(docs: any[]): Promise<void> {
  const failures: string[] = [];
  for (const doc of docs) {
    const ns = doc.metadata.namespace ?? releaseNs;
    try {
      // JSON, not re-serialised YAML: kubectl reads YAML 1.1 ("yes" is a boolean there).
      if (doc.kind === 'CustomResourceDefinition')
        await kubectl(['apply', '--server-side', '--dry-run=server', '-f', '-'], JSON.stringify(doc));
      else await kubectl(['apply', '--server-side', '--dry-run=server', '--force-conflicts', '-n', ns, '-f', '-'], JSON.stringify(doc));
    } catch (err) {
      failures.push(`${doc.kind}/${doc.metadata.name}: ${err instanceof CommandError ? err.stderr.trim() : String(err)}`);
    }
  }
  expect(failures).toEqual([]);
}

function leafKeys(value: unknown, prefix = ''): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
    return Object.entries(value).flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

describe('chart charts/imcloud', () => {
  it('helm lint passes (strict), with the defaults and with every documented value', async () => {
    const out = await helm(['lint', CHART, '--strict']);
    expect(out).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(await helm(['lint', CHART, '--strict', '-f', VALUES_ALL])).toContain('0 chart(s) failed');
    const chart = parseYaml(await helm(['show', 'chart', CHART]));
    expect(chart.apiVersion).toBe('v2');
  });

  it('values-all.yaml sets every value documented in values.yaml', async () => {
    const documented = leafKeys(parseYaml(await helm(['show', 'values', CHART])));
    const all = new Set(leafKeys(parseYaml(await import('node:fs').then((fs) => fs.readFileSync(VALUES_ALL, 'utf8')))));
    const covered = (k: string) => all.has(k) || [...all].some((a) => a.startsWith(`${k}.`));
    expect(documented.filter((k) => !covered(k))).toEqual([]);
  });

  it('values.schema.json rejects invalid values with a clear message', async () => {
    for (const [args, message] of [
      [['--set', 'operator.replicas=-1'], /operator\.replicas|minimum/],
      [['--set', 'operator.logLevel=loud'], /logLevel/],
      [['--set', 'operatr.replicas=1'], /additional properties 'operatr' not allowed|operatr/],
      [['--set', 'example.vipAppIds[0]=Bad_App'], /vipAppIds/],
      [['--set', 'example.tls.roles[0]=web'], /example\/tls\/roles\/0.*gate/],
      [['--set', 'example.tls.secretName=Not_A_Name'], /example\/tls\/secretName/],
      [['--set', 'example.enabled=true', '--set', 'example.tls.roles[0]=gate'], /example\.tls\.roles needs example\.tls\.secretName/],
    ] as Array<[string[], RegExp]>) {
      const err = await helm(['template', 'imc', CHART, ...args]).then(
        () => undefined,
        (e: CommandError) => e,
      );
      expect(err, args.join(' ')).toBeInstanceOf(CommandError);
      expect(err!.stderr).toMatch(message);
    }
  });

  it('helm template with the defaults: every manifest passes a server-side dry-run; restricted security defaults', async () => {
    const docs = await template([]);
    expect(docs.map((d) => d.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'ConfigMap',
      'ConfigMap',
      'ConfigMap',
      'CustomResourceDefinition',
      'Deployment',
      'Pod',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ]);
    await dryRun(docs);
    const deployment = docs.find((d) => d.kind === 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0].args).toEqual(['operator']);
    // One ConfigMap per dashboard (generated from monitoring/dashboards/), with the Grafana
    // sidecar's label and folder annotation, holding exactly the chart's generated JSON.
    const dashboards = docs.filter((d) => d.kind === 'ConfigMap');
    expect(dashboards.flatMap((d) => Object.keys(d.data)).sort()).toEqual([
      'bus-and-storage.json',
      'operator.json',
      'overview.json',
      'tenant.json',
    ]);
    for (const d of dashboards) {
      expect(d.metadata.labels.grafana_dashboard).toBe('1');
      expect(d.metadata.annotations).toEqual({ grafana_folder: 'imcloud' });
      for (const [file, json] of Object.entries(d.data as Record<string, string>)) {
        expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(CHART, 'files', 'dashboards', file), 'utf8')));
      }
    }
    // the chart's CRD is the generated one
    const crd = docs.find((d) => d.kind === 'CustomResourceDefinition');
    expect(stringify(crd)).toBe(
      stringify(parseYaml(await import('node:fs').then((fs) => fs.readFileSync(join(ROOT, 'crds', 'imcluster.yaml'), 'utf8')))),
    );
    // least privilege: no wildcard, secrets never listed or watched
    const role = docs.find((d) => d.kind === 'ClusterRole');
    expect(JSON.stringify(role.rules)).not.toContain('*');
    expect(role.rules.find((r: any) => r.resources.includes('secrets')).verbs).toEqual(['get', 'create', 'patch']);
    // the file role's CPU (spec.file.autoscale): read-only, and only pod metrics
    expect(role.rules.filter((r: any) => r.apiGroups.includes('metrics.k8s.io'))).toEqual([
      { apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['list'] },
    ]);
  });

  it('helm template with every documented value set (and the Prometheus operator present): every manifest passes a server-side dry-run', async () => {
    const docs = await template(['-f', VALUES_ALL, ...PROM_API]);
    const kinds = docs.map((d) => d.kind);
    for (const k of ['ServiceMonitor', 'PrometheusRule', 'ImCluster', 'Role', 'RoleBinding']) expect(kinds).toContain(k);
    expect(kinds).not.toContain('ClusterRole'); // watchNamespace: a Role in that namespace instead
    await dryRun(docs);
    const deployment = docs.find((d) => d.kind === 'Deployment');
    expect(deployment.metadata.name).toBe('imcloud-all');
    expect(deployment.spec.template.spec.containers[0].image).toBe('registry.example.com/imcloud/imcloud:9.9.9');
    expect(deployment.spec.template.spec.priorityClassName).toBe('imcloud-high');
    const env = Object.fromEntries(
      deployment.spec.template.spec.containers[0].env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]),
    );
    expect(env).toMatchObject({
      IMCLOUD_OPERATOR_NAMESPACE: 'imcloud-watched',
      IMCLOUD_OPERATOR_WORKERS: '4',
      IMCLOUD_OPERATOR_LEASE_DURATION_MS: '20000',
      IMCLOUD_OPERATOR_GATE_REPORT_MAX_AGE_MS: '45000',
    });
    // The operator's own ServiceMonitor selects its Service by label and gives its series the
    // role label the roles' series carry (app.kubernetes.io/component).
    const sm = docs.find((d) => d.kind === 'ServiceMonitor');
    expect(sm.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'im',
      'app.kubernetes.io/instance': 'imc',
      'app.kubernetes.io/component': 'operator',
    });
    expect(sm.spec.podTargetLabels).toEqual(['app.kubernetes.io/component']);
    expect(sm.metadata.labels.release).toBe('prometheus');
    const role = docs.find((d) => d.kind === 'Role' && d.rules.some((r: any) => r.resources.includes('imclusters')));
    expect(role.metadata.namespace).toBe('imcloud-watched');
    expect(docs.find((d) => d.kind === 'ConfigMap').metadata).toMatchObject({
      namespace: 'imcloud-dashboards',
      labels: { grafana_dashboard_imcloud: 'yes' },
    });
    expect(docs.find((d) => d.kind === 'ImCluster').spec.gate.pools[0].appIds).toEqual(['acme', 'globex']);
    expect(docs.find((d) => d.kind === 'ImCluster').spec.tls).toEqual({
      secretName: 'example-tls',
      roles: ['gate', 'dispatch', 'admin', 'file', 'logic'],
    });
    // example.file: the file role with a managed MinIO, which it needs
    expect(docs.find((d) => d.kind === 'ImCluster').spec.file).toEqual({ replicas: 2 });
    expect(docs.find((d) => d.kind === 'ImCluster').spec.dependencies.minio).toEqual({ managed: true });
  });

  it("the example ImCluster carries spec.tls only when example.tls.secretName is set (roles: the CRD's default unless given)", async () => {
    const example = async (args: string[]) =>
      (await template(['--set', 'example.enabled=true', ...args])).find((d) => d.kind === 'ImCluster');
    expect((await example([])).spec.tls).toBeUndefined();
    const withTls = await example(['--set', 'example.tls.secretName=demo-tls']);
    expect(withTls.spec.tls).toEqual({ secretName: 'demo-tls' });
    // The apiserver fills in the default roles: the example is a valid ImCluster.
    const created = JSON.parse(
      await kubectl(['create', '--dry-run=server', '-n', releaseNs, '-o', 'json', '-f', '-'], JSON.stringify(withTls)),
    );
    expect(created.spec.tls).toEqual({ secretName: 'demo-tls', roles: ['gate', 'dispatch', 'admin', 'file'] });
    // Without example.file: no file role and no MinIO.
    expect(created.spec.file).toBeUndefined();
    expect(created.spec.dependencies.minio).toBeUndefined();
  });

  it("helm install: the operator Deployment becomes Ready, helm test passes, and the operator works with exactly the chart's RBAC", async () => {
    await helm(
      ['install', 'imc', CHART, '-n', releaseNs, '--wait', '--timeout', '120s', '--set', `operator.watchNamespace=${watchedNs}`],
      180_000,
    );
    const deployment = await kubectlJson(['get', 'deployment', 'imc-imcloud-operator', '-n', releaseNs]);
    expect(deployment.status.readyReplicas).toBe(2);
    expect(deployment.status.conditions.find((c: any) => c.type === 'Available').status).toBe('True');
    const test = await helm(['test', 'imc', '-n', releaseNs, '--timeout', '60s']);
    expect(test).toMatch(/Phase:\s+Succeeded/);

    // Run an operator as the chart's ServiceAccount (a real token, RBAC enforced by the apiserver).
    const token = (await kubectl(['create', 'token', 'imc-imcloud-operator', '-n', releaseNs, '--duration=1h'])).trim();
    const admin = parseYaml(await import('node:fs').then((fs) => fs.readFileSync(kubeconfig(), 'utf8')));
    // It holds a live token: removed when the test ends, whatever the outcome.
    const saKubeconfig = join(tmpdir(), `imcloud-sa-${process.pid}.kubeconfig`);
    onTestFinished(() => rmSync(saKubeconfig, { force: true }));
    writeFileSync(
      saKubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: admin.clusters,
        users: [{ name: 'sa', user: { token } }],
        contexts: [{ name: 'sa', context: { cluster: admin.clusters[0].name, user: 'sa', namespace: releaseNs } }],
        'current-context': 'sa',
      }),
      { mode: 0o600 },
    );
    expect(
      (
        await kubectl([
          'auth',
          'can-i',
          'list',
          'secrets',
          '-n',
          watchedNs,
          `--as=system:serviceaccount:${releaseNs}:imc-imcloud-operator`,
        ]).catch((e: CommandError) => e.stdout)
      ).trim(),
    ).toBe('no');
    expect(
      (
        await kubectl([
          'auth',
          'can-i',
          'patch',
          'imclusters/status',
          '-n',
          watchedNs,
          `--as=system:serviceaccount:${releaseNs}:imc-imcloud-operator`,
        ])
      ).trim(),
    ).toBe('yes');
    expect(
      (
        await kubectl([
          'auth',
          'can-i',
          'create',
          'deployments',
          '-n',
          'default',
          `--as=system:serviceaccount:${releaseNs}:imc-imcloud-operator`,
        ]).catch((e: CommandError) => e.stdout)
      ).trim(),
    ).toBe('no');

    await dependencySecrets(watchedNs);
    // spec.tls: the chart's RBAC lets the operator read the certificate Secret it checks.
    const ca = testCa();
    onTestFinished(() => ca.remove());
    const pair = ca.issue('rbac');
    await apply(watchedNs, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'rbac-tls' },
      type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': pair.cert, 'tls.key': readFileSync(pair.keyFile, 'utf8') },
    });
    const op = await startOperator({
      namespace: watchedNs,
      leaseNamespace: releaseNs,
      kubeconfigPath: saKubeconfig,
      env: { IMCLOUD_OPERATOR_LEASE_NAME: 'imc-operator-local' },
    });
    await apply(watchedNs, imcluster('rbac', { gray: { version: '1.1.0', appIds: ['acme'] }, tls: { secretName: 'rbac-tls' } }));
    const imc = await waitPhase(watchedNs, 'rbac', 'Ready', 90_000);
    expect(imc.status.canary.version).toBe('1.1.0');
    expect(imc.status.conditions.find((c: any) => c.type === 'DependenciesReady').status).toBe('True');
    // The Prometheus operator's CRD exists here, so the operator also made a ServiceMonitor: the
    // ops port of every role pod through rbac-metrics, over https for the roles spec.tls covers.
    const sm = await eventually('ServiceMonitor', async () => (await kubectlJson(['get', 'servicemonitors', '-n', watchedNs])).items[0]);
    expect(sm.metadata.ownerReferences[0].kind).toBe('ImCluster');
    expect(sm.spec.selector.matchLabels['app.kubernetes.io/component']).toBe('metrics');
    expect(sm.spec.endpoints.map((e: any) => [e.port, e.scheme, e.tlsConfig])).toEqual([
      ['ops', 'http', undefined],
      ['ops', 'https', { insecureSkipVerify: true }],
    ]);
    const metrics = await kubectlJson(['get', 'service', 'rbac-metrics', '-n', watchedNs]);
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => metrics.metadata.labels[k] === v)).toBe(true);
    // Every role pod by label, not by role or pool: new pools and the file role are scraped
    // without a change; their role, pool and track become labels of their series.
    expect(Object.keys(metrics.spec.selector).sort()).toEqual([
      'app.kubernetes.io/instance',
      'app.kubernetes.io/name',
      'imcloud.dev/cluster',
      'imcloud.dev/metrics-port',
    ]);
    expect(sm.spec.podTargetLabels).toEqual(['app.kubernetes.io/component', 'imcloud.dev/pool', 'imcloud.dev/track']);
    expect(op.logs.filter((l) => /forbidden/i.test(l))).toEqual([]);
    await kubectl(['delete', 'imc', 'rbac', '-n', watchedNs, '--wait=true', '--timeout=60s']);
    await op.stop();
  });

  it('helm uninstall leaves nothing of the release behind (the CRD stays, as Helm does for crds/)', async () => {
    await helm(['uninstall', 'imc', '-n', releaseNs, '--wait']);
    await eventually(
      'release objects gone',
      async () => {
        const left = (
          await kubectl([
            'get',
            'all,configmap,secret,serviceaccount,role,rolebinding,pdb,lease',
            '-n',
            releaseNs,
            '-l',
            'app.kubernetes.io/instance=imc',
            '-o',
            'name',
          ])
        ).trim();
        const clusterLeft = (
          await kubectl(['get', 'clusterrole,clusterrolebinding', '-l', 'app.kubernetes.io/instance=imc', '-o', 'name'])
        ).trim();
        const watchedLeft = (
          await kubectl(['get', 'role,rolebinding', '-n', watchedNs, '-l', 'app.kubernetes.io/instance=imc', '-o', 'name'])
        ).trim();
        return left === '' && clusterLeft === '' && watchedLeft === '' ? true : undefined;
      },
      60_000,
    );
    expect((await kubectl(['get', 'pods', '-n', releaseNs, '-o', 'name'])).trim()).toBe('');
    expect((await kubectl(['get', 'crd', 'imclusters.imcloud.dev', '-o', 'name'])).trim()).toBe(
      'customresourcedefinition.apiextensions.k8s.io/imclusters.imcloud.dev',
    );
  });
});
