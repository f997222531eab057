import { describe, expect, it } from 'vitest';
import type { ImCluster } from './api/imcluster.js';
import { changesWhatWeActOn } from './controller.js';
import { cluster } from './testing/fixtures.js';

const withMeta = (meta: Partial<ImCluster['metadata']>): ImCluster => {
  const c = cluster();
  return { ...c, metadata: { ...c.metadata, ...meta } };
};

describe('changesWhatWeActOn', () => {
  const old = withMeta({ annotations: { a: '1' }, finalizers: ['imcloud.dev/finalizer'] });

  it('ignores a status-only update, our own status writes included', () => {
    const statusOnly = {
      ...withMeta({ annotations: { a: '1' }, finalizers: ['imcloud.dev/finalizer'], resourceVersion: '101' }),
      status: { phase: 'Ready' as const },
    };
    expect(changesWhatWeActOn('MODIFIED', statusOnly, old)).toBe(false);
  });

  it('acts on a new generation, annotations (pause), a deletion mark, finalizers, and on every add or delete', () => {
    expect(
      changesWhatWeActOn('MODIFIED', withMeta({ generation: 4, annotations: { a: '1' }, finalizers: ['imcloud.dev/finalizer'] }), old),
    ).toBe(true);
    expect(
      changesWhatWeActOn(
        'MODIFIED',
        withMeta({ annotations: { a: '1', 'imcloud.dev/paused': 'true' }, finalizers: ['imcloud.dev/finalizer'] }),
        old,
      ),
    ).toBe(true);
    expect(
      changesWhatWeActOn(
        'MODIFIED',
        withMeta({ annotations: { a: '1' }, finalizers: ['imcloud.dev/finalizer'], deletionTimestamp: '2030-01-01T00:00:00Z' }),
        old,
      ),
    ).toBe(true);
    expect(changesWhatWeActOn('MODIFIED', withMeta({ annotations: { a: '1' } }), old)).toBe(true);
    expect(changesWhatWeActOn('ADDED', old, undefined)).toBe(true);
    expect(changesWhatWeActOn('DELETED', old, old)).toBe(true);
    expect(changesWhatWeActOn('MODIFIED', old, undefined)).toBe(true);
  });
});
