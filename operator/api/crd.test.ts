// The CRD YAML files are generated from operator/api/imcluster.ts: this test fails when they
// drift (someone edited the YAML, or changed the TypeScript without regenerating), and checks
// that the TypeScript types the operator uses follow the same definition.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { parse } from 'yaml';
import { buildCrd, CRD_FILES, renderCrdYaml } from './crd.js';
import type { OpenApi } from './dsl.js';
import type { GatePool, ImClusterSpec, ImClusterStatus } from './imcluster.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('ImCluster CRD (generated from operator/api/imcluster.ts)', () => {
  for (const file of CRD_FILES) {
    it(`${file} is exactly what the TypeScript definition generates`, () => {
      const onDisk = readFileSync(join(root, file), 'utf8');
      expect(onDisk, `${file} drifted from operator/api/imcluster.ts: run \`npx tsx operator/api/generate.ts\``).toBe(renderCrdYaml());
      expect(parse(onDisk)).toEqual(buildCrd());
    });
  }

  const schema = (buildCrd() as { spec: { versions: Array<{ schema: { openAPIV3Schema: OpenApi } }> } }).spec.versions[0]!.schema
    .openAPIV3Schema;

  it('is a structural schema: every node has a type (or is int-or-string / preserved), no additionalProperties next to properties', () => {
    const problems: string[] = [];
    const walk = (s: OpenApi, path: string) => {
      if (!s.type && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields']) problems.push(`${path}: no type`);
      if (s.properties && s.additionalProperties) problems.push(`${path}: properties and additionalProperties`);
      if (s.type === 'array' && !s.items) problems.push(`${path}: array without items`);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items, `${path}[]`);
      if (s.additionalProperties) walk(s.additionalProperties, `${path}{}`);
      for (const r of s['x-kubernetes-validations'] ?? []) if (!r.message) problems.push(`${path}: CEL rule without a message`);
    };
    walk(schema, '');
    expect(problems).toEqual([]);
  });

  it('has the printer columns, short name and status subresource the issue asks for', () => {
    const crd = buildCrd() as any;
    expect(crd.spec.names.shortNames).toEqual(['imc']);
    expect(crd.spec.versions[0].subresources).toEqual({ status: {} });
    expect(crd.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name)).toEqual([
      'Phase',
      'Version',
      'Canary',
      'Gates',
      'Connections',
      'Age',
    ]);
  });

  it('puts a CEL rule on every cross-field constraint', () => {
    const rules = JSON.stringify(schema).match(/"rule":"[^"]*"/g) ?? [];
    const text = rules.join('\n');
    expect(text).toContain('self.minReplicas <= self.maxReplicas');
    expect(text).toContain('self.filter(p, p.default).size() <= 1');
    expect(text).toContain('a in q.appIds');
    expect(text).toContain('self.gray.version != self.version');
    expect(text).toContain('self.managed != has(self.secretRef)');
    expect(text).toContain('!(has(self.replicas) && has(self.autoscale))');
    expect(schema.properties!.spec!.properties!.gray!.properties!.percentage).toMatchObject({ minimum: 0, maximum: 100 });
  });

  it('derives the TypeScript types from the same definition (defaults make properties required)', () => {
    expectTypeOf<ImClusterSpec['version']>().toEqualTypeOf<string>();
    expectTypeOf<ImClusterSpec['image']>().toEqualTypeOf<string>();
    expectTypeOf<ImClusterSpec['imagePullPolicy']>().toEqualTypeOf<'Always' | 'IfNotPresent' | 'Never'>();
    expectTypeOf<GatePool['default']>().toEqualTypeOf<boolean>();
    expectTypeOf<GatePool['appIds']>().toEqualTypeOf<string[]>();
    expectTypeOf<GatePool['replicas']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<NonNullable<GatePool['autoscale']>['targetConnectionsPerPod']>().toEqualTypeOf<number>();
    expectTypeOf<NonNullable<ImClusterSpec['gray']>['percentage']>().toEqualTypeOf<number>();
    expectTypeOf<ImClusterSpec['dispatch']['replicas']>().toEqualTypeOf<number>();
    expectTypeOf<NonNullable<ImClusterSpec['file']>['replicas']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<NonNullable<NonNullable<ImClusterSpec['file']>['autoscale']>['targetCpuMillicoresPerPod']>().toEqualTypeOf<number>();
    expectTypeOf<ImClusterSpec['dependencies']['redis']['managed']>().toEqualTypeOf<boolean>();
    expectTypeOf<NonNullable<ImClusterStatus['phase']>>().toEqualTypeOf<
      'Pending' | 'Progressing' | 'Ready' | 'Degraded' | 'Paused' | 'Terminating'
    >();
    // Required in the CRD ⇔ required (and without default) in the type:
    const spec = schema.properties!.spec!;
    expect(spec.required).toEqual(['version', 'gate', 'dependencies']);
    expect(spec.properties!.gate!.properties!.pools!.items!.required).toEqual(['name']);
  });
});
