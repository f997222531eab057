// The Secrets a cluster needs. They are not watched (that would cache every Secret of the
// namespace in the operator; ADR 0100) but read at each reconcile:
// - a managed dependency's Secret is the operator's: generated once, its password kept after;
// - an external dependency's Secret is the user's: checked for the keys the roles read;
// - the spec.tls Secret is checked the way the processes will read it (ADR 0107);
// - <cluster>-admin-token is created once, unless spec.adminTokenSecretRef names the user's own.
import { randomBytes } from 'node:crypto';
import type { DependencyName, ImCluster } from '../api/imcluster.js';
import type { Cluster, ClusterCache } from '../cluster-cache.js';
import { type KubeClient, type KubeObject, R } from '../kube/client.js';
import { type Secret, secretData, secretValue } from '../kube/secret.js';
import { DEPENDENCY_KEYS, dependencySecrets, fileDeployed, fileWanted, hash, names, tlsRoles } from '../objects/common.js';
import { adminTokenSecret, dependencySecret } from '../objects/dependencies.js';
import type { DesiredObject } from '../objects/reconcilers.js';
import type { DependencyStatus } from '../status.js';
import { tlsSecretProblem } from '../tls.js';

/** While a Secret the cluster needs is missing or unusable, the cluster is looked at again this often. */
export const SECRET_RECHECK_MS = 10_000;

export interface DependencyPlan {
  /** The managed dependencies' Secrets, applied with the cluster's other objects. */
  secrets: DesiredObject[];
  /** Of every dependency's connection settings: pods roll when one changes (the dependencies-hash annotation). */
  hash: string;
  /** DependenciesReady. */
  status: DependencyStatus;
  /** What is missing or unusable (the DependencyMissing Event). */
  problems: string[];
  /** A Secret is missing or unusable: look again in SECRET_RECHECK_MS (Secrets are not watched; a spec change is). */
  recheck: boolean;
  /** The spec.tls Secret is missing or unusable: what mounts it is held as it is (followsTlsSecret). */
  holdTls: boolean;
}

export async function reconcileDependencySecrets(kube: KubeClient, cache: ClusterCache, c: Cluster): Promise<DependencyPlan> {
  const ns = c.metadata.namespace!;
  const secrets: DesiredObject[] = [];
  const problems: string[] = [];
  const managedNotReady: string[] = [];
  const settings: Record<string, Record<string, string>> = {};
  for (const { dep, secret, managed } of dependencySecrets(c)) {
    const existing = await kube.get<Secret>(R.secrets, ns, secret);
    if (managed) {
      const { plain, ...object } = dependencySecret(c, dep, managedPassword(existing));
      secrets.push({ resource: R.secrets, object: object as KubeObject });
      settings[secret] = plain;
      if ((cache.statefulSet(ns, secret)?.status?.readyReplicas ?? 0) < 1)
        managedNotReady.push(`${dep} (managed StatefulSet ${secret} not ready)`);
    } else if (!existing) {
      problems.push(`${dep}: Secret ${secret} not found`);
    } else {
      const data = secretData(existing);
      const missing = missingKeys(dep, data);
      if (missing.length) problems.push(`${dep}: Secret ${secret} lacks key(s) ${missing.join(', ')}`);
      settings[secret] = data;
    }
  }
  const tlsProblem = c.spec.tls
    ? tlsSecretProblem(c.spec.tls.secretName, await kube.get<Secret>(R.secrets, ns, c.spec.tls.secretName))
    : undefined;
  if (tlsProblem)
    problems.push(
      `${tlsProblem}; the ${[...tlsRoles(c)].filter((r) => r !== 'file' || fileDeployed(c)).join(', ')} Deployments are not rolled out until it is fixed (running pods keep serving)`,
    );
  const recheck = problems.length > 0;
  const minioProblem = fileMinioProblem(c);
  if (minioProblem) problems.push(minioProblem);
  return {
    secrets,
    // Only the dependencies' settings: the TLS Secret's content is read by the running processes
    // (a renewed certificate never restarts a pod).
    hash: hash(
      Object.keys(settings)
        .sort()
        .map((k) => [k, settings[k]]),
    ),
    status: dependencyStatus(c, problems, managedNotReady.sort(), tlsProblem !== undefined, minioProblem !== undefined),
    problems,
    recheck,
    holdTls: tlsProblem !== undefined,
  };
}

/** <cluster>-admin-token, created with a random token when it does not exist and left alone after. */
export async function reconcileAdminToken(kube: KubeClient, c: Cluster): Promise<void> {
  if (c.spec.adminTokenSecretRef) return;
  const existing = await kube.get<Secret>(R.secrets, c.metadata.namespace!, names.adminToken(c.metadata.name));
  if (!existing) await kube.create(R.secrets, adminTokenSecret(c, randomBytes(24).toString('base64url')) as KubeObject);
}

/** A managed dependency's password: what its Secret holds (minio's is its secretKey), else a new one. */
export function managedPassword(existing: Secret | null): string {
  return secretValue(existing, 'password') ?? secretValue(existing, 'secretKey') ?? randomBytes(18).toString('base64url');
}

/** The keys the roles need that an external dependency's Secret lacks (or holds empty). */
export function missingKeys(dep: DependencyName, data: Record<string, string>): string[] {
  return DEPENDENCY_KEYS[dep].filter((k) => !k.optional && !data[k.key]).map((k) => k.key);
}

/**
 * spec.file without spec.dependencies.minio: the file role is not deployed (it would have nowhere
 * to store a byte), and DependenciesReady says so (ADR 0108).
 */
export function fileMinioProblem(c: ImCluster): string | undefined {
  if (!fileWanted(c) || fileDeployed(c)) return undefined;
  return 'minio: spec.file needs spec.dependencies.minio (secretRef, or managed: true); the file role is not deployed until it is set';
}

/**
 * DependenciesReady: nothing missing and every managed dependency running. Its reason names the
 * one thing wrong when it is the TLS Secret (TLSSecretNotReady) or MinIO for the file role
 * (MinioNotConfigured); `problems` then holds only its message.
 */
export function dependencyStatus(
  c: ImCluster,
  problems: string[],
  managedNotReady: string[],
  tlsProblem: boolean,
  minioProblem = false,
): DependencyStatus {
  const configured =
    'every dependency is configured' +
    (dependencySecrets(c).some((d) => d.managed) ? ' and the managed ones are ready' : '') +
    (c.spec.tls ? `; TLS Secret ${c.spec.tls.secretName} holds a usable certificate and key` : '');
  const one = problems.length === 1 && managedNotReady.length === 0;
  return {
    ready: problems.length === 0 && managedNotReady.length === 0,
    reason: one && tlsProblem ? 'TLSSecretNotReady' : one && minioProblem ? 'MinioNotConfigured' : undefined,
    message: [...problems, ...managedNotReady].join('; ') || configured,
  };
}
