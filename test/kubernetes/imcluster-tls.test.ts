// spec.tls on a real control plane: the certificate Secret is mounted into the roles it covers,
// whose probes go over HTTPS and whose gates advertise wss://; a missing or unusable Secret shows
// in status and holds exactly the Deployments that would mount it; a renewed certificate in the
// Secret changes no pod template (the processes read the files again; no rollout).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCa, testCa } from '../support/certificates.js';
import {
  apply,
  cleanupNamespace,
  componentNames,
  condition,
  dependencySecrets,
  deployments,
  eventually,
  getImc,
  imcluster,
  newNamespace,
  patchImc,
  startOperator,
  waitEvents,
  waitPhase,
} from './harness.js';

let ns: string;
let ca: TestCa;

beforeAll(async () => {
  ns = await newNamespace('tls');
  ca = testCa();
  await dependencySecrets(ns);
  await startOperator({ namespace: ns });
});

afterAll(async () => {
  await cleanupNamespace(ns);
  ca?.remove();
});

const env = (d: any) => Object.fromEntries(d.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const tlsSecret = (cert: { certFile: string }, key: { keyFile: string }) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'secure-tls' },
  type: 'kubernetes.io/tls',
  stringData: { 'tls.crt': readFileSync(cert.certFile, 'utf8'), 'tls.key': readFileSync(key.keyFile, 'utf8') },
});
const TLS_DEPLOYMENTS = ['secure-admin', 'secure-dispatch', 'secure-gate-main', 'secure-gate-vip'];
const PLAIN_DEPLOYMENTS = ['secure-consumer', 'secure-logic'];

/** The ImCluster once the operator has written the status of its current generation and `ok` holds for it. */
const observed = (what: string, ok: (imc: any) => boolean, timeoutMs?: number) =>
  eventually(
    what,
    async () => {
      const imc = await getImc(ns, 'secure');
      return imc.status?.observedGeneration === imc.metadata.generation && ok(imc) ? imc : undefined;
    },
    timeoutMs,
  );

describe('ImCluster spec.tls', () => {
  it('holds the Deployments that would mount a missing TLS Secret, says so in status, and rolls them out once it exists', async () => {
    await apply(ns, imcluster('secure', { tls: { secretName: 'secure-tls' } }));
    const waiting = await observed(
      'DependenciesReady False for the missing TLS Secret',
      (x) => condition(x, 'DependenciesReady')?.status === 'False',
    );
    expect(condition(waiting, 'DependenciesReady').reason).toBe('TLSSecretNotReady');
    expect(condition(waiting, 'DependenciesReady').message).toContain(
      'tls: Secret secure-tls not found; the gate, dispatch, admin Deployments are not rolled out until it is fixed',
    );
    expect(condition(waiting, 'Ready')).toMatchObject({ status: 'False', reason: 'DependenciesNotReady' });
    // The roles it does not cover are there; none that would mount the Secret was created.
    expect([...(await deployments(ns)).keys()].sort()).toEqual(PLAIN_DEPLOYMENTS);
    await waitEvents(ns, 'secure', 'a DependencyMissing Warning naming secure-tls', (list) =>
      list.some((e) => e.type === 'Warning' && e.reason === 'DependencyMissing' && e.message.includes('secure-tls')),
    );

    // No nudge: the operator looks at a missing Secret again by itself.
    await apply(ns, tlsSecret(ca.issue('first'), { keyFile: `${ca.dir}/first.key` }));
    // The reconcile that creates the held Deployments may write Ready from a cache that does not
    // hold them yet: wait for the status that counts all of them.
    const all = [...TLS_DEPLOYMENTS, ...PLAIN_DEPLOYMENTS].sort();
    const imc = await observed(
      'Ready with every Deployment counted',
      (x) => x.status.phase === 'Ready' && componentNames(x).join() === all.join(),
    );
    expect(condition(imc, 'DependenciesReady')).toMatchObject({ status: 'True', reason: 'DependenciesReady' });
    expect(condition(imc, 'DependenciesReady').message).toContain('TLS Secret secure-tls holds a usable certificate and key');

    const deps = await deployments(ns);
    expect([...deps.keys()].sort()).toEqual([...TLS_DEPLOYMENTS, ...PLAIN_DEPLOYMENTS].sort());
    for (const name of TLS_DEPLOYMENTS) {
      const pod = deps.get(name).spec.template.spec;
      const c = pod.containers[0];
      expect(
        pod.volumes.find((v: any) => v.name === 'tls'),
        name,
      ).toEqual({ name: 'tls', secret: { secretName: 'secure-tls', defaultMode: 0o440 } });
      expect(
        c.volumeMounts.find((m: any) => m.name === 'tls'),
        name,
      ).toEqual({ name: 'tls', mountPath: '/etc/imcloud/tls', readOnly: true });
      expect(env(deps.get(name)), name).toMatchObject({
        IMCLOUD_TLS_CERT_FILE: '/etc/imcloud/tls/tls.crt',
        IMCLOUD_TLS_KEY_FILE: '/etc/imcloud/tls/tls.key',
        IMCLOUD_HTTP_OPS_PORT: '9090',
      });
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'])
        expect(c[probe].httpGet, `${name} ${probe}`).toMatchObject({ port: 'ops', scheme: 'HTTPS' });
      expect(deps.get(name).status.readyReplicas, name).toBe(deps.get(name).spec.replicas);
    }
    for (const name of PLAIN_DEPLOYMENTS) {
      const pod = deps.get(name).spec.template.spec;
      expect(
        pod.volumes.map((v: any) => v.name),
        name,
      ).toEqual(['routing', 'tmp']);
      expect(env(deps.get(name)).IMCLOUD_TLS_CERT_FILE, name).toBeUndefined();
      expect(pod.containers[0].readinessProbe.httpGet.scheme, name).toBe('HTTP');
    }
    expect(env(deps.get('secure-gate-vip')).IMCLOUD_GATE_PUBLIC_WS_URL).toBe('wss://$(POD_IP):8080/ws');
    expect(env(deps.get('secure-gate-main')).IMCLOUD_GATE_PUBLIC_WS_URL).toBe('wss://$(POD_IP):8080/ws');
  });

  it("a renewed certificate in the Secret changes no Deployment's pod template", async () => {
    const before = await deployments(ns);
    await apply(ns, tlsSecret(ca.issue('renewed'), { keyFile: `${ca.dir}/renewed.key` }));
    // The operator reads the Secret in every reconcile. A spec change that touches no Deployment
    // makes one that starts after the renewal; its status (observedGeneration) says it ran.
    const generation = (await getImc(ns, 'secure')).metadata.generation;
    await patchImc(ns, 'secure', { spec: { monitoring: { interval: '15s' } } });
    const imc = await observed('the reconcile after the renewal', (x) => x.metadata.generation > generation && x.status.phase === 'Ready');
    expect(condition(imc, 'DependenciesReady').status).toBe('True');
    const after = await deployments(ns);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, d] of after) {
      expect(d.metadata.generation, name).toBe(before.get(name).metadata.generation);
      expect(d.spec.template, name).toEqual(before.get(name).spec.template);
    }
  });

  it('an unusable Secret holds the roles it covers at their running version while the others roll on; fixed, they follow', async () => {
    const before = await deployments(ns);
    // A certificate with another certificate's key: the processes could not serve it.
    await apply(ns, tlsSecret({ certFile: `${ca.dir}/renewed.crt` }, { keyFile: `${ca.dir}/first.key` }));
    await patchImc(ns, 'secure', { spec: { version: '1.1.0' } });
    const held = await observed(
      'version 1.1.0 seen with an unusable TLS Secret',
      (x) => condition(x, 'DependenciesReady')?.status === 'False',
    );
    expect(held.spec.version).toBe('1.1.0');
    expect(condition(held, 'DependenciesReady')).toMatchObject({ reason: 'TLSSecretNotReady' });
    expect(condition(held, 'DependenciesReady').message).toMatch(
      /tls: Secret secure-tls: tls\.crt and tls\.key are not a usable certificate and key/,
    );
    const during = await deployments(ns);
    for (const name of PLAIN_DEPLOYMENTS)
      expect(during.get(name).spec.template.spec.containers[0].image, name).toBe('ghcr.io/imcloud/imcloud:1.1.0');
    for (const name of TLS_DEPLOYMENTS) {
      expect(during.get(name).metadata.generation, name).toBe(before.get(name).metadata.generation);
      expect(during.get(name).spec.template.spec.containers[0].image, name).toBe('ghcr.io/imcloud/imcloud:1.0.0');
    }

    await apply(ns, tlsSecret({ certFile: `${ca.dir}/renewed.crt` }, { keyFile: `${ca.dir}/renewed.key` }));
    const imc = await observed(
      'Ready on 1.1.0 once the Secret is usable',
      (x) => x.status.phase === 'Ready' && x.status.version === '1.1.0',
    );
    expect(condition(imc, 'DependenciesReady').status).toBe('True');
    const after = await deployments(ns);
    for (const [name, d] of after) expect(d.spec.template.spec.containers[0].image, name).toBe('ghcr.io/imcloud/imcloud:1.1.0');
  });

  it('without spec.tls the pods go back to plain listeners: no mount, HTTP probes, ws://', async () => {
    await patchImc(ns, 'secure', { spec: { tls: null } });
    await waitPhase(ns, 'secure', 'Ready');
    const deps = await deployments(ns);
    for (const [name, d] of deps) {
      expect(
        d.spec.template.spec.volumes.map((v: any) => v.name),
        name,
      ).toEqual(['routing', 'tmp']);
      expect(env(d).IMCLOUD_TLS_CERT_FILE, name).toBeUndefined();
      expect(d.spec.template.spec.containers[0].readinessProbe.httpGet.scheme, name).toBe('HTTP');
    }
    expect(env(deps.get('secure-gate-vip')).IMCLOUD_GATE_PUBLIC_WS_URL).toBe('ws://$(POD_IP):8080/ws');
  });
});
