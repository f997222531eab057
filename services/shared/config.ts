// One validated configuration for every role: the schema, and its layers (role defaults, the
// file named by IMCLOUD_CONFIG, environment variables: config-sources.ts) compiled into a
// validated, frozen Config.
//
// Every leaf `section.someKey` is read from env IMCLOUD_SECTION_SOME_KEY, or from the file
// named by IMCLOUD_SECTION_SOME_KEY_FILE (how Kubernetes mounts Secrets). Env beats the file.
//
// A role reads its own section and the shared sections it needs, nothing else (role-config.ts).
// A setting more than one role reads lives in a shared section (node, heartbeat, bus, routing);
// the keys that moved there keep their old names working in env, files and spec.config
// (MOVED_KEYS; ADR 0028).
import type { z } from 'zod';
import { ImError } from '../../protocol/errors.js';
import { configSchema } from './config-schema.js';

export { configSchema } from './config-schema.js';

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = { [S in keyof Config]?: Partial<Record<keyof Config[S], unknown>> };
export type Section = keyof Config;

export const sections = Object.keys(configSchema.shape) as Section[];

/**
 * Keys that moved into a shared section (old `section.key` → where it is now). The old
 * variable (IMCLOUD_GATE_TRACK…), its _FILE, and the old key in a config file or an ImCluster's
 * spec.config keep working; giving both names different values is an error (ADR 0028).
 */
export const MOVED_KEYS: Readonly<Record<string, string>> = {
  'gate.track': 'node.track',
  'gate.heartbeatIntervalMs': 'heartbeat.intervalMs',
  'gate.idleTimeoutMs': 'heartbeat.idleTimeoutMs',
  'rabbitmq.prefetch': 'bus.prefetch',
};

/** A setting's key as it is now (`gate.track` → `node.track`); any other key unchanged. */
export function currentKey(key: string): string {
  return Object.hasOwn(MOVED_KEYS, key) ? MOVED_KEYS[key]! : key;
}

/** Whether `section.key` names a setting, by its current or its old name. */
export function isSetting(key: string): boolean {
  const [section = '', name = ''] = currentKey(key).split('.');
  return (
    Object.hasOwn(configSchema.shape, section) && Object.hasOwn((configSchema.shape[section as Section] as { shape: object }).shape, name)
  );
}

/** The old names a setting is also read from (`node.track` → [`gate.track`]). */
export function oldKeysOf(key: string): string[] {
  return Object.entries(MOVED_KEYS)
    .filter(([, now]) => now === key)
    .map(([old]) => old);
}

function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The env variable name of a config key, e.g. gate.tcpPort → IMCLOUD_GATE_TCP_PORT. */
export function envName(section: string, key: string): string {
  return `IMCLOUD_${snake(section)}_${snake(key)}`;
}

/** The variables a setting is read from: its own, then those of its old names. */
export function envNamesOf(key: string): string[] {
  return [key, ...oldKeysOf(key)].map((k) => envName(...(k.split('.') as [string, string])));
}

/**
 * A layer with its moved keys in their current place. Both names with different values is a
 * problem: which one was meant cannot be known.
 */
function withMovedKeys(layer: ConfigInput, problems: ConfigProblem[]): ConfigInput {
  const sectionsOf = layer as Record<string, Record<string, unknown> | undefined>;
  let out: Record<string, Record<string, unknown> | undefined> | undefined;
  for (const [old, now] of Object.entries(MOVED_KEYS)) {
    const [oldSection = '', oldName = ''] = old.split('.');
    const from = sectionsOf[oldSection];
    if (!from || typeof from !== 'object' || from[oldName] === undefined) continue;
    out ??= { ...sectionsOf };
    const [section = '', name = ''] = now.split('.');
    const { [oldName]: value, ...rest } = out[oldSection]!;
    out[oldSection] = rest;
    const current = out[section]?.[name];
    if (current !== undefined && String(current) !== String(value)) {
      problems.push({
        path: now,
        env: envNamesOf(now).join(' or '),
        message: `set both as ${now} and as ${old} (its old name), to different values; keep one`,
      });
    }
    out[section] = { [name]: value, ...out[section] };
  }
  return (out ?? layer) as ConfigInput;
}

function merge(problems: ConfigProblem[], layers: ConfigInput[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const section of sections) out[section] = {};
  for (const layer of layers.map((l) => withMovedKeys(l, problems))) {
    for (const [section, values] of Object.entries(layer)) {
      if (values === undefined) continue;
      if (!(section in out)) out[section] = {}; // let .strict() name the unknown section
      if (values === null || typeof values !== 'object') {
        out[section] = values as Record<string, unknown>;
        continue;
      }
      Object.assign(out[section]!, values);
    }
  }
  return out;
}

/** One thing wrong with a configuration: where (`section.key`), its env variable, and what. */
export interface ConfigProblem {
  path: string;
  env?: string;
  message: string;
}

function problemsOf(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys')
      return { path: issue.path.join('.') || '(top level)', message: `unknown key(s) ${issue.keys.join(', ')}` };
    const [section, key] = issue.path as string[];
    return {
      path: issue.path.join('.'),
      ...(section && key ? { env: envNamesOf(`${section}.${key}`).join(' or ') } : {}),
      message: issue.message,
    };
  });
}

function parse(layers: ConfigInput[]): { config?: Config; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const result = configSchema.safeParse(merge(problems, layers));
  if (!result.success) problems.push(...problemsOf(result.error));
  return problems.length > 0 || !result.success ? { problems } : { config: result.data, problems };
}

/** What is wrong with these layers (later ones win), every problem; empty when they compile. */
export function configProblems(...layers: ConfigInput[]): ConfigProblem[] {
  return parse(layers).problems;
}

/** Validates layers (later ones win) into a frozen Config, or throws IM_CONFIG_INVALID naming every bad key. */
export function compileConfig(...layers: ConfigInput[]): Config {
  const { config, problems } = parse(layers);
  if (!config) {
    const lines = problems.map((p) => `  ${p.path}${p.env ? ` (env ${p.env})` : ''}: ${p.message}`);
    throw new ImError('IM_CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
  }
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
