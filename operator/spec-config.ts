// spec.config of an ImCluster: `section.key: value` pairs that every role reads as IMCLOUD_*
// environment variables. The apiserver can only check their shape; the values are checked here
// against the roles' own schema before anything rolls out, so a typo or a bad value shows on the
// ImCluster instead of crash-looping every pod of the new revision.
import { configProblems, currentKey, envName, isSetting } from '../services/shared/config.js';
import { configFromEnv } from '../services/shared/config-sources.js';

/** One `section.key: value` of spec.config and the variable the pods read it from. */
export interface SpecConfigEntry {
  key: string;
  section: string;
  name: string;
  env: string;
  value: string;
}

/** spec.config's entries in key order, each with its IMCLOUD_* variable (the check and the pods read them alike). */
export function specConfigEntries(config: Record<string, string> | undefined): SpecConfigEntry[] {
  return Object.entries(config ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => {
      const [section = '', name = ''] = key.split('.');
      return { key, section, name, env: envName(section, name), value };
    });
}

/**
 * What is wrong with `config`, one line per key (empty: nothing). `operatorSets` are the settings
 * the operator sets itself (`section.key` → where from; objects/common.ts operatorSettings).
 */
export function specConfigProblems(config: Record<string, string> | undefined, operatorSets: Map<string, string> = new Map()): string[] {
  const problems: string[] = [];
  const env: Record<string, string> = {};
  // A setting that moved to a shared section is the same setting under either name (ADR 0028).
  const owned = new Map([...operatorSets].map(([key, from]) => [currentKey(key), from]));
  for (const { key, env: variable, value } of specConfigEntries(config)) {
    if (!isSetting(key)) {
      problems.push(`${key}: no such setting (docs/configuration.md lists them)`);
      continue;
    }
    const from = owned.get(currentKey(key));
    if (from !== undefined) {
      problems.push(`${key}: set by the operator from ${from}; remove it from spec.config`);
      continue;
    }
    env[variable] = value;
  }
  // The variables as the pods read them (an empty one is unset), checked as the pods check them.
  for (const p of configProblems(configFromEnv(env))) problems.push(`${p.path}: ${p.message}`);
  return problems;
}
