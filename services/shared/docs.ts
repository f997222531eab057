// Reference docs generated from the code itself, so they cannot drift (see docs.test.ts).
import { configSchema, envName } from './config.js';
import { errorCatalog } from '../../protocol/errors.js';

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
    'Every role reads the same configuration. Sources, later wins: the role\'s own defaults (the',
    'embedded `imcloud all` binds 127.0.0.1, serves the web page and creates the `demo` app), the',
    'YAML or JSON file named by `IMCLOUD_CONFIG` (sections as below), then environment variables.',
    'Every key `section.key` is read from `IMCLOUD_SECTION_KEY`, or from the file named by',
    '`IMCLOUD_SECTION_KEY_FILE` (how Kubernetes mounts Secrets). Lists are comma-separated in env.',
    'An invalid value stops the process at start with `IM_CONFIG_INVALID`, naming the key and the',
    'variable.',
    '',
  ];
  for (const [section, obj] of Object.entries(configSchema.shape)) {
    lines.push(`## ${section}`, '', '| key | env | type | default |', '|---|---|---|---|');
    for (const [key, leaf] of Object.entries((obj as unknown as { shape: Record<string, unknown> }).shape)) {
      const { type, def } = describeLeaf(leaf);
      const shownDefault = section === 'node' && key === 'id' ? 'hostname-pid' : def || '(none)';
      lines.push(`| \`${section}.${key}\` | \`${envName(section, key)}\` | ${type} | ${shownDefault.replace(/\|/g, '\\|')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
