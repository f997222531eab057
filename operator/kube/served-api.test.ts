import { describe, expect, it } from 'vitest';
import { ServedApi } from './served-api.js';

function apiserver(answers: Array<boolean | Error>) {
  const asked: string[] = [];
  return {
    asked,
    async serves(group: string, version: string, plural: string): Promise<boolean> {
      asked.push(`${group}/${version}/${plural}`);
      const a = answers.shift();
      if (a instanceof Error || a === undefined) throw a ?? new Error('no answer scripted');
      return a;
    },
  };
}

describe('ServedApi', () => {
  const api = { group: 'monitoring.coreos.com', version: 'v1', plural: 'servicemonitors' };

  it('asks once per minute and answers from the last reply in between', async () => {
    const kube = apiserver([false, true]);
    const served = new ServedApi(kube, api);
    expect(await served.served(0)).toBe(false);
    expect(await served.served(59_999)).toBe(false);
    expect(kube.asked).toEqual(['monitoring.coreos.com/v1/servicemonitors']);
    expect(await served.served(60_000)).toBe(true);
    expect(kube.asked).toHaveLength(2);
  });

  it('keeps the last answer when asking fails, and says false before any', async () => {
    const kube = apiserver([new Error('down'), true, new Error('down')]);
    const served = new ServedApi(kube, api);
    expect(await served.served(0)).toBe(false);
    expect(await served.served(1)).toBe(true); // a failure is not remembered: asked again at once
    expect(await served.served(60_001)).toBe(true);
    expect(kube.asked).toHaveLength(3);
  });
});
