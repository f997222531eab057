import { describe, expect, it } from 'vitest';
import { ScriptBatcher, slotTag } from './script-batcher.js';

type Args = Array<string | number | Buffer>;

/** A batcher whose runners record their calls and answer like the batch script would. */
function recorded(answer: (keys: string[], args: Args) => unknown = (keys) => `ok:${keys.join(',')}`) {
  const singles: Array<{ keys: string[]; args: Args }> = [];
  const batches: Array<{ keys: string[]; args: Args }> = [];
  const single = async (keys: string[], args: Args) => {
    singles.push({ keys, args });
    return answer(keys, args);
  };
  const batch = async (keys: string[], args: Args) => {
    batches.push({ keys, args });
    // Unpack as batchedLua does: count, then per call key count, arg count, args.
    const out: unknown[] = [];
    let k = 0;
    let a = 1;
    for (let i = 0; i < Number(args[0]); i++) {
      const nk = Number(args[a]);
      const na = Number(args[a + 1]);
      const callKeys = keys.slice(k, k + nk);
      const callArgs = args.slice(a + 2, a + 2 + na);
      k += nk;
      a += 2 + na;
      try {
        out.push([1, answer(callKeys, callArgs)]);
      } catch (err) {
        out.push([0, (err as Error).message]);
      }
    }
    return out;
  };
  return { singles, batches, single, batch };
}

describe('ScriptBatcher', () => {
  it('runs a call alone in its turn as the plain script', async () => {
    const r = recorded();
    const batcher = new ScriptBatcher(r.single, r.batch);
    expect(await batcher.run(['imcloud:{a}:x'], [1])).toBe('ok:imcloud:{a}:x');
    expect(r.singles).toEqual([{ keys: ['imcloud:{a}:x'], args: [1] }]);
    expect(r.batches).toEqual([]);
  });

  it('sends the calls of one turn and one hash slot as one batch, each caller getting its own result', async () => {
    const r = recorded((keys, args) => `${keys.join('+')}=${args.join('+')}`);
    const batcher = new ScriptBatcher(r.single, r.batch);
    const results = await Promise.all([
      batcher.run(['imcloud:{a}:x'], [1, 'p']),
      batcher.run(['imcloud:{a}:y', 'imcloud:{a}:z'], []),
      batcher.run(['imcloud:{a}:w'], [3]),
    ]);
    expect(results).toEqual(['imcloud:{a}:x=1+p', 'imcloud:{a}:y+imcloud:{a}:z=', 'imcloud:{a}:w=3']);
    expect(r.singles).toEqual([]);
    expect(r.batches).toEqual([
      {
        keys: ['imcloud:{a}:x', 'imcloud:{a}:y', 'imcloud:{a}:z', 'imcloud:{a}:w'],
        args: [3, 1, 2, 1, 'p', 2, 0, 1, 1, 3],
      },
    ]);
  });

  it('keeps keys of different hash slots in different batches', async () => {
    const r = recorded();
    const batcher = new ScriptBatcher(r.single, r.batch);
    await Promise.all([batcher.run(['imcloud:{a}:1'], []), batcher.run(['imcloud:{b}:1'], []), batcher.run(['imcloud:{a}:2'], [])]);
    expect(r.batches.map((b) => b.keys)).toEqual([['imcloud:{a}:1', 'imcloud:{a}:2']]);
    expect(r.singles.map((s) => s.keys)).toEqual([['imcloud:{b}:1']]);
  });

  it('rejects only the caller whose call failed inside the batch', async () => {
    const r = recorded((keys) => {
      if (keys[0]!.endsWith('bad')) throw new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
      return 'fine';
    });
    const batcher = new ScriptBatcher(r.single, r.batch);
    const results = await Promise.allSettled([batcher.run(['{a}:good'], []), batcher.run(['{a}:bad'], []), batcher.run(['{a}:good2'], [])]);
    expect(results.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason.message).toContain('WRONGTYPE');
  });

  it('rejects every caller of a batch that Redis refused as a whole', async () => {
    const batcher = new ScriptBatcher(
      async () => 'single',
      async () => {
        throw new Error('Connection is closed.');
      },
    );
    const results = await Promise.allSettled([batcher.run(['{a}:1'], []), batcher.run(['{a}:2'], [])]);
    expect(results.map((s) => s.status === 'rejected' && (s.reason as Error).message)).toEqual([
      'Connection is closed.',
      'Connection is closed.',
    ]);
  });

  it('sends a full batch at once and starts the next one', async () => {
    const r = recorded();
    const batcher = new ScriptBatcher(r.single, r.batch, 3);
    await Promise.all(Array.from({ length: 7 }, (_, i) => batcher.run([`{a}:${i}`], [])));
    expect(r.batches.map((b) => b.args[0])).toEqual([3, 3]);
    expect(r.singles.map((s) => s.keys)).toEqual([['{a}:6']]);
  });

  it('reads the hash slot tag as Redis Cluster does', () => {
    expect(slotTag('imcloud:{app1}:routes:u1')).toBe('app1');
    expect(slotTag('imcloud:rate:app:app1')).toBe('imcloud:rate:app:app1');
    expect(slotTag('a{}b{c}')).toBe('a{}b{c}');
  });
});
