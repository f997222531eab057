import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../kube/client.js';
import { ownsReplicas } from './hpa-handover.js';

type ManagedField = NonNullable<KubeObject['metadata']['managedFields']>[number];
const deployment = (...managedFields: ManagedField[]): KubeObject => ({ metadata: { name: 'demo-logic', managedFields } });
const replicas = { 'f:spec': { 'f:replicas': {}, 'f:template': {} } };

describe('ownsReplicas', () => {
  it('is true when our manager applied spec.replicas to the Deployment itself', () => {
    expect(ownsReplicas(deployment({ manager: 'imcloud-operator', operation: 'Apply', fieldsV1: replicas }))).toBe(true);
  });

  it('is false once another manager holds it, for a scale through the subresource, an update, or other fields', () => {
    expect(ownsReplicas(deployment({ manager: 'imcloud-operator-hpa-handover', operation: 'Apply', fieldsV1: replicas }))).toBe(false);
    expect(ownsReplicas(deployment({ manager: 'imcloud-operator', operation: 'Apply', subresource: 'scale', fieldsV1: replicas }))).toBe(
      false,
    );
    expect(ownsReplicas(deployment({ manager: 'imcloud-operator', operation: 'Update', fieldsV1: replicas }))).toBe(false);
    expect(
      ownsReplicas(deployment({ manager: 'imcloud-operator', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:template': {} } } })),
    ).toBe(false);
    expect(ownsReplicas(deployment())).toBe(false);
  });
});
