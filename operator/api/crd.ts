// Builds the ImCluster CustomResourceDefinition from the schema in imcluster.ts. The YAML files
// (crds/imcluster.yaml and the chart's copy) are generated from this by operator/api/generate.ts
// and checked against it by operator/api/crd.test.ts.
import { stringify } from 'yaml';
import type { OpenApi } from './dsl.js';
import { GROUP, imClusterObject, KIND, PLURAL, VERSION } from './imcluster.js';

export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** Files that hold the generated CRD, relative to the repository root. */
export const CRD_FILES = ['crds/imcluster.yaml', 'charts/imcloud/crds/imcluster.yaml'] as const;

export const HEADER = `# GENERATED from operator/api/imcluster.ts by \`npx tsx operator/api/generate.ts\`. Do not edit:
# operator/api/crd.test.ts fails when this file and the TypeScript definition differ.
`;

export function buildCrd(): Record<string, unknown> {
  const root = imClusterObject.openapi;
  const schema: OpenApi = {
    description:
      'An imcloud instant-messaging cluster: gate pools per tenant, logic, consumers, dispatch, admin, gray release and dependencies.',
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      ...root.properties,
    },
    required: root.required,
    'x-kubernetes-validations': root['x-kubernetes-validations'],
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: CRD_NAME,
      labels: { 'app.kubernetes.io/name': 'imcloud', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: ['imc'],
        categories: ['imcloud'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Version', type: 'string', jsonPath: '.status.version' },
            { name: 'Canary', type: 'string', jsonPath: '.status.canary.version' },
            { name: 'Gates', type: 'string', jsonPath: '.status.gatesReady', description: 'ready/desired gate pods' },
            { name: 'Connections', type: 'integer', jsonPath: '.status.connections' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

export function renderCrdYaml(): string {
  return HEADER + stringify(buildCrd(), { lineWidth: 0 });
}
