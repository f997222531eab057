import { describe, expect, it } from 'vitest';
import { cluster } from '../testing/fixtures.js';
import { dependencyStatus, fileMinioProblem, managedPassword, missingKeys } from './secrets.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (data: Record<string, string>) => ({
  metadata: { name: 's' },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

describe('managedPassword', () => {
  it("keeps the password a managed dependency's Secret holds (minio's secretKey), else makes a new one each time", () => {
    expect(managedPassword(secret({ password: 'p1', secretKey: 'k1' }))).toBe('p1');
    expect(managedPassword(secret({ secretKey: 'k1' }))).toBe('k1');
    const fresh = managedPassword(null);
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(managedPassword(secret({}))).not.toBe(fresh);
  });
});

describe('missingKeys', () => {
  it('lists the keys the roles need that are absent or empty, never the optional ones', () => {
    expect(missingKeys('mongodb', { url: 'mongodb://x' })).toEqual([]); // database is optional
    expect(missingKeys('redis', { url: '' })).toEqual(['url']);
    expect(missingKeys('minio', { endPoint: 'minio', secretKey: 's' })).toEqual(['accessKey']);
  });
});

describe('dependencyStatus', () => {
  it('is ready when nothing is missing and the managed dependencies run, and says what it checked', () => {
    expect(dependencyStatus(cluster(), [], [], false)).toEqual({
      ready: true,
      reason: undefined,
      message: 'every dependency is configured and the managed ones are ready',
    });
    const tls = cluster({ tls: { secretName: 'chat-tls', roles: ['gate'] } });
    expect(dependencyStatus(tls, [], [], false).message).toBe(
      'every dependency is configured and the managed ones are ready; TLS Secret chat-tls holds a usable certificate and key',
    );
  });

  it('names every problem, external Secrets first, then the managed dependencies not ready', () => {
    const s = dependencyStatus(cluster(), ['redis: Secret r not found'], ['mongodb (managed StatefulSet demo-mongodb not ready)'], false);
    expect(s).toEqual({
      ready: false,
      reason: undefined,
      message: 'redis: Secret r not found; mongodb (managed StatefulSet demo-mongodb not ready)',
    });
  });

  it('gives TLSSecretNotReady as the reason only when the TLS Secret is the one thing wrong', () => {
    const c = cluster({ tls: { secretName: 'chat-tls', roles: ['gate'] } });
    expect(dependencyStatus(c, ['tls: Secret chat-tls not found; …'], [], true).reason).toBe('TLSSecretNotReady');
    expect(dependencyStatus(c, ['redis: Secret r not found', 'tls: Secret chat-tls not found; …'], [], true).reason).toBeUndefined();
    expect(dependencyStatus(c, ['tls: Secret chat-tls not found; …'], ['mongodb (…)'], true).reason).toBeUndefined();
  });
});

describe('the file role without MinIO (ADR 0108)', () => {
  const minio = { managed: false, secretRef: { name: 'minio-conn' } };
  const withDeps = (deps: object) => cluster({ dependencies: { ...cluster().spec.dependencies, ...deps } });

  it('is a problem only when spec.file is set and spec.dependencies.minio is not', () => {
    expect(fileMinioProblem(cluster())).toBeUndefined();
    expect(fileMinioProblem(withDeps({ minio }))).toBeUndefined();
    expect(fileMinioProblem(cluster({ file: { replicas: 2 } }))).toBe(
      'minio: spec.file needs spec.dependencies.minio (secretRef, or managed: true); the file role is not deployed until it is set',
    );
    expect(fileMinioProblem({ ...withDeps({ minio }), spec: { ...withDeps({ minio }).spec, file: { replicas: 1 } } })).toBeUndefined();
  });

  it('gives MinioNotConfigured as the reason only when it is the one thing wrong', () => {
    const c = cluster({ file: { replicas: 2 } });
    const problem = fileMinioProblem(c)!;
    expect(dependencyStatus(c, [problem], [], false, true)).toEqual({ ready: false, reason: 'MinioNotConfigured', message: problem });
    expect(dependencyStatus(c, ['redis: Secret r not found', problem], [], false, true).reason).toBeUndefined();
    expect(dependencyStatus(c, [problem], ['mongodb (…)'], false, true).reason).toBeUndefined();
  });
});
