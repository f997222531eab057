// The informer's resume and relist logic against a scripted transport. (The real apiserver path
// is exercised by test/kubernetes/.)
import { describe, expect, it } from 'vitest';
import { type Kube, KubeApiError, type KubeObject, type WatchEvent, type WatchOpts } from './client.js';
import { Informer } from './informer.js';

const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });

type Step = { list: KubeObject[]; rv: string } | { watch: Array<WatchEvent>; end?: 'close' | 'error' | 'gone-status' | 'hang' };

/** Answers list and watch calls from a script; records what was asked. */
class ScriptedKube implements Kube {
  readonly calls: string[] = [];
  constructor(private readonly steps: Step[]) {}
  async get(): Promise<null> {
    return null;
  }
  async list<T extends KubeObject>(..._args: unknown[]): Promise<{ items: T[]; resourceVersion: string }> {
    const step = this.steps.shift();
    if (!step || !('list' in step)) throw new Error(`unexpected list (next step: ${JSON.stringify(step)})`);
    this.calls.push(`list→${step.rv}`);
    return { items: step.list as T[], resourceVersion: step.rv };
  }
  async watch<T extends KubeObject>(_r: unknown, _ns: unknown, opts: WatchOpts, onEvent: (e: WatchEvent<T>) => void): Promise<void> {
    const step = this.steps.shift();
    this.calls.push(`watch@${opts.resourceVersion}`);
    if (!step || !('watch' in step)) {
      // end of script: block until aborted
      if (!opts.signal?.aborted) await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve()));
      return;
    }
    if (step.end === 'gone-status') throw new KubeApiError(410, 'Expired', 'too old resource version');
    for (const e of step.watch) onEvent(e as WatchEvent<T>);
    if (step.end === 'error') throw new Error('connection reset');
    if (step.end === 'hang' && !opts.signal?.aborted)
      await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve()));
  }
}

const resource = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

async function until(check: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Informer', () => {
  it('lists, then watches from the list resourceVersion; resumes from the last seen one after the watch ends or breaks', async () => {
    const kube = new ScriptedKube([
      { list: [obj('a', '10')], rv: '11' },
      { watch: [{ type: 'ADDED', object: obj('b', '12') }], end: 'close' }, // server timeout
      { watch: [{ type: 'BOOKMARK', object: obj('', '15') }], end: 'error' }, // connection drop
      {
        watch: [
          { type: 'MODIFIED', object: obj('a', '16') },
          { type: 'DELETED', object: obj('b', '17') },
        ],
        end: 'hang',
      },
    ]);
    const restarts: string[] = [];
    const events: string[] = [];
    const inf = new Informer(kube, resource, { backoffBaseMs: 1, onRestart: (r) => restarts.push(r) });
    inf.on((type, o) => events.push(`${type} ${o.metadata.name}`));
    await inf.start();
    await until(() => events.length === 4);
    expect(kube.calls).toEqual(['list→11', 'watch@11', 'watch@12', 'watch@15']);
    expect(events).toEqual(['ADDED a', 'ADDED b', 'MODIFIED a', 'DELETED b']);
    expect(restarts).toEqual(['timeout', 'error']);
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['a']);
    await inf.stop();
  });

  it('relists after a 410 ERROR event and emits what changed meanwhile (including deletions)', async () => {
    const kube = new ScriptedKube([
      { list: [obj('a', '1'), obj('b', '2')], rv: '2' },
      { watch: [{ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old' } as unknown as KubeObject }], end: 'close' },
      { list: [obj('a', '1'), obj('c', '30')], rv: '31' },
      { watch: [], end: 'hang' },
    ]);
    const events: string[] = [];
    const restarts: string[] = [];
    const inf = new Informer(kube, resource, { onRestart: (r) => restarts.push(r) });
    inf.on((type, o) => events.push(`${type} ${o.metadata.name}`));
    await inf.start();
    await until(() => kube.calls.length === 4);
    expect(kube.calls).toEqual(['list→2', 'watch@2', 'list→31', 'watch@31']);
    expect(events).toEqual(['ADDED a', 'ADDED b', 'ADDED c', 'DELETED b']);
    expect(restarts).toEqual(['gone']);
    await inf.stop();
  });

  it('relists after an HTTP 410 on the watch request', async () => {
    const kube = new ScriptedKube([
      { list: [], rv: '5' },
      { watch: [], end: 'gone-status' },
      { list: [obj('x', '50')], rv: '50' },
    ]);
    const inf = new Informer(kube, resource);
    await inf.start();
    await until(() => inf.list().length === 1);
    expect(kube.calls.slice(0, 3)).toEqual(['list→5', 'watch@5', 'list→50']);
    await inf.stop();
  });

  it('retries a failing list with backoff and becomes synced when it succeeds', async () => {
    let fails = 2;
    const kube = new ScriptedKube([{ list: [obj('a', '1')], rv: '1' }]);
    const flaky: Kube = {
      get: kube.get.bind(kube),
      list: async (...args: Parameters<Kube['list']>) => {
        if (fails-- > 0) throw new Error('apiserver unavailable');
        return kube.list(...args);
      },
      watch: kube.watch.bind(kube) as Kube['watch'],
    };
    const inf = new Informer(flaky, resource, { backoffBaseMs: 5 });
    expect(inf.hasSynced).toBe(false);
    await inf.start();
    expect(inf.hasSynced).toBe(true);
    expect(inf.get('ns', 'a')).toBeDefined();
    await inf.stop();
  });
});
