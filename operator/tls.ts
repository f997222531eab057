// spec.tls: the certificate Secret the roles' pods mount. The operator checks it before rolling
// out pods that mount it, the way the processes will read it (a usable certificate and key), so
// that a missing or broken Secret shows on the ImCluster instead of pods that cannot start.
import { createSecureContext } from 'node:tls';
import { secretData } from './kube/secret.js';

export const TLS_KEYS = ['tls.crt', 'tls.key'] as const;

/** What is wrong with the TLS Secret `name` (its `data` as the apiserver returns it, base64), or undefined. */
export function tlsSecretProblem(name: string, secret: { data?: Record<string, string> } | null | undefined): string | undefined {
  if (!secret) return `tls: Secret ${name} not found`;
  const data = secretData(secret);
  const missing = TLS_KEYS.filter((k) => !data[k]);
  if (missing.length)
    return `tls: Secret ${name} lacks key(s) ${missing.join(', ')} (a Secret of type kubernetes.io/tls has tls.crt and tls.key)`;
  try {
    // What the processes check too: a key that does not match the certificate, or a file that is not PEM, fails here.
    createSecureContext({ cert: data['tls.crt'], key: data['tls.key'] });
  } catch (err) {
    return `tls: Secret ${name}: tls.crt and tls.key are not a usable certificate and key (${(err as Error).message})`;
  }
  return undefined;
}
