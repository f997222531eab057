import { describe, expect, it } from 'vitest';
import { cpuShares, cpuSnapshot, processGroup } from './cpu-by-process.js';

describe('processGroup', () => {
  it('names imcloud roles, servers and load workers', () => {
    expect(processGroup(['node', '/x/dist/imcloud.js', 'logic'])).toBe('logic');
    expect(processGroup(['/usr/lib/erlang/erts-13/bin/beam.smp', '-W', 'w'])).toBe('rabbitmq');
    expect(processGroup(['redis-server 127.0.0.1:6379'])).toBe('redis');
    expect(processGroup(['/root/.cache/imcloud/bin/ferretdb-v1.24.2'])).toBe('ferretdb');
    expect(processGroup(['node', '--import', 'tsx', '/x/bench/lib/chat-worker.ts'])).toBe('bench workers');
    expect(processGroup(['node', '/x/bin/imcloud.js', 'file'])).toBe('file');
    expect(processGroup(['bash'])).toBe('other');
  });
});

describe('cpuShares', () => {
  it('sums CPU per group over the window and counts processes born inside it from zero', () => {
    const before = new Map([
      [1, { group: 'logic', seconds: 10 }],
      [2, { group: 'logic', seconds: 5 }],
    ]);
    const after = new Map([
      [1, { group: 'logic', seconds: 12 }],
      [2, { group: 'logic', seconds: 6 }],
      [3, { group: 'redis', seconds: 1 }],
    ]);
    expect(cpuShares(before, after, 2)).toEqual([
      { group: 'logic', cores: 1.5 },
      { group: 'redis', cores: 0.5 },
    ]);
  });

  it('reads this very process from /proc', () => {
    const snap = cpuSnapshot();
    expect(snap.get(process.pid)?.seconds).toBeGreaterThan(0);
  });
});
