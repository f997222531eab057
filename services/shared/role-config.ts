// What each role may read of the configuration: its own section and the shared ones it needs
// (ADR 0028). The process's wiring compiles one Config and hands each role its view.
import type { Config, Section } from './config.js';

/**
 * The sections each role reads: its own and the shared ones it needs (ADR 0028). The process's
 * wiring (runtime.ts, backends.ts, cli.ts) reads the whole Config: listeners, TLS, logging and
 * the backends' sections are its own.
 */
export const ROLE_SECTIONS = {
  gate: ['node', 'heartbeat', 'routing', 'gate'],
  logic: ['node', 'heartbeat', 'logic', 'webhooks'],
  /** The consumer role also delivers webhook events (ADR 0037). */
  consumer: ['bus', 'consumer', 'webhooks'],
  dispatch: ['heartbeat', 'routing', 'dispatch'],
  /** The admin API, and the web page a process that runs admin serves; `node` names its downstream queue and track (group changes go through logic). */
  admin: ['node', 'admin', 'web', 'webhooks'],
  /** The file API (uploads, proofs, downloads); its bytes' store is wired from `minio` or `file.dir` by the process. */
  file: ['file'],
  /** The HTTP layer every role serves on. */
  http: ['http'],
} as const satisfies Record<string, readonly Section[]>;

export type RoleName = keyof typeof ROLE_SECTIONS;
export type RoleConfig<R extends RoleName> = Pick<Config, (typeof ROLE_SECTIONS)[R][number]>;
export type GateConfig = RoleConfig<'gate'>;
export type LogicConfig = RoleConfig<'logic'>;
export type ConsumerConfig = RoleConfig<'consumer'>;
export type DispatchConfig = RoleConfig<'dispatch'>;
export type AdminConfig = RoleConfig<'admin'>;
export type FileConfig = RoleConfig<'file'>;

/** What `role` may read of a compiled Config: its sections, and nothing else is reachable. */
export function roleConfig<R extends RoleName>(config: Config, role: R): RoleConfig<R> {
  return Object.freeze(Object.fromEntries(ROLE_SECTIONS[role].map((section) => [section, config[section]]))) as RoleConfig<R>;
}
