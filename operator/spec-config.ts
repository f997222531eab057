// spec.config of an ImCluster: `section.key: value` pairs that every role reads as IMCLOUD_*
// environment variables. The apiserver can only check their shape; the values are checked here
// against the roles' own schema before anything rolls out, so a typo or a bad value shows on the
// ImCluster instead of crash-looping every pod of the new revision.
import { configFromEnv, configProblems, configSchema, envName } from '../services/shared/config.js';

const sections = configSchema.shape as Record<string, { shape: Record<string, unknown> } | undefined>;

/**
 * What is wrong with `config`, one line per key (empty: nothing). `operatorSets` are the settings
 * the operator sets itself (`section.key` → where from; objects/common.ts operatorSettings).
 */
export function specConfigProblems(config: Record<string, string> | undefined, operatorSets: Map<string, string> = new Map()): string[] {
  const problems: string[] = [];
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(config ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const [section = '', name = ''] = key.split('.');
    if (!Object.hasOwn(sections[section]?.shape ?? {}, name)) {
      problems.push(`${key}: no such setting (docs/configuration.md lists them)`);
      continue;
    }
    const from = operatorSets.get(key);
    if (from !== undefined) {
      problems.push(`${key}: set by the operator from ${from}; remove it from spec.config`);
      continue;
    }
    env[envName(section, name)] = value;
  }
  // The variables as the pods read them (an empty one is unset), checked as the pods check them.
  for (const p of configProblems(configFromEnv(env))) problems.push(`${p.path}: ${p.message}`);
  return problems;
}
