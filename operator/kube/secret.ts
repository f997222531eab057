// Secrets as the apiserver returns them: the values in `data` are base64.
import type { KubeObject } from './client.js';

export interface Secret extends KubeObject {
  data?: Record<string, string>;
}

/** Every key of the Secret, decoded. */
export function secretData(s: Pick<Secret, 'data'> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** One key of the Secret, decoded; undefined when it is missing or empty. */
export function secretValue(s: Pick<Secret, 'data'> | null | undefined, key: string): string | undefined {
  const v = s?.data?.[key];
  return v ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}
