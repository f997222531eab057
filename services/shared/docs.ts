// Reference docs generated from the code itself, so they cannot drift (see docs.test.ts).

import { errorCatalog } from '../../protocol/errors.js';
import { configSchema, envNamesOf, oldKeysOf } from './config.js';
import { ROLE_SECTIONS } from './role-config.js';

export function errorsDoc(): string {
  const rows = Object.entries(errorCatalog).map(
    ([code, spec]) => `| \`${code}\` | ${spec.status} | ${spec.fatal ? 'yes' : 'no'} | ${spec.message} |`,
  );
  return [
    '# Error codes',
    '',
    'Generated from `protocol/errors.ts` by `npx tsx scripts/gen-docs.ts`; do not edit by hand.',
    '',
    'Every error a client, tenant or operator sees carries one of these stable codes: in an `Error`',
    'frame on a long connection (`fatal: yes` means the server closes the connection right after it),',
    'or as `{"error": {"code", "message"}}` with the HTTP status below from an HTTP API.',
    '',
    '| code | HTTP | closes the connection | meaning and what to do |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

function describeLeaf(schema: unknown): { type: string; def: string } {
  // zod 4 keeps the definition on `.def`; unwrap defaults/optionals/preprocess pipes.
  let s = schema as { def?: Record<string, unknown>; type?: string };
  let def = '';
  for (let i = 0; i < 6 && s?.def; i++) {
    const d = s.def as { type?: string; defaultValue?: unknown; innerType?: unknown; out?: unknown };
    if (d.type === 'default') {
      const v = typeof d.defaultValue === 'function' ? (d.defaultValue as () => unknown)() : d.defaultValue;
      def = JSON.stringify(v);
      s = d.innerType as typeof s;
    } else if (d.type === 'optional') s = d.innerType as typeof s;
    else if (d.type === 'pipe') s = d.out as typeof s;
    else break;
  }
  const t = (s?.def as { type?: string })?.type ?? 'unknown';
  const type = t === 'enum' ? Object.keys((s.def as unknown as { entries: Record<string, string> }).entries).join(' \\| ') : t;
  return { type, def };
}

export function configurationDoc(): string {
  const lines = [
    '# Configuration',
    '',
    'Generated from `services/shared/config.ts` by `npx tsx scripts/gen-docs.ts`; do not edit by hand.',
    '',
    'Every process compiles one configuration; each role reads only its own section and the shared',
    "sections it needs (ADR 0028), as each section says below. Sources, later wins: the role's own",
    'defaults (the embedded `imcloud all` binds 127.0.0.1, serves the web page and creates the `demo`',
    'app), the YAML or JSON file named by `IMCLOUD_CONFIG` (sections as below), then environment',
    'variables. Every key `section.key` is read from `IMCLOUD_SECTION_KEY`, or from the file named by',
    '`IMCLOUD_SECTION_KEY_FILE` (how Kubernetes mounts Secrets). Lists are comma-separated in env.',
    'A setting that moved to a shared section is still read by its old name (in env, in the file and',
    "in an ImCluster's `spec.config`); setting both names to different values is an error. An",
    'invalid value stops the process at start with `IM_CONFIG_INVALID`, naming the key and the',
    'variable.',
    '',
  ];
  for (const [section, obj] of Object.entries(configSchema.shape)) {
    lines.push(`## ${section}`, '', `${readBy(section)}`, '', '| key | env | type | default |', '|---|---|---|---|');
    for (const [key, leaf] of Object.entries((obj as unknown as { shape: Record<string, unknown> }).shape)) {
      const { type, def } = describeLeaf(leaf);
      const shownDefault = section === 'node' && key === 'id' ? 'hostname-pid' : def || '(none)';
      const [env, ...old] = envNamesOf(`${section}.${key}`);
      const formerly = oldKeysOf(`${section}.${key}`)
        .map((k, i) => ` (formerly \`${k}\`, \`${old[i]}\`, still read)`)
        .join('');
      lines.push(`| \`${section}.${key}\`${formerly} | \`${env}\` | ${type} | ${shownDefault.replace(/\|/g, '\\|')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** What the process itself (runtime.ts, backends.ts, cli.ts) reads of a section besides its roles. */
const PROCESS_READS: Readonly<Record<string, string>> = {
  node: '`node.id` names its logs, its worker-id lease and its broker connection',
  bus: 'its bus adapter takes `bus.prefetch` as its default',
  log: 'its logger',
  http: "its listeners (the gate's TCP listener binds `http.host` too)",
  tls: 'its listeners',
  gate: '`gate.tcpPort`, to name the variable when the port is taken',
  logic:
    'its bus adapter bounds the upstream queue by `logic.maxQueueBytes` (in gates too), its conversation state writes cursors behind by `logic.cursorPersistMs`',
  admin: "`admin.token` (generated when empty) and the embedded mode's demo app",
  redis: 'its backends',
  rabbitmq: 'its backends',
  mongodb: 'its backends',
  minio: 'its backends',
};
const ROLE_NAMES: Readonly<Record<string, string>> = { http: 'the HTTP layer of every role', admin: 'admin (and the web page it serves)' };

/** Which roles read a section (its own role, or several: a shared section), and what the process reads of it. */
function readBy(section: string): string {
  if (section === 'operator') return 'Read by the operator (`imcloud operator`).';
  const roles = Object.entries(ROLE_SECTIONS)
    .filter(([, sections]) => (sections as readonly string[]).includes(section))
    .map(([role]) => ROLE_NAMES[role] ?? role);
  const process = PROCESS_READS[section];
  if (roles.length === 0) return `Read by the process itself, not by a role: ${process ?? 'its setup'}.`;
  const who = `${roles.length > 1 ? 'Shared: read' : 'Read'} by ${roles.join(', ')}`;
  return process ? `${who}; the process itself reads it too: ${process}.` : `${who}.`;
}
