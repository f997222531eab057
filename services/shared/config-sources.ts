// Where a configuration's layers come from: environment variables (IMCLOUD_SECTION_KEY, or the
// file its _FILE names, as Kubernetes mounts Secrets) and the YAML or JSON file named by
// IMCLOUD_CONFIG. config.ts compiles them.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ImError } from '../../protocol/errors.js';
import { type Config, type ConfigInput, compileConfig, configSchema, envName, MOVED_KEYS, sections } from './config.js';

/** The settings `env` sets (IMCLOUD_SECTION_KEY, or its _FILE), as a config layer; old names land where they were. */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: Record<string, Record<string, unknown>> = {};
  const keys = sections.flatMap((section) => Object.keys(configSchema.shape[section].shape).map((key) => [section, key]));
  for (const [section, key] of [...keys, ...Object.keys(MOVED_KEYS).map((old) => old.split('.'))] as Array<[string, string]>) {
    const value = fromEnv(env, section, key);
    if (value !== undefined && value !== '') (out[section] ??= {})[key] = value;
  }
  return out as ConfigInput;
}

function fromEnv(env: NodeJS.ProcessEnv, section: string, key: string): string | undefined {
  const name = envName(section, key);
  const file = env[`${name}_FILE`];
  if (env[name] !== undefined || !file) return env[name];
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ImError('IM_CONFIG_INVALID', `config: ${section}.${key}: cannot read ${name}_FILE=${file}: ${(err as Error).message}`);
  }
}

function fromFile(path: string): ConfigInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ImError('IM_CONFIG_INVALID', `config: cannot read IMCLOUD_CONFIG=${path}: ${(err as Error).message}`);
  }
  const parsed: unknown = parseYaml(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ImError('IM_CONFIG_INVALID', `config: ${path} must hold a mapping of sections (node, http, gate, …)`);
  }
  return parsed as ConfigInput;
}

/**
 * What every role calls at start. Layers, later wins: the role's own defaults (e.g. the embedded
 * mode turns the web page on), the file named by IMCLOUD_CONFIG, then the environment.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, roleDefaults: ConfigInput = {}): Config {
  const file = env.IMCLOUD_CONFIG ? fromFile(env.IMCLOUD_CONFIG) : {};
  return compileConfig(roleDefaults, file, configFromEnv(env));
}
